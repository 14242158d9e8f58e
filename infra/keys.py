"""Every DynamoDB key the engine writes or reads is built here, and only here.

Keeping the key grammar in one module is what makes the tenant rule checkable:
each partition key starts with the tenant id followed by ``#`` (or *is* the
tenant id), ids may not contain ``#``, so no value a caller passes can make a
key of tenant A land in tenant B's key space. Repositories never format keys
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
membership              ``T#S`` (membership_pk)      contact_id; GSI by_contact:
                                                     ``T#C`` / segment_id (members)
re-check state          ``T#C`` (recheck_pk)         segment_id; GSI by_due:
                                                     ``T#NN`` / ``<due minute>``
counter shard           ``T#S`` (counter_pk)         ``<name>#NN``
backfill progress       ``T#S`` (counter_pk)         ``backfill#<version:010>#NN``
tenant context          ``T#_tenant``                ``context``
======================  ===========================  ===============================
"""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime, timedelta

__all__ = [
    "BACKFILL_PREFIX",
    "CATALOG_SK",
    "CONTACT_SHARDS",
    "COUNTER_SHARDS",
    "MEMBERS_COUNTER",
    "RECHECK_SHARDS",
    "SEGMENT_HEAD_PREFIX",
    "InvalidKeyError",
    "backfill_progress_prefix",
    "backfill_progress_sk",
    "check_contact_id",
    "check_event_id",
    "check_segment_id",
    "check_tenant_id",
    "contact_pk",
    "contact_shard",
    "counter_pk",
    "counter_prefix",
    "counter_sk",
    "due_bucket",
    "due_bucket_floor",
    "event_pk",
    "event_sk",
    "event_sk_floor",
    "expires_at",
    "membership_contact_key",
    "membership_pk",
    "recheck_due_pk",
    "recheck_pk",
    "segment_head_sk",
    "segment_pk",
    "segment_version_prefix",
    "segment_version_sk",
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
CATALOG_SK = "CATALOG"
MEMBERS_COUNTER = "members"
BACKFILL_PREFIX = "backfill"

_SEP = "#"
# Tenant and segment ids appear inside composite keys followed by more parts, so
# they are restricted to a safe alphabet; contact/event ids come from customers'
# systems (emails, UUIDs, CRM ids) and only lose '#' and control characters.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
_OPAQUE_RE = re.compile(r"^[^#\x00-\x1f\x7f]{1,256}$")


class InvalidKeyError(ValueError):
    """An id cannot be part of a key (it would break tenant isolation or key limits)."""


def _check(kind: str, value: object, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or pattern.match(value) is None:
        raise InvalidKeyError(f"invalid {kind}: {value!r}")
    return value


def check_tenant_id(tenant_id: object) -> str:
    return _check("tenant id", tenant_id, _NAME_RE)


def check_segment_id(segment_id: object) -> str:
    return _check("segment id", segment_id, _NAME_RE)


def check_contact_id(contact_id: object) -> str:
    return _check("contact id", contact_id, _OPAQUE_RE)


def check_event_id(event_id: object) -> str:
    return _check("event id", event_id, _OPAQUE_RE)


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
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if moment.year < 1000:
        raise InvalidKeyError(f"time out of range for a key: {moment!r}")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_pk(tenant_id: str, contact_id: str) -> str:
    return contact_pk(tenant_id, contact_id)


def event_sk(at: datetime, event_id: str) -> str:
    """``time#id``: a Query on a time range returns events in time order; the id
    keeps two events in the same microsecond distinct and makes re-sends idempotent."""
    return f"{sortable_time(at)}{_SEP}{check_event_id(event_id)}"


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
    moment = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    floor = moment.replace(second=0, microsecond=0)
    if floor != moment:
        floor += timedelta(minutes=1)
    return floor.strftime("%Y-%m-%dT%H:%MZ")


def due_bucket_floor(now: datetime) -> str:
    """The newest bucket that is due at ``now``."""
    moment = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%MZ")


# --- counters ---------------------------------------------------------------


def counter_pk(tenant_id: str, segment_id: str) -> str:
    return membership_pk(tenant_id, segment_id)


def counter_prefix(name: str) -> str:
    return f"{name}{_SEP}"


def counter_sk(name: str, contact_id: str, shards: int = COUNTER_SHARDS) -> str:
    return f"{counter_prefix(name)}{_shard(check_contact_id(contact_id), shards):02d}"


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


# --- tenant context ---------------------------------------------------------


def tenant_context_key(tenant_id: str) -> tuple[str, str]:
    """``(pk, sk)`` of the tenant-context item (plugin data such as RFM thresholds) in
    the counters table, next to the other derived per-tenant data. ``_tenant`` cannot
    be a segment id (they start with a letter or digit), so it never meets a counter."""
    return tenant_prefix(tenant_id) + "_tenant", "context"
