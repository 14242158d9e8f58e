"""The import function: runs the CSV import jobs ``POST /imports/{id}/start`` queued.

One job per message. A job the function could not finish (a time-out, a
throttled write) is a batch item failure: SQS delivers it again and the job
reruns from its first row, which is harmless because an import is idempotent;
after ``maxReceiveCount`` deliveries it goes to the dead-letter queue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache, partial
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from growthos_segments.handlers.imports_wiring import build_import_jobs
from growthos_segments.infra.repos import build_repositories
from growthos_segments.infra.repos.imports import job_message
from growthos_segments.infra.settings import current_settings
from growthos_segments.services.csv_import_jobs import ImportJobs

__all__ = ["handler"]

logger = Logger(service="growthos-segments-import")
processor = BatchProcessor(event_type=EventType.SQS)


@cache
def jobs() -> ImportJobs:
    return build_import_jobs(build_repositories(current_settings()))


def run(record: SQSRecord) -> None:
    tenant_id, import_id = job_message(record.body)
    job = jobs().run(tenant_id, import_id, clock=partial(datetime.now, UTC))
    logger.info("import job", extra={"tenant_id": tenant_id, "import_id": import_id,
                                     "status": job.status if job else "unknown"})


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event, run, processor, context)
