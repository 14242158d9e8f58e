"""SQS triggers (``Type: SQS``) and scheduled ones (``Type: Schedule``), played locally.

SQS, as Lambda's poller does it: gather up to ``BatchSize`` messages (ten a
receive) within ``MaximumBatchingWindowInSeconds`` of the first, invoke with
SQS-shaped records, delete what succeeded. A function error leaves every
message in the queue, so it comes back after the visibility timeout and the
queue's own redrive policy (moto implements ``maxReceiveCount``) moves it to
the dead-letter queue; with ``ReportBatchItemFailures`` only the reported
messages stay. Locally one batch runs at a time (``MaximumConcurrency`` is not
reproduced).

Schedules: ``rate(...)`` expressions run on that period with an EventBridge
``Scheduled Event``, as an asynchronous invocation (an error is logged; the
next period runs regardless). ``cron(...)`` is not run locally and says so.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from growthos_segments.core.timeutil import to_iso
from growthos_segments.devstack.functions import QueueSource, ScheduleSource
from growthos_segments.devstack.runtime import ACCOUNT_ID, Invoke

__all__ = ["QueuePoller", "ScheduleRunner", "scheduled_event", "sqs_record"]

log = logging.getLogger("growthos_segments.devstack")


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A ReceiveMessage message as Lambda's SQS event record."""
    attributes = dict(message.get("Attributes") or {})
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    body = message.get("Body", "")
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class QueuePoller:
    """One ``Type: SQS`` event source: poll, invoke, delete the successes."""

    def __init__(
        self,
        source: QueueSource,
        sqs_client: Any,
        queue_url: str,
        queue_arn: str,
        invoke: Invoke,
        stop: threading.Event,
        region: str,
    ) -> None:
        self.source = source
        self._sqs = sqs_client
        self._url = queue_url
        self._arn = queue_arn
        self._invoke = invoke
        self._stop = stop
        self._region = region
        self.thread = threading.Thread(
            target=self._run, name=f"sqs:{source.function}:{source.name}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except (ClientError, BotoCoreError, OSError) as error:
                if self._stop.is_set():
                    return
                log.warning("%s: polling %s failed (%s); retrying", self.source.function, self._url, error)
                self._stop.wait(1.0)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch and deliver it; returns how many messages were received."""
        response = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=max(1, min(10, self.source.batch_size)),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        messages += self._gather(self.source.batch_size - len(messages))
        records = [sqs_record(m, self._arn, self._region) for m in messages]
        result = self._invoke({"Records": records})
        if not result.ok:
            log.warning(
                "%s: %d message(s) failed (%s); they return after the visibility timeout",
                self.source.function,
                len(records),
                result.error,
            )
            return len(messages)
        failed = self._reported_failures(result.payload, records)
        done = [m for m in messages if m["MessageId"] not in failed]
        if failed:
            log.warning("%s: %d message(s) reported as failed", self.source.function, len(failed))
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start : start + 10])
            ]
            self._sqs.delete_message_batch(QueueUrl=self._url, Entries=entries)
        return len(messages)

    def _gather(self, wanted: int) -> list[dict[str, Any]]:
        """More messages for a batch, as Lambda's poller gathers them: until ``BatchSize``
        or ``MaximumBatchingWindowInSeconds`` after the first (a receive gives at most 10)."""
        more: list[dict[str, Any]] = []
        until = time.monotonic() + self.source.batching_window
        while len(more) < wanted and time.monotonic() < until and not self._stop.is_set():
            got = self._sqs.receive_message(
                QueueUrl=self._url, MaxNumberOfMessages=min(10, wanted - len(more)), WaitTimeSeconds=0,
                AttributeNames=["All"], MessageAttributeNames=["All"],
            ).get("Messages", [])
            more += got
            if not got:
                self._stop.wait(0.05)
        return more

    def _reported_failures(self, payload: Any, records: list[dict[str, Any]]) -> set[str]:
        if not self.source.report_item_failures or not isinstance(payload, Mapping):
            return set()
        ids = {r["messageId"] for r in records}
        failures = payload.get("batchItemFailures") or []
        reported = {f.get("itemIdentifier") for f in failures if isinstance(f, Mapping)}
        if not isinstance(failures, list) or not reported <= ids:
            return ids  # a malformed response fails the whole batch, as on AWS
        return {str(r) for r in reported}


def scheduled_event(source: ScheduleSource, region: str, now: datetime | None = None) -> dict[str, Any]:
    """The event EventBridge sends a function on a schedule."""
    moment = to_iso(now or datetime.now(UTC), "seconds")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": moment,
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{source.function}-{source.name}"],
        "detail": {},
    }


class ScheduleRunner:
    """Runs one ``rate(...)`` schedule until stopped (first run one period after start)."""

    def __init__(
        self,
        source: ScheduleSource,
        invoke: Invoke,
        stop: threading.Event,
        region: str,
        *,
        period: float | None = None,
    ) -> None:
        self.source = source
        self._invoke = invoke
        self._stop = stop
        self._region = region
        self.period = period if period is not None else source.rate_seconds()
        self.runs = 0
        self.thread = threading.Thread(target=self._run, name=f"schedule:{source.function}", daemon=True)

    def start(self) -> None:
        if self.period is None:
            log.warning(
                "%s: schedule %s is not run locally (only rate(...) is)",
                self.source.function,
                self.source.expression,
            )
            return
        self.thread.start()

    def _run(self) -> None:
        assert self.period is not None
        next_run = time.monotonic() + self.period
        while not self._stop.wait(max(0.0, next_run - time.monotonic())):
            next_run += self.period
            result = self._invoke(scheduled_event(self.source, self._region))
            self.runs += 1
            if not result.ok:
                log.warning("%s: scheduled run failed: %s", self.source.function, result.error)
