"""Typed settings for the adapters: table names, bus, endpoints, retention.

Table names are never constants: CloudFormation generates them on AWS, the local
stack and the tests pick their own. Handlers (and the CLI) build one
``Settings`` from their environment with :meth:`Settings.from_env`; everything
below the handlers receives the object and never reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta

__all__ = ["TABLE_ENV", "TABLE_LOGICAL_IDS", "Settings", "SettingsError", "TableNames"]


class SettingsError(ValueError):
    """The environment does not describe a usable deployment (names what is missing)."""


@dataclass(frozen=True, slots=True)
class TableNames:
    """Physical DynamoDB table names, one per logical table of ``template.yaml``."""

    contacts: str
    events: str
    segments: str
    memberships: str
    rechecks: str
    counters: str
    snapshots: str
    idempotency: str

    @classmethod
    def with_prefix(cls, prefix: str) -> TableNames:
        """Names for a local stack or a test run (``{prefix}-contacts`` ...)."""
        return cls(**{f.name: f"{prefix}-{f.name}" for f in fields(cls)})

    def as_dict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


TABLE_ENV: Mapping[str, str] = {
    "contacts": "CONTACTS_TABLE",
    "events": "EVENTS_TABLE",
    "segments": "SEGMENTS_TABLE",
    "memberships": "MEMBERSHIPS_TABLE",
    "rechecks": "RECHECKS_TABLE",
    "counters": "COUNTERS_TABLE",
    "snapshots": "SNAPSHOTS_TABLE",
    "idempotency": "IDEMPOTENCY_TABLE",
}
"""Environment variable carrying each table's name (set by ``template.yaml`` Globals)."""

TABLE_LOGICAL_IDS: Mapping[str, str] = {
    "contacts": "ContactsTable",
    "events": "EventsTable",
    "segments": "SegmentsTable",
    "memberships": "MembershipsTable",
    "rechecks": "RechecksTable",
    "counters": "CountersTable",
    "snapshots": "SnapshotsTable",
    "idempotency": "IdempotencyTable",
}
"""Logical id of each table in ``template.yaml`` (the consistency test uses it)."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the DynamoDB/EventBridge adapters need to know about a deployment."""

    tables: TableNames
    region: str = "us-east-1"
    endpoint_url: str | None = None
    """Set for the local stack (moto server); ``None`` means the real AWS endpoints."""
    account_id_endpoint_mode: str | None = None
    """``"disabled"`` under moto: botocore >= 1.44.4 otherwise routes DynamoDB Streams
    to an account-based host the in-process mock does not intercept."""
    static_credentials: tuple[str, str] | None = field(default=None, repr=False)
    """Fake key pair for the local stack, so nothing ever needs (or finds) real ones."""
    event_bus_name: str = "default"
    event_source: str = "growthos.segments"
    backfill_queue_url: str | None = None
    event_retention: timedelta = timedelta(days=400)
    """Events expire (TTL) this long after they happened; must exceed every lookback."""
    membership_tombstone: timedelta = timedelta(days=7)
    """How long an exited membership keeps its sequence guard (longer than a stream's
    24 h retention, so a redelivered old record still finds it and is refused)."""
    segment_cache_seconds: float = 5.0
    """Within this window the active-segment cache is trusted without the revision check."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the deployment from environment variables (handlers and the CLI only)."""
        env = os.environ if env is None else env
        missing = [var for var in TABLE_ENV.values() if not env.get(var)]
        if missing:
            raise SettingsError("missing table environment variables: " + ", ".join(missing))
        tables = TableNames(**{name: env[var] for name, var in TABLE_ENV.items()})
        return cls(
            tables=tables,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            account_id_endpoint_mode=env.get("AWS_ACCOUNT_ID_ENDPOINT_MODE") or None,
            event_bus_name=env.get("EVENT_BUS_NAME") or "default",
            backfill_queue_url=env.get("BACKFILL_QUEUE_URL") or None,
            event_retention=timedelta(days=_int(env, "EVENT_RETENTION_DAYS", 400)),
            membership_tombstone=timedelta(days=_int(env, "MEMBERSHIP_TOMBSTONE_DAYS", 7)),
            segment_cache_seconds=_float(env, "SEGMENT_CACHE_SECONDS", 5.0),
        )

    @classmethod
    def local(
        cls,
        prefix: str = "growthos",
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        **overrides: object,
    ) -> Settings:
        """Settings for moto (in-process when ``endpoint_url`` is None, else a moto server)."""
        base = cls(
            tables=TableNames.with_prefix(prefix),
            region=region,
            endpoint_url=endpoint_url,
            account_id_endpoint_mode="disabled",
            static_credentials=("testing", "testing"),
            event_bus_name=f"{prefix}-segments",
        )
        return replace(base, **overrides)  # type: ignore[arg-type]

    def table_env(self) -> dict[str, str]:
        """The environment a handler needs to rebuild these settings (local stack)."""
        env = {TABLE_ENV[name]: value for name, value in self.tables.as_dict().items()}
        env["AWS_REGION"] = self.region
        env["EVENT_BUS_NAME"] = self.event_bus_name
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.account_id_endpoint_mode:
            env["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = self.account_id_endpoint_mode
        if self.backfill_queue_url:
            env["BACKFILL_QUEUE_URL"] = self.backfill_queue_url
        env["EVENT_RETENTION_DAYS"] = str(self.event_retention.days)
        env["MEMBERSHIP_TOMBSTONE_DAYS"] = str(self.membership_tombstone.days)
        env["SEGMENT_CACHE_SECONDS"] = str(self.segment_cache_seconds)
        return env
