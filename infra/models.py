"""pynamodb models of the eight tables, bound to table names at run time.

The attribute/index definitions are module-level base classes; ``build_models``
subclasses them with a ``Meta`` naming the physical table and endpoint, because
CloudFormation, the local stack and each test run use different names. Every
model class built for one ``Settings`` shares one botocore client, so a single
:class:`~growthos_segments.infra.aws.RequestCounter` sees every request and the moto workarounds in
:func:`growthos_segments.infra.aws.botocore_config` apply to pynamodb too.

Key and index layout must match ``template.yaml``;
``tests/integration/test_template_models.py`` compares them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from growthos_segments.infra.settings import TABLE_LOGICAL_IDS, Settings

__all__ = [
    "ContactModel",
    "CounterModel",
    "EventModel",
    "IdempotencyModel",
    "MembershipModel",
    "Models",
    "RecheckModel",
    "SegmentCatalogModel",
    "SegmentModel",
    "SegmentUsageModel",
    "SnapshotChunkModel",
    "SnapshotModel",
    "build_models",
]

PAY_PER_REQUEST = "PAY_PER_REQUEST"


# --- contacts ---------------------------------------------------------------


class ContactsByTenantShard(GlobalSecondaryIndex["ContactModel"]):
    """Lists a tenant's contact ids in N parallel slices (backfill, estimates)
    without a Scan over every tenant; sharded so one tenant is not one partition."""

    class Meta:
        index_name = "by_tenant_shard"
        projection = KeysOnlyProjection()

    tenant_shard = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute(range_key=True)


class ContactsBySample(GlobalSecondaryIndex["ContactModel"]):
    """Whole profiles by sample position: a prefix of positions is a uniform random
    sample of a tenant, read with one Query per sample shard (size estimates)."""

    class Meta:
        index_name = "by_sample"
        projection = AllProjection()

    sample_pk = UnicodeAttribute(hash_key=True)
    sample_sk = UnicodeAttribute(range_key=True)


class ContactModel(Model):
    """One contact profile (the non-event part of the contact view)."""

    STREAM_VIEW: ClassVar[str] = "NEW_AND_OLD_IMAGES"

    pk = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    contact_id = UnicodeAttribute()
    tenant_shard = UnicodeAttribute()
    attributes = MapAttribute(default=dict)  # type: ignore[var-annotated]
    tags = ListAttribute(default=list)  # type: ignore[var-annotated]
    lists = ListAttribute(default=list)  # type: ignore[var-annotated]
    suppression = MapAttribute(default=dict)  # type: ignore[var-annotated]
    scores = MapAttribute(default=dict)  # type: ignore[var-annotated]
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    sample_pk = UnicodeAttribute(null=True)
    sample_sk = UnicodeAttribute(null=True)

    by_tenant_shard = ContactsByTenantShard()
    by_sample = ContactsBySample()


# --- events -----------------------------------------------------------------


class EventsBySample(GlobalSecondaryIndex["EventModel"]):
    """The events of the contacts in a range of sample positions (size estimates).

    ALL rather than INCLUDE of the four attributes conditions read: event items
    are small, and moto applies an INCLUDE projection per matched item at a cost
    that doubled the local estimate's time."""

    class Meta:
        index_name = "by_sample"
        projection = AllProjection()

    sample_pk = UnicodeAttribute(hash_key=True)
    sample_sk = UnicodeAttribute(range_key=True)


class EventModel(Model):
    """One behavioural event; ``sk`` is ``time#id`` so a Query is a time range."""

    STREAM_VIEW: ClassVar[str] = "NEW_IMAGE"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    tenant_id = UnicodeAttribute()
    contact_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    name = UnicodeAttribute()
    at = UnicodeAttribute()
    properties = MapAttribute(default=dict)  # type: ignore[var-annotated]
    expires_at = TTLAttribute(null=True)
    sample_pk = UnicodeAttribute(null=True)
    sample_sk = UnicodeAttribute(null=True)

    by_sample = EventsBySample()


# --- segments ---------------------------------------------------------------


class TenantsIndex(GlobalSecondaryIndex["SegmentCatalogModel"]):
    """Sparse: only catalog items carry ``catalog_tenant``, so scanning this index
    reads one tiny item per tenant (the scheduler's tenant list), never segments."""

    class Meta:
        index_name = "tenants"
        projection = KeysOnlyProjection()

    catalog_tenant = UnicodeAttribute(hash_key=True)


class SegmentModel(Model):
    """A segment head (``SEG#id``, the current version) or an immutable version
    (``VER#id#0000000003``); both carry the full definition."""

    STREAM_VIEW: ClassVar[str] = "NEW_AND_OLD_IMAGES"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    tenant_id = UnicodeAttribute()
    segment_id = UnicodeAttribute()
    version = NumberAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    type = UnicodeAttribute()
    status = UnicodeAttribute()
    rule = MapAttribute(default=dict)  # type: ignore[var-annotated]
    exclude_segments = ListAttribute(default=list)  # type: ignore[var-annotated]
    include_contacts = ListAttribute(default=list)  # type: ignore[var-annotated]
    exclude_contacts = ListAttribute(default=list)  # type: ignore[var-annotated]
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    created_by = UnicodeAttribute(null=True)
    updated_by = UnicodeAttribute(null=True)
    teams = ListAttribute(default=list)  # type: ignore[var-annotated]


class SegmentUsageModel(Model):
    """A module's registration that it targets a segment (``USE#<segment_id>#<user>``, in
    the tenant's segment partition beside the heads it names)."""

    STREAM_VIEW: ClassVar[str] = "NEW_AND_OLD_IMAGES"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    segment_id = UnicodeAttribute()
    user = UnicodeAttribute()
    registered_by = UnicodeAttribute(null=True)
    registered_at = UnicodeAttribute()


class SegmentCatalogModel(Model):
    """Per-tenant catalog item: ``revision`` bumps on every segment save, so a cache
    can be validated with one small GetItem."""

    STREAM_VIEW: ClassVar[str] = "NEW_AND_OLD_IMAGES"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    revision = NumberAttribute(default=0)
    catalog_tenant = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)

    tenants = TenantsIndex()


# --- memberships ------------------------------------------------------------


class MembershipsByContact(GlobalSecondaryIndex["MembershipModel"]):
    """Sparse: ``contact_key`` is set on enter and removed on exit, so the index
    holds current memberships only ("which segments is this contact in")."""

    class Meta:
        index_name = "by_contact"
        projection = AllProjection()

    contact_key = UnicodeAttribute(hash_key=True)
    segment_id = UnicodeAttribute(range_key=True)


class MembershipModel(Model):
    """(segment, contact) membership; also the notification outbox via its stream.

    Exited rows stay as tombstones (``member`` false, ``seq`` kept, TTL set) so a
    late, older evaluation is still refused after the exit.
    """

    STREAM_VIEW: ClassVar[str] = "NEW_AND_OLD_IMAGES"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    tenant_id = UnicodeAttribute()
    segment_id = UnicodeAttribute()
    contact_id = UnicodeAttribute()
    member = BooleanAttribute()
    seq = NumberAttribute()
    segment_version = NumberAttribute(null=True)
    changed_at = UnicodeAttribute()
    entered_at = UnicodeAttribute(null=True)
    exited_at = UnicodeAttribute(null=True)
    transition_id = UnicodeAttribute()
    contact_key = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    by_contact = MembershipsByContact()


# --- re-check state ---------------------------------------------------------


class RechecksByDue(GlobalSecondaryIndex["RecheckModel"]):
    """``due_pk = tenant#NN`` / ``due_at = minute``: "due before T" is a key-range
    Query per shard, never a Scan."""

    class Meta:
        index_name = "by_due"
        projection = AllProjection()

    due_pk = UnicodeAttribute(hash_key=True)
    due_at = UnicodeAttribute(range_key=True)


class RecheckModel(Model):
    """When (tenant, segment, contact) must be re-evaluated with no new data."""

    STREAM_VIEW: ClassVar[str | None] = None

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    tenant_id = UnicodeAttribute()
    segment_id = UnicodeAttribute()
    contact_id = UnicodeAttribute()
    recheck_at = UnicodeAttribute()
    seq = NumberAttribute()
    due_pk = UnicodeAttribute()
    due_at = UnicodeAttribute()

    by_due = RechecksByDue()


# --- counters ---------------------------------------------------------------


class CounterModel(Model):
    """One shard of an exact counter (summed by a single Query)."""

    STREAM_VIEW: ClassVar[str | None] = None

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    count = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)
    """The table's TTL attribute: counters never carry it; the items that expire beside
    them (size-history points, transition-feed entries) are written with the raw client."""


# --- audience snapshots -----------------------------------------------------


class SnapshotModel(Model):
    """Header of an immutable audience snapshot (``H#<id>``): when, which version,
    the breakdown counts. Written last, so a listed snapshot is always complete."""

    STREAM_VIEW: ClassVar[str | None] = None

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    tenant_id = UnicodeAttribute()
    segment_id = UnicodeAttribute()
    snapshot_id = UnicodeAttribute()
    segment_version = NumberAttribute(null=True)
    label = UnicodeAttribute(default="")
    taken_at = UnicodeAttribute()
    chunks = NumberAttribute()
    counts = MapAttribute(default=dict)  # type: ignore[var-annotated]


class SnapshotChunkModel(Model):
    """Up to a few hundred member ids of a snapshot with their suppression flags
    (``C#<id>#NNNNNN``)."""

    STREAM_VIEW: ClassVar[str | None] = None

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    ids = ListAttribute(default=list)  # type: ignore[var-annotated]
    bounced = ListAttribute(default=list)  # type: ignore[var-annotated]
    unsubscribed = ListAttribute(default=list)  # type: ignore[var-annotated]
    spam = ListAttribute(default=list)  # type: ignore[var-annotated]
    no_email = ListAttribute(default=list)  # type: ignore[var-annotated]


# --- idempotency (Powertools) -----------------------------------------------


class IdempotencyModel(Model):
    """The item Powertools' DynamoDBPersistenceLayer writes (declared here so the
    template test covers its table; the API never reads it through pynamodb)."""

    STREAM_VIEW: ClassVar[str | None] = None

    id = UnicodeAttribute(hash_key=True)
    expiration = TTLAttribute(null=True)
    status = UnicodeAttribute(null=True)
    data = UnicodeAttribute(null=True)
    validation = UnicodeAttribute(null=True)
    in_progress_expiration = NumberAttribute(null=True)


# --- binding ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Models:
    """Model classes bound to one deployment's tables, plus their shared connection."""

    contacts: type[ContactModel]
    events: type[EventModel]
    segments: type[SegmentModel]
    segment_catalog: type[SegmentCatalogModel]
    segment_usages: type[SegmentUsageModel]
    memberships: type[MembershipModel]
    rechecks: type[RecheckModel]
    counters: type[CounterModel]
    snapshots: type[SnapshotModel]
    snapshot_chunks: type[SnapshotChunkModel]
    idempotency: type[IdempotencyModel]
    connection: Connection
    """For ``TransactWrite`` across tables (same client as the models)."""

    def all(self) -> list[type[Model]]:
        return [getattr(self, f.name) for f in fields(self) if f.name != "connection"]

    def by_logical_id(self) -> dict[str, list[type[Model]]]:
        """Models grouped by the ``template.yaml`` table they live in."""
        table_of = {
            "contacts": "contacts",
            "events": "events",
            "segments": "segments",
            "segment_catalog": "segments",
            "segment_usages": "segments",
            "memberships": "memberships",
            "rechecks": "rechecks",
            "counters": "counters",
            "snapshots": "snapshots",
            "snapshot_chunks": "snapshots",
            "idempotency": "idempotency",
        }
        grouped: dict[str, list[type[Model]]] = {}
        for attr, table in table_of.items():
            grouped.setdefault(TABLE_LOGICAL_IDS[table], []).append(getattr(self, attr))
        return grouped


_BASES: dict[str, tuple[str, type[Model]]] = {
    "contacts": ("contacts", ContactModel),
    "events": ("events", EventModel),
    "segments": ("segments", SegmentModel),
    "segment_catalog": ("segments", SegmentCatalogModel),
    "segment_usages": ("segments", SegmentUsageModel),
    "memberships": ("memberships", MembershipModel),
    "rechecks": ("rechecks", RecheckModel),
    "counters": ("counters", CounterModel),
    "snapshots": ("snapshots", SnapshotModel),
    "snapshot_chunks": ("snapshots", SnapshotChunkModel),
    "idempotency": ("idempotency", IdempotencyModel),
}


def build_models(settings: Settings, botocore_client: Any) -> Models:
    """Subclass every model for ``settings``' tables and share ``botocore_client``.

    pynamodb caches one connection per model class and builds its own botocore
    client without our config; handing it ours (``Connection._client``) keeps one
    client, one request counter and the endpoint fix for every table.
    """
    built: dict[str, Any] = {}
    for attr, (table, base) in _BASES.items():
        meta_attrs: dict[str, Any] = {
            "table_name": getattr(settings.tables, table),
            "region": settings.region,
            "host": settings.endpoint_url,
            "billing_mode": PAY_PER_REQUEST,
        }
        if base.STREAM_VIEW:
            meta_attrs["stream_view_type"] = base.STREAM_VIEW
        meta = type("Meta", (), meta_attrs)
        model = type(base.__name__, (base,), {"Meta": meta, "__module__": __name__})
        model._get_connection().connection._client = botocore_client  # type: ignore[attr-defined]
        built[attr] = model
    connection = Connection(region=settings.region, host=settings.endpoint_url)
    connection._client = botocore_client
    return Models(connection=connection, **built)
