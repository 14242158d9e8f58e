"""The dead-letter queue of bus ingestion on SQS (:class:`~growthos_segments.core.ports_bus.DeadLetters`).

Each refused message is sent as it was delivered, its reason in a ``reason``
message attribute, so an operator reads why beside the body and can send the
fixed body back to the bus. Messages are sent one by one: they are rare, and a
batch of ten bodies near EventBridge's 256 KB each would exceed SQS's limit
for one batch request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from growthos_segments.core.ports_bus import RejectedMessage

__all__ = ["REASON_ATTRIBUTE", "SqsDeadLetters"]

log = logging.getLogger("growthos_segments.infra.dead_letters")

REASON_ATTRIBUTE = "reason"
_MAX_REASON = 1_000
"""Characters of a reason kept (a reason is one line; the body is what matters)."""


class SqsDeadLetters:
    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def send(self, messages: Sequence[RejectedMessage]) -> list[str]:
        unsent = []
        for message in messages:
            reason = {"DataType": "String", "StringValue": message.reason[:_MAX_REASON] or "refused"}
            try:
                self._sqs.send_message(QueueUrl=self._url, MessageBody=message.body or "(empty)",
                                       MessageAttributes={REASON_ATTRIBUTE: reason})
            except (ClientError, BotoCoreError) as error:
                log.error("could not dead-letter bus message %s: %s", message.message_id, error)
                unsent.append(message.message_id)
        return unsent
