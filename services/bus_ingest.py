"""Contacts and events other GrowthOS modules publish on the platform bus, ingested.

A module in any language feeds the engine by putting an event on the GrowthOS
EventBridge bus; a rule routes the kinds below to an SQS queue and the ingest
function hands each batch to :class:`BusIngester`, which calls the ingestion
service (:mod:`growthos_segments.services.ingest`) the HTTP routes call, with
the same validation, idempotency and per-item errors.

The contract (one EventBridge event = one item):

=====================  ==========================================================
``source``             ``growthos.<module>``, the publishing module (``growthos.email``,
                       ``growthos.nudges``); ``<module>`` is lowercase letters, digits
                       and ``_``. The engine's own source, ``growthos.segments``, is
                       never ingested: the rule's pattern excludes it (no loop).
``detail-type``        ``Contact Upserted``: ``detail`` = ``{"tenant_id": "...",
                       "contact": <contact item>}`` (a partial update, as ``POST
                       /contacts`` takes one item: maps merged key by key, ``null``
                       removes a key, a list replaces, ``{"add", "remove"}`` edits).
                       ``Event Recorded``: ``{"tenant_id": "...", "event": <event
                       item>}`` (``event_id`` makes a re-sent event a no-op).
                       ``Contact Deleted``: ``{"tenant_id": "...", "contact_id":
                       "..."}``, the GDPR forget (profile, events, memberships with
                       their exit events, re-checks).
event names            ``detail.event.name`` if given, else ``detail.event.action``;
                       a name without a dot is namespaced by the module, so
                       ``source: growthos.email`` with ``"action": "opened"`` is
                       ``email.opened``, and ``"name": "nudge.dismissed"`` stays.
=====================  ==========================================================

Delivery: a message that can never be ingested (not JSON, another kind, no
tenant, an item the contract refuses) goes to the dead-letter queue at once
with its reason (:class:`~growthos_segments.core.ports_bus.RejectedMessage`);
retrying it would fail the same way. A call that raises anything else (a
throttled write, a network error), and an item the service could not apply
because its contact kept changing meanwhile, are reported as batch item
failures, so SQS
delivers it again after the visibility timeout and its redrive policy
dead-letters it after ``maxReceiveCount`` receipts; ingestion is idempotent
(merges and event ids), so a retry stores nothing twice. Standard queues do not
keep order: two updates of one key racing in separate deliveries end with
whichever is applied last.

The bus is the platform's own: any module that may publish on it may write any
tenant's contacts, as a module importing this package's writer could.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from growthos_segments.core.ids import CONTACT_ID_RE, TENANT_ID_RE
from growthos_segments.core.ports_bus import DeadLetters, RejectedMessage
from growthos_segments.core.ports_ingest import ForgetResult
from growthos_segments.services.ingest import KEPT_CHANGING, MAX_CONTACTS, MAX_EVENTS, ItemResult

__all__ = [
    "CONTACT_DELETED",
    "CONTACT_UPSERTED",
    "ENGINE_SOURCE",
    "EVENT_RECORDED",
    "RULE_PATTERN",
    "BusIngester",
    "BusOutcome",
    "Ingestion",
]

log = logging.getLogger("growthos_segments.services.bus_ingest")

ENGINE_SOURCE = "growthos.segments"
"""What the engine publishes under (Segment Entered/Exited/Changed/Archived)."""
CONTACT_UPSERTED = "Contact Upserted"
EVENT_RECORDED = "Event Recorded"
CONTACT_DELETED = "Contact Deleted"
RULE_PATTERN: Mapping[str, Any] = {
    "source": [{"anything-but": [ENGINE_SOURCE]}],
    "detail-type": [CONTACT_UPSERTED, EVENT_RECORDED, CONTACT_DELETED],
}
"""The ingest rule's event pattern (``template.yaml`` declares the same, a test holds them equal)."""

_SOURCE_RE = re.compile(r"^growthos\.([a-z][a-z0-9_]{0,39})$")
_KINDS = {CONTACT_UPSERTED: "contact", EVENT_RECORDED: "event", CONTACT_DELETED: "forget"}
_BATCH = {"contact": MAX_CONTACTS, "event": MAX_EVENTS}
"""The ingestion service's per-call limits: consecutive items are sent in calls this large."""


class Ingestion(Protocol):
    """What this module calls of :class:`~growthos_segments.services.ingest.IngestService`."""

    def upsert_contacts(self, tenant_id: str, items: Sequence[Any], *, now: datetime) -> list[ItemResult]: ...

    def append_events(self, tenant_id: str, items: Sequence[Any], *, now: datetime) -> list[ItemResult]: ...

    def forget_contact(self, tenant_id: str, contact_id: str, *, now: datetime) -> ForgetResult: ...


class _Refused(ValueError):
    """A message that can never be ingested, and where in its envelope."""


@dataclass(frozen=True, slots=True)
class _Item:
    message_id: str
    body: str
    kind: str
    tenant_id: str
    item: Any
    """The contact or event item; for a forget, the contact id."""


@dataclass(slots=True)
class BusOutcome:
    statuses: dict[str, int] = field(default_factory=dict)
    """Items by ingestion status (``created``, ``updated``, ``unchanged``, ``duplicate``,
    ``forgotten``)."""
    rejected: list[RejectedMessage] = field(default_factory=list)
    """Sent to the dead-letter queue (never retried)."""
    failed: dict[str, str] = field(default_factory=dict)
    """Message id -> error, for the partial batch response (delivered again)."""


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Refused(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _parse(record: Mapping[str, Any]) -> _Item:
    message_id, body = str(record.get("messageId", "")), record.get("body")
    if not isinstance(body, str):
        raise _Refused("the queue message has no body")
    try:
        parsed = json.loads(body)
    except ValueError as error:
        raise _Refused(f"the message is not JSON ({error})") from None
    envelope = _object(parsed, "the message")
    kind = _KINDS.get(str(envelope.get("detail-type")))
    if kind is None:
        raise _Refused(f"/detail-type: {envelope.get('detail-type')!r} is not one of {', '.join(_KINDS)}")
    source = _SOURCE_RE.match(str(envelope.get("source")))
    if source is None or envelope.get("source") == ENGINE_SOURCE:
        raise _Refused(f"/source: {envelope.get('source')!r} is not growthos.<module> of another module")
    detail = _object(envelope.get("detail"), "/detail")
    tenant_id = detail.get("tenant_id")
    if not isinstance(tenant_id, str) or not TENANT_ID_RE.match(tenant_id):
        raise _Refused(f"/detail/tenant_id: {tenant_id!r} is not a tenant id")
    if kind == "forget":
        contact_id = detail.get("contact_id")
        if not isinstance(contact_id, str) or not CONTACT_ID_RE.match(contact_id):
            raise _Refused(f"/detail/contact_id: {contact_id!r} is not a contact id")
        return _Item(message_id, body, kind, tenant_id, contact_id)
    item = dict(_object(detail.get(kind), f"/detail/{kind}"))
    if kind == "event":
        action = item.pop("action", None)
        if "name" not in item and action is not None:
            if not isinstance(action, str):
                raise _Refused(f"/detail/event/action: expected a string, got {type(action).__name__}")
            item["name"] = action
        if isinstance(item.get("name"), str) and "." not in item["name"]:
            item["name"] = f"{source.group(1)}.{item['name']}"
    return _Item(message_id, body, kind, tenant_id, item)


def _runs(items: list[_Item]) -> list[list[_Item]]:
    """Consecutive items of one tenant and kind, in order, at most one call's worth each."""
    runs: list[list[_Item]] = []
    for item in items:
        last = runs[-1] if runs else None
        same = last is not None and (last[0].kind, last[0].tenant_id) == (item.kind, item.tenant_id)
        if last is not None and same and item.kind != "forget" and len(last) < _BATCH[item.kind]:
            last.append(item)
        else:
            runs.append([item])
    return runs


def _errors(result: ItemResult, kind: str) -> str:
    """An item result's errors, their pointers moved from the request body to the bus detail."""
    parts = []
    for error in result.errors:
        pointer = re.sub(r"^/items/\d+", f"/detail/{kind}", error.pointer)
        parts.append(f"{pointer}: {error.message}")
    return "; ".join(parts) or "refused"


class BusIngester:
    """One SQS batch of bus messages in, ingested, rejected or left for another delivery."""

    def __init__(self, ingestion: Ingestion, dead_letters: DeadLetters,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._ingestion = ingestion
        self._dead_letters = dead_letters
        self._clock = clock

    def ingest(self, records: Sequence[Mapping[str, Any]]) -> BusOutcome:
        outcome = BusOutcome()
        items: list[_Item] = []
        for record in records:
            try:
                items.append(_parse(record))
            except _Refused as refusal:
                outcome.rejected.append(RejectedMessage(str(record.get("messageId", "")),
                                                        str(record.get("body", "")), str(refusal)))
        for run in _runs(items):
            self._call(run, outcome)
        if outcome.rejected:
            for message in outcome.rejected:
                log.warning("bus message %s refused: %s", message.message_id, message.reason)
            for message_id in self._dead_letters.send(outcome.rejected):
                outcome.failed[message_id] = "the dead-letter queue did not take it"
        return outcome

    def _call(self, run: list[_Item], outcome: BusOutcome) -> None:
        first, now = run[0], self._clock()
        try:
            if first.kind == "forget":  # a page of events per call: called until none is left
                while not self._ingestion.forget_contact(first.tenant_id, first.item, now=now).complete:
                    pass
                results: list[ItemResult] = []
                outcome.statuses["forgotten"] = outcome.statuses.get("forgotten", 0) + 1
            elif first.kind == "contact":
                results = self._ingestion.upsert_contacts(first.tenant_id, [i.item for i in run], now=now)
            else:
                results = self._ingestion.append_events(first.tenant_id, [i.item for i in run], now=now)
        except ValueError as error:  # the contract's whole-request refusal: never better on a retry
            outcome.rejected.extend(RejectedMessage(i.message_id, i.body, f"/detail: {error}") for i in run)
            return
        except Exception as error:  # transient (a throttled write...): delivered again, then dead-lettered
            log.exception("ingesting %d %s item(s) of tenant %s failed",
                          len(run), first.kind, first.tenant_id)
            outcome.failed.update((i.message_id, f"{type(error).__name__}: {error}") for i in run)
            return
        for result in results:
            item = run[result.index]
            if result.status == "error" and all(e.message == KEPT_CHANGING for e in result.errors):
                outcome.failed[item.message_id] = KEPT_CHANGING  # contention: another delivery may pass
            elif result.status == "error":
                reason = _errors(result, item.kind)
                outcome.rejected.append(RejectedMessage(item.message_id, item.body, reason))
            else:
                outcome.statuses[result.status] = outcome.statuses.get(result.status, 0) + 1
