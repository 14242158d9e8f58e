"""Schemathesis against the audience API: every phase, every check, no failure.

The committed OpenAPI document is run through schemathesis's engine (what
``schemathesis run`` does): explicit examples, the coverage phase (boundary and
negative values of every parameter and body, missing and duplicated parameters,
methods a path does not have), hypothesis fuzzing, and stateful sequences (a
created segment is then read, updated, snapshotted, archived). Requests go over
HTTP on 127.0.0.1 to the local API Gateway (``growthos_segments.devstack.front``: the REQUEST
authorizer, the template's gateway responses, the route's function) and from
there to ``growthos_segments.handlers.api`` on moto, so what is checked is what a client of the
deployed API would see.

Every check schemathesis offers is on. Three of them are told what this API
answers on purpose, because the document cannot say it in JSON Schema:

- positive data: a schema-valid rule can still be 422 (the rule language, with
  JSON pointers, and references to segments that must exist), a reused
  ``Idempotency-Key`` with another body is 422 (as the IETF draft on the header
  says), and a schema-valid cursor the API did not issue is 400;
- use after free: ``DELETE /segments/{id}`` archives; the segment (status
  ``archived``), its snapshots and a ``PUT`` that restores it stay available.

The run is deterministic: the generation is seeded and derandomized, and the
ids the API would draw at random come from a counter.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, StopReason, events, from_schema

from growthos_segments.handlers.api import openapi_document
from growthos_segments.infra.repos import Repositories
from tests.integration.api_support import PRO, install, install_imports, local_front, reset_authorizer

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KEY = "schemathesis-key"
MAX_EXAMPLES = 10
"""Hypothesis examples per operation in the fuzzing phase (the coverage phase is fixed)."""

RULE_OPERATIONS = [
    "POST /rules/validate",
    "POST /rules/estimate",
    "POST /segments",
    "PUT /segments/{segment_id}",
    "POST /segments/{segment_id}/snapshots",
    "POST /rules/count",
    "POST /segments/{segment_id}/impact",
]
PAGED_OPERATIONS = [
    "GET /segments/{segment_id}/members",
    "GET /segments/{segment_id}/snapshots",
    "GET /segments/{segment_id}/snapshots/{snapshot_id}/contacts",
    "GET /segments/{segment_id}/transitions",
]
CHECKS = {
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
    "positive_data_acceptance", "missing_required_header", "unsupported_method",
    "allow_header_conformance", "ensure_resource_availability", "ignored_auth", "object_level_authorization",
}
"""Every check of schemathesis 4 but ``use_after_free`` (see above) and ``max_response_time``
(a wall-clock limit: the machine running the suite is shared)."""
ACCEPTED = ["2xx", "401", "403", "404", "409"]
"""Schemathesis's own expectation for schema-valid requests, less what this API never answers."""
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "414", "415", "422", "428", "429", "5xx"]
"""Schemathesis's own expectation for schema-violating requests, plus 414: a query value
far over its maximum length can make the address longer than the gateway takes."""


def config(base_url: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": 20261122,
        "base-url": base_url,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "auth": {"openapi": {"apiKey": {"api_key": KEY}}},
        "checks": {"enabled": True, "use_after_free": {"enabled": False},
                   "negative_data_rejection": {"expected-statuses": REJECTED}},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": True}},
        "operations": [
            {"include-name": RULE_OPERATIONS,
             "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}}},
            {"include-name": PAGED_OPERATIONS,
             "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}}},
        ],
    })


def test_schemathesis_finds_no_failure(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> None:
    api = install(install_imports(repos, monkeypatch), lambda: NOW, monkeypatch)
    reset_authorizer(monkeypatch, f"{KEY}=t1")
    counter = itertools.count()
    monkeypatch.setattr(secrets, "token_hex", lambda n=32: f"{next(counter):0{2 * n}x}")
    api.contact("c0", attributes={"plan": "pro", "email": "c0@x.io"})
    assert api.post("/segments", {"id": "pro", "name": "Pro", "rule": PRO}).status == 201
    api.backfill("t1", "pro")
    front = local_front(listen=True)
    front.start()
    try:
        schema = schemathesis.openapi.from_dict(json.loads(openapi_document()), config=config(front.url))
        cases: Counter[str] = Counter()
        ran: set[str] = set()
        operations: set[str] = set()
        failures: dict[tuple[str, str, str], str] = {}
        errors: list[str] = []
        stop: StopReason | None = None
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                cases[event.phase.value] += len(event.recorder.cases)
                operations.add(event.recorder.label)
                for case_id, checks in event.recorder.checks.items():
                    for check in checks:
                        ran.add(check.name)
                        if check.status == Status.FAILURE:
                            case = event.recorder.cases[case_id].value
                            key = (event.recorder.label, check.name, case.method + " " + case.formatted_path)
                            failures.setdefault(key, _describe(check, case))
            elif isinstance(event, events.NonFatalError | events.FatalError):
                errors.append(str(getattr(event, "value", None) or getattr(event, "exception", event)))
            elif isinstance(event, events.EngineFinished):
                stop = event.stop_reason
    finally:
        assert front.stop()
    print(f"schemathesis: {sum(cases.values())} cases ({dict(cases)}), {len(failures)} failures")
    assert not errors, errors
    assert not failures, "\n\n".join(f"{key}\n{text}" for key, text in failures.items())
    assert stop == StopReason.COMPLETED
    assert ran >= CHECKS, CHECKS - ran
    documented = {f"{method.upper()} {route}" for route, item in schema.raw_schema["paths"].items()
                  for method in item}
    assert documented <= operations  # every operation was exercised
    assert cases["coverage"] > 300 and cases["fuzzing"] > 5 * len(documented) and cases["stateful"] > 0


def _describe(check: Any, case: Any) -> str:
    failure = check.failure_info.failure if check.failure_info else None
    message = f"{failure.title}: {failure.message}" if failure else check.name
    body = case.body if isinstance(case.body, dict | list | str | int | float | bool | None) else "(none)"
    request = {"query": dict(case.query or {}), "headers": dict(case.headers or {}), "body": body}
    return f"{message}\n{json.dumps(request, default=str, ensure_ascii=False)[:2000]}"
