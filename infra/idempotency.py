"""Idempotent calls on Powertools' idempotency utility (DynamoDB persistence).

The record key hashes ``[tenant_id, key]`` of the request and the request's
``body`` is the validation payload, so a key replays only the request it was
first used for, and two tenants can never share a record. Powertools keeps
per-function state in its persistence layer, so each wrapped function gets a
layer of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from growthos_segments.core.ports import IdempotencyInProgress, IdempotencyKeyReused

__all__ = ["PowertoolsIdempotency"]


class PowertoolsIdempotency:
    """:class:`growthos_segments.core.ports.IdempotentCalls` on one DynamoDB table."""

    def __init__(self, table_name: str, client: Any, *, expires_after: int = 86_400) -> None:
        self._table_name = table_name
        self._client = client
        self.config = IdempotencyConfig(
            event_key_jmespath="[tenant_id, key]",
            payload_validation_jmespath="body",
            expires_after_seconds=expires_after,
            raise_on_no_idempotency_key=True,
        )

    def wrap(
        self, name: str, function: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        layer = DynamoDBPersistenceLayer(table_name=self._table_name, boto3_client=self._client)
        wrapped = idempotent_function(
            function, data_keyword_argument="request", persistence_store=layer,
            config=self.config, key_prefix=name,
        )

        def call(request: dict[str, Any]) -> dict[str, Any]:
            try:
                return dict(wrapped(request=request))
            except IdempotencyValidationError:
                raise IdempotencyKeyReused(name) from None
            except IdempotencyAlreadyInProgressError:
                raise IdempotencyInProgress(name) from None

        return call

    def register_lambda_context(self, context: Any) -> None:
        """Lets Powertools expire an in-progress record when the Lambda times out."""
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self.config.register_lambda_context(context)
