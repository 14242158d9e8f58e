"""Keeping the analytical copy: stream batches in, one delta per tenant out; folds and rebuilds.

The copy function receives the same contacts and events stream records as the
stream evaluator. A batch becomes, for each tenant it touches, one delta that the copy names
after the stream positions of that tenant's records and the creation time of
the newest one (:meth:`CopyService.apply_batch`): a retried batch writes the
same name again instead of a second copy, and the name states how fresh the
copy is. A record that cannot be read, or whose tenant's delta cannot be
written, is reported failed (Lambda retries from it; the delta names make the
retry harmless).

:meth:`CopyService.fold_due` folds the deltas of each tenant holding more than
``fold_after`` delta files into its base files, most deltas first, until its
caller runs out of time. It runs on a schedule in a function of its own with one
concurrent execution (``template.yaml``), never beside a stream batch: a batch
is never slowed or retried because of a fold, and two folds of a tenant never
run at once.

**How fresh the copy is.** A batch's records come from one shard of one stream.
Once its deltas are written, :meth:`CopyService.apply_batch` records the last
record of the batch the copy holds (before the first failed one, when some
failed) as that shard's progress. :class:`StreamWatermark` compares every shard's
progress with what the shard holds: the earliest record not yet applied, over
every shard of both streams, bounds the watermark, the instant before which every
change is in the copy. A shard that lags (its batch failing and retried) holds the
watermark back however far the other shards have moved; a tenant with no changes
at all is as fresh as the streams. The fold function computes it every run
(:meth:`CopyService.refresh_watermark`) and keeps it beside the copy; a backfill
waiting for the copy may compute it itself (:meth:`StreamWatermark.compute`, which
writes nothing).
A record the copy function gives up on (the failure queue) is never applied: the
watermark passes it once a later record of its shard is applied, and until then
stays before it (a closed shard ending with it holds the watermark until the
stream drops the shard, 24 hours), so backfills evaluate everyone meanwhile.

:meth:`CopyService.rebuild` writes a tenant's copy from the tables (existing
tenants, disaster recovery, the local stack's demo data), as of the instant it
starts reading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from growthos_segments.core.ports_copy import (
    AnalyticsCopy,
    CopyChange,
    CopyProgress,
    CopyRecordReader,
    CopySource,
    CopyWritten,
    ShardBound,
    ShardProgress,
    StreamBacklog,
    Watermark,
)

__all__ = ["FOLD_AFTER", "CopyBatchResult", "CopyService", "StreamWatermark"]

log = logging.getLogger("growthos_segments.services.copy")

FOLD_AFTER = 64
"""Delta files a tenant may hold before they are folded into its base files: each one
is a file every query of the tenant opens and merges."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class CopyBatchResult:
    failed: dict[str, Exception] = field(default_factory=dict)
    """Record id -> why (every record of a tenant whose delta could not be written)."""
    written: list[CopyWritten] = field(default_factory=list)


class StreamWatermark:
    """The copy's watermark from the streams and the copy function's progress (see the
    module docstring)."""

    def __init__(
        self, progress: CopyProgress, backlog: StreamBacklog, *, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self._progress = progress
        self._backlog = backlog
        self._clock = clock

    def compute(self) -> Watermark:
        """Look at every shard now; nothing is written (a backfill computes it with read
        access only)."""
        return self._look()[0]

    def refresh(self) -> Watermark:
        """Look at every shard now, keep the watermark where readers of the copy find it, and
        drop the progress of shards the streams no longer list. Progress is read before the
        streams are described, so it names only shards that existed then: one the streams do
        not list any more is gone (its records are older than the streams keep)."""
        found, gone = self._look()
        self._progress.save(found)
        for stream, shard_ids in gone.items():
            self._progress.forget(stream, shard_ids)
        return found

    def _look(self) -> tuple[Watermark, dict[str, set[str]]]:
        """The watermark, and per stream the shards with progress the stream no longer lists."""
        checked_at = self._clock()
        before = self._backlog.requests
        bounds: list[ShardBound] = []
        gone: dict[str, set[str]] = {}
        for stream in self._backlog.streams():
            recorded = self._progress.recorded(stream)
            found = self._backlog.bounds(stream, recorded, checked_at)
            if not any(bound.bound is not None for bound in found):
                raise ValueError(f"stream {stream} has no open shard: later changes would not reach the copy")
            listed = {bound.shard_id for bound in found}
            if set(recorded) - listed:
                gone[stream] = set(recorded) - listed
            bounds.extend(found)
        at, shard_id, why = min((bound.bound, bound.shard_id, bound.why) for bound in bounds
                                if bound.bound is not None)
        log.info("copy watermark %s, held by shard %s (%s)", at.isoformat(), shard_id, why)
        return Watermark(at, checked_at, len(bounds), self._backlog.requests - before), gone


class CopyService:
    """Applies stream batches to the copy, folds its deltas, rebuilds a tenant from the tables."""

    def __init__(
        self,
        records: CopyRecordReader,
        copy: AnalyticsCopy,
        source: CopySource | None = None,
        *,
        progress: CopyProgress | None = None,
        watermark: StreamWatermark | None = None,
        fold_after: int = FOLD_AFTER,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._records = records
        self._copy = copy
        self._source = source
        self._progress = progress
        self._watermark = watermark
        self._fold_after = fold_after
        self._clock = clock

    def apply_batch(
        self, records: Sequence[Mapping[str, Any]], *, stream: str | None = None, shard_id: str | None = None
    ) -> CopyBatchResult:
        """Write the batch's deltas, then (given the batch's ``stream`` and ``shard_id``, which
        Lambda sends with tumbling windows) the shard's progress: the last record before the
        first failed one. A progress that cannot be written fails the call, so Lambda
        delivers the batch again (its deltas are replaced, never doubled)."""
        result = self._apply(records)
        if self._progress is not None and stream and shard_id:
            ids = [self._records.record_id(record) for record in records]
            applied = min((n for n, rid in enumerate(ids) if rid in result.failed), default=len(records))
            if applied:
                sequence, changed_at = self._records.stream_position(records[applied - 1])
                self._progress.record(ShardProgress(stream, shard_id, sequence, changed_at))
        return result

    def refresh_watermark(self) -> Watermark:
        """Compute the watermark and keep it where readers of the copy find it."""
        if self._watermark is None:
            raise ValueError("a watermark needs the streams and the copy function's progress")
        return self._watermark.refresh()

    def _apply(self, records: Sequence[Mapping[str, Any]]) -> CopyBatchResult:
        changes, poison = self._records.copy_changes(records)
        result = CopyBatchResult(failed=dict(poison))
        for rid, error in poison.items():
            log.error("stream record %s cannot be read: %s", rid, error)
        tenants: dict[str, list[tuple[str, CopyChange]]] = {}
        for rid, change in changes:
            tenants.setdefault(change.tenant_id, []).append((rid, change))
        for tenant_id, group in tenants.items():
            stamps = [change.changed_at for _, change in group if change.changed_at is not None]
            as_of = max(stamps) if stamps else self._clock()
            try:
                written = self._copy.apply(tenant_id, [change for _, change in group], as_of=as_of)
                result.written.append(written)
            except Exception as error:  # one tenant's failure must not fail the others
                log.exception("writing the delta of tenant %s failed", tenant_id)
                for rid, _ in group:
                    result.failed[rid] = error
        return result

    def fold_due(self, *, out_of_time: Callable[[], bool] = lambda: False) -> dict[str, int]:
        """Fold the deltas of every tenant holding more than ``fold_after`` delta files, the
        most first, until ``out_of_time`` says so; returns the files folded per tenant. A
        tenant whose fold fails is logged and skipped: its deltas stay readable, and the
        next run tries again."""
        folded: dict[str, int] = {}
        due = sorted(((n, t) for t, n in self._copy.backlog().items() if n > self._fold_after), reverse=True)
        for _, tenant_id in due:
            if out_of_time():
                break
            try:
                folded[tenant_id] = self._copy.compact(tenant_id, now=self._clock())
            except Exception:
                log.exception("folding the deltas of tenant %s failed", tenant_id)
        return folded

    def rebuild(self, tenant_id: str) -> int:
        """Write the tenant's copy from the tables; returns the contacts written."""
        if self._source is None:
            raise ValueError("rebuilding a copy needs the tables to read (a CopySource)")
        started = self._clock()
        return self._copy.rebuild(tenant_id, self._source.documents(tenant_id), as_of=started)

