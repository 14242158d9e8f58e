"""Memberships: conditional enter/exit with exact counters, and member queries.

A transition is one TransactWriteItems: an UpdateItem on the membership row,
conditioned on "the stored row comes from an older evaluation and is not
already in the target state", plus an ADD on one shard of the segment's
counter. Either both happen or neither, which is what keeps counts exact when
stream records are retried, duplicated or reordered. The membership row is
also the notification outbox: its stream carries the transition (with a
stable ``transition_id``) to the notifier.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from growthos_segments.core.ports import (
    MembershipRecord,
    MembershipStore,
    Page,
    TransitionOutcome,
    TransitionResult,
)
from growthos_segments.infra import keys
from growthos_segments.infra.models import MembershipModel, Models
from growthos_segments.infra.repos._common import decode_cursor, encode_cursor, iso
from growthos_segments.infra.settings import Settings

__all__ = ["ConflictRetrying", "MembershipRepository"]


def _record(item: MembershipModel) -> MembershipRecord:
    return MembershipRecord(
        tenant_id=item.tenant_id,
        segment_id=item.segment_id,
        contact_id=item.contact_id,
        member=bool(item.member),
        seq=int(item.seq),
        changed_at=item.changed_at,
        transition_id=item.transition_id,
        entered_at=item.entered_at,
        exited_at=item.exited_at,
        segment_version=int(item.segment_version) if item.segment_version is not None else None,
    )


class MembershipRepository(MembershipStore):
    """:class:`growthos_segments.core.ports.MembershipStore` on DynamoDB."""

    def __init__(self, models: Models, settings: Settings) -> None:
        self._model = models.memberships
        self._counter = models.counters
        self._connection = models.connection
        self._tombstone = settings.membership_tombstone

    def get(self, tenant_id: str, segment_id: str, contact_id: str) -> MembershipRecord | None:
        try:
            item = self._model.get(
                keys.membership_pk(tenant_id, segment_id),
                keys.check_contact_id(contact_id),
                consistent_read=True,
            )
        except DoesNotExist:
            return None
        return _record(item)

    def transition(
        self,
        tenant_id: str,
        segment_id: str,
        contact_id: str,
        *,
        enter: bool,
        seq: int,
        at: datetime,
        segment_version: int | None = None,
    ) -> TransitionResult:
        model = self._model
        pk = keys.membership_pk(tenant_id, segment_id)
        stamp = iso(at)
        transition = keys.transition_id(tenant_id, segment_id, contact_id, seq, enter)
        actions = [
            model.tenant_id.set(tenant_id),
            model.segment_id.set(segment_id),
            model.contact_id.set(contact_id),
            model.member.set(enter),
            model.seq.set(seq),
            model.changed_at.set(stamp),
            model.transition_id.set(transition),
        ]
        if segment_version is not None:
            actions.append(model.segment_version.set(segment_version))
        if enter:
            actions += [
                model.entered_at.set(stamp),
                model.contact_key.set(keys.membership_contact_key(tenant_id, contact_id)),
                model.exited_at.remove(),
                model.expires_at.remove(),
            ]
            # New row, or an exited row written by an older evaluation.
            condition = model.pk.does_not_exist() | (
                (model.member == False) & (model.seq < seq)  # noqa: E712 - DynamoDB BOOL comparison
            )
        else:
            actions += [
                model.exited_at.set(stamp),
                model.contact_key.remove(),  # leaves the sparse by_contact index
                model.expires_at.set(at + self._tombstone),
            ]
            condition = (model.member == True) & (model.seq < seq)  # noqa: E712
        item = model(pk, keys.check_contact_id(contact_id))
        shard = self._counter(
            keys.counter_pk(tenant_id, segment_id), keys.counter_sk(keys.MEMBERS_COUNTER, contact_id)
        )
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.update(item, actions=actions, condition=condition, return_values="ALL_OLD")
                transaction.update(shard, actions=[self._counter.count.add(1 if enter else -1)])
        except TransactWriteError as error:
            reason = error.cancellation_reasons[0] if error.cancellation_reasons else None
            if reason is None or reason.code != "ConditionalCheckFailed":
                raise
            current = _record(model.from_raw_data(reason.raw_item)) if reason.raw_item else None
            if current is not None and current.seq >= seq:
                return TransitionResult(TransitionOutcome.STALE, current)
            # Already in the requested state, but from an older evaluation: record
            # this newer seq so an evaluation between the two cannot flip it later.
            if not self.confirm(tenant_id, segment_id, contact_id, member=enter, seq=seq, at=at):
                return TransitionResult(TransitionOutcome.STALE, self.get(tenant_id, segment_id, contact_id))
            if current is None:  # a tombstone was created for a never-member
                current = MembershipRecord(
                    tenant_id, segment_id, contact_id, False, seq, stamp,
                    keys.transition_id(tenant_id, segment_id, contact_id, seq, False),
                )
            return TransitionResult(TransitionOutcome.UNCHANGED, replace(current, seq=seq))
        applied = MembershipRecord(
            tenant_id=tenant_id,
            segment_id=segment_id,
            contact_id=contact_id,
            member=enter,
            seq=seq,
            changed_at=stamp,
            transition_id=transition,
            entered_at=stamp if enter else None,
            exited_at=None if enter else stamp,
            segment_version=segment_version,
        )
        return TransitionResult(TransitionOutcome.APPLIED, applied)

    def member_item(self, record: MembershipRecord) -> MembershipModel:
        """The row :meth:`enter` writes for a member (a bulk load into segments with no
        memberships yet writes it unconditionally)."""
        return self._model(
            keys.membership_pk(record.tenant_id, record.segment_id),
            keys.check_contact_id(record.contact_id),
            tenant_id=record.tenant_id,
            segment_id=record.segment_id,
            contact_id=record.contact_id,
            member=True,
            seq=record.seq,
            segment_version=record.segment_version,
            changed_at=record.changed_at,
            entered_at=record.entered_at,
            transition_id=record.transition_id,
            contact_key=keys.membership_contact_key(record.tenant_id, record.contact_id),
        )

    def counter_items(self, members: Sequence[MembershipRecord]) -> list[Any]:
        """The member-count shards :meth:`enter` would have added ``members`` to."""
        counts: Counter[tuple[str, str]] = Counter(
            (keys.counter_pk(r.tenant_id, r.segment_id), keys.counter_sk(keys.MEMBERS_COUNTER, r.contact_id))
            for r in members
        )
        return [self._counter(pk, sk, count=n) for (pk, sk), n in sorted(counts.items())]

    def confirm(
        self,
        tenant_id: str,
        segment_id: str,
        contact_id: str,
        *,
        member: bool,
        seq: int,
        at: datetime,
    ) -> bool:
        """Record that an evaluation at ``seq`` found the contact still ``member``.

        No transition, no counter change: only the row's ``seq`` moves forward
        (for a never-member, a tombstone row is created), so an *older*
        evaluation that arrives later is refused instead of flipping the state.
        Returns ``False`` if a newer evaluation got there first or the state
        differs (then a real transition is needed).
        """
        model = self._model
        pk = keys.membership_pk(tenant_id, segment_id)
        item = model(pk, keys.check_contact_id(contact_id))
        actions = [model.seq.set(seq)]
        same_state = (model.member == member) & (model.seq < seq)
        if member:
            condition = same_state
        else:
            stamp = iso(at)
            actions += [
                model.tenant_id.set(tenant_id),
                model.segment_id.set(segment_id),
                model.contact_id.set(contact_id),
                model.member.set(False),
                model.changed_at.set(model.changed_at | stamp),
                model.transition_id.set(
                    model.transition_id | keys.transition_id(tenant_id, segment_id, contact_id, seq, False)
                ),
                model.expires_at.set(at + self._tombstone),
            ]
            condition = model.pk.does_not_exist() | same_state
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def members(
        self, tenant_id: str, segment_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> Page[str]:
        """A page of current members; exited tombstones are filtered server-side,
        so a page may hold fewer than ``limit`` ids while ``cursor`` is set."""
        if limit < 1:
            raise ValueError("limit must be positive")
        pk = keys.membership_pk(tenant_id, segment_id)
        start = decode_cursor(cursor, equal={"pk": pk}, allowed=frozenset({"sk"}))
        results = self._model.query(
            pk,
            filter_condition=self._model.member == True,  # noqa: E712
            limit=limit,
            last_evaluated_key=start,
            attributes_to_get=["pk", "sk", "contact_id"],
            consistent_read=True,
        )
        ids = [item.sk for item in results]
        return Page(ids, encode_cursor(results.last_evaluated_key))

    def segments_of(self, tenant_id: str, contact_id: str) -> list[MembershipRecord]:
        results = self._model.by_contact.query(keys.membership_contact_key(tenant_id, contact_id))
        return [_record(item) for item in results if item.member]

    def count(self, tenant_id: str, segment_id: str) -> int:
        results = self._counter.query(
            keys.counter_pk(tenant_id, segment_id),
            self._counter.sk.startswith(keys.counter_prefix(keys.MEMBERS_COUNTER)),
            consistent_read=True,
        )
        return sum(int(item.count or 0) for item in results)


class ConflictRetrying:
    """Retries a transition whose transaction was cancelled by a *conflict*.

    Two contacts on one counter shard can transition at the same moment; DynamoDB
    cancels one transaction with ``TransactionConflict`` (not a condition failure)
    and botocore does not retry it. Re-running the transition is safe: it is
    conditional on ``seq``.
    """

    def __init__(
        self, inner: MembershipStore, *, attempts: int = 5, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._inner = inner
        self._attempts = attempts
        self._sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _retry(self, call: Callable[[], TransitionResult]) -> TransitionResult:
        for attempt in range(self._attempts):
            try:
                return call()
            except TransactWriteError as error:
                reasons = error.cancellation_reasons or []
                conflict = any(r is not None and r.code == "TransactionConflict" for r in reasons)
                if not conflict or attempt == self._attempts - 1:
                    raise
                self._sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def enter(self, tenant_id: str, segment_id: str, contact_id: str, **kwargs: Any) -> TransitionResult:
        return self._retry(lambda: self._inner.enter(tenant_id, segment_id, contact_id, **kwargs))

    def exit(self, tenant_id: str, segment_id: str, contact_id: str, **kwargs: Any) -> TransitionResult:
        return self._retry(lambda: self._inner.exit(tenant_id, segment_id, contact_id, **kwargs))

    def confirm(self, tenant_id: str, segment_id: str, contact_id: str, **kwargs: Any) -> bool:
        return self._inner.confirm(tenant_id, segment_id, contact_id, **kwargs)

    def get(self, tenant_id: str, segment_id: str, contact_id: str) -> MembershipRecord | None:
        return self._inner.get(tenant_id, segment_id, contact_id)

    def members(self, tenant_id: str, segment_id: str, **kwargs: Any) -> Page[str]:
        return self._inner.members(tenant_id, segment_id, **kwargs)

    def segments_of(self, tenant_id: str, contact_id: str) -> list[MembershipRecord]:
        return self._inner.segments_of(tenant_id, contact_id)

    def count(self, tenant_id: str, segment_id: str) -> int:
        return self._inner.count(tenant_id, segment_id)
