"""Ingestion on DynamoDB: :class:`growthos_segments.core.ports_ingest.IngestStore` over the
contact and event repositories other modules' writers already use.

Forgetting a contact deletes its profile first (the contacts stream's REMOVE then
makes the stream evaluator exit every segment, publish Segment Exited and clear the
contact's re-checks, as for any deleted contact), then its events, oldest first,
a bounded page per call: a contact with more events than one page reports an
incomplete forget, and the next call continues.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from growthos_segments.core.ports import ContactDocument
from growthos_segments.core.ports_ingest import ForgetResult, IngestEvent, ProfileWrite
from growthos_segments.infra.repos.contacts import ContactRepository, EventRepository

__all__ = ["DynamoIngest"]


class DynamoIngest:
    def __init__(self, contacts: ContactRepository, events: EventRepository) -> None:
        self._contacts = contacts
        self._events = events

    def profiles(self, tenant_id: str, contact_ids: Sequence[str]) -> dict[str, ContactDocument]:
        return self._contacts.profiles(tenant_id, contact_ids)

    def write_profiles(self, tenant_id: str, writes: Sequence[ProfileWrite], *, now: datetime) -> list[bool]:
        return self._contacts.write_many(tenant_id, writes, now=now)

    def append_events(self, tenant_id: str, events: Sequence[IngestEvent]) -> list[bool]:
        return self._events.append_once(tenant_id, events)

    def forget(self, tenant_id: str, contact_id: str, *, max_events: int) -> ForgetResult:
        found = self._contacts.delete(tenant_id, contact_id)
        deleted, complete = self._events.delete_events(tenant_id, contact_id, max_events=max_events)
        return ForgetResult(contact_id, found, deleted, complete)
