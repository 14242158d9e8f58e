"""Helpers shared by the repositories: cursors, and the kernel's one definition of
timestamps (:func:`iso`, :func:`parse_iso`) and plain JSON values (:func:`plain`)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from growthos_segments.core.ports import CursorError
from growthos_segments.core.timeutil import parse_iso
from growthos_segments.core.timeutil import to_iso as iso
from growthos_segments.core.values import plain

__all__ = [
    "BATCH_KEYS", "batch_get", "decode_cursor", "encode_cursor", "iso", "item_values", "parse_iso", "plain",
    "utcnow",
]

_DESERIALIZER = TypeDeserializer()

BATCH_KEYS = 100
"""The most keys one BatchGetItem may ask for."""


def batch_get(client: Any, table: str, wanted: Sequence[Mapping[str, Any]], **options: Any) -> Iterator[Any]:
    """The items of ``table`` at ``wanted`` keys (raw DynamoDB JSON, in no order):
    ``ceil(len(wanted) / 100)`` BatchGetItem requests, plus one per retry of the keys
    DynamoDB left unprocessed. ``options`` go beside ``Keys`` (projection, consistency)."""
    for start in range(0, len(wanted), BATCH_KEYS):
        request: dict[str, Any] = {table: {"Keys": list(wanted[start:start + BATCH_KEYS]), **options}}
        while request:
            response = client.batch_get_item(RequestItems=request)
            yield from response.get("Responses", {}).get(table, [])
            request = response.get("UnprocessedKeys") or {}


def item_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """An item as a low-level client or a stream returns it (DynamoDB JSON) as Python
    values (numbers stay ``Decimal``; :func:`plain` makes them JSON numbers)."""
    return {name: _DESERIALIZER.deserialize(value) for name, value in raw.items()}


def utcnow() -> datetime:
    return datetime.now(UTC)


def encode_cursor(last_evaluated_key: Mapping[str, Any] | None) -> str | None:
    """Opaque, URL-safe cursor from a DynamoDB ``LastEvaluatedKey``."""
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str | None,
    *,
    equal: Mapping[str, str],
    prefixed: Mapping[str, str] | None = None,
    allowed: frozenset[str] = frozenset(),
) -> dict[str, Any] | None:
    """Parse a cursor and prove it belongs to this query before DynamoDB sees it.

    ``equal`` key attributes must hold exactly these values (the query's
    partition key), ``prefixed`` ones must start with the tenant's prefix, and
    no attribute outside ``equal | prefixed | allowed`` may appear. A cursor
    from another tenant (or a forged one) is a :class:`CursorError`, so paging
    can never be steered into someone else's partition.
    """
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise CursorError("malformed cursor") from exc
    prefixed = prefixed or {}
    if not isinstance(key, dict) or not key:
        raise CursorError("malformed cursor")
    for name, value in key.items():
        if not (isinstance(value, dict) and len(value) == 1 and isinstance(value.get("S"), str)):
            raise CursorError("malformed cursor")
        text = value["S"]
        if name in equal:
            if text != equal[name]:
                raise CursorError("cursor belongs to another query")
        elif name in prefixed:
            if not text.startswith(prefixed[name]):
                raise CursorError("cursor belongs to another tenant")
        elif name not in allowed:
            raise CursorError("malformed cursor")
    if any(name not in key for name in equal):
        raise CursorError("malformed cursor")
    return key
