"""Every DynamoDB key the engine writes or reads is built here, and only here.

Keeping the key grammar in one module is what makes the tenant rule checkable:
each partition key starts with the tenant id followed by ``#`` (or *is* the
tenant id), ids may not contain ``#`` (their grammar is :mod:`growthos_segments.core.ids`,
which the rule language and the API share), so no value a caller passes can make
a key of tenant A land in tenant B's key space. Repositories never format keys
themselves; the template/model consistency test and the isolation tests rely
on that.

Item types and their keys (the table comment in ``template.yaml`` mirrors this):

======================  ===========================  ===============================
item                    partition key                sort key / index keys
======================  ===========================  ===============================
contact                 ``T#C`` (contact_pk)         GSI by_tenant_shard:
                                                     ``T#NN`` / contact_id
event                   ``T#C`` (event_pk)           ``<time 27 chars>#<event_id>``
segment head            ``T``                        ``SEG#<segment_id>``
segment version         ``T``                        ``VER#<segment_id>#<version:010>``
tenant catalog          ``T``                        ``CATALOG``; GSI tenants: ``T``
segment usage           ``T``                        ``USE#<segment_id>#<user>``
membership              ``T#S`` (membership_pk)      contact_id; GSI by_contact:
                                                     ``T#C`` / segment_id (members)
re-check state          ``T#C`` (recheck_pk)         segment_id; GSI by_due:
                                                     ``T#NN`` / ``<due minute>``
counter shard           ``T#S`` (counter_pk)         ``<name>#NN``
backfill progress       ``T#S`` (counter_pk)         ``backfill#<version:010>#NN``,
                                                     ``backfill#<version:010>#queued``
tenant context          ``T#_tenant``                ``context``
contact counter shard   ``T#_tenant``                ``contacts#NN``
CSV import job          ``T#_tenant``                ``import#<import_id>``
audience snapshot       ``T#S`` (snapshot_pk)        ``H#<snapshot_id>`` (header),
                                                     ``C#<snapshot_id>#NNNNNN`` (ids)
======================  ===========================  ===============================

Contacts and events also carry a *sample key* for size estimates:
``sample_pk = T#0P`` / ``sample_sk = <position:04x>#...``, where the position is
a stable hash of the contact id in ``[0, 65536)`` and ``P`` its top two bits.
Any prefix of the positions is a uniform random sample of the tenant's
contacts, readable with one range Query per sample shard (``infra/repos/samples.py``).

The idempotency table is the one exception to "every key starts with the
tenant": Powertools owns its key (``<function>#<md5>``), and the hashed data
always includes the tenant id, so two tenants can never share a record. The
same table remembers ingested event ids (``T#event#C#<event_id>``, expiring
with the event), which do start with the tenant.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from datetime import datetime, timedelta

from growthos_segments.core.ids import CONTACT_ID_RE, SEGMENT_ID_RE, TENANT_ID_RE
from growthos_segments.core.ports import SEGMENT_STATUSES, SEGMENT_TYPES, Resolution, SegmentRecord
from growthos_segments.core.ports_usage import USER_RE
from growthos_segments.core.timeutil import as_utc, to_iso

__all__ = [
    "BACKFILL_PREFIX",
    "CATALOG_SK",
    "CONTACTS_COUNTER",
    "CONTACT_SHARDS",
    "COUNTER_SHARDS",
    "MEMBERS_COUNTER",
    "RECHECK_SHARDS",
    "SAMPLE_POSITIONS",
    "SAMPLE_SHARDS",
    "SEGMENT_HEAD_PREFIX",
    "InvalidKeyError",
    "backfill_progress_prefix",
    "backfill_progress_sk",
    "backfill_queued_sk",
    "check_contact_id",
    "check_event_id",
    "check_segment_id",
    "check_snapshot_id",
    "check_tenant_id",
    "contact_count_key",
    "contact_count_pk",
    "contact_pk",
    "contact_sample_sk",
    "contact_shard",
    "counter_pk",
    "counter_prefix",
    "counter_sk",
    "due_bucket",
    "due_bucket_floor",
    "event_guard_key",
    "event_pk",
    "event_sample_sk",
    "event_sk",
    "event_sk_floor",
    "expires_at",
    "import_job_key",
    "membership_contact_key",
    "membership_pk",
    "recheck_due_pk",
    "recheck_pk",
    "sample_pk",
    "sample_position",
    "sample_range",
    "segment_head_sk",
    "segment_pk",
    "segment_usage_prefix",
    "segment_usage_sk",
    "segment_version_prefix",
    "segment_version_sk",
    "snapshot_chunk_prefix",
    "snapshot_chunk_sk",
    "snapshot_header_sk",
    "snapshot_pk",
    "sortable_time",
    "split_contact_pk",
    "tenant_context_key",
    "tenant_prefix",
    "tenant_shard_key",
    "transition_id",
]

CONTACT_SHARDS = 16
"""Write-sharding of the contacts-by-tenant index; also the backfill fan-out width."""
COUNTER_SHARDS = 8
"""Shards per counter: concurrent transitions of one segment touch different items,
so transactions do not conflict on one hot counter; a count is one Query."""
RECHECK_SHARDS = 8
"""Shards of the due-time index per tenant, so a big tenant's re-checks (all due
in the same minute after a backfill) spread over partitions."""

SEGMENT_HEAD_PREFIX = "SEG#"
SEGMENT_VERSION_PREFIX = "VER#"
SEGMENT_USAGE_PREFIX = "USE#"
CATALOG_SK = "CATALOG"
MEMBERS_COUNTER = "members"
CONTACTS_COUNTER = "contacts"
SAMPLE_POSITIONS = 65536
"""Sample positions per tenant (4 hex digits in ``sample_sk``)."""
SAMPLE_SHARDS = 4
"""Partition-key values of the sample indexes per tenant: a tenant's writes to them
spread over four keys (and the uniform sort-key prefix lets DynamoDB split further
for heat), while a sample of up to a quarter of a tenant is still one Query."""
BACKFILL_PREFIX = "backfill"

_SEP = "#"
IMPORT_ID_RE = re.compile(r"[0-9a-f]{32}\Z")


class InvalidKeyError(ValueError):
    """An id cannot be part of a key (it would break tenant isolation or key limits)."""


def _check(kind: str, value: object, pattern: re.Pattern[str]) -> str:
    # fullmatch: the patterns end in '$', which re.match also lets match before a final newline.
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InvalidKeyError(f"invalid {kind}: {value!r}")
    return value


def check_tenant_id(tenant_id: object) -> str:
    return _check("tenant id", tenant_id, TENANT_ID_RE)


def check_segment_id(segment_id: object) -> str:
    return _check("segment id", segment_id, SEGMENT_ID_RE)


def check_contact_id(contact_id: object) -> str:
    return _check("contact id", contact_id, CONTACT_ID_RE)


def check_event_id(event_id: object) -> str:
    return _check("event id", event_id, CONTACT_ID_RE)


def tenant_prefix(tenant_id: str) -> str:
    """What every composite partition key of ``tenant_id`` starts with."""
    return check_tenant_id(tenant_id) + _SEP


def _shard(value: str, shards: int) -> int:
    # crc32 rather than hash(): it must be stable across processes and Python versions.
    return zlib.crc32(value.encode("utf-8")) % shards


# --- contacts ---------------------------------------------------------------


def contact_pk(tenant_id: str, contact_id: str) -> str:
    return tenant_prefix(tenant_id) + check_contact_id(contact_id)


def split_contact_pk(pk: object) -> tuple[str, str]:
    """``(tenant_id, contact_id)`` of a contact/event partition key (``T#C``), as a
    stream record carries it; :class:`InvalidKeyError` if it is not one."""
    if not isinstance(pk, str) or _SEP not in pk:
        raise InvalidKeyError(f"not a contact key: {pk!r}")
    tenant_id, contact_id = pk.split(_SEP, 1)
    return check_tenant_id(tenant_id), check_contact_id(contact_id)


def contact_shard(contact_id: str, shards: int = CONTACT_SHARDS) -> int:
    return _shard(check_contact_id(contact_id), shards)


def tenant_shard_key(tenant_id: str, shard: int) -> str:
    """Partition key of the by_tenant_shard / by_due indexes: ``tenant#NN``."""
    if not isinstance(shard, int) or isinstance(shard, bool) or shard < 0 or shard > 99:
        raise InvalidKeyError(f"invalid shard: {shard!r}")
    return f"{tenant_prefix(tenant_id)}{shard:02d}"


# --- events -----------------------------------------------------------------


def sortable_time(moment: datetime) -> str:
    """Fixed-width UTC time (``2026-11-20T09:14:00.000000Z``): sorts as text in time order."""
    moment = as_utc(moment)
    if moment.year < 1000:
        raise InvalidKeyError(f"time out of range for a key: {moment!r}")
    return to_iso(moment, "microseconds")


def event_pk(tenant_id: str, contact_id: str) -> str:
    return contact_pk(tenant_id, contact_id)


def event_sk(at: datetime, event_id: str) -> str:
    """``time#id``: a Query on a time range returns events in time order; the id
    keeps two events in the same microsecond distinct and makes re-sends idempotent."""
    return f"{sortable_time(at)}{_SEP}{check_event_id(event_id)}"


def event_guard_key(tenant_id: str, contact_id: str, event_id: str) -> str:
    """Key of the item in the idempotency table that remembers an ingested event's id
    (``T#event#C#E``), whatever the event's time: its sort key holds the time, so a
    re-send with another time would otherwise be a second event."""
    contact, event = check_contact_id(contact_id), check_event_id(event_id)
    return f"{tenant_prefix(tenant_id)}event{_SEP}{contact}{_SEP}{event}"


def event_sk_floor(at: datetime) -> str:
    """Lower bound for ``sk >= ...``: sorts before every event at or after ``at``."""
    return sortable_time(at)


def expires_at(at: datetime, keep_for: timedelta) -> int:
    """Epoch seconds for a TTL attribute."""
    return int((at + keep_for).timestamp())


# --- segments ---------------------------------------------------------------


def segment_pk(tenant_id: str) -> str:
    """One partition per tenant: a tenant has hundreds of segments, not millions,
    and listing its active heads must be one Query."""
    return check_tenant_id(tenant_id)


def segment_head_sk(segment_id: str) -> str:
    return SEGMENT_HEAD_PREFIX + check_segment_id(segment_id)


def segment_version_prefix(segment_id: str) -> str:
    return f"{SEGMENT_VERSION_PREFIX}{check_segment_id(segment_id)}{_SEP}"


def segment_version_sk(segment_id: str, version: int) -> str:
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidKeyError(f"invalid segment version: {version!r}")
    return f"{segment_version_prefix(segment_id)}{version:010d}"


def segment_usage_prefix(segment_id: str) -> str:
    """Every registered user of one segment (a user never holds ``#``, so the prefix of
    segment ``pro`` never reaches those of ``pro2``)."""
    return f"{SEGMENT_USAGE_PREFIX}{check_segment_id(segment_id)}{_SEP}"


def segment_usage_sk(segment_id: str, user: str) -> str:
    return segment_usage_prefix(segment_id) + _check("usage user", user, USER_RE)


# --- memberships ------------------------------------------------------------


def membership_pk(tenant_id: str, segment_id: str) -> str:
    return tenant_prefix(tenant_id) + check_segment_id(segment_id)


def membership_contact_key(tenant_id: str, contact_id: str) -> str:
    """Partition key of the by_contact index (set only while the contact is a member)."""
    return contact_pk(tenant_id, contact_id)


def transition_id(tenant_id: str, segment_id: str, contact_id: str, seq: int, enter: bool) -> str:
    """Stable idempotency id of one transition: a redelivered stream record maps to
    the same id, so downstream consumers can drop duplicates."""
    kind = "enter" if enter else "exit"
    return f"{membership_pk(tenant_id, segment_id)}#{check_contact_id(contact_id)}#{seq}#{kind}"


# --- re-check state ---------------------------------------------------------


def recheck_pk(tenant_id: str, contact_id: str) -> str:
    return contact_pk(tenant_id, contact_id)


def recheck_due_pk(tenant_id: str, contact_id: str, shards: int = RECHECK_SHARDS) -> str:
    return tenant_shard_key(tenant_id, _shard(check_contact_id(contact_id), shards))


def due_bucket(at: datetime) -> str:
    """The minute a re-check becomes due, rounded *up*: a 1-minute scheduler that
    processes buckets ``<= floor(now)`` never evaluates before ``recheck_at``."""
    moment = as_utc(at)
    floor = moment.replace(second=0, microsecond=0)
    if floor != moment:
        floor += timedelta(minutes=1)
    return to_iso(floor, "minutes")


def due_bucket_floor(now: datetime) -> str:
    """The newest bucket that is due at ``now``."""
    return to_iso(now, "minutes")


# --- counters ---------------------------------------------------------------


def counter_pk(tenant_id: str, segment_id: str) -> str:
    return membership_pk(tenant_id, segment_id)


def counter_prefix(name: str) -> str:
    return f"{name}{_SEP}"


def counter_sk(name: str, contact_id: str, shards: int = COUNTER_SHARDS) -> str:
    return counter_shard_sk(name, _shard(check_contact_id(contact_id), shards))


def counter_shard_sk(name: str, shard: int) -> str:
    """One shard of a counter: summing all ``COUNTER_SHARDS`` of them gives its value."""
    return f"{counter_prefix(name)}{shard:02d}"


# --- backfill progress ------------------------------------------------------


def backfill_progress_prefix(version: int) -> str:
    """All slices of one backfill of one segment version (a Query sums them)."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidKeyError(f"invalid segment version: {version!r}")
    return f"{BACKFILL_PREFIX}{_SEP}{version:010d}{_SEP}"


def backfill_progress_sk(version: int, shard: int) -> str:
    """One slice (contact shard) of a backfill: its cursor, count and state."""
    if not isinstance(shard, int) or isinstance(shard, bool) or shard < 0 or shard > 99:
        raise InvalidKeyError(f"invalid shard: {shard!r}")
    return f"{backfill_progress_prefix(version)}{shard:02d}"


def backfill_queued_sk(version: int) -> str:
    """When a save queued the version's backfill: read with its slices by the same Query,
    and never taken for a slice (its suffix is not a shard number)."""
    return f"{backfill_progress_prefix(version)}queued"


# --- size history -----------------------------------------------------------


def size_history_prefix(resolution: Resolution) -> str:
    """Every point of one resolution in a segment's counter partition (a Query reads them in time order)."""
    return f"size{_SEP}{Resolution(resolution).value}{_SEP}"


def size_history_sk(resolution: Resolution, start: datetime) -> str:
    """The point of the bucket starting at ``start``: fixed-width minutes, so keys sort in time order."""
    return size_history_prefix(resolution) + to_iso(start, "minutes")


# --- tenant context ---------------------------------------------------------


def tenant_context_key(tenant_id: str) -> tuple[str, str]:
    """``(pk, sk)`` of the tenant-context item (plugin data such as RFM thresholds) in
    the counters table, next to the other derived per-tenant data. ``_tenant`` cannot
    be a segment id (they start with a letter or digit), so it never meets a counter."""
    return tenant_prefix(tenant_id) + "_tenant", "context"


def import_job_key(tenant_id: str, import_id: str) -> tuple[str, str]:
    """``(pk, sk)`` of a CSV import job, beside the tenant context (import ids are
    32 hex digits, so they never hold the separator)."""
    if not IMPORT_ID_RE.match(import_id):
        raise InvalidKeyError(f"import_id {import_id!r} is not 32 hex digits")
    return tenant_prefix(tenant_id) + "_tenant", f"import#{import_id}"


# --- samples (size estimates) -----------------------------------------------


def sample_position(contact_id: str) -> int:
    """Stable, uniform position of a contact in ``[0, SAMPLE_POSITIONS)``.

    blake2b rather than the crc32 of :func:`contact_shard`: it must not be
    correlated with the write shards, and crc32 is linear, so structured ids
    (``c1``, ``c2``...) would land in patterned positions.
    """
    digest = hashlib.blake2b(check_contact_id(contact_id).encode("utf-8"), digest_size=2).digest()
    return int.from_bytes(digest, "big")


def _sample_shard_of(position: int) -> int:
    return position * SAMPLE_SHARDS // SAMPLE_POSITIONS


def sample_pk(tenant_id: str, contact_id: str) -> str:
    """Partition key of the ``by_sample`` indexes: ``T#0P`` (P: top bits of the position)."""
    return tenant_shard_key(tenant_id, _sample_shard_of(sample_position(contact_id)))


def contact_sample_sk(contact_id: str) -> str:
    return f"{sample_position(contact_id):04x}{_SEP}{check_contact_id(contact_id)}"


def event_sample_sk(contact_id: str, at: datetime, event_id: str) -> str:
    """``<position>#<time>#<event id>``: a position range of a sample index holds the
    events of exactly the contacts in that range."""
    return f"{sample_position(contact_id):04x}{_SEP}{event_sk(at, event_id)}"


def sample_range(tenant_id: str, start: int, stop: int) -> list[tuple[str, str | None, str | None]]:
    """The Queries that read positions ``[start, stop)``: ``(sample_pk, low, high)`` per
    sample shard, with inclusive ``sample_sk`` bounds, or ``None`` bounds when the
    whole shard is wanted."""
    if not 0 <= start <= stop <= SAMPLE_POSITIONS:
        raise ValueError(f"invalid sample range [{start}, {stop})")
    width = SAMPLE_POSITIONS // SAMPLE_SHARDS
    out: list[tuple[str, str | None, str | None]] = []
    for shard in range(SAMPLE_SHARDS):
        lo, hi = max(start, shard * width), min(stop, (shard + 1) * width)
        if lo >= hi:
            continue
        pk = tenant_shard_key(tenant_id, shard)
        if lo == shard * width and hi == (shard + 1) * width:
            out.append((pk, None, None))
        else:
            # '$' sorts right after '#', so "<hi-1>$" bounds every "<hi-1>#..." key.
            out.append((pk, f"{lo:04x}", f"{hi - 1:04x}$"))
    return out


def contact_count_pk(tenant_id: str) -> str:
    """The tenant's derived-data partition in the counters table (next to its context)."""
    return tenant_context_key(tenant_id)[0]


def contact_count_key(tenant_id: str, contact_id: str) -> tuple[str, str]:
    """``(pk, sk)`` of the contact-counter shard a contact is counted in."""
    return contact_count_pk(tenant_id), counter_sk(CONTACTS_COUNTER, contact_id, CONTACT_SHARDS)


# --- audience snapshots -----------------------------------------------------

_SNAPSHOT_RE = re.compile(r"^snap_[0-9]{8}T[0-9]{6}Z_[0-9a-f]{8}$")


def check_segment_record(segment: SegmentRecord) -> None:
    """Refuse a record no store may hold (every implementation of the segment store checks the same)."""
    check_tenant_id(segment.tenant_id)
    check_segment_id(segment.segment_id)
    if segment.type not in SEGMENT_TYPES:
        raise ValueError(f"segment type must be one of {', '.join(SEGMENT_TYPES)}, got {segment.type!r}")
    if segment.status not in SEGMENT_STATUSES:
        raise ValueError(
            f"segment status must be one of {', '.join(SEGMENT_STATUSES)}, got {segment.status!r}"
        )
    if not isinstance(segment.rule, dict) and not hasattr(segment.rule, "items"):
        raise ValueError("segment rule must be a JSON object")
    if not isinstance(segment.version, int) or isinstance(segment.version, bool) or segment.version < 0:
        raise ValueError(f"segment version must be a non-negative integer, got {segment.version!r}")
    for ref in segment.exclude_segments:
        check_segment_id(ref)
    for contact_id in (*segment.include_contacts, *segment.exclude_contacts):
        check_contact_id(contact_id)


def check_snapshot_id(snapshot_id: object) -> str:
    return _check("snapshot id", snapshot_id, _SNAPSHOT_RE)


def snapshot_pk(tenant_id: str, segment_id: str) -> str:
    return membership_pk(tenant_id, segment_id)


def snapshot_header_sk(snapshot_id: str) -> str:
    return "H" + _SEP + check_snapshot_id(snapshot_id)


def snapshot_chunk_prefix(snapshot_id: str) -> str:
    return "C" + _SEP + check_snapshot_id(snapshot_id) + _SEP


def snapshot_chunk_sk(snapshot_id: str, chunk: int) -> str:
    if not isinstance(chunk, int) or isinstance(chunk, bool) or not 0 <= chunk < 1_000_000:
        raise InvalidKeyError(f"invalid snapshot chunk: {chunk!r}")
    return f"{snapshot_chunk_prefix(snapshot_id)}{chunk:06d}"
