"""The synthetic tenant: deterministic, in the copy's layout, and valid input for the evaluator."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlglot import exp

from growthos_segments.analytics.fields import field_columns
from growthos_segments.analytics.generate import DEFAULT_NOW, generate, main
from growthos_segments.analytics.parquet import open_tenant, read_documents
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.core.timeutil import parse_instant
from growthos_segments.core.view import ContactView
from growthos_segments.plugins import default_host

CONTACTS = 400


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("copy")
    generate(root, CONTACTS, tenant_id="gen", seed=7)
    return root


def _open(root: Path, tenant: str = "gen") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    open_tenant(con, root, tenant)
    return con


def _row_hashes(root: Path, tenant: str) -> dict[str, list[int]]:
    con = _open(root, tenant)
    return {
        table: [r[0] for r in con.execute(f"SELECT hash(t) FROM (SELECT * EXCLUDE tenant_id FROM {table}) t")
                .fetchall()]
        for table in ("contacts", "events")
    }


def test_the_same_seed_writes_the_same_rows_and_another_seed_others(copy: Path, tmp_path: Path) -> None:
    generate(tmp_path, CONTACTS, tenant_id="gen", seed=7)
    generate(tmp_path, CONTACTS, tenant_id="other", seed=8)
    first, again = _row_hashes(copy, "gen"), _row_hashes(tmp_path, "gen")
    other = _row_hashes(tmp_path, "other")
    assert again == first
    assert len(first["contacts"]) == CONTACTS
    assert set(other["contacts"]).isdisjoint(first["contacts"])


def test_contacts_have_about_ten_events_within_their_lives_and_the_last_120_days(copy: Path) -> None:
    con = _open(copy)
    events, contacts, too_early, too_late, older = con.execute(
        """
        SELECT count(*), count(DISTINCT e.contact_id),
               count_if(e."at" < (c.doc->>'$.attributes.created_at')::TIMESTAMPTZ),
               count_if(e."at" > ?), count_if(e."at" <= ?)
        FROM events e JOIN contacts c USING (contact_id)
        """,
        [DEFAULT_NOW, DEFAULT_NOW - timedelta(days=120)],
    ).fetchall()[0]
    assert 8 * CONTACTS <= events <= 12 * CONTACTS
    assert contacts == CONTACTS
    assert (too_early, too_late, older) == (0, 0, 0)


def test_every_generated_event_is_one_the_contact_view_keeps(copy: Path) -> None:
    docs = list(read_documents(_open(copy)))
    assert len(docs) == CONTACTS
    raw = sum(len(doc["events"]) for doc in docs)
    assert sum(len(ContactView(doc).events()) for doc in docs) == raw > 0


RULES: dict[str, tuple[Any, float, float]] = {
    # rule: (the rule, the lowest and highest plausible share of contacts matching)
    "pro in GB, IE or DE": ({"and": [{"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
                                     {"attribute": {"field": "country", "op": "in",
                                                    "values": ["GB", "IE", "DE"]}}]}, 0.02, 0.15),
    "opened 3+ emails in 30 days": ({"email": {"action": "opened", "min_count": 3, "within": "30d"}},
                                    0.005, 0.5),
    "hot lead with an order in 90 days": ({"and": [{"score_band": {"band": "hot"}},
                                                   {"event": {"name": "order.completed", "within": "90d"}}]},
                                          0.01, 0.3),
    "3 product views in 48 h, no order": ({"event_without": {
        "name": "product.viewed", "min_count": 3, "within": "48h", "without": {"name": "order.completed"}}},
        0.002, 0.3),
    "newsletter, not unsubscribed, engaged": ({"and": [
        {"list": {"match": "any", "lists": ["newsletter"]}},
        {"!": {"suppression": {"flag": "unsubscribed"}}},
        {"score": {"name": "engagement", "gte": 55}}]}, 0.05, 0.5),
}


@pytest.mark.parametrize("name", RULES)
def test_the_evaluator_reads_generated_contacts_with_plausible_answers(copy: Path, name: str) -> None:
    rule, low, high = RULES[name]
    segments = SegmentSet(default_host(), [SegmentDefinition("rule", rule)])
    evaluate = segments.segments["rule"].evaluate
    docs = list(read_documents(_open(copy)))
    members = [doc for doc in docs if evaluate(segments.view(doc), DEFAULT_NOW)[0]]
    assert low * CONTACTS <= len(members) <= high * CONTACTS, f"{name}: {len(members)} of {CONTACTS}"


def test_the_command_prints_progress_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--contacts", "50", "--out", str(tmp_path), "--tenant", "cli", "--seed", "3",
                 "--now", "2026-01-01T00:00:00Z"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in lines[:2]] == ["cli: 50 people drawn", "cli: contacts written"]
    assert lines[-1].startswith("cli: 50 contacts, ") and f"in {tmp_path / 'tenant_id=cli'}" in lines[-1]
    con = _open(tmp_path, "cli")
    latest = con.execute('SELECT max("at") FROM events').fetchall()[0][0]
    assert latest <= parse_instant("2026-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--contacts", "-1"], "--contacts: must be 0 or more, not -1"),
        (["--contacts", "ten"], "argument --contacts: invalid int value: 'ten'"),
        (["--contacts", "1", "--now", "soon"], "--now: not an ISO-8601 instant: 'soon'"),
        (["--contacts", "1", "--now", "2300-01-01"], "--now: 2300-01-01 is outside the supported years"),
        (["--contacts", "1", "--tenant", "a/b"], "tenant id 'a/b' is not a valid tenant id"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*args, "--out", str(tmp_path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_generated_contacts_carry_field_columns_equal_to_their_documents(copy: Path) -> None:
    con = _open(copy)
    fields = field_columns(con)
    assert {"field:attributes.plan", "field:attributes.country", "field:scores.lead"} <= set(fields.values())
    for literal, column in fields.items():
        quoted = exp.to_identifier(column, quoted=True).sql("duckdb")
        assert con.execute(f"SELECT count(*) FROM contacts WHERE {quoted} IS DISTINCT FROM "
                           "json_extract(doc, $path)", {"path": literal}).fetchall() == [(0,)], column
