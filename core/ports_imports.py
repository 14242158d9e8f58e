"""CSV import jobs' records and ports: an uploaded file, a queued job, its progress and report.

A deployed import cannot run inside an API request (API Gateway gives a request
29 seconds), so it is a job: created with an upload address, started once the
file is uploaded, run by a queue-triggered function that records its progress
and report on the job (:mod:`growthos_segments.services.csv_import_jobs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

__all__ = ["ImportJob", "ImportJobStore", "ImportQueue", "ImportUploads", "JobStatus", "UploadTooLarge"]

JobStatus = Literal["awaiting_upload", "queued", "running", "done", "failed"]


@dataclass(frozen=True, slots=True)
class ImportJob:
    tenant_id: str
    import_id: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    options: Mapping[str, Any] = field(default_factory=dict)
    """``dry_run``, ``list``, ``separator``, ``types`` as the start request gave them."""
    rows_done: int = 0
    rows_total: int | None = None
    report: Mapping[str, Any] | None = None
    """The import's report (:meth:`~growthos_segments.services.csv_import.ImportReport.to_json`)."""
    error: str | None = None
    """Why a failed job failed (the file as a whole could not be imported)."""

    def moved(self, status: JobStatus, now: datetime, **changes: Any) -> ImportJob:
        return replace(self, status=status, updated_at=now, **changes)


class UploadTooLarge(Exception):
    """The uploaded file is larger than the import reads."""


class ImportJobStore(Protocol):
    def create(self, job: ImportJob) -> None: ...

    def get(self, tenant_id: str, import_id: str) -> ImportJob | None: ...

    def update(self, job: ImportJob, *, expected: tuple[JobStatus, ...]) -> bool:
        """Replace the stored job if its status is one of ``expected`` (``False``: it was not)."""
        ...


class ImportUploads(Protocol):
    """Where a tenant's uploaded files wait for their job (an S3 bucket, keys by tenant)."""

    def upload_url(self, tenant_id: str, import_id: str, *, expires: timedelta) -> str: ...

    def size(self, tenant_id: str, import_id: str) -> int | None:
        """The uploaded file's size in bytes, ``None`` when nothing was uploaded."""
        ...

    def read(self, tenant_id: str, import_id: str, *, max_bytes: int) -> bytes:
        """The file (raises :class:`UploadTooLarge` beyond ``max_bytes``, ``KeyError`` if absent)."""
        ...


class ImportQueue(Protocol):
    def send(self, tenant_id: str, import_id: str) -> None: ...
