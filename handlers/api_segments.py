"""Routes of segment definitions: create, list, get, replace, archive."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

from growthos_segments.core.api_models import (
    MAX_VERSION,
    SegmentCreate,
    SegmentListOut,
    SegmentOut,
    SegmentTypeName,
    SegmentUpdate,
)
from growthos_segments.handlers import api_wiring
from growthos_segments.handlers.api_callers import current_caller
from growthos_segments.handlers.api_http import app, model_response
from growthos_segments.handlers.api_openapi import responses

__all__ = ["IdempotencyKey"]

Confirm = Annotated[bool, Query(description="true: change or archive the segment although modules target "
                                "it (they are told on the bus); without it a segment in use is a 409")]

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=255,
           description="replays the first response to a retried create for 24 h"),
]


@app.post("/segments", summary="Create a segment (starts its backfill)", responses=responses(201, "Created"))
def create_segment(
    body: Annotated[SegmentCreate, Body()], idempotency_key: IdempotencyKey = None
) -> Response[SegmentOut]:
    caller = current_caller()
    if idempotency_key:
        return model_response(201, api_wiring.creates().create_segment(caller, idempotency_key, body))
    return model_response(201, api_wiring.service().audience.create_segment(caller, body))


@app.get("/segments", summary="List segments (embedded ones only with type=embedded)", responses=responses())
def list_segments(
    include_archived: Annotated[bool, Query()] = False,
    type: Annotated[SegmentTypeName | None, Query()] = None,
) -> SegmentListOut:
    return api_wiring.service().audience.list_segments(current_caller(), include_archived=include_archived,
                                                       segment_type=type)


@app.get("/segments/<segment_id>", summary="Get a segment", responses=responses())
def get_segment(segment_id: str) -> SegmentOut:
    return api_wiring.service().audience.get_segment(current_caller(), segment_id)


@app.put("/segments/<segment_id>", summary="Replace a segment's definition (new version, backfill)",
         responses=responses())
def update_segment(
    segment_id: str, body: Annotated[SegmentUpdate, Body()], confirm: Confirm = False
) -> SegmentOut:
    audience = api_wiring.service().audience
    return audience.update_segment(current_caller(), segment_id, body, confirm=confirm)


@app.delete("/segments/<segment_id>", summary="Archive a segment", responses=responses())
def archive_segment(
    segment_id: str, version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    confirm: Confirm = False,
) -> SegmentOut:
    audience = api_wiring.service().audience
    return audience.archive_segment(current_caller(), segment_id, version, confirm=confirm)

