"""CSV imports on the deployed stack: an upload address, a queued job, its progress and report.

``POST /imports`` creates a job and a short-lived upload address for the file;
``POST /imports/{id}/start`` checks the file is there and queues the job with its
options; a queue-triggered function runs it (:meth:`ImportJobs.run`), so a
100,000-row file is not bounded by an API request's 29 seconds; ``GET
/imports/{id}`` reports status, rows done of the total, counts and the first
:data:`MAX_BAD_ROWS_KEPT` bad rows with their lines (and how many there were).
The rows are written by the ingestion service exactly as ``segments import``
writes them (:mod:`growthos_segments.services.csv_import`).

A queue may deliver a job twice, or again after a function died mid-file: a
job that is ``running`` is run again from the start, which is harmless because
an import is idempotent (rows already written answer ``unchanged``); a job that
is ``done`` or ``failed`` is left as it is.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from growthos_segments.core.ports_imports import (
    ImportJob,
    ImportJobStore,
    ImportQueue,
    ImportUploads,
    UploadTooLarge,
)
from growthos_segments.core.ports_ingest import IngestStore
from growthos_segments.services.csv_import import (
    DEFAULT_CSV_LIMITS,
    CsvImportError,
    CsvLimits,
    PreviewStore,
    check_options,
    import_rows,
    parse_csv,
)
from growthos_segments.services.ingest import IngestService

__all__ = [
    "MAX_BAD_ROWS_KEPT",
    "ImportJobs",
    "ImportNotFound",
    "ImportOptionsError",
    "ImportStateError",
    "StartOptions",
]

UPLOAD_EXPIRES = timedelta(minutes=15)
"""How long an upload address accepts the file."""
MAX_BAD_ROWS_KEPT = 100
"""Bad rows a job's report lists (with the total count): the job is one DynamoDB item."""
PROGRESS_EVERY = 1_000
"""Rows between two progress writes on the job: 100 writes for 100,000 rows."""
IMPORT_ID_RE = re.compile(r"[0-9a-f]{32}\Z")


class ImportNotFound(LookupError):
    """No such import in this tenant (another tenant's id included)."""


class ImportStateError(ValueError):
    """The job cannot do that now (started twice, or started before its file was uploaded)."""


class ImportOptionsError(ValueError):
    """An option of a start request is not usable, whatever the file."""


@dataclass(frozen=True, slots=True)
class StartOptions:
    dry_run: bool = False
    list: str | None = None
    separator: str = ";"
    types: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "list": self.list, "separator": self.separator,
                "types": dict(self.types)}


class ImportJobs:
    def __init__(
        self,
        jobs: ImportJobStore,
        uploads: ImportUploads,
        queue: ImportQueue,
        ingest: IngestStore,
        *,
        retention: timedelta,
        limits: CsvLimits = DEFAULT_CSV_LIMITS,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._jobs, self._uploads, self._queue, self._ingest = jobs, uploads, queue, ingest
        self._retention = retention
        self._limits = limits
        self._new_id = new_id

    def create(self, tenant_id: str, *, now: datetime) -> tuple[ImportJob, str, datetime]:
        """A new job awaiting its file, the address to PUT the file to, and until when it may."""
        job = ImportJob(tenant_id, self._new_id(), "awaiting_upload", now, now)
        self._jobs.create(job)
        url = self._uploads.upload_url(tenant_id, job.import_id, expires=UPLOAD_EXPIRES)
        return job, url, now + UPLOAD_EXPIRES

    def get(self, tenant_id: str, import_id: str) -> ImportJob:
        job = self._jobs.get(tenant_id, import_id) if IMPORT_ID_RE.match(import_id) else None
        if job is None:
            raise ImportNotFound(import_id)
        return job

    def start(self, tenant_id: str, import_id: str, options: StartOptions, *, now: datetime) -> ImportJob:
        job = self.get(tenant_id, import_id)
        try:
            check_options(separator=options.separator, types=options.types, list_name=options.list)
        except CsvImportError as exc:
            raise ImportOptionsError(str(exc)) from None
        if job.status != "awaiting_upload":
            raise ImportStateError(f"the import is already {job.status.replace('_', ' ')}")
        size = self._uploads.size(tenant_id, import_id)
        if size is None:
            raise ImportStateError("no file was uploaded for this import yet: PUT it to the upload_url first")
        if size > self._limits.max_bytes:
            raise ImportOptionsError(f"the file is {size:,} bytes; the limit is {self._limits.max_bytes:,}")
        queued = job.moved("queued", now, options=options.to_json())
        if not self._jobs.update(queued, expected=("awaiting_upload",)):
            raise ImportStateError("the import was started meanwhile")
        self._queue.send(tenant_id, import_id)
        return queued

    def run(self, tenant_id: str, import_id: str, *, clock: Callable[[], datetime]) -> ImportJob | None:
        """Run a queued job to its end (``None``: no such job; a finished one is returned as is)."""
        job = self._jobs.get(tenant_id, import_id)
        if job is None or job.status not in ("queued", "running"):
            return job
        job = job.moved("running", clock(), rows_done=0)
        if not self._jobs.update(job, expected=("queued", "running")):
            return self._jobs.get(tenant_id, import_id)
        options = StartOptions(**job.options)
        try:
            data = self._uploads.read(tenant_id, import_id, max_bytes=self._limits.max_bytes)
            parsed = parse_csv(data, separator=options.separator, types=options.types,
                               list_name=options.list, limits=self._limits)
        except UploadTooLarge:
            return self._fail(job, f"the file is larger than {self._limits.max_bytes:,} bytes", clock)
        except KeyError:
            return self._fail(job, "the uploaded file is gone (uploads expire); create a new import", clock)
        except CsvImportError as exc:
            return self._fail(job, str(exc), clock)
        total = len(parsed.rows)
        job = job.moved("running", clock(), rows_total=total)
        self._jobs.update(job, expected=("running",))
        store = PreviewStore(self._ingest) if options.dry_run else self._ingest
        written = [0]

        def progress(done: int, _total: int) -> None:
            if done - written[0] >= PROGRESS_EVERY and done < total:
                written[0] = done
                self._jobs.update(job.moved("running", clock(), rows_done=done), expected=("running",))

        report = import_rows(parsed, tenant_id, IngestService(store, retention=self._retention),
                             now=clock(), dry_run=options.dry_run, progress=progress)
        done = job.moved("done", clock(), rows_done=total, report=report.to_json(max_bad=MAX_BAD_ROWS_KEPT))
        self._jobs.update(done, expected=("running",))
        return done

    def _fail(self, job: ImportJob, error: str, clock: Callable[[], datetime]) -> ImportJob:
        failed = job.moved("failed", clock(), error=error)
        self._jobs.update(failed, expected=("running",))
        return failed
