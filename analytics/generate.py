"""A synthetic tenant of any size, written by DuckDB straight into the analytical copy's layout.

``python -m growthos_segments.analytics.generate --contacts 1000000 --out DIR``
writes ``DIR/tenant_id=<tenant>/contacts`` and ``.../events`` (the layout of
:mod:`growthos_segments.analytics.parquet`) for N contacts with about ten events
each over the 120 days before ``--now``. Nothing passes through Python objects:
one SQL statement per table, so millions of contacts take seconds and memory is
DuckDB's. Every random choice is a hash of (seed, row, purpose), so the same
arguments give the same rows.

The shapes follow ``devstack/demo_data.py`` (personas from dormant to power user,
plans, countries, cities with coordinates near their centres, sign-ups skewed
recent, tags, lists, suppression, lead / engagement / NPS scores, the custom fields
``lead_score`` and ``customer_ltv``) and the plugins' event vocabulary: ``email.*``
with ``campaign_id`` and ``device``, ``product.viewed`` in bursts, ``cart.added``,
``order.completed`` with ``amount``, ``session.started``, ``feature_used``,
``nudge.*``, ``referral.*``. Event times lean towards ``now`` (activity is recent
more often than not) and never precede the contact's ``created_at``. Unlike the demo
data, ``customer_ltv`` counts plan months only, not orders. Events are written
sorted by name, then time, as every base events file of the copy is
(:data:`growthos_segments.analytics.parquet.EVENTS_ORDER`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from growthos_segments.analytics.fields import choose_fields, field_selects
from growthos_segments.analytics.parquet import (
    CONTACTS,
    EVENT_ROW_GROUP,
    EVENTS,
    EVENTS_ORDER_BY,
    DocumentError,
    replacing,
    tenant_folder,
)
from growthos_segments.core.limits import in_time_range
from growthos_segments.core.timeutil import parse_now, to_iso

__all__ = ["DEFAULT_NOW", "Generated", "generate", "main"]

DEFAULT_NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
"""A fixed instant, so generated data and the rules run on it agree without a clock."""

MEMORY_LIMIT = "2GB"
"""DuckDB's memory while generating (spilling to disk beyond it): a 4M-contact tenant fits."""
SAMPLE = 100_000
"""Documents the field columns are chosen from (as many as the first batch of ``write_tenant``)."""

_MACROS = """
CREATE OR REPLACE TEMP MACRO u(i, tag) AS (hash(getvariable('seed'), i, tag) % 1000003) / 1000003.0;
CREATE OR REPLACE TEMP MACRO pick(options, i, tag) AS
    options[1 + (hash(getvariable('seed'), i, tag) % len(options))::INTEGER];
"""
"""``u``: a uniform number in [0, 1) for (row, purpose); ``pick``: one item of a list."""

_PEOPLE = """
CREATE OR REPLACE TEMP TABLE people AS
WITH r AS (
    SELECT i, u(i, 'persona') AS up, u(i, 'plan') AS upl, u(i, 'country') AS uc,
           CASE WHEN u(i, 'young') < 0.25 THEN u(i, 'age') * 90 ELSE 90 + u(i, 'age') * 640 END AS age_days
    FROM range(1, getvariable('contacts') + 1) t(i)
)
SELECT
    i,
    'c' || i AS contact_id,
    CASE WHEN up < 0.35 THEN 'dormant' WHEN up < 0.80 THEN 'casual'
         WHEN up < 0.985 THEN 'engaged' ELSE 'power' END AS persona,
    CASE WHEN upl < 0.55 THEN 'free' WHEN upl < 0.80 THEN 'starter'
         WHEN upl < 0.95 THEN 'pro' ELSE 'enterprise' END AS plan,
    CASE WHEN uc < 0.26 THEN 1 WHEN uc < 0.50 THEN 2 WHEN uc < 0.62 THEN 3 WHEN uc < 0.70 THEN 4
         WHEN uc < 0.77 THEN 5 WHEN uc < 0.84 THEN 6 WHEN uc < 0.90 THEN 7 WHEN uc < 0.95 THEN 8
         ELSE 9 END AS country_no,
    date_trunc('second', getvariable('now') - to_microseconds((age_days * 86400e6)::BIGINT)) AS created_at
FROM r
"""

_COUNTRIES = """
[{'code': 'GB', 'tz': 'Europe/London', 'cities': ['London', 'Manchester', 'Leeds', 'Bristol'],
  'lats': [51.5074, 53.4808, 53.8008, 51.4545], 'lons': [-0.1278, -2.2426, -1.5491, -2.5879]},
 {'code': 'US', 'tz': 'America/New_York', 'cities': ['New York', 'Austin', 'Seattle', 'Chicago'],
  'lats': [40.7128, 30.2672, 47.6062, 41.8781], 'lons': [-74.006, -97.7431, -122.3321, -87.6298]},
 {'code': 'DE', 'tz': 'Europe/Berlin', 'cities': ['Berlin', 'Munich', 'Hamburg'],
  'lats': [52.52, 48.1351, 53.5511], 'lons': [13.405, 11.582, 9.9937]},
 {'code': 'FR', 'tz': 'Europe/Paris', 'cities': ['Paris', 'Lyon'],
  'lats': [48.8566, 45.764], 'lons': [2.3522, 4.8357]},
 {'code': 'IE', 'tz': 'Europe/Dublin', 'cities': ['Dublin', 'Cork'],
  'lats': [53.3498, 51.8985], 'lons': [-6.2603, -8.4756]},
 {'code': 'NL', 'tz': 'Europe/Amsterdam', 'cities': ['Amsterdam', 'Utrecht'],
  'lats': [52.3676, 52.0907], 'lons': [4.9041, 5.1214]},
 {'code': 'CA', 'tz': 'America/Toronto', 'cities': ['Toronto', 'Vancouver'],
  'lats': [43.6532, 49.2827], 'lons': [-79.3832, -123.1207]},
 {'code': 'AU', 'tz': 'Australia/Sydney', 'cities': ['Sydney', 'Melbourne'],
  'lats': [-33.8688, -37.8136], 'lons': [151.2093, 144.9631]},
 {'code': 'ES', 'tz': 'Europe/Madrid', 'cities': ['Madrid', 'Barcelona'],
  'lats': [40.4168, 41.3874], 'lons': [-3.7038, 2.1686]}][country_no]
"""
"""Countries with their cities and the cities' centres (``lats`` / ``lons`` in the cities' order,
so ``pick`` with the city's purpose picks the city's own centre)."""

_CONTACT_ROWS = f"""
WITH p AS (
    SELECT *, {_COUNTRIES} AS place,
           pick(['Ada', 'Ben', 'Chloe', 'Dev', 'Elena', 'Finn', 'Grace', 'Hugo', 'Isla', 'Jonas', 'Kai',
                 'Lena', 'Maya', 'Noah', 'Olivia', 'Priya', 'Quinn', 'Rosa', 'Sam', 'Tariq'], i, 'first')
               AS first_name,
           pick(['Smith', 'Jones', 'Patel', 'Müller', 'Martin', 'Kowalski', 'Garcia', 'Nguyen', 'Rossi',
                 'Andersen', 'Dubois', 'Silva', 'Kim', 'Murphy', 'Schmidt', 'Novak', 'Okafor'], i, 'last')
               AS last_name,
           (hash(getvariable('seed'), i, 'lead') % 101)::INTEGER AS lead,
           u(i, 'unsubscribed') < 0.04 AS unsubscribed,
           u(i, 'bounced') < 0.02 AS bounced
    FROM people
)
SELECT
    contact_id,
    json_merge_patch('{{}}', json_object(
        'contact_id', contact_id,
        'attributes', json_object(
            'email', lower(replace(first_name || '.' || last_name, 'ü', 'ue')) || i
                     || '@' || pick(['gmail.com', 'outlook.com', 'proton.me', 'example.com'], i, 'domain'),
            'first_name', first_name,
            'last_name', last_name,
            'city', pick(place.cities, i, 'city'),
            'latitude', round(pick(place.lats, i, 'city') + (u(i, 'latitude') - 0.5) * 0.28, 4),
            'longitude', round(pick(place.lons, i, 'city') + (u(i, 'longitude') - 0.5) * 0.28, 4),
            'country', place.code,
            'timezone', place.tz,
            'plan', plan,
            'signup_date', strftime(created_at, '%Y-%m-%d'),
            'created_at', strftime(created_at, '%Y-%m-%dT%H:%M:%SZ'),
            'trial_ends_at', CASE WHEN plan = 'free' AND u(i, 'trial') < 0.15 THEN
                strftime(getvariable('now') + to_days((u(i, 'trial_days') * 15)::INTEGER), '%Y-%m-%d') END,
            'referred_by', CASE WHEN i > 20 AND u(i, 'referred') < 0.10 THEN
                'c' || (1 + hash(getvariable('seed'), i, 'referrer') % (i - 1)) END,
            'custom', json_object(
                'interests', list_filter(
                    [CASE WHEN u(i, 'automation') < 0.3 THEN 'automation' END,
                     CASE WHEN u(i, 'analytics') < 0.25 THEN 'analytics' END,
                     CASE WHEN u(i, 'email') < 0.2 THEN 'email' END,
                     CASE WHEN u(i, 'integrations') < 0.15 THEN 'integrations' END], lambda x: x IS NOT NULL),
                'seats', CASE WHEN plan <> 'free' THEN pick([1, 3, 5, 10, 25, 50, 120], i, 'seats') END,
                'company', CASE WHEN plan <> 'free' THEN
                    last_name || ' ' || pick(['Labs', 'GmbH', 'Ltd', 'Inc', 'Studio'], i, 'company') END,
                'plan_type', CASE WHEN plan IN ('pro', 'enterprise') THEN 'premium' ELSE 'standard' END,
                'lead_score', lead,
                'customer_ltv', (date_diff('day', created_at, getvariable('now')) // 30) * CASE plan
                    WHEN 'starter' THEN 29 WHEN 'pro' THEN 99 WHEN 'enterprise' THEN 499 ELSE 0 END)),
        'tags', list_filter(
            [CASE WHEN u(i, 'vip') < 0.03 THEN 'vip' END,
             CASE WHEN u(i, 'beta') < 0.08 THEN 'beta' END,
             CASE WHEN u(i, 'power-user') < (CASE WHEN persona = 'power' THEN 0.10 ELSE 0.01 END)
                  THEN 'power-user' END,
             CASE WHEN u(i, 'do-not-call') < 0.02 THEN 'do-not-call' END], lambda x: x IS NOT NULL),
        'lists', CASE WHEN unsubscribed THEN [] ELSE list_filter(
            [CASE WHEN u(i, 'newsletter') < 0.6 THEN 'newsletter' END,
             CASE WHEN u(i, 'launch-2026') < 0.2 THEN 'launch-2026' END,
             CASE WHEN u(i, 'webinar-nov') < 0.08 THEN 'webinar-nov' END], lambda x: x IS NOT NULL) END,
        'suppression', json_object(
            'unsubscribed', unsubscribed, 'bounced', bounced,
            'status', CASE WHEN bounced THEN 'bounced' WHEN unsubscribed THEN 'unsubscribed' ELSE 'ok' END),
        'scores', json_object(
            'lead', lead,
            'engagement', (CASE persona WHEN 'dormant' THEN u(i, 'engagement') * 25
                                        WHEN 'casual' THEN 20 + u(i, 'engagement') * 40
                                        WHEN 'engaged' THEN 55 + u(i, 'engagement') * 35
                                        ELSE 80 + u(i, 'engagement') * 20 END)::INTEGER,
            'nps', CASE WHEN u(i, 'has_nps') < 0.4 THEN least(10, floor(sqrt(u(i, 'nps')) * 11))::INTEGER END)
    )) AS doc,
    created_at + to_microseconds(
        ((epoch_us(getvariable('now')) - epoch_us(created_at)) * u(i, 'updated'))::BIGINT) AS updated_at
FROM p
ORDER BY i
"""

_EVENT_ROWS = """
WITH slots AS (
    SELECT p.i, p.contact_id, p.country_no, p.created_at, j, p.i * 64 + j AS k,
           least(epoch_us(getvariable('now')) - epoch_us(p.created_at), 120 * 86400000000) AS span_us
    FROM people p, range(CASE p.persona WHEN 'dormant' THEN 3 + p.i % 3 WHEN 'casual' THEN 8 + p.i % 5
                                        WHEN 'engaged' THEN 14 + p.i % 7 ELSE 30 + p.i % 11 END) r(j)
), named AS (
    SELECT *, u(k, 'name') AS un FROM slots
), typed AS (
    SELECT *,
        CASE WHEN un < 0.20 THEN 'email.sent' WHEN un < 0.36 THEN 'email.opened'
             WHEN un < 0.42 THEN 'email.clicked' WHEN un < 0.43 THEN 'email.converted'
             WHEN un < 0.63 THEN 'product.viewed' WHEN un < 0.66 THEN 'cart.added'
             WHEN un < 0.69 THEN 'order.completed' WHEN un < 0.84 THEN 'session.started'
             WHEN un < 0.90 THEN 'feature_used' WHEN un < 0.93 THEN 'nudge.shown'
             WHEN un < 0.94 THEN 'nudge.clicked' WHEN un < 0.95 THEN 'nudge.dismissed'
             WHEN un < 0.96 THEN 'referral.invited' WHEN un < 0.965 THEN 'referral.converted'
             WHEN un < 0.975 THEN 'onboarding.completed' ELSE 'app.login' END AS name
    FROM named
)
SELECT
    contact_id,
    name,
    greatest(created_at, getvariable('now') - to_microseconds(CASE WHEN name = 'product.viewed'
        -- product views come in bursts: one of two moments of the contact, within six hours before it
        THEN (span_us * pow(u(i, 'burst' || (j % 2)), 2) + u(k, 'offset') * 21600e6)::BIGINT
        ELSE (span_us * pow(u(k, 'at'), 2))::BIGINT END)) AS "at",
    CASE
        WHEN name = 'email.clicked' THEN json_object(
            'campaign_id', 'cmp_' || lpad((hash(getvariable('seed'), k, 'campaign') % 24)::VARCHAR, 2, '0'),
            'device', pick(['mobile', 'mobile', 'desktop', 'desktop', 'tablet'], k, 'device'),
            'url', pick(['/pricing', '/blog/segments', '/features/automation', '/webinar'], k, 'url'))
        WHEN name LIKE 'email.%' THEN json_object(
            'campaign_id', 'cmp_' || lpad((hash(getvariable('seed'), k, 'campaign') % 24)::VARCHAR, 2, '0'),
            'device', pick(['mobile', 'mobile', 'desktop', 'desktop', 'tablet'], k, 'device'))
        WHEN name = 'product.viewed' THEN json_object(
            'product', 'p' || hash(getvariable('seed'), k, 'product') % 300,
            'price', round(5 + u(k, 'price') * 195, 2))
        WHEN name = 'cart.added' THEN json_object('sku', 'p' || hash(getvariable('seed'), k, 'product') % 300)
        WHEN name = 'order.completed' THEN json_object(
            'order_id', 'o-' || contact_id || '-' || j,
            'amount', round(19 + u(k, 'amount') * 221, 2),
            'currency', CASE WHEN country_no = 1 THEN 'GBP' ELSE 'USD' END)
        WHEN name = 'feature_used' THEN json_object(
            'feature', pick(['export', 'api', 'segments', 'dashboards', 'automations'], k, 'feature'))
        WHEN name LIKE 'nudge.%' THEN json_object(
            'nudge_id', pick(['upgrade_banner', 'tour', 'nps_survey'], k, 'nudge'))
        WHEN name LIKE 'referral.%' THEN json_object('referee_id', 'friend-' || i || '-' || j)
    END AS properties,
    contact_id || '-' || j AS event_id
FROM typed
"""


@dataclass(frozen=True, slots=True)
class Generated:
    """What one run wrote."""

    folder: Path
    contacts: int
    events: int
    bytes: int
    seconds: float


def _copy(con: object, query: str, target: Path, options: str = "") -> None:
    from sqlglot import exp

    path = exp.Literal.string(str(target)).sql("duckdb")
    con.execute(f"COPY ({query}) TO {path} (FORMAT parquet, COMPRESSION zstd{options})")  # type: ignore[attr-defined]


def _add_field_columns(con: object, drafted: Path, target: Path) -> None:
    """The contacts file with its field columns, chosen from the first documents as
    :func:`growthos_segments.analytics.parquet.write_tenant` chooses them."""
    from sqlglot import exp

    source = exp.func("read_parquet", exp.Literal.string(str(drafted)))
    sample = con.execute(  # type: ignore[attr-defined]
        exp.select("doc").from_(source.copy()).limit(SAMPLE).sql("duckdb")).fetchall()
    paths = choose_fields(json.loads(doc) for (doc,) in sample)
    _copy(con, exp.select("*", *field_selects(paths)).from_(source).sql("duckdb"), target)


def generate(
    out: str | Path,
    contacts: int,
    *,
    tenant_id: str = "bench",
    seed: int = 7,
    now: datetime = DEFAULT_NOW,
    progress: bool = False,
) -> Generated:
    """Write (replacing) the copy of ``tenant_id`` under ``out``: ``contacts`` contacts, ~10 events each."""
    import duckdb

    if contacts < 0:
        raise ValueError(f"contacts must be 0 or more, not {contacts}")
    started = time.perf_counter()

    def say(message: str) -> None:
        if progress:
            print(f"{message} ({time.perf_counter() - started:.1f} s)", flush=True)

    Path(out).mkdir(parents=True, exist_ok=True)
    with (tempfile.TemporaryDirectory(dir=out, prefix=".spill-") as spill, duckdb.connect() as con,
          replacing(out, tenant_id) as staging):
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")  # the phases print their own lines
        # Sorting every event (by name and time) is the generator's big step (10 GB at 4M contacts held in
        # memory): past this limit DuckDB spills it to a folder beside the copy, removed at the end.
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute("SET temp_directory = ?", [spill])
        con.execute("SET VARIABLE seed = ?", [seed])
        con.execute("SET VARIABLE contacts = ?", [contacts])
        con.execute("SET VARIABLE now = ?::TIMESTAMPTZ", [now])
        con.execute(_MACROS)
        con.execute(_PEOPLE)
        say(f"{tenant_id}: {contacts:,} people drawn")
        drafted = staging / "contacts-without-fields.parquet"
        _copy(con, _CONTACT_ROWS, drafted)
        _add_field_columns(con, drafted, staging / CONTACTS / "part-00000.parquet")
        drafted.unlink()
        say(f"{tenant_id}: contacts written")
        # contact_id and j after the file's order make the same seed write the same rows in the same order
        _copy(con, f"{_EVENT_ROWS} {EVENTS_ORDER_BY}, contact_id, j", staging / EVENTS / "part-00000.parquet",
              f", ROW_GROUP_SIZE {EVENT_ROW_GROUP}")
        events = con.execute(
            "SELECT count(*) FROM read_parquet(?)", [str(staging / EVENTS / "part-00000.parquet")]
        ).fetchall()[0][0]
        say(f"{tenant_id}: {events:,} events written")
    folder = tenant_folder(out, tenant_id)
    size = sum(path.stat().st_size for path in folder.rglob("*.parquet"))
    return Generated(folder, contacts, int(events), size, time.perf_counter() - started)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m growthos_segments.analytics.generate",
                     description="Write a synthetic tenant into the analytical copy's Parquet layout.")
    parser.add_argument("--contacts", type=int, required=True,
                        help="how many contacts (about 10 events each)")
    parser.add_argument("--out", required=True, help="the copy's root folder")
    parser.add_argument("--tenant", default="bench", help="tenant id (default: bench)")
    parser.add_argument("--seed", type=int, default=7, help="same seed, same rows (default: 7)")
    parser.add_argument("--now", help=f"the instant events lead up to (default: {to_iso(DEFAULT_NOW)})")
    args = parser.parse_args(argv)
    try:
        now = DEFAULT_NOW if args.now is None else parse_now(args.now)
    except ValueError as exc:
        parser.error(f"--now: {exc}")
    if not in_time_range(now):
        parser.error(f"--now: {args.now} is outside the supported years")
    if args.contacts < 0:
        parser.error(f"--contacts: must be 0 or more, not {args.contacts}")
    try:
        done = generate(args.out, args.contacts, tenant_id=args.tenant, seed=args.seed, now=now,
                        progress=True)
    except (DocumentError, OSError) as exc:
        parser.error(str(exc))
    print(f"{args.tenant}: {done.contacts:,} contacts, {done.events:,} events, "
          f"{done.bytes / 1e6:,.1f} MB in {done.folder} ({done.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
