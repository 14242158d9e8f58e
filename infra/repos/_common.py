"""Helpers shared by the repositories: cursors, timestamps, plain JSON values."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from growthos_segments.core.ports import CursorError

__all__ = ["decode_cursor", "encode_cursor", "iso", "parse_iso", "plain", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``2026-11-20T09:14:00Z`` (microseconds only when present), always UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def plain(value: Any) -> Any:
    """Deep copy into JSON types: Decimal -> int/float, sets -> sorted lists, maps -> dicts."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "as_dict"):  # a pynamodb MapAttribute instance
        return plain(value.as_dict())
    return value


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
