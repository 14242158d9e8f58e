"""Backfill jobs on SQS (the template's ``BackfillQueue``), one JSON message per job.

The message body is ``{"tenant_id", "segment_id", "version"}`` plus ``shard``
and ``cursor`` for a slice; :func:`job_from_json` checks every field before a
worker acts on it, because a malformed message can never succeed on a retry.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from growthos_segments.core.ports import BackfillJob
from growthos_segments.infra import keys

__all__ = ["JobError", "SqsBackfillQueue", "job_from_json", "job_to_json"]

SQS_BATCH = 10
MAX_DELAY_SECONDS = 900


class JobError(ValueError):
    """A backfill message is malformed (never retried into success: it is reported and dropped)."""


def job_to_json(job: BackfillJob) -> str:
    body: dict[str, Any] = {"tenant_id": job.tenant_id, "segment_id": job.segment_id, "version": job.version}
    if job.shard is not None:
        body["shard"] = job.shard
    if job.cursor is not None:
        body["cursor"] = job.cursor
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def job_from_json(text: str) -> BackfillJob:
    try:
        body = json.loads(text)
    except (TypeError, ValueError) as error:
        raise JobError(f"backfill message is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise JobError("backfill message must be a JSON object")
    try:
        tenant_id = keys.check_tenant_id(body.get("tenant_id"))
        segment_id = keys.check_segment_id(body.get("segment_id"))
    except keys.InvalidKeyError as error:
        raise JobError(str(error)) from None
    version, shard, cursor = body.get("version"), body.get("shard"), body.get("cursor")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise JobError(f"invalid segment version: {version!r}")
    if shard is not None and (
        not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < keys.CONTACT_SHARDS
    ):
        raise JobError(f"invalid shard: {shard!r}")
    if cursor is not None and not isinstance(cursor, str):
        raise JobError("cursor must be a string")
    return BackfillJob(tenant_id, segment_id, version, shard, cursor)


class SqsBackfillQueue:
    """:class:`growthos_segments.core.ports.BackfillQueue` on SQS."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def send(self, jobs: Sequence[BackfillJob], *, delay_seconds: int = 0) -> None:
        delay = max(0, min(MAX_DELAY_SECONDS, int(delay_seconds)))
        for start in range(0, len(jobs), SQS_BATCH):
            chunk = jobs[start:start + SQS_BATCH]
            entries = [
                {"Id": str(i), "MessageBody": job_to_json(job), "DelaySeconds": delay}
                for i, job in enumerate(chunk)
            ]
            response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            failed = response.get("Failed") or []
            if failed:
                reason = failed[0].get("Message")
                raise RuntimeError(f"could not queue {len(failed)} backfill job(s): {reason}")
