"""Route of a segment's size history: its count per hour or per day, oldest first."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BeforeValidator

from growthos_segments.core.api_models import HistoryOut
from growthos_segments.core.ports import Resolution
from growthos_segments.handlers import api_wiring
from growthos_segments.handlers.api_http import app, current_tenant
from growthos_segments.handlers.api_openapi import responses

RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                     r"([Zz]|[+-][0-9]{2}:[0-9]{2})")


def rfc3339(value: Any) -> Any:
    """pydantic would also read a number as epoch seconds and a bare date as midnight;
    the document promises an RFC 3339 date-time, so only that is accepted."""
    if not isinstance(value, str) or RFC3339.fullmatch(value) is None:
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-01T00:00:00Z")
    return value


@app.get("/segments/<segment_id>/history", summary="A segment's size per hour or per day, oldest first",
         responses=responses())
def segment_history(
    segment_id: str,
    resolution: Annotated[Literal["hour", "day"], Query(description="hours kept 30 days, days 400")] = "hour",
    since: Annotated[datetime | None, BeforeValidator(rfc3339), Query(
        description="first bucket to return (default: 30 days of hours or 400 days of days back)")] = None,
) -> HistoryOut:
    return api_wiring.service().audience.history(current_tenant(), segment_id, Resolution(resolution), since)
