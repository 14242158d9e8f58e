"""Routes of CSV imports on the deployed stack: create (an upload address), start, report.

The job runs in the import function, from a queue (an API request has 29 seconds);
see :mod:`growthos_segments.services.csv_import_jobs`. Another tenant's import id
is the unknown 404, like any id of another tenant.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from growthos_segments.core.api_models_imports import ImportCreatedOut, ImportOut, ImportStartIn
from growthos_segments.core.ports_imports import ImportJob
from growthos_segments.core.timeutil import to_iso
from growthos_segments.handlers import api_wiring
from growthos_segments.handlers.api_http import app, current_tenant, model_response
from growthos_segments.handlers.api_openapi import responses
from growthos_segments.handlers.imports_wiring import build_import_jobs
from growthos_segments.infra.repos import Repositories
from growthos_segments.services.audience import Conflict, NotFound, Unprocessable, located
from growthos_segments.services.csv_import_jobs import (
    ImportJobs,
    ImportNotFound,
    ImportOptionsError,
    ImportStateError,
    StartOptions,
)

_built: list[tuple[Repositories, ImportJobs]] = []


def jobs() -> ImportJobs:
    """The import jobs over the API's current repositories (one per container)."""
    repos = api_wiring.service().repos
    if not _built or _built[0][0] is not repos:
        _built[:] = [(repos, build_import_jobs(repos))]
    return _built[0][1]


def _out(job: ImportJob) -> dict[str, Any]:
    return {"import_id": job.import_id, "status": job.status, "created_at": to_iso(job.created_at),
            "updated_at": to_iso(job.updated_at), "options": dict(job.options), "rows_done": job.rows_done,
            "rows_total": job.rows_total, "report": job.report, "error": job.error}


@app.post("/imports", summary="Create a CSV import: an address to PUT the file to, then start it",
          responses=responses(201, "Created"))
def create_import() -> Response[ImportCreatedOut]:
    job, url, expires = jobs().create(current_tenant(), now=api_wiring.service().audience.clock())
    return model_response(201, ImportCreatedOut(import_id=job.import_id, upload_url=url,
                                                expires_at=to_iso(expires), status="awaiting_upload"))


@app.post("/imports/<import_id>/start", summary="Start an uploaded CSV import (runs in the background)",
          responses=responses(202, "Accepted"))
def start_import(import_id: str, body: ImportStartIn) -> Response[ImportOut]:
    options = StartOptions(body.dry_run, body.list, body.separator, dict(body.types))
    try:
        job = jobs().start(current_tenant(), import_id, options, now=api_wiring.service().audience.clock())
    except ImportNotFound:
        raise NotFound("import not found", [located("path", "/import_id", "no such import in this tenant")]) \
            from None
    except ImportStateError as error:
        raise Conflict(str(error), [located("path", "/import_id", str(error))]) from None
    except ImportOptionsError as error:
        raise Unprocessable(str(error), [located("body", "", str(error))]) from None
    return model_response(202, ImportOut.model_validate(_out(job)))


@app.get("/imports/<import_id>", summary="A CSV import's status, progress, counts and bad rows",
         responses=responses())
def get_import(import_id: str) -> ImportOut:
    try:
        job = jobs().get(current_tenant(), import_id)
    except ImportNotFound:
        raise NotFound("import not found", [located("path", "/import_id", "no such import in this tenant")]) \
            from None
    return ImportOut.model_validate(_out(job))
