"""The one settings model of a deployment: tables, bus, endpoints, retention, tuning, keys.

Table names are never constants: CloudFormation generates them on AWS, the local
stack and the tests pick their own. Every handler reads the process's settings
once with :func:`current_settings` (the CLI and tests build them with
:meth:`Settings.from_env` or :meth:`Settings.local`); everything below the
handlers receives the object and never reads ``os.environ``. A malformed
variable is a :class:`SettingsError` naming it, raised when the settings are
first read.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from functools import cache
from typing import TypeVar

from growthos_segments.core.ports_usage import TEAM_RE
from growthos_segments.infra.keys import InvalidKeyError, check_tenant_id

__all__ = [
    "TABLE_ENV",
    "TABLE_LOGICAL_IDS",
    "ApiKeys",
    "KeyIdentity",
    "Settings",
    "SettingsError",
    "TableNames",
    "current_settings",
]


N = TypeVar("N", int, float)


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


def _number(env: Mapping[str, str], name: str, default: N, kind: type[N]) -> N:
    """``env[name]`` read as ``kind`` (``default`` when unset or empty)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        noun = "an integer" if kind is int else "a number"
        raise SettingsError(f"{name} must be {noun}, got {raw!r}") from exc


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def _origins(raw: str) -> tuple[str, ...]:
    """``CORS_ORIGINS``: comma-separated origins (``scheme://host[:port]``) whose web pages
    may read the API's answers. ``*`` is refused: it would let any page on the web use a
    key it holds, and browsers refuse it beside credentials anyway."""
    origins = tuple(part.strip() for part in raw.split(",") if part.strip())
    for position, origin in enumerate(origins):
        if origin == "*":
            raise SettingsError("CORS_ORIGINS may not be '*': list the web app's origins, e.g. "
                                "https://app.example.com")
        if not _ORIGIN.match(origin):
            raise SettingsError(f"CORS_ORIGINS entry #{position + 1} is not an origin "
                                f"(scheme://host[:port], no path): {origin[:100]!r}")
    return origins


def _key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}$")


@dataclass(frozen=True, slots=True)
class KeyIdentity:
    """Who a key speaks for: its tenant, a name (the module or person holding it, recorded
    as the creator and editor of what it saves) and the teams it is scoped to (none: the
    whole tenant)."""

    tenant_id: str
    name: str
    teams: frozenset[str] = frozenset()


def _identity(position: int, value: str, digest: str) -> KeyIdentity:
    """``<tenant>[/<name>[/<team>+<team>...]]``; a key without a name is named after the
    start of its digest, which tells keys apart without revealing them."""
    tenant, named, rest = value.partition("/")
    name, scoped, teams_text = rest.partition("/")
    where = f"API_KEYS entry #{position}"
    try:
        check_tenant_id(tenant)
    except InvalidKeyError as exc:
        raise SettingsError(f"{where}: {exc}") from None
    if named and not _KEY_NAME.match(name):
        raise SettingsError(f"{where}: the key's name must be 1-64 letters, digits or _.@:- "
                            f"starting with a letter or digit, got {name[:70]!r}")
    teams = frozenset(teams_text.split("+"))
    if scoped and not all(TEAM_RE.match(t) for t in teams_text.split("+")):
        raise SettingsError(f"{where}: teams are '+'-separated, each 1-40 lower-case letters, digits, "
                            f"_ or -, got {teams_text[:70]!r}")
    return KeyIdentity(tenant, name or f"key:{digest[:12]}", teams if scoped else frozenset())


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """The authorizer's keys: SHA-256 digest of each key and the identity it carries.

    ``API_KEYS`` is a comma-separated list of ``<key>=<identity>`` or
    ``sha256:<hex digest of key>=<identity>`` entries, where the identity is
    ``<tenant>``, ``<tenant>/<name>`` or ``<tenant>/<name>/<team>+<team>...``
    (a bare tenant is what every key was before names and teams existed). The
    hashed form keeps plaintext keys out of the function configuration. Lookups
    compare digests, so the time taken does not depend on how much of a key matched.
    """

    identities_by_digest: Mapping[str, KeyIdentity] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, raw: str) -> ApiKeys:
        identities: dict[str, KeyIdentity] = {}
        for position, entry in enumerate(part.strip() for part in raw.split(",")):
            if not entry:
                continue
            key, sep, value = entry.rpartition("=")
            if not sep or not key or not value:
                raise SettingsError(f"API_KEYS entry #{position + 1} is not "
                                    "'<key>=<tenant>[/<name>[/<teams>]]'")
            if key.startswith("sha256:"):
                digest = key.removeprefix("sha256:").lower()
                if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                    raise SettingsError(f"API_KEYS entry #{position + 1}: not a SHA-256 hex digest")
            else:
                digest = _key_digest(key)
            identity = _identity(position + 1, value, digest)
            if digest in identities and identities[digest] != identity:
                raise SettingsError(f"API_KEYS entry #{position + 1}: key already maps to another identity")
            identities[digest] = identity
        return cls(identities)

    def identity_for(self, api_key: str) -> KeyIdentity | None:
        return self.identities_by_digest.get(_key_digest(api_key))


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
    ingest_dead_letter_queue_url: str | None = None
    """Where bus ingestion sends a message it can never ingest (only its function sets
    ``INGEST_DEAD_LETTER_QUEUE_URL``)."""
    imports_bucket: str | None = None
    """The bucket CSV imports are uploaded to (``IMPORTS_BUCKET``: the API and import
    functions only)."""
    import_queue_url: str | None = None
    """The queue started imports wait in (``IMPORT_QUEUE_URL``: the same two functions)."""
    event_retention: timedelta = timedelta(days=400)
    """Events expire (TTL) this long after they happened; must exceed every lookback."""
    membership_tombstone: timedelta = timedelta(days=7)
    """How long an exited membership keeps its sequence guard (longer than a stream's
    24 h retention, so a redelivered old record still finds it and is refused)."""
    segment_cache_seconds: float = 5.0
    """Within this window the active-segment cache is trusted without the revision check."""
    evaluator_workers: int = 4
    """Contacts of a stream batch evaluated in parallel (I/O bound: each is a few
    DynamoDB round trips). One by default against an endpoint override (the local
    stack's moto applies concurrent conditional writes without DynamoDB's isolation)."""
    backfill_page_size: int = 100
    """Contacts a backfill slice evaluates per page (1 to 1,000)."""
    backfill_reserve_seconds: float = 20.0
    backfill_copy_wait: timedelta = timedelta(minutes=2)
    """How long past a save (plus the cache window) a backfill waits for the analytical copy
    to catch up before evaluating every contact (``BACKFILL_COPY_WAIT_SECONDS``; 0 by
    default against an endpoint override: the local stack's idle demo tenants make no
    change that would move their copy past a save)."""
    """A backfill slice queues its rest when less than this is left before the time-out."""
    scheduler_reserve_seconds: float = 5.0
    """The scheduler stops this long before its time-out; the rest is due next minute."""
    context_max_age: timedelta = timedelta(hours=24)
    """Tenant contexts older than this are recomputed by the scheduler."""
    api_keys: ApiKeys = field(default_factory=ApiKeys)
    """The authorizer's keys (only its function sets ``API_KEYS``)."""
    cors_origins: tuple[str, ...] = ()
    """Origins whose pages may read the API's answers (``CORS_ORIGINS``; none by default)."""
    analytics_copy: str | None = None
    """Where the analytical copy of contacts and events lives (``ANALYTICS_COPY``): a local
    directory, or ``s3://bucket/prefix`` on AWS. ``None``: no copy, so whole-tenant questions
    go contact by contact."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the deployment from environment variables (handlers and the CLI only)."""
        env = os.environ if env is None else env
        missing = [var for var in TABLE_ENV.values() if not env.get(var)]
        if missing:
            raise SettingsError("missing table environment variables: " + ", ".join(missing))
        tables = TableNames(**{name: env[var] for name, var in TABLE_ENV.items()})
        workers = _number(env, "EVALUATOR_WORKERS", 1 if env.get("AWS_ENDPOINT_URL") else 4, int)
        if workers < 1:
            raise SettingsError("EVALUATOR_WORKERS must be at least 1")
        page_size = _number(env, "BACKFILL_PAGE_SIZE", 100, int)
        local = bool(env.get("AWS_ENDPOINT_URL"))
        copy_wait = _number(env, "BACKFILL_COPY_WAIT_SECONDS", 0.0 if local else 120.0, float)
        if not 0 <= copy_wait <= 3600:
            raise SettingsError("BACKFILL_COPY_WAIT_SECONDS must be between 0 and 3600")
        if not 1 <= page_size <= 1000:
            raise SettingsError("BACKFILL_PAGE_SIZE must be between 1 and 1000")
        return cls(
            tables=tables,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            account_id_endpoint_mode=env.get("AWS_ACCOUNT_ID_ENDPOINT_MODE") or None,
            event_bus_name=env.get("EVENT_BUS_NAME") or "default",
            backfill_queue_url=env.get("BACKFILL_QUEUE_URL") or None,
            ingest_dead_letter_queue_url=env.get("INGEST_DEAD_LETTER_QUEUE_URL") or None,
            imports_bucket=env.get("IMPORTS_BUCKET") or None,
            import_queue_url=env.get("IMPORT_QUEUE_URL") or None,
            event_retention=timedelta(days=_number(env, "EVENT_RETENTION_DAYS", 400, int)),
            membership_tombstone=timedelta(days=_number(env, "MEMBERSHIP_TOMBSTONE_DAYS", 7, int)),
            segment_cache_seconds=_number(env, "SEGMENT_CACHE_SECONDS", 5.0, float),
            evaluator_workers=workers,
            backfill_page_size=page_size,
            backfill_copy_wait=timedelta(seconds=copy_wait),
            context_max_age=timedelta(hours=_number(env, "CONTEXT_REFRESH_HOURS", 24.0, float)),
            api_keys=ApiKeys.parse(env.get("API_KEYS", "")),
            cors_origins=_origins(env.get("CORS_ORIGINS", "")),
            analytics_copy=env.get("ANALYTICS_COPY") or None,
        )

    def require_backfill_queue(self, reader: str) -> str:
        """The backfill queue's URL, for a ``reader`` that cannot work without one."""
        if not self.backfill_queue_url:
            raise SettingsError(f"BACKFILL_QUEUE_URL is required by the {reader}")
        return self.backfill_queue_url

    def require_imports(self) -> tuple[str, str]:
        """The uploads bucket and the job queue, which CSV imports cannot work without."""
        if not self.imports_bucket or not self.import_queue_url:
            raise SettingsError("IMPORTS_BUCKET and IMPORT_QUEUE_URL are required by CSV imports")
        return self.imports_bucket, self.import_queue_url

    def require_ingest_dead_letter_queue(self) -> str:
        """The URL bus ingestion cannot work without (a refused message would have nowhere to go)."""
        if not self.ingest_dead_letter_queue_url:
            raise SettingsError("INGEST_DEAD_LETTER_QUEUE_URL is required by bus ingestion")
        return self.ingest_dead_letter_queue_url

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
        if self.cors_origins:
            env["CORS_ORIGINS"] = ",".join(self.cors_origins)
        return env


@cache
def current_settings() -> Settings:
    """This process's settings, read from its environment on first use and kept.

    Every handler of a process shares them (the local stack runs all functions
    in one process). A test that changes the environment calls
    ``current_settings.cache_clear()``.
    """
    return Settings.from_env()
