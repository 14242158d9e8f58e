"""``segments count``: the exact count of a rule over a JSONL file, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from growthos_segments.devstack.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = "2026-11-22T12:00:00Z"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else None, err


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def evaluated(capsys: pytest.CaptureFixture[str], rule: str, contacts: str) -> list[str]:
    assert main(["evaluate", "--rule", rule, "--contacts", contacts, "--now", NOW]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return sorted(str(line["contact_id"]) for line in lines if line["match"])


def test_count_by_sql_matches_evaluate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rule = write(tmp_path, "rule.json", json.dumps({"and": [
        {"attribute": {"field": "plan", "op": "equals", "value": "free"}},
        {"!": {"tag": {"tags": ["vip"]}}}]}))
    contacts = str(EXAMPLES / "contacts.jsonl")
    code, out, err = run(capsys, "count", "--rule", rule, "--contacts", contacts, "--now", NOW, "--members")
    assert (code, err) == (0, "")
    assert out["path"] == "sql" and "reason" not in out
    assert out["members"] == evaluated(capsys, rule, contacts)
    assert out["count"] == len(out["members"]) > 0
    assert out["as_of"].endswith("Z")


def test_count_of_the_example_rule_matches_evaluate(capsys: pytest.CaptureFixture[str]) -> None:
    rule = str(EXAMPLES / "rules/free_uk_recent.json")  # a date window: by SQL too
    contacts = str(EXAMPLES / "contacts.jsonl")
    code, out, _ = run(capsys, "count", "--rule", rule, "--contacts", contacts, "--now", NOW, "--members")
    assert code == 0 and out["path"] == "sql"
    assert out["members"] == evaluated(capsys, rule, contacts)


def test_count_without_members_and_with_a_per_contact_rule(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    beyond_doubles = {"attribute": {"field": "plan", "op": "equals", "value": 2**64 + 5}}
    rule = write(tmp_path, "rule.json", json.dumps({"and": [
        {"attribute": {"field": "plan", "op": "exists"}}, {"!": beyond_doubles}]}))
    contacts = str(EXAMPLES / "contacts.jsonl")
    code, out, _ = run(capsys, "count", "--rule", rule, "--contacts", contacts, "--now", NOW)
    assert code == 0
    assert out["path"] == "per-contact"
    assert out["reason"] == ("/and/1/!/attribute: condition type 'attribute' has no exact SQL form "
                             "for these params")
    assert "members" not in out
    assert out["count"] == len(evaluated(capsys, rule, contacts)) > 0


def test_contacts_of_several_tenants_are_counted_tenant_by_tenant(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rule = write(tmp_path, "rule.json", '{"attribute": {"field": "plan", "op": "exists"}}')
    lines = [{"tenant_id": "a", "contact_id": 1, "attributes": {"plan": "x"}},
             {"tenant_id": "b", "contact_id": 1, "attributes": {"plan": "y"}},
             {"contact_id": "c", "attributes": {}}]
    contacts = write(tmp_path, "c.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n")
    code, out, _ = run(capsys, "count", "--rule", rule, "--contacts", contacts, "--members")
    assert code == 0
    assert (out["count"], out["members"]) == (2, ["1", "1"])


@pytest.mark.parametrize(("contacts", "rule", "message"), [
    ('{"contact_id": "a"}\n{"contact_id": "b", oops}\n', '{"tag": {"tags": ["x"]}}',
     "c.jsonl:2: invalid JSON: Expecting property name enclosed in double quotes (column 21)"),
    ('{"contact_id": "a"}\n', '{"atribute": {"field": "plan", "op": "exists"}}',
     "rule.json: invalid rule: /: unknown condition type 'atribute' — did you mean 'attribute'?"),
    ('{"contact_id": "a", "attributes": {"plan": "\\ud800"}}\n', '{"tag": {"tags": ["x"]}}',
     "c.jsonl: contact 'a': a string holds an unpaired surrogate"),
    ('[1]\n', '{"tag": {"tags": ["x"]}}', "c.jsonl:1: expected a contact object, got list"),
    ('{"contact_id": "n", "scores": {"lead": NaN}}\n', '{"tag": {"tags": ["x"]}}',
     "c.jsonl: contact 'n': holds NaN or an infinity, which JSON cannot carry"),
])
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, contacts: str, rule: str, message: str
) -> None:
    code, out, err = run(capsys, "count", "--rule", write(tmp_path, "rule.json", rule),
                         "--contacts", write(tmp_path, "c.jsonl", contacts))
    assert code == 2 and out is None
    assert len(err.strip().splitlines()) == 1
    assert message in err


def test_a_bad_now_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "count", "--rule", write(tmp_path, "r.json", '{"tag": {"tags": ["x"]}}'),
                       "--contacts", write(tmp_path, "c.jsonl", ""), "--now", "soon")
    assert code == 1 and err.strip() == "segments: --now: not an ISO-8601 instant: 'soon'"


def test_count_over_the_parquet_copy_matches_the_jsonl(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from growthos_segments.analytics.parquet import write_tenant

    contacts = str(EXAMPLES / "contacts.jsonl")
    docs = [json.loads(line) for line in Path(contacts).read_text().splitlines() if line.strip()]
    write_tenant(tmp_path / "copy", "demo", docs)
    rule = str(EXAMPLES / "rules/free_uk_recent.json")
    _, from_file, _ = run(capsys, "count", "--rule", rule, "--contacts", contacts, "--now", NOW, "--members")
    copy = str(tmp_path / "copy")
    code, from_copy, err = run(capsys, "count", "--rule", rule, "--contacts", copy, "--now", NOW, "--members")
    assert (code, err) == (0, "")
    assert (from_copy["path"], from_copy["members"]) == ("sql", from_file["members"])
    assert "as_of" in from_copy  # the copy's newest updated_at (null while its writer leaves it empty)
    code, _, err = run(capsys, "count", "--rule", rule, "--contacts", str(tmp_path))
    assert code == 2 and err.strip().endswith("no tenant_id=<tenant> folder of the analytical copy here")
