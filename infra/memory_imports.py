"""In-memory CSV import ports (jobs, uploads, queue) for the services' unit tests."""

from __future__ import annotations

import threading
from datetime import timedelta

from growthos_segments.core.ports_imports import ImportJob, JobStatus, UploadTooLarge
from growthos_segments.infra import keys

__all__ = ["MemoryImportJobs", "MemoryImportQueue", "MemoryUploads"]


class MemoryImportJobs:
    def __init__(self) -> None:
        self._jobs: dict[tuple[str, str], ImportJob] = {}
        self._lock = threading.Lock()

    def create(self, job: ImportJob) -> None:
        with self._lock:
            self._jobs[keys.check_tenant_id(job.tenant_id), job.import_id] = job

    def get(self, tenant_id: str, import_id: str) -> ImportJob | None:
        return self._jobs.get((tenant_id, import_id))

    def update(self, job: ImportJob, *, expected: tuple[JobStatus, ...]) -> bool:
        with self._lock:
            current = self._jobs.get((job.tenant_id, job.import_id))
            if current is None or current.status not in expected:
                return False
            self._jobs[job.tenant_id, job.import_id] = job
            return True


class MemoryUploads:
    """Files by tenant and import id; ``put`` is what a client's PUT to the upload address does."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], bytes] = {}

    def upload_url(self, tenant_id: str, import_id: str, *, expires: timedelta) -> str:
        return f"memory://{keys.check_tenant_id(tenant_id)}/{import_id}.csv?expires={int(expires.total_seconds())}"

    def put(self, tenant_id: str, import_id: str, data: bytes) -> None:
        self.files[tenant_id, import_id] = data

    def size(self, tenant_id: str, import_id: str) -> int | None:
        data = self.files.get((tenant_id, import_id))
        return None if data is None else len(data)

    def read(self, tenant_id: str, import_id: str, *, max_bytes: int) -> bytes:
        data = self.files[tenant_id, import_id]
        if len(data) > max_bytes:
            raise UploadTooLarge(f"{len(data):,} bytes")
        return data


class MemoryImportQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, tenant_id: str, import_id: str) -> None:
        self.sent.append((tenant_id, import_id))
