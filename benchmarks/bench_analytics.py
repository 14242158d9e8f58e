"""Analytical copy: seven rules at 1M contacts, compiled by the engine and hand-written, same data, same run.

A synthetic tenant (``growthos_segments.analytics.generate``: about ten events a
contact over 120 days) is written to a temporary folder (:mod:`benchmarks.tenants`,
shared with ``bench_backfill_sql``) at each size of ``BENCH_ANALYTICS_CONTACTS``
(comma-separated; default 1,000,000; 4,000,000 adds minutes of generation and
queries, so it is an option). For each of the
issue's five representative rules and two single conditions (active days, the device of the
last open), in a fresh process each (so its peak
resident memory, Linux's VmHWM reset when the process starts, is its own):

- hand-written DuckDB SQL over the copy's ``contacts`` and ``events`` views (the
  profile read from the field columns, compared as JSON text, the fastest spelling
  we know): the exact count and the member ids, the yardstick;
- the compiled query (``compile_segment``) counted in SQL and its member ids fetched
  as the yardstick's are, with the ratio to the yardstick (target: within 1.5x, and
  at most 1 s) and whether the counts agree; and the engine's whole answer with
  member ids (``engine.answer``: it also compiles the rule, probes whether narrowing
  the events pass pays, reads how fresh the copy is and sorts the ids).

Times are p50 of :data:`RUNS` runs after one warm-up (wall time; CPU time over
all DuckDB threads is steadier on a shared machine). DuckDB uses every core.
Beside them, what one more (untimed, profiled) run of each count read, from
DuckDB's profile: the Parquet row groups it read of those the files hold (what
the copy's layout lets a query skip) and the rows its scans passed on (after the
filters pushed into them); that work does not vary with whatever else the
machine runs.

For comparison, the per-contact evaluator (what ``segments evaluate`` runs)
decides the same rules for the first :data:`SAMPLE` contacts read back from the
copy (documents already parsed in memory; building each view and evaluating it
are timed); its rate (CPU time, one thread) gives the CPU time it would need for the
whole tenant, compared with the SQL count's CPU time, and its member set must
equal the SQL's on that sample (printed as ``agrees``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.tenants import TENANT, generated
from benchmarks.timing import row

SIZES = tuple(int(n) for n in os.environ.get("BENCH_ANALYTICS_CONTACTS", "1000000").split(","))
RUNS = 5
SAMPLE = 20_000
_COUNTRIES = ["GB", "IE", "DE"]

ATTRIBUTE = {"and": [{"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
                     {"attribute": {"field": "country", "op": "in", "values": _COUNTRIES}}]}
OPENED = {"email": {"action": "opened", "min_count": 3, "within": "30d"}}
HOT_BUYER = {"and": [{"score_band": {"band": "hot"}},
                     {"event": {"name": "order.completed", "within": "90d"}}]}
BROWSED = {"event_without": {"name": "product.viewed", "min_count": 3, "within": "48h",
                             "without": {"name": "order.completed"}}}
NESTED = {"or": [{"and": [ATTRIBUTE, OPENED]}, {"and": [HOT_BUYER, {"!": BROWSED}]}]}
ACTIVE_DAYS = {"active_days": {"min_days": 3, "within": "30d"}}
LAST_OPEN_MOBILE = {"email_last_open_device": {"device": "mobile"}}



def _hot(lead: str) -> str:
    """score_band hot on an extracted ``scores.lead``: a JSON number >= 80. The JSON text of a
    string or a boolean does not cast to a double, so no kind test is needed."""
    return f"coalesce(TRY_CAST(CAST({lead} AS VARCHAR) AS DOUBLE) >= 80, FALSE)"


def _is_text(column: str, *values: str) -> str:
    """A field column holding one of these plain strings, its JSON text compared with
    ``'"pro"'``: the fastest spelling found (the bare column is a filter DuckDB pushes into
    the Parquet scan, a cast of it is not), and the one the compiler now writes too."""
    texts = ", ".join(repr(json.dumps(v)) for v in values)
    return f"{column} IN ({texts})"



_PLAN, _COUNTRY, _LEAD = '"field:attributes.plan"', '"field:attributes.country"', '"field:scores.lead"'

SQL: dict[str, tuple[dict[str, Any], str]] = {
    # name: (the rule, hand-written SQL of its members; $now is the evaluation instant). The
    # profile is read from the copy's field columns (the JSON value at each path), as the
    # compiled queries read it.
    "attribute filter (plan pro, country GB/IE/DE)": (ATTRIBUTE, f"""
        SELECT contact_id FROM contacts
        WHERE {_is_text(_PLAN, "pro")} AND {_is_text(_COUNTRY, *_COUNTRIES)}"""),
    "opened >= 3 emails in 30 days": (OPENED, """
        SELECT contact_id FROM events
        WHERE name = 'email.opened' AND "at" > $now - INTERVAL 720 HOUR AND "at" <= $now
          AND contact_id IN (SELECT contact_id FROM contacts)
        GROUP BY contact_id HAVING count(*) >= 3"""),
    "hot lead AND an order in 90 days": (HOT_BUYER, f"""
        SELECT contact_id FROM contacts
        WHERE {_hot(_LEAD)}
          AND contact_id IN (SELECT contact_id FROM events WHERE name = 'order.completed'
                             AND "at" > $now - INTERVAL 2160 HOUR AND "at" <= $now)"""),
    "viewed a product >= 3 times in 48 h without an order": (BROWSED, """
        SELECT contact_id FROM events
        WHERE name IN ('product.viewed', 'order.completed') AND "at" > $now - INTERVAL 48 HOUR
          AND "at" <= $now AND contact_id IN (SELECT contact_id FROM contacts)
        GROUP BY contact_id
        HAVING count_if(name = 'product.viewed') >= 3 AND count_if(name = 'order.completed') = 0"""),
    "nested: (1 AND 2) OR (3 AND NOT 4)": (NESTED, f"""
        SELECT contact_id FROM contacts LEFT JOIN (
            SELECT contact_id,
                   count_if(name = 'email.opened' AND "at" > $now - INTERVAL 720 HOUR) AS opened_30d,
                   count_if(name = 'order.completed') AS orders_90d,
                   count_if(name = 'product.viewed' AND "at" > $now - INTERVAL 48 HOUR) AS views_48h,
                   count_if(name = 'order.completed' AND "at" > $now - INTERVAL 48 HOUR) AS orders_48h
            FROM events
            WHERE name IN ('email.opened', 'order.completed', 'product.viewed')
              AND "at" > $now - INTERVAL 2160 HOUR AND "at" <= $now
            GROUP BY contact_id
        ) USING (contact_id)
        WHERE ({_is_text(_PLAN, "pro")} AND {_is_text(_COUNTRY, *_COUNTRIES)}
               AND coalesce(opened_30d, 0) >= 3)
           OR ({_hot(_LEAD)} AND coalesce(orders_90d, 0) >= 1
               AND NOT (coalesce(views_48h, 0) >= 3 AND coalesce(orders_48h, 0) = 0))"""),
    # Two conditions beside the five rules, for their SQL cost: distinct UTC days with an event,
    # and the device of the newest open (the generator writes devices in lower case, unpadded).
    "active on >= 3 of the last 30 days": (ACTIVE_DAYS, """
        SELECT contact_id FROM events
        WHERE "at" > $now - INTERVAL 720 HOUR AND "at" <= $now
          AND contact_id IN (SELECT contact_id FROM contacts)
        GROUP BY contact_id HAVING count(DISTINCT ("at" AT TIME ZONE 'UTC')::DATE) >= 3"""),
    "last open on mobile": (LAST_OPEN_MOBILE, """
        SELECT contact_id FROM events
        WHERE name = 'email.opened' AND "at" <= $now AND contact_id IN (SELECT contact_id FROM contacts)
        GROUP BY contact_id
        HAVING max("at") FILTER (WHERE properties->>'device' = 'mobile') = max("at")"""),
}


def _p50(run: Any) -> tuple[float, float, Any]:
    """p50 wall seconds, p50 CPU seconds of the process (all of DuckDB's threads), last result."""
    run()
    wall, cpu, result = [], [], None
    for _ in range(RUNS):
        started, used = time.perf_counter(), time.process_time()
        result = run()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    return statistics.median(wall), statistics.median(cpu), result


def _scanned(con: Any, query: str, parameters: Any) -> str:
    """What one run of ``query`` read, from DuckDB's JSON profile of it."""
    from sqlglot import exp

    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "profile.json"
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = {exp.Literal.string(str(output)).sql('duckdb')}")
        try:
            con.execute(query, parameters).fetchall()
        finally:
            con.execute("PRAGMA disable_profiling")
        profile = json.loads(output.read_text())["query"]
    return (f"{profile['total_row_groups_scanned']:,} of {profile['total_row_groups_to_scan']:,} row groups "
            f"read, {profile['total_rows_scanned']:,} rows out of the scans")


def _parameters(query: str) -> dict[str, Any] | None:
    from growthos_segments.analytics.generate import DEFAULT_NOW

    return {"now": DEFAULT_NOW} if "$now" in query else None  # DuckDB refuses unused ones


def _run(con: Any, query: str, parameters: Any = None) -> list[Any]:
    return con.execute(query, parameters or _parameters(query)).fetchall()  # type: ignore[no-any-return]


def measure(root: str, name: str, how: str) -> dict[str, Any]:
    """One rule's count and member ids (p50 seconds) in this (fresh) process, by the
    hand-written SQL (``how`` = ``hand``) or the engine (``compiled``); peak RSS in MB.

    The compiled count is the compiled query's members counted in SQL (as many as
    the engine's answer gives when no row is left undecided, which the result
    says); the compiled member ids are the query's, fetched as the hand-written
    ones are (``ids_s``), and the engine's whole answer
    (:func:`growthos_segments.analytics.engine.answer`: compiling, the freshness
    lookup, the query, sorting, and the per-contact decision of undecided rows)."""
    import duckdb

    from growthos_segments.analytics.compiler import NoSqlForm, compile_segment
    from growthos_segments.analytics.engine import answer, probe
    from growthos_segments.analytics.fields import field_columns
    from growthos_segments.analytics.generate import DEFAULT_NOW
    from growthos_segments.analytics.parquet import open_tenant
    from growthos_segments.core.segments import SegmentDefinition, SegmentSet
    from growthos_segments.plugins import default_host

    with open("/proc/self/clear_refs", "w") as refs:  # Linux: the peak so far (inherited at fork) is reset
        refs.write("5")
    con = duckdb.connect()
    open_tenant(con, root, TENANT)
    rule, query = SQL[name]
    out: dict[str, Any] = {}
    if how == "hand":
        count_s, count_cpu, count = _p50(lambda: _run(con, f"SELECT count(*) FROM ({query})")[0][0])
        members_s, members_cpu, members = _p50(lambda: [r[0] for r in _run(con, query)])
        scanned = _scanned(con, f"SELECT count(*) FROM ({query})", _parameters(query))
    else:
        host = default_host()
        segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
        try:  # probed as the engine probes where narrowing the events pays
            compiled = compile_segment(segments, "rule", field_columns(con), probe(con, TENANT, DEFAULT_NOW))
        except NoSqlForm as exc:
            return {"per_contact": str(exc)}
        counted = f"SELECT count(*) FILTER (WHERE member), count(*) FILTER (WHERE member IS NULL) " \
                  f"FROM ({compiled.sql})"
        parameters = compiled.parameters(TENANT, DEFAULT_NOW)
        count_s, count_cpu, (count, undecided) = _p50(
            lambda: con.execute(counted, parameters).fetchall()[0])
        scanned = _scanned(con, counted, parameters)
        if compiled.decided:  # the ids alone, as the engine fetches them, but unsorted as the yardstick's
            unsorted = compiled.members_sql(ordered=False)
            ids_s, _, ids = _p50(lambda: [r[0] for r in _run(con, unsorted, parameters)])
        else:
            ids_s, _, ids = _p50(lambda: [r[0] for r in _run(con, compiled.sql, parameters) if r[1]])
        members_s, members_cpu, got = _p50(lambda: answer(con, host, segments, "rule", TENANT, DEFAULT_NOW))
        members = list(got.members)
        assert undecided or sorted(ids) == members
        out = {"undecided": undecided, "path": got.path, "ids_s": ids_s}
        count += 0 if not undecided else len(members) - count  # the engine decides the undecided rows
    assert len(members) == count
    return {**out, "count": count, "count_s": count_s, "count_cpu": count_cpu, "members_s": members_s,
            "members_cpu": members_cpu, "rss_mb": _peak_rss_kb() / 1024, "scanned": scanned}


def _peak_rss_kb() -> int:
    """VmHWM: the process's peak resident memory since the reset in :func:`measure`."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def _in_fresh_process(root: str, name: str, how: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_analytics", root, name, how],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def per_contact(root: str) -> dict[str, tuple[float, int, int, bool]]:
    """Per rule: (CPU seconds the evaluator took, contacts sampled, members, same members as the SQL)."""
    import duckdb

    from growthos_segments.analytics.generate import DEFAULT_NOW
    from growthos_segments.analytics.parquet import open_tenant, read_documents
    from growthos_segments.core.segments import SegmentDefinition, SegmentSet
    from growthos_segments.plugins import default_host

    con = duckdb.connect()
    open_tenant(con, root, TENANT)
    docs = list(read_documents(con, limit=SAMPLE))
    sample = {str(doc["contact_id"]) for doc in docs}
    host = default_host()
    found = {}
    for name, (rule, query) in SQL.items():
        segments = SegmentSet(host, [SegmentDefinition("rule", rule)])
        evaluate = segments.segments["rule"].evaluate
        view = segments.view
        started = time.process_time()  # one thread: its CPU time, whatever else the machine runs
        members = {str(doc["contact_id"]) for doc in docs if evaluate(view(doc), DEFAULT_NOW)[0]}
        took = time.process_time() - started
        by_sql = {r[0] for r in _run(con, query)} & sample
        found[name] = (took, len(docs), len(members), members == by_sql)
    return found


def main() -> None:
    for contacts in SIZES:
        root = generated(contacts)
        sql = {}
        for name in SQL:
            hand = sql[name] = _in_fresh_process(root, name, "hand")
            compiled = _in_fresh_process(root, name, "compiled")
            row(f"{contacts:,}: {name}: hand-written SQL count ({hand['count']:,})",
                f"{hand['count_s'] * 1000:,.0f} ms",
                f"CPU {hand['count_cpu'] * 1000:,.0f} ms; {hand['scanned']}; "
                f"member ids {hand['members_s'] * 1000:,.0f} ms; peak RSS {hand['rss_mb']:,.0f} MB")
            if "per_contact" in compiled:
                row(f"{contacts:,}: {name}: compiled", "per-contact", compiled["per_contact"])
                continue
            agrees = "yes" if compiled["count"] == hand["count"] else "NO"
            row(f"{contacts:,}: {name}: compiled count ({compiled['count']:,}, same: {agrees})",
                f"{compiled['count_s'] * 1000:,.0f} ms",
                f"{compiled['count_s'] / hand['count_s']:.2f}x hand-written (target <= 1.5x, <= 1 s); "
                f"CPU {compiled['count_cpu'] * 1000:,.0f} ms; {compiled['scanned']}; "
                f"{compiled['undecided']:,} undecided")
            row(f"{contacts:,}: {name}: compiled member ids",
                f"{compiled['ids_s'] * 1000:,.0f} ms",
                f"{compiled['ids_s'] / hand['members_s']:.2f}x hand-written member ids (target <= 1.5x)")
            row(f"{contacts:,}: {name}: engine answer (member ids, path {compiled['path']})",
                f"{compiled['members_s'] * 1000:,.0f} ms",
                f"{compiled['members_s'] / hand['members_s']:.2f}x hand-written member ids (the answer also "
                f"compiles, probes, reads the copy's freshness and sorts); "
                f"peak RSS {compiled['rss_mb']:,.0f} MB")
        for name, (took, sampled, members, agrees) in per_contact(root).items():
            rate = sampled / took
            whole = contacts / rate
            row(f"{contacts:,}: {name}: per-contact evaluator, {sampled:,} sampled",
                f"{rate:,.0f} contacts/s",
                f"whole tenant ~{whole:,.1f} CPU s = {whole / sql[name]['count_cpu']:,.1f}x the SQL "
                f"count's CPU; "
                f"{members:,} members, agrees: {'yes' if agrees else 'NO'}")


if __name__ == "__main__":
    if len(sys.argv) == 4:  # one rule in a fresh process (see _in_fresh_process)
        print(json.dumps(measure(sys.argv[1], sys.argv[2], sys.argv[3])))
    else:
        main()
