"""The ``segments`` command line: outputs, exit codes, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = "2026-11-22T12:00:00Z"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_validate_valid_rule(capsys) -> None:
    code, out, _ = run(capsys, "validate", str(EXAMPLES / "rules/free_uk_recent.json"))
    assert code == 0 and out.strip().endswith(": valid")


def test_validate_reports_every_error_and_exits_2(capsys) -> None:
    code, _, err = run(capsys, "validate", str(EXAMPLES / "rules/typos.json"))
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0].endswith("5 error(s)")
    assert "/and/0: unknown condition type 'atribute' — did you mean 'attribute'?" in lines[1]
    assert "/and/1/attribute/op: unknown op 'inn' — did you mean 'in'?" in lines[2]


def test_validate_json_output(capsys) -> None:
    code, out, _ = run(capsys, "validate", "--json", str(EXAMPLES / "rules/typos.json"))
    body = json.loads(out)
    assert code == 2 and body["valid"] is False
    assert [e["path"] for e in body["errors"]] == [
        "/and/0", "/and/1/attribute/op", "/and/2/attribute/amount", "/and/3/attribute/pattern",
        "/and/4/segment/id"]
    code, out, _ = run(capsys, "validate", "--json", str(EXAMPLES / "rules/free_uk_recent.json"))
    unsubscribed = {"!": {"suppression": {"flag": "unsubscribed"}}}
    assert code == 0 and json.loads(out)["normalized"]["and"][3] == unsubscribed


def test_evaluate_prints_one_line_per_contact(capsys) -> None:
    code, out, _ = run(capsys, "evaluate", "--rule", str(EXAMPLES / "rules/free_uk_recent.json"),
                       "--contacts", str(EXAMPLES / "contacts.jsonl"), "--now", NOW)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(x["contact_id"], x["match"]) for x in lines] == [
        ("c1", True), ("c2", True), ("c3", False), ("c4", False), ("c5", False), ("c6", False)]
    # c1 signed up on 2026-11-10: the 30-day window closes 30 days later, at midnight UTC.
    assert lines[0]["recheck_at"] == "2026-12-10T00:00:00Z"
    assert "trace" not in lines[0]


def test_evaluate_explain_and_segment_references(capsys) -> None:
    code, out, _ = run(capsys, "evaluate", "--rule", str(EXAMPLES / "rules/engaged_not_vip.json"),
                       "--segments", str(EXAMPLES / "segments.json"),
                       "--contacts", str(EXAMPLES / "contacts.jsonl"), "--now", NOW, "--explain")
    lines = {x["contact_id"]: x for x in map(json.loads, out.splitlines())}
    assert code == 0
    assert lines["c1"]["match"] is True
    assert lines["c2"]["match"] is False  # Irish, not in segment "uk"
    first = lines["c2"]["trace"]["children"][0]
    assert first["kind"] == "segment" and first["segment_id"] == "uk" and first["match"] is False


@pytest.mark.parametrize(
    ("files", "argv", "code", "needle"),
    [
        ({}, ["validate", "{tmp}/missing.json"], 1, "missing.json: no such file"),
        ({"r.json": "{oops"}, ["validate", "{tmp}/r.json"], 2, "r.json:1:2: invalid JSON"),
        ({"r.json": '{"and": [{"attribute": {"field": "plan", "op": "equals", "value": 1}}]}',
          "c.jsonl": '{"contact_id": "a"}\n[1]\n'},
         ["evaluate", "--rule", "{tmp}/r.json", "--contacts", "{tmp}/c.jsonl"], 2,
         "c.jsonl:2: expected a contact object"),
        ({"r.json": '{"attribute": {"field": "plan", "op": "exists"}}', "c.jsonl": '{"name": "x"}\n'},
         ["evaluate", "--rule", "{tmp}/r.json", "--contacts", "{tmp}/c.jsonl"], 2, "has no 'contact_id'"),
        ({"r.json": '{"attribute": {"field": "plan", "op": "exists"}}', "c.jsonl": "{bad\n"},
         ["evaluate", "--rule", "{tmp}/r.json", "--contacts", "{tmp}/c.jsonl"], 2, "c.jsonl:1: invalid JSON"),
        ({"r.json": '{"attribute": {"field": "plan", "op": "exists"}}', "c.jsonl": ""},
         ["evaluate", "--rule", "{tmp}/r.json", "--contacts", "{tmp}/c.jsonl", "--now", "yesterday"], 1,
         "--now: not an ISO-8601 instant"),
        ({"r.json": '{"atribute": {}}', "c.jsonl": ""},
         ["evaluate", "--rule", "{tmp}/r.json", "--contacts", "{tmp}/c.jsonl"], 2,
         "r.json: invalid rule: /: unknown condition type 'atribute'"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(capsys, tmp_path, files, argv, code, needle) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    got, _, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert got == code
    assert needle in err and len(err.strip().splitlines()) == 1, err


def test_catalog_lists_every_condition_type_with_schema(capsys) -> None:
    code, out, _ = run(capsys, "condition-types")
    catalog = json.loads(out)
    names = {entry["name"] for entry in catalog}
    assert code == 0 and {"attribute", "tag", "list", "suppression"} <= names
    for entry in catalog:
        assert entry["schema"] and entry["label"] and entry["description"] and entry["examples"]


def test_every_catalog_example_evaluates_through_the_cli(capsys, tmp_path) -> None:
    _, out, _ = run(capsys, "condition-types")
    contacts = write(tmp_path, "c.jsonl", (EXAMPLES / "contacts.jsonl").read_text())
    for entry in json.loads(out):
        for index, example in enumerate(entry["examples"]):
            rule = write(tmp_path, f"{entry['name']}_{index}.json", json.dumps(example))
            code, lines, err = run(capsys, "evaluate", "--rule", rule, "--contacts", contacts, "--now", NOW)
            assert code == 0, (example, err)
            assert len(lines.splitlines()) == 6


def test_no_traceback_from_the_installed_command(tmp_path) -> None:
    bad = write(tmp_path, "r.json", '{"and": [')
    result = subprocess.run([sys.executable, "-m", "infra.cli", "validate", bad],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_evaluate_supplies_tenant_context_from_the_contacts_file(capsys, tmp_path) -> None:
    """RFM tiers need the tenant's quintile thresholds; the CLI computes them from the file."""
    lines = []
    for n in range(1, 6):  # customer n: n orders of n*50, the last one 60*(5-n)+1 days ago
        events = [{"name": "order.completed", "at": f"2026-{11 - k:02d}-01T10:00:00Z",
                   "properties": {"amount": n * 50, "currency": "EUR", "order_id": f"o{n}{k}"}}
                  for k in range(n)]
        events[0]["at"] = ["2026-03-01T10:00:00Z", "2026-06-01T10:00:00Z", "2026-08-01T10:00:00Z",
                           "2026-10-01T10:00:00Z", "2026-11-21T10:00:00Z"][n - 1]
        lines.append(json.dumps({"tenant_id": "t1", "contact_id": f"c{n}", "events": events}))
    lines.append(json.dumps({"tenant_id": "t1", "contact_id": "c0", "events": []}))
    contacts = write(tmp_path, "c.jsonl", "\n".join(lines) + "\n")
    rule = write(tmp_path, "r.json", json.dumps({"rfm_tier": {"tier": "champions"}}))
    code, out, err = run(capsys, "evaluate", "--rule", rule, "--contacts", contacts, "--now", NOW)
    result = {x["contact_id"]: x["match"] for x in map(json.loads, out.splitlines())}
    assert code == 0, err
    assert result["c5"] is True and result["c0"] is False and result["c1"] is False
