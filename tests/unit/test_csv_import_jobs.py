"""CSV import jobs: create, upload, start, run (queued, progress, report), per tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from growthos_segments.infra.memory import MemoryContacts, MemoryIngest
from growthos_segments.infra.memory_imports import MemoryImportJobs, MemoryImportQueue, MemoryUploads
from growthos_segments.services.csv_import import DEFAULT_CSV_LIMITS, CsvLimits
from growthos_segments.services.csv_import_jobs import (
    ImportJobs,
    ImportNotFound,
    ImportOptionsError,
    ImportStateError,
    StartOptions,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DEFAULTS = StartOptions()


class Parts:
    def __init__(self, limits: CsvLimits = DEFAULT_CSV_LIMITS) -> None:
        self.jobs, self.uploads, self.queue = MemoryImportJobs(), MemoryUploads(), MemoryImportQueue()
        self.store = MemoryIngest(MemoryContacts())
        ids = iter(f"{n:032x}" for n in range(1, 100))
        self.service = ImportJobs(self.jobs, self.uploads, self.queue, self.store,
                                  retention=timedelta(days=400), limits=limits, new_id=lambda: next(ids))

    def uploaded(self, tenant: str, data: bytes, options: StartOptions = DEFAULTS) -> str:
        job, url, expires = self.service.create(tenant, now=NOW)
        assert url.startswith(f"memory://{tenant}/") and expires == NOW + timedelta(minutes=15)
        assert job.status == "awaiting_upload"
        self.uploads.put(tenant, job.import_id, data)
        self.service.start(tenant, job.import_id, options, now=NOW)
        return job.import_id


def test_a_job_runs_from_the_queue_and_reports_counts_and_bad_rows() -> None:
    parts = Parts()
    import_id = parts.uploaded("t1", b"contact_id,nps:number\nc1,9\nc2,x\nc3,\n", StartOptions(list="spring"))
    assert parts.queue.sent == [("t1", import_id)]
    assert parts.service.get("t1", import_id).status == "queued"
    done = parts.service.run("t1", import_id, clock=lambda: NOW)
    assert done is not None and done.status == "done"
    assert (done.rows_done, done.rows_total) == (2, 2)
    assert done.report is not None
    assert done.report["counts"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert done.report["bad_rows"] == [{"line": 3, "column": "nps", "message": '"x" is not a number'}]
    assert parts.store.profiles("t1", ["c1"])["c1"]["lists"] == ["spring"]
    again = parts.service.run("t1", import_id, clock=lambda: NOW)  # a second delivery: nothing redone
    assert again == done


def test_a_dry_run_job_writes_nothing() -> None:
    parts = Parts()
    import_id = parts.uploaded("t1", b"contact_id\nc1\n", StartOptions(dry_run=True))
    done = parts.service.run("t1", import_id, clock=lambda: NOW)
    assert done is not None and done.report is not None and done.report["counts"]["created"] == 1
    assert done.report["dry_run"] is True and parts.store.profiles("t1", ["c1"]) == {}


def test_progress_is_recorded_while_the_job_runs() -> None:
    parts = Parts()
    import_id = parts.uploaded("t1", b"contact_id\n" + b"".join(b"c%d\n" % i for i in range(2_500)))
    seen: list[tuple[str, int, int | None]] = []
    update = parts.jobs.update

    def spy(job, *, expected):  # type: ignore[no-untyped-def]
        seen.append((job.status, job.rows_done, job.rows_total))
        return update(job, expected=expected)

    parts.jobs.update = spy  # type: ignore[method-assign]
    parts.service.run("t1", import_id, clock=lambda: NOW)
    assert seen == [("running", 0, None), ("running", 0, 2_500), ("running", 1_000, 2_500),
                    ("running", 2_000, 2_500), ("done", 2_500, 2_500)]


def test_a_file_that_cannot_be_imported_fails_the_job_with_the_reason() -> None:
    parts = Parts()
    import_id = parts.uploaded("t1", b"email\na@b.co\n")
    failed = parts.service.run("t1", import_id, clock=lambda: NOW)
    assert failed is not None and failed.status == "failed"
    assert failed.error == 'line 1: the header has no "contact_id" column (every row names its contact)'
    parts.uploads.files.clear()
    parts.jobs.update(failed.moved("queued", NOW), expected=("failed",))
    gone = parts.service.run("t1", import_id, clock=lambda: NOW)
    assert gone is not None and gone.error is not None and "gone" in gone.error


def test_start_needs_the_upload_valid_options_and_happens_once() -> None:
    parts = Parts(CsvLimits(max_bytes=20))
    job, _, _ = parts.service.create("t1", now=NOW)
    with pytest.raises(ImportStateError, match="no file was uploaded"):
        parts.service.start("t1", job.import_id, StartOptions(), now=NOW)
    parts.uploads.put("t1", job.import_id, b"contact_id\nc1\n")
    with pytest.raises(ImportOptionsError, match="separator"):
        parts.service.start("t1", job.import_id, StartOptions(separator=","), now=NOW)
    with pytest.raises(ImportOptionsError, match='unknown type "color"'):
        parts.service.start("t1", job.import_id, StartOptions(types={"a": "color"}), now=NOW)
    parts.service.start("t1", job.import_id, StartOptions(), now=NOW)
    with pytest.raises(ImportStateError, match="already queued"):
        parts.service.start("t1", job.import_id, StartOptions(), now=NOW)
    big, _, _ = parts.service.create("t1", now=NOW)
    parts.uploads.put("t1", big.import_id, b"contact_id\n" + b"c1\n" * 10)
    with pytest.raises(ImportOptionsError, match="limit is 20"):
        parts.service.start("t1", big.import_id, StartOptions(), now=NOW)
    assert parts.queue.sent == [("t1", job.import_id)]


def test_another_tenants_import_is_not_found() -> None:
    parts = Parts()
    import_id = parts.uploaded("t1", b"contact_id\nc1\n")
    for call in (lambda: parts.service.get("t2", import_id),
                 lambda: parts.service.start("t2", import_id, StartOptions(), now=NOW),
                 lambda: parts.service.get("t1", "not-an-id")):
        with pytest.raises(ImportNotFound):
            call()
    assert parts.service.run("t2", import_id, clock=lambda: NOW) is None
    assert parts.service.get("t1", import_id).status == "queued"
