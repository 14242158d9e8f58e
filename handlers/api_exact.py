"""Routes of exact answers from the analytical copy: a draft rule's count and members, and
the impact of editing a saved segment. The service is built on the API's own (once per
container, :func:`exact`) and reads the copy where every reader of ``ANALYTICS_COPY``
does (:func:`growthos_segments.handlers.copy_wiring.copy_roots`: a local folder, or the
tenant's S3 prefix synchronised to /tmp); duckdb is imported only when a question is
asked, so the API's other routes never load it."""

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
from growthos_segments.handlers.api_callers import current_caller
from growthos_segments.handlers.api_http import app, current_tenant
from growthos_segments.handlers.api_openapi import responses
from growthos_segments.handlers.copy_wiring import copy_roots
from growthos_segments.services.exact import ExactCounts

__all__ = ["exact"]

_NO_COPY: dict[str, Any] = {
    "description": "the tenant has no analytical copy yet (POST /rules/estimate still answers), the rule "
    "has no exact SQL form and the tenant is too large to evaluate contact by contact in one request, or "
    "(impact) the segment is archived or static",
    "content": {"application/json": {"model": ErrorOut}},
}


_BUILT: dict[int, tuple[api_wiring.Service, ExactCounts]] = {}
"""The exact service of each API service (keyed by identity, the service kept alive beside it)."""


def _no_copy(tenant_id: str) -> Path | None:
    return None


def exact() -> ExactCounts:
    built = api_wiring.service()
    kept = _BUILT.get(id(built))
    if kept is None or kept[0] is not built:
        roots: Callable[[str], Path | None] = copy_roots(built.repos.settings) or _no_copy
        service = ExactCounts(audience=built.audience, copy=CopyAudience(built.audience.host, roots),
                              clock=built.audience.clock)
        kept = _BUILT[id(built)] = (built, service)
    return kept[1]


@app.get("/rules/count", summary="Whether exact counts are available (the tenant has an analytical copy)",
         responses=responses())
def count_status() -> CopyStatusOut:
    return exact().status(current_tenant())


@app.post("/rules/count", summary="Exact count (and members) of an unsaved rule over the analytical copy",
          responses={**responses(), 409: _NO_COPY})
def count_rule(body: Annotated[RuleCountIn, Body()]) -> RuleCountOut:
    return exact().count(current_caller(), body)


@app.post("/segments/<segment_id>/impact",
          summary="How many contacts would enter and exit a saved segment under an edited rule",
          responses={**responses(), 409: _NO_COPY})
def impact(segment_id: str, body: Annotated[ImpactIn, Body()]) -> ImpactOut:
    return exact().impact(current_caller(), segment_id, body)
