"""Routes of exact answers from the analytical copy: a draft rule's count and members, and
the impact of editing a saved segment. Built per request from the API's service
(:func:`exact`): nothing here is heavy until a question is asked, and duckdb is
imported only then, so the API's other routes never load it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body

from growthos_segments.analytics.audience import CopyAudience
from growthos_segments.core.api_models import ErrorOut
from growthos_segments.core.api_models_exact import (
    CopyStatusOut,
    ImpactIn,
    ImpactOut,
    RuleCountIn,
    RuleCountOut,
)
from growthos_segments.handlers import api_wiring
from growthos_segments.handlers.api_http import app, current_tenant
from growthos_segments.handlers.api_openapi import responses
from growthos_segments.services.exact import ExactCounts

__all__ = ["exact", "local_copy_roots"]

_NO_COPY: dict[str, Any] = {
    "description": "the tenant has no analytical copy yet (POST /rules/estimate still answers), the rule "
    "has no exact SQL form and the tenant is too large to evaluate contact by contact in one request, or "
    "(impact) the segment is archived or static",
    "content": {"application/json": {"model": ErrorOut}},
}


def local_copy_roots(location: str | None) -> Callable[[str], Path | None]:
    """Where a tenant's copy is read from, for copies on local disk only: the
    ``ANALYTICS_COPY`` directory. An ``s3://`` location is not read from here (it must
    first be synced to /tmp), so such a deployment answers 409 "no analytical copy"."""
    local = None if not location or location.startswith("s3://") else Path(location)
    return lambda tenant_id: local


def exact() -> ExactCounts:
    built = api_wiring.service()
    roots = local_copy_roots(built.repos.settings.analytics_copy)
    return ExactCounts(audience=built.audience, copy=CopyAudience(built.audience.host, roots),
                       clock=built.audience.clock)


@app.get("/rules/count", summary="Whether exact counts are available (the tenant has an analytical copy)",
         responses=responses())
def count_status() -> CopyStatusOut:
    return exact().status(current_tenant())


@app.post("/rules/count", summary="Exact count (and members) of an unsaved rule over the analytical copy",
          responses={**responses(), 409: _NO_COPY})
def count_rule(body: Annotated[RuleCountIn, Body()]) -> RuleCountOut:
    return exact().count(current_tenant(), body)


@app.post("/segments/<segment_id>/impact",
          summary="How many contacts would enter and exit a saved segment under an edited rule",
          responses={**responses(), 409: _NO_COPY})
def impact(segment_id: str, body: Annotated[ImpactIn, Body()]) -> ImpactOut:
    return exact().impact(current_tenant(), segment_id, body)
