"""Request and response bodies of the ingestion routes (``POST /contacts``, ``POST /events``,
``DELETE /contacts/{contact_id}``).

Items are typed loosely (JSON objects): each one is validated by the ingestion
service and answered on its own, with JSON pointers, so one bad item never makes
the whole request a 422 the way a strict item schema would.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from growthos_segments.core.ports_ingest import MAX_CONTACTS, MAX_EVENTS

__all__ = ["ContactsIn", "EventsIn", "ForgetOut", "IngestOut", "ItemErrorOut", "ItemResultOut"]

_CONTACT_ITEM = (
    'a contact: {"contact_id": "c1", "attributes": {"plan": "pro"}, "custom": {"seats": 3}, '
    '"tags": ["vip"] or {"add": [...], "remove": [...]}, "lists": (as tags), "scores": {"lead": 82}, '
    '"suppression": {"unsubscribed": true}}; only contact_id is required; maps merge key by key '
    "and a null value removes its key; a list replaces, an add/remove object edits"
)
_EVENT_ITEM = (
    'an event: {"event_id": "e1", "contact_id": "c1", "name": "email.opened", '
    '"at": "2026-11-20T09:14:00Z", "properties": {...}}; the event id is the idempotency key per '
    "contact (a re-send, even with another time, is a duplicate); at is ISO 8601 with a zone, at most "
    "5 minutes ahead and within the event retention"
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactsIn(_In):
    items: list[dict[str, Any]] = Field(max_length=MAX_CONTACTS, description=f"up to {MAX_CONTACTS}, each "
                                        + _CONTACT_ITEM)


class EventsIn(_In):
    items: list[dict[str, Any]] = Field(max_length=MAX_EVENTS, description=f"up to {MAX_EVENTS}, each "
                                        + _EVENT_ITEM)


class ItemErrorOut(BaseModel):
    pointer: str = Field(description="JSON pointer into the request body, e.g. /items/3/at")
    message: str


class ItemResultOut(BaseModel):
    index: int = Field(description="the item's position in items")
    id: str | None = Field(description="its contact or event id (null if it had none)")
    status: Literal["created", "updated", "unchanged", "duplicate", "error"]
    errors: list[ItemErrorOut] = Field(description="why an item with status error was not stored")


class IngestOut(BaseModel):
    """Answered 200 whenever the request is well-formed, even if some items were refused:
    each item's own status says what happened to it (the others were stored)."""

    results: list[ItemResultOut]
    errors: int = Field(description="items refused (status error)")


class ForgetOut(BaseModel):
    """What a forget removed; repeat the call while complete is false."""

    contact_id: str
    found: bool = Field(description="a profile was deleted (false: none was stored, e.g. a repeated call)")
    events_deleted: int
    complete: bool = Field(description="false when the contact has more events than one call deletes")
