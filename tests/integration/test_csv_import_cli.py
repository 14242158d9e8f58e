"""``segments import``: a CSV file into the stack's tables through the ingestion service."""

from __future__ import annotations

from pathlib import Path

import pytest

from growthos_segments.devstack import cli
from growthos_segments.infra import repos as infra_repos
from growthos_segments.infra.repos import Repositories

CSV = ("contact_id,email,plan,nps,interests,tags,score.lead\n"
       "c1,a@b.co,pro,9,automation;crm,vip,82\n"
       'c2,b@b.co,free,,"email\n",,oops\n'
       "c3,c@b.co,free,4,,beta;vip,10\n")


WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


@pytest.fixture
def stack(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Repositories:
    """The CLI on these tables and this request counter instead of the running local stack's."""
    monkeypatch.setattr(cli, "_local_settings", lambda args: repos.settings)
    monkeypatch.setattr(infra_repos, "build_repositories", lambda settings: repos)
    return repos


def writes(repos: Repositories) -> int:
    return sum(repos.requests.by_operation[name] for name in WRITES)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_writes_the_good_rows_reports_the_bad_ones_and_is_idempotent(
    stack: Repositories, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(CSV)
    code, out, err = run(capsys, "import", str(path), "--tenant", "t1", "--list", "spring",
                         "--type", "interests=multi")
    assert code == cli.EXIT_BAD_ROWS
    assert out == f"{path}: tenant t1: imported 2 of 3 rows (2 created, 0 updated, 0 unchanged); 1 bad row\n"
    assert f'{path}: line 3, column "score.lead": "oops" is not a number' in err.splitlines()
    assert "importing contacts.csv 2/2" in err
    c1 = stack.contacts.get("t1", "c1")
    assert c1 is not None and stack.contacts.get("t1", "c2") is None
    assert c1["attributes"]["plan"] == "pro" and c1["attributes"]["custom"] == {
        "nps": 9, "interests": ["automation", "crm"]}
    assert c1["tags"] == ["vip"] and c1["lists"] == ["spring"] and c1["scores"] == {"lead": 82}
    assert stack.contacts.get("t2", "c1") is None

    stack.requests.reset()
    code, out, _ = run(capsys, "import", str(path), "--tenant", "t1", "--list", "spring",
                       "--type", "interests=multi")
    assert "(0 created, 0 updated, 2 unchanged)" in out
    assert writes(stack) == 0

    path.write_text("contact_id,plan\nc1,enterprise\nc9,free\n")
    code, out, _ = run(capsys, "import", str(path), "--tenant", "t1", "--dry-run")
    assert code == 0
    assert "column 'plan' -> attributes.plan: text" in out
    assert out.endswith("would import 2 of 2 rows (1 created, 1 updated, 0 unchanged); 0 bad rows\n")
    assert writes(stack) == 0
    assert stack.contacts.get("t1", "c9") is None


def test_bad_files_and_options_are_one_line_and_no_write(
    stack: Repositories, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"email\na@b.co\n")
    stack.requests.reset()
    code, _, err = run(capsys, "import", str(path))
    assert code == cli.EXIT_INVALID
    assert err == (f'segments: {path}: line 1: the header has no "contact_id" column '
                   "(every row names its contact)\n")
    path.write_bytes(b"contact_id\nc1\n")
    for argv, message in (
        (["--type", "nps"], "segments: --type nps: write COLUMN=KIND, e.g. --type nps=number\n"),
        (["--tenant", "a#b"], "segments: --tenant: "),
        (["--separator", ","], "segments: "),
    ):
        code, _, err = run(capsys, "import", str(path), *argv)
        assert code in (cli.EXIT_USAGE, cli.EXIT_INVALID) and err.startswith(message) and err[-1] == "\n"
        assert len(err.splitlines()) == 1
    assert writes(stack) == 0
