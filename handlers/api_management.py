"""Routes of segment management: the modules that target a segment (its users), and a
segment's duplicate."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from growthos_segments.core.api_models import SegmentDuplicate, SegmentOut, UsageOut, UsagesOut, UserId
from growthos_segments.handlers import api_wiring
from growthos_segments.handlers.api_callers import current_caller
from growthos_segments.handlers.api_http import app, model_response
from growthos_segments.handlers.api_openapi import responses

User = Annotated[UserId, Path()]


@app.get("/segments/<segment_id>/users", summary="The modules registered as targeting a segment",
         responses=responses())
def segment_users(segment_id: str) -> UsagesOut:
    return api_wiring.service().audience.segment_users(current_caller(), segment_id)


@app.put("/segments/<segment_id>/users/<user>", responses=responses(),
         summary="Register that a module targets the segment (changing or archiving it then needs confirm)")
def register_usage(segment_id: str, user: User) -> UsageOut:
    return api_wiring.service().audience.register_usage(current_caller(), segment_id, user)


@app.delete("/segments/<segment_id>/users/<user>", responses=responses(),
            summary="Remove a module's registration (answers the users that remain)")
def remove_usage(segment_id: str, user: User) -> UsagesOut:
    return api_wiring.service().audience.remove_usage(current_caller(), segment_id, user)


@app.post("/segments/<segment_id>/duplicate", responses=responses(201, "Created"),
          summary="Copy a segment deeply into a new one (starts its backfill)")
def duplicate_segment(
    segment_id: str, body: Annotated[SegmentDuplicate | None, Body()] = None
) -> Response[SegmentOut]:
    copy = api_wiring.service().audience.duplicate_segment(current_caller(), segment_id,
                                                           body or SegmentDuplicate())
    return model_response(201, copy)
