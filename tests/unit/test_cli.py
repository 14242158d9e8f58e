"""The ``segments`` command line: outputs, exit codes, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from growthos_segments.devstack.cli import main

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
    result = subprocess.run([sys.executable, "-m", "growthos_segments.devstack.cli", "validate", bad],
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


RULE = '{"attribute": {"field": "plan", "op": "exists"}}'
HUGE = "9" * 5000  # past CPython's 4,300-digit conversion limit
EVALUATE = ["evaluate", "--rule", "{tmp}/r.json", "--contacts", "{tmp}/c.jsonl"]
WITH_SEGMENTS = [*EVALUATE, "--segments", "{tmp}/s.json"]


@pytest.mark.parametrize(
    ("files", "argv", "code", "needle"),
    [
        # Integers too long to convert used to end in a ValueError traceback.
        ({"r.json": '{"score": {"name": "nps",\n "gte": ' + HUGE + "}}"}, ["validate", "{tmp}/r.json"], 2,
         "r.json:2:9: invalid JSON: integer of 5,000 digits"),
        ({"r.json": RULE, "c.jsonl": '{"contact_id": "a"}\n{"contact_id": "b", "n": ' + HUGE + "}\n"},
         ["evaluate", "--rule", "{tmp}/r.json", "--contacts", "{tmp}/c.jsonl"], 2,
         "c.jsonl:2: invalid JSON: integer of 5,000 digits"),
        ({"r.json": RULE, "s.json": '[{"id": "a", "rule": ' + RULE + ', "version": ' + HUGE + "}]",
          "c.jsonl": ""},
         WITH_SEGMENTS, 2,
         "s.json:1:"),
        # Bounds the rule layer enforces, reported like every invalid rule.
        ({"r.json": '{"attribute": {"field": "signup_date", "op": "within_last", "amount": 2147483648}}'},
         ["normalize", "{tmp}/r.json"], 2, "/attribute/amount: 2147483648 days is longer than 100 years"),
        ({"r.json": '{"score": {"name": "nps", "gte": 1e308}}'}, ["normalize", "{tmp}/r.json"], 2,
         "/score/gte: number 1e+308 is too large"),
        # Segment definitions.
        ({"r.json": RULE, "s.json": '[{"id": "a", "name": "x\\u0000y", "rule": ' + RULE + "}]",
          "c.jsonl": ""},
         WITH_SEGMENTS, 2,
         "s.json: segment #0: name: control character U+0000 at position 1 is not allowed"),
        ({"r.json": RULE, "s.json": '["uk"]', "c.jsonl": ""},
         WITH_SEGMENTS, 2,
         "s.json: segment #0: expected an object"),
        ({"r.json": RULE, "s.json": '[{"rule": ' + RULE + "}]", "c.jsonl": ""},
         WITH_SEGMENTS, 2,
         "s.json: segment #0: 'id' is required"),
        ({"r.json": RULE, "c.jsonl": ""},
         [*EVALUATE, "--now", "1899-12-31T23:59:59Z"],
         1, "--now: 1899-12-31T23:59:59Z is outside the supported years 1900-2199"),
    ],
)
def test_more_bad_input_is_one_line_and_non_zero(capsys, tmp_path, files, argv, code, needle) -> None:
    test_bad_input_is_one_line_and_non_zero(capsys, tmp_path, files, argv, code, needle)


@pytest.mark.parametrize(
    ("files", "argv", "needle"),
    [
        # Invalid UTF-8 used to exit 1 (like a missing file) instead of 2 (bad content).
        ({"r.json": b'{"tag":\n {"tags": ["\xff"]}}'}, ["validate", "{tmp}/r.json"],
         "r.json:2: not UTF-8 (byte offset 20)"),
        ({"r.json": RULE.encode(), "c.jsonl": b'{"contact_id": "a"}\n\n{"contact_id": "\xc3"}\n'},
         ["evaluate", "--rule", "{tmp}/r.json", "--contacts", "{tmp}/c.jsonl"],
         "c.jsonl:3: not UTF-8 (byte offset 37)"),
        ({"r.json": RULE.encode(), "s.json": b'[{"id": "\xe9"}]', "c.jsonl": b""},
         WITH_SEGMENTS, "s.json:1: not UTF-8 (byte offset 9)"),
    ],
)
def test_invalid_utf8_names_the_file_and_byte_and_exits_2(capsys, tmp_path, files, argv, needle) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    got, _, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert got == 2 and needle in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("argv", [
    ["validate", "/dev/zero"],
    [a.replace("{tmp}/s.json", "/dev/zero") for a in WITH_SEGMENTS],
    ["evaluate", "--rule", "{tmp}/r.json", "--contacts", "/dev/zero"],
])
def test_endless_input_is_refused_at_its_bound(capsys, tmp_path, argv) -> None:
    """`--contacts /dev/zero` grew to 23 GB: every input now has a bound, and says which."""
    write(tmp_path, "r.json", RULE)
    write(tmp_path, "c.jsonl", "")
    got, _, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert got == 2 and len(err.strip().splitlines()) == 1, err
    if "--contacts" in argv and argv[argv.index("--contacts") + 1] == "/dev/zero":
        assert "/dev/zero:1: line is longer than 8,000,000 bytes" in err
    else:
        assert "/dev/zero: larger than" in err


def test_a_contact_line_at_the_bound_is_read_and_one_past_it_is_refused(capsys, tmp_path, monkeypatch):
    from growthos_segments.devstack import cli

    monkeypatch.setattr(cli, "MAX_LINE_BYTES", 24)
    rule = write(tmp_path, "r.json", RULE)
    at_bound, past_it = '{"contact_id": "abcdef"}', '{"contact_id": "abcdefg"}'
    assert (len(at_bound), len(past_it)) == (24, 25)
    contacts = write(tmp_path, "c.jsonl", f"{at_bound}\n{past_it}\n")
    code, out, err = run(capsys, "evaluate", "--rule", rule, "--contacts", contacts, "--now", NOW)
    assert code == 2 and "c.jsonl:2: line is longer than 24 bytes" in err
    assert json.loads(out)["contact_id"] == "abcdef"  # contacts stream: the good line was answered


def test_a_contact_id_with_a_lone_surrogate_is_printed_escaped(capsys, tmp_path) -> None:
    rule = write(tmp_path, "r.json", RULE)
    contacts = write(tmp_path, "c.jsonl", '{"contact_id": "\\ud800x"}\n')
    code, out, _ = run(capsys, "evaluate", "--rule", rule, "--contacts", contacts, "--now", NOW)
    assert code == 0 and out == '{"contact_id": "\\ud800x", "match": false, "recheck_at": null}\n'
