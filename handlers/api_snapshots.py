"""Routes of audience snapshots: take one, list them, read one and its contacts."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from growthos_segments.core.api_models import (
    SnapshotCategory,
    SnapshotContactsOut,
    SnapshotIn,
    SnapshotListOut,
    SnapshotOut,
)
from growthos_segments.handlers import api_wiring
from growthos_segments.handlers.api_http import app, current_tenant, model_response
from growthos_segments.handlers.api_openapi import responses
from growthos_segments.handlers.api_segments import IdempotencyKey


@app.post("/segments/<segment_id>/snapshots", summary="Freeze the audience now, with its breakdown",
          responses=responses(201, "Created"))
def create_snapshot(
    segment_id: str,
    body: Annotated[SnapshotIn | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[SnapshotOut]:
    tenant = current_tenant()
    request = body or SnapshotIn()
    if idempotency_key:
        return model_response(201, api_wiring.creates().create_snapshot(tenant, segment_id, idempotency_key,
                                                                         request))
    return model_response(201, api_wiring.service().audience.create_snapshot(tenant, segment_id, request))


@app.get("/segments/<segment_id>/snapshots", summary="Snapshots of a segment, newest first",
         responses=responses())
def list_snapshots(
    segment_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> SnapshotListOut:
    return api_wiring.service().audience.list_snapshots(current_tenant(), segment_id, limit=limit,
                                                        cursor=cursor)


@app.get("/segments/<segment_id>/snapshots/<snapshot_id>", summary="One snapshot's breakdown",
         responses=responses())
def get_snapshot(segment_id: str, snapshot_id: str) -> SnapshotOut:
    return api_wiring.service().audience.get_snapshot(current_tenant(), segment_id, snapshot_id)


@app.get("/segments/<segment_id>/snapshots/<snapshot_id>/contacts",
         summary="A snapshot's contact ids of one category, paged", responses=responses())
def snapshot_contacts(
    segment_id: str,
    snapshot_id: str,
    category: Annotated[SnapshotCategory, Query()] = "all",
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> SnapshotContactsOut:
    return api_wiring.service().audience.snapshot_contacts(current_tenant(), segment_id, snapshot_id,
                                                           category=category, cursor=cursor)
