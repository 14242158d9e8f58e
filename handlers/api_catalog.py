"""Routes of the rule builder: health, the condition-type catalog, templates, validate, estimate."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body

from growthos_segments.core.api_models import (
    ConditionTypesOut,
    EstimateIn,
    EstimateOut,
    TemplatesOut,
    ValidateIn,
    ValidateOut,
)
from growthos_segments.handlers import api_wiring
from growthos_segments.handlers.api_callers import current_caller
from growthos_segments.handlers.api_fields import advisory_fields
from growthos_segments.handlers.api_http import app, current_tenant, model_response
from growthos_segments.handlers.api_openapi import openapi_document, responses
from growthos_segments.handlers.api_wiring import HOST
from growthos_segments.services.audience import validate

_INVALID_RULE = {
    "description": "the rule is invalid (ValidateOut: valid false, every error with a pointer into "
    "the rule), or the request is (ErrorOut, e.g. no rule at all)",
    "content": {"application/json": {"schema": {"anyOf": [
        {"$ref": "#/components/schemas/ValidateOut"}, {"$ref": "#/components/schemas/ErrorOut"}]}}},
}


@app.get("/health", include_in_schema=False)
def health() -> dict[str, Any]:
    """Liveness only; the authorizer in front of it already proved the key."""
    return {"status": "ok", "condition_types": len(HOST.condition_types)}


@app.get("/openapi.json", include_in_schema=False)
def openapi_json() -> Response[Any]:
    return Response(200, content_types.APPLICATION_JSON, openapi_document())


@app.get("/condition-types", summary="The condition-type catalog for the rule builder", responses=responses())
def condition_types() -> ConditionTypesOut:
    current_tenant()
    return ConditionTypesOut(condition_types=HOST.catalog())


@app.get("/templates", summary="Pre-built segments", responses=responses())
def templates() -> TemplatesOut:
    current_tenant()
    return TemplatesOut(templates=[dict(t) for t in HOST.list_templates()])


@app.post("/rules/validate", summary="Validate a rule: every error with a JSON pointer into the rule, and "
          "warnings for fields and events the tenant never had",
          responses={**responses(), 422: _INVALID_RULE})
def validate_rule(body: Annotated[ValidateIn, Body()]) -> Response[ValidateOut]:
    tenant = current_tenant()
    result = validate(HOST, body.rule, lambda: advisory_fields(tenant))
    return model_response(200 if result.valid else 422, result)


@app.post("/rules/estimate", summary="Estimated size of an unsaved rule (95% interval)",
          responses=responses())
def estimate_rule(body: Annotated[EstimateIn, Body()]) -> EstimateOut:
    return api_wiring.service().audience.estimate(current_caller(), body)
