"""CSV import jobs' composition root: the job store, the uploads bucket and the job queue.

The API function (create, start, report) and the import function (run) build
the same :class:`~growthos_segments.services.csv_import_jobs.ImportJobs`; the
bucket and queue are the settings' (``IMPORTS_BUCKET`` and ``IMPORT_QUEUE_URL``,
which only those two functions are given).
"""

from __future__ import annotations

from growthos_segments.infra import aws
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.imports import DynamoImportJobs, S3Uploads, SqsImportQueue
from growthos_segments.infra.repos.ingest import DynamoIngest
from growthos_segments.services.csv_import_jobs import ImportJobs

__all__ = ["build_import_jobs"]


def build_import_jobs(repos: Repositories) -> ImportJobs:
    settings = repos.settings
    bucket, queue = settings.require_imports()
    s3 = aws.client("s3", settings)
    return ImportJobs(
        DynamoImportJobs(repos.client, settings.tables.counters), S3Uploads(s3, bucket),
        SqsImportQueue(aws.client("sqs", settings), queue), DynamoIngest(repos.contacts, repos.events),
        retention=settings.event_retention,
    )
