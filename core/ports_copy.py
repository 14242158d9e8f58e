"""The analytical copy's ports: change records in, per-tenant columnar files out.

The copy of contacts and events that whole-tenant questions run on is kept from
the same DynamoDB streams as real-time membership. The service that keeps it
(``services/copy.py``) sees only what is here: the changes a batch of stream
records stands for (:class:`CopyRecordReader`), the copy itself
(:class:`AnalyticsCopy`, Parquet written by DuckDB in ``analytics/deltas.py``),
where its files live (:class:`CopyStorage`: a local folder, or S3 in
``infra/analytics_copy.py``) and, to build a tenant's copy from scratch, the
tenant's documents as stored (:class:`CopySource`). So the service stays free
of DuckDB and AWS, and the analytical package free of AWS.

How fresh the copy is rests on the streams, not on the records a batch happened
to hold: the copy function records, per stream shard, the last record it applied
(:class:`ShardProgress`, kept by :class:`CopyProgress`), and the
:class:`StreamBacklog` says, per shard, when the first record after that was
made. The minimum over every shard of both streams is the copy's watermark
(:class:`Watermark`): every change made before it is in the copy, whichever
shard carried it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = [
    "WATERMARK",
    "AnalyticsCopy",
    "CopyChange",
    "CopyProgress",
    "CopyRecordReader",
    "CopySource",
    "CopyStorage",
    "CopyWritten",
    "ShardBound",
    "ShardProgress",
    "StreamBacklog",
    "Watermark",
]

WATERMARK = "_watermark.json"
"""Where the copy's last computed :class:`Watermark` is kept, relative to its root: the
fold function writes it, readers of every tenant's copy read it."""


@dataclass(frozen=True, slots=True)
class CopyChange:
    """One stored contact or event as a stream record left it, for the copy.

    ``document`` is what the per-contact path reads: for a contact, its view
    document without events (``tenant_id``, ``contact_id``, ``attributes`` with
    ``custom``, ``tags``, ``lists``, ``suppression``, ``scores``); for an event,
    ``{"name", "at", "properties", "event_id"}``. A removed contact carries
    ``{}``; a removed event (its TTL expired) carries only ``at`` and
    ``event_id``, its key.
    """

    tenant_id: str
    contact_id: str
    kind: Literal["contact", "event"]
    position: str
    """Where the record sits in its stream, as text of one width: a later change of the
    same item sorts after an earlier one (DynamoDB keeps each item's records in order)."""
    changed_at: datetime | None
    """When the change was made (the record's approximate creation time)."""
    deleted: bool
    document: Mapping[str, Any]
    updated_at: datetime | None = None
    """A contact's ``updated_at`` as stored (never part of the document rules read)."""


class CopyRecordReader(Protocol):
    """Reads the change records a trigger delivers as the copy's changes."""

    def record_id(self, record: Mapping[str, Any]) -> str:
        """The id a partial batch response names this record by."""
        ...

    def copy_changes(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[list[tuple[str, CopyChange]], dict[str, Exception]]:
        """``(record id, change)`` for each record that holds a contact or an event,
        in order, and the records that cannot be understood (id -> why)."""
        ...

    def stream_position(self, record: Mapping[str, Any]) -> tuple[str, datetime | None]:
        """The record's sequence number in its shard and its creation time, read from
        any record (also one whose change cannot be understood)."""
        ...


@dataclass(frozen=True, slots=True)
class CopyWritten:
    """What applying one batch of a tenant's changes wrote."""

    tenant_id: str
    contacts: int
    events: int
    skipped_events: int
    """Events the per-contact view would skip as malformed, so the copy leaves them out."""


class AnalyticsCopy(Protocol):
    """Every tenant's copy: base files, and the deltas applied since they were written."""

    def apply(self, tenant_id: str, changes: Sequence[CopyChange], *, as_of: datetime) -> CopyWritten:
        """Write one delta of ``changes`` (all of ``tenant_id``, from one stream batch) that
        brings the copy up to ``as_of``. It is named after the changes' stream positions, so
        the same batch again replaces it and a retried batch never counts twice."""
        ...

    def pending(self, tenant_id: str) -> int:
        """Delta files written since the tenant's base files."""
        ...

    def backlog(self) -> dict[str, int]:
        """Delta files per tenant that has any."""
        ...

    def compact(self, tenant_id: str, *, now: datetime) -> int:
        """Fold the deltas no stream retry can rewrite any more into new base files;
        returns how many were folded (0: nothing to do)."""
        ...

    def rebuild(self, tenant_id: str, documents: Iterable[Mapping[str, Any]], *, as_of: datetime) -> int:
        """Replace the tenant's copy by these documents (each with its ``events``), as
        read from the tables from ``as_of`` on; returns the contacts written."""
        ...

    def as_of(self, tenant_id: str) -> datetime | None:
        """The instant before which every change of the tenant is in its copy: the later of
        its rebuild's instant and the streams' :class:`Watermark` (``None``: neither known)."""
        ...


class CopyStorage(Protocol):
    """Where the copy's files live. Paths are relative to the copy's root and use
    ``/``; the hive layout under it is the copy's contract (``analytics/parquet.py``)."""

    def local_root(self, tenant_id: str) -> Path:
        """A local folder holding the tenant's current files under the copy's layout
        (the root itself for a folder; a synchronised cache for S3)."""
        ...

    def listing(self, prefix: str) -> list[str]:
        """The files under ``prefix``, sorted."""
        ...

    def put(self, path: str, source: Path) -> None:
        """Store the local file ``source`` as ``path``: readers see the old file or the
        whole new one, never part of it."""
        ...

    def remove(self, paths: Sequence[str]) -> None:
        """Delete these files (already missing ones are not an error)."""
        ...

    def replace_folder(self, prefix: str, staging: Path) -> None:
        """Make ``prefix`` hold exactly the files of the local folder ``staging``."""
        ...

    def read(self, path: str) -> bytes | None:
        """The content of a small file (``None``: there is none)."""
        ...

    def write(self, path: str, data: bytes) -> None:
        """Store a small file whole (readers see the old content or the new)."""
        ...


class CopySource(Protocol):
    """A tenant's contacts as stored, each with every stored event (``event_id`` included)."""

    def documents(self, tenant_id: str) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class ShardProgress:
    """The last record of one stream shard the copy holds (and every record before it)."""

    stream: str
    """The stream's ARN."""
    shard_id: str
    sequence: str
    changed_at: datetime | None
    """The record's creation time as the stream gives it (whole seconds, rounded down)."""


class CopyProgress(Protocol):
    """Per shard, how far the copy function has applied each stream; and the last watermark."""

    def record(self, progress: ShardProgress) -> None:
        """Note that every record of the shard up to ``progress.sequence`` is in the copy."""
        ...

    def recorded(self, stream: str) -> dict[str, ShardProgress]:
        """What :meth:`record` noted for the stream's shards, by shard id."""
        ...

    def forget(self, stream: str, shard_ids: Iterable[str]) -> None:
        """Drop the progress of shards the stream no longer lists."""
        ...

    def save(self, watermark: Watermark) -> None:
        """Keep ``watermark`` where every reader of the copy finds it (:data:`WATERMARK`)."""
        ...


@dataclass(frozen=True, slots=True)
class ShardBound:
    """What one shard still holds that the copy lacks."""

    shard_id: str
    bound: datetime | None
    """Every record of the shard made before this instant is in the copy (``None``: the
    shard is closed and every record of it is)."""
    why: str


@dataclass(frozen=True, slots=True)
class Watermark:
    """Every stream record made before ``at`` is in the copy (or was given up on by the
    copy function and sent to the failure queue)."""

    at: datetime
    checked_at: datetime
    shards: int
    """Shards looked at (both streams)."""
    requests: int
    """Requests the look took (listing, iterators, reads)."""


class StreamBacklog(Protocol):
    """The streams the copy is kept from, and what each shard holds after given progress."""

    def streams(self) -> list[str]:
        """The ARNs of the streams the copy function reads."""
        ...

    def bounds(
        self, stream: str, progress: Mapping[str, ShardProgress], checked_at: datetime
    ) -> list[ShardBound]:
        """One bound per shard the stream lists (``progress``: by shard id, what the copy
        holds); a shard with nothing after its progress is bounded by ``checked_at``."""
        ...

    @property
    def requests(self) -> int:
        """Requests made so far (a look must stay a handful per shard)."""
        ...
