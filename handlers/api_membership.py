"""Routes of membership: members, count, is-a-member, a contact's segments, explain."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from growthos_segments.core.api_models import (
    ContactSegmentsOut,
    CountOut,
    ExplainOut,
    MembershipOut,
    MembersOut,
)
from growthos_segments.handlers import api_wiring
from growthos_segments.handlers.api_callers import current_caller
from growthos_segments.handlers.api_http import app, current_tenant
from growthos_segments.handlers.api_openapi import responses


@app.get("/segments/<segment_id>/members", summary="Current members, paged", responses=responses())
def members(
    segment_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> MembersOut:
    return api_wiring.service().audience.members(current_tenant(), segment_id, limit=limit, cursor=cursor)


@app.get("/segments/<segment_id>/count", summary="Live member count", responses=responses())
def count(segment_id: str) -> CountOut:
    return api_wiring.service().audience.count(current_tenant(), segment_id)


@app.get("/segments/<segment_id>/members/<contact_id>", summary="Is this contact a member, since when",
         responses=responses())
def membership(segment_id: str, contact_id: str) -> MembershipOut:
    return api_wiring.service().audience.membership(current_tenant(), segment_id, contact_id)


@app.get("/contacts/<contact_id>/segments", summary="Every segment a contact is in", responses=responses())
def contact_segments(contact_id: str) -> ContactSegmentsOut:
    return api_wiring.service().audience.contact_segments(current_caller(), contact_id)


@app.post("/segments/<segment_id>/explain/<contact_id>",
          summary="Evaluate now and explain why the contact is or is not a member", responses=responses())
def explain(segment_id: str, contact_id: str) -> ExplainOut:
    return api_wiring.service().audience.explain(current_tenant(), segment_id, contact_id)
