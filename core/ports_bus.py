"""Where a bus message the engine cannot ingest goes: the dead-letter port of bus ingestion.

A message another module put on the platform bus that can never be ingested
(not JSON, an unknown kind, no tenant, an item the ingestion contract refuses)
would fail the same way on every delivery. Retrying it until the queue's
``maxReceiveCount`` only delays it and holds up its batch, so the bus ingester
hands it to the dead-letter queue at once, with the reason, where an operator
finds it beside the messages that did exhaust their retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["DeadLetters", "RejectedMessage"]


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    message_id: str
    """The queue message's id (what a partial batch response names)."""
    body: str
    """The message body as delivered, unchanged, so it can be fixed and sent again."""
    reason: str
    """One line: what is wrong and where (a JSON pointer into the EventBridge envelope)."""


class DeadLetters(Protocol):
    """The queue of messages given up on."""

    def send(self, messages: Sequence[RejectedMessage]) -> list[str]:
        """Send each message with its reason; returns the ids of those that could not be sent
        (the caller then leaves them on their queue, whose redrive delivers them later)."""
        ...
