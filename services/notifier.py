"""Notification: memberships change records in, ``Segment Entered`` / ``Segment Exited`` out.

The memberships table is the outbox: a record becomes an event only when the
row's ``member`` flag changed, and a record is acknowledged only once the
:class:`EventPublisher` port accepted its event (see :class:`Notifier`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from growthos_segments.core.membership import transition_event
from growthos_segments.core.ports import (
    PUBLISH_BATCH,
    EventPublisher,
    OutboundEvent,
    StreamRecordReader,
    Transition,
    TransitionFeed,
)

__all__ = ["HeldBack", "Notifier", "NotifyResult", "PublishError"]


@dataclass
class NotifyResult:
    sent: int = 0
    skipped: int = 0
    failed: dict[str, Exception] = field(default_factory=dict)
    events: list[OutboundEvent] = field(default_factory=list)


class PublishError(RuntimeError):
    """EventBridge did not accept a transition's event; its record is retried."""


class HeldBack(RuntimeError):
    """A record after the batch's first failure: not published in this invocation,
    because Lambda redelivers everything from the first failed record anyway."""


def _pair(event: OutboundEvent) -> tuple[Any, Any, Any]:
    detail = event.detail
    return detail.get("tenant_id"), detail.get("segment_id"), detail.get("contact_id")


def _transition(event: OutboundEvent) -> Transition | None:
    """The feed's record of an event (``None`` for a row without a change time)."""
    detail = event.detail
    if event.time is None:
        return None
    return Transition(
        tenant_id=detail["tenant_id"], segment_id=detail["segment_id"], contact_id=detail["contact_id"],
        kind="enter" if detail["member"] else "exit", at=event.time,
        segment_version=detail.get("segment_version"), transition_id=event.idempotency_id,
    )


class Notifier:
    """Memberships stream -> ``Segment Entered`` / ``Segment Exited`` events.

    The memberships table is the outbox: an event exists only because a
    transition was committed, and a record is acknowledged only once its
    event is accepted. Delivery is at least once (a retried batch re-sends),
    so every event carries the transition's stable idempotency id.

    Order per (segment, contact) pair is the stream's, which is commit order.
    A partial failure must not break it, and Lambda's partial batch response
    cannot express "retry only this record": it checkpoints before the first
    failed record and redelivers everything after it. So the batch stops at
    its first failure: that record and every later one are reported failed,
    and nothing after it is published. Events before it go out in stream order
    and never two of one pair in one ``PutEvents`` request (EventBridge
    processes the entries of a request independently: it could refuse the
    enter and accept the exit that follows it). The result: an event is
    published only after every earlier event of its pair was accepted, and a
    redelivered record is never published after a later one of its pair.

    With a ``feed``, each run's transitions are recorded in their segments'
    feeds before the run is published, so every transition sent to the bus is in
    the feed; a retried record is recorded again under the same transition id,
    which leaves one entry. A feed write that fails fails the invocation, so
    Lambda retries the whole batch (events already published are sent again,
    with their idempotency ids).
    """

    def __init__(
        self, publisher: EventPublisher, records: StreamRecordReader, feed: TransitionFeed | None = None
    ) -> None:
        self._publisher = publisher
        self._records = records
        self._feed = feed

    def notify(self, records: Sequence[Mapping[str, Any]]) -> NotifyResult:
        result = NotifyResult()
        ids = [self._records.record_id(record) for record in records]
        stop = len(records)
        stop_error: Exception | None = None
        pending: dict[str, OutboundEvent] = {}
        first_index: dict[str, int] = {}
        for index, record in enumerate(records):
            try:
                name, old, new = self._records.images(record)
                if name not in ("INSERT", "MODIFY"):
                    result.skipped += 1  # REMOVE: a tombstone's TTL expiry, never a transition
                    continue
                event = transition_event(old, new)
            except (TypeError, ValueError) as error:
                stop, stop_error = index, error
                break
            if event is None:
                result.skipped += 1
                continue
            if event.idempotency_id not in pending:  # a duplicate record: its first copy decides
                pending[event.idempotency_id] = event
                first_index[event.idempotency_id] = index
        for run in self._runs(list(pending.values())):
            if self._feed is not None:
                self._feed.record([t for t in map(_transition, run) if t is not None])
            published = self._publisher.publish(run)
            result.sent += published.sent
            refused = {f.event.idempotency_id: f for f in published.failed}
            result.events += [e for e in run if e.idempotency_id not in refused]
            if refused:
                first = min(refused, key=first_index.__getitem__)
                failure = refused[first]
                stop = min(stop, first_index[first])
                stop_error = PublishError(f"{failure.code}: {failure.message}")
                break
        for index in range(stop, len(records)):
            result.failed[ids[index]] = stop_error if index == stop else HeldBack(
                f"held back behind record {ids[stop]}, which failed: {stop_error}"
            )
        return result

    @staticmethod
    def _runs(events: list[OutboundEvent]) -> Iterator[list[OutboundEvent]]:
        """Consecutive events, cut before a pair's second event: one run never holds
        two events of one pair, so a later event is sent only after the earlier was
        accepted (the publisher may split a run into several requests, never merge).
        A run is at most one request's worth of entries, so a refusal stops the
        batch before more is sent that Lambda would redeliver anyway."""
        run: list[OutboundEvent] = []
        pairs: set[tuple[Any, Any, Any]] = set()
        for event in events:
            if _pair(event) in pairs or len(run) == PUBLISH_BATCH:
                yield run
                run, pairs = [], set()
            run.append(event)
            pairs.add(_pair(event))
        if run:
            yield run
