"""Routes of ingestion: other modules' contacts and events over HTTP, and forgetting a contact.

Any key of the tenant may ingest, team-scoped or not: teams scope segments, while
contacts and events belong to the whole tenant. A well-formed request is a 200
with a status per item (:mod:`growthos_segments.services.ingest`); a body over
:data:`MAX_BODY_BYTES` is a 413 before any item is looked at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from growthos_segments.core.api_models_ingest import ContactsIn, EventsIn, ForgetOut, IngestOut
from growthos_segments.core.ports import SamplesKeptChanging
from growthos_segments.handlers import api_wiring
from growthos_segments.handlers.api_http import app, current_tenant
from growthos_segments.handlers.api_openapi import responses
from growthos_segments.handlers.ingest_wiring import ingestion_on
from growthos_segments.services.audience import ApiError, Conflict, Unprocessable, located
from growthos_segments.services.ingest import IngestRequestError, IngestService

MAX_BODY_BYTES = 5_000_000
"""Under Lambda's 6 MB request limit, with room for 100 contacts of the largest accepted size."""
_TOO_LARGE = {413: {"description": f"the body is over {MAX_BODY_BYTES:,} bytes", "content": responses()[422][
    "content"]}}


class _TooLarge(ApiError):
    status = 413


def ingestion() -> IngestService:
    """On the API's repositories (no I/O to build: a request builds its own)."""
    return ingestion_on(api_wiring.service().repos)


def _ingest(call: Callable[..., Any], items: list[Any]) -> IngestOut:
    size = len((app.current_event.body or "").encode())
    if size > MAX_BODY_BYTES:
        message = f"{size:,} bytes; at most {MAX_BODY_BYTES:,}"
        raise _TooLarge("the body is too large", [located("body", "", message)])
    try:
        results = call(current_tenant(), items, now=api_wiring.service().audience.clock())
    except IngestRequestError as error:
        raise Unprocessable(error.message, [located("body", error.pointer, error.message)]) from None
    return IngestOut.model_validate({"results": [r.to_json() for r in results],
                                     "errors": sum(r.status == "error" for r in results)})


@app.post("/contacts", summary="Upsert contacts (up to 100; partial updates; a status per item)",
          responses=responses() | _TOO_LARGE)
def upsert_contacts(body: ContactsIn) -> IngestOut:
    return _ingest(ingestion().upsert_contacts, body.items)


@app.post("/events", summary="Append events (up to 500; idempotent on event_id; a status per item)",
          responses=responses() | _TOO_LARGE)
def append_events(body: EventsIn) -> IngestOut:
    return _ingest(ingestion().append_events, body.items)


@app.delete("/contacts/<contact_id>", responses=responses(), summary="Forget a contact (GDPR): its profile "
            "and events; it exits its segments. Idempotent; repeat while complete is false")
def forget_contact(contact_id: str) -> ForgetOut:
    try:
        now = api_wiring.service().audience.clock()
        forgotten = ingestion().forget_contact(current_tenant(), contact_id, now=now)
    except IngestRequestError as error:
        raise Unprocessable(error.message, [located("path", error.pointer, error.message)]) from None
    except SamplesKeptChanging as error:  # contention: nothing deleted yet, a repeat may pass
        raise Conflict(str(error), [located("path", "/contact_id", str(error))]) from None
    return ForgetOut.model_validate(forgotten.to_json())
