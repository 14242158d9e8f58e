"""The committed OpenAPI document is the one the resolver generates from the models.

Regenerate after changing a route or a model:
``.venv/bin/python -m growthos_segments.handlers.api > openapi.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from growthos_segments.handlers.api import openapi_document

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"


def test_committed_openapi_matches_the_generated_one() -> None:
    generated = openapi_document()
    committed = COMMITTED.read_text(encoding="utf-8")
    assert committed == generated, (
        "openapi.json is stale: run `.venv/bin/python -m growthos_segments.handlers.api > openapi.json`"
        " and commit it"
    )


def test_document_declares_every_route_with_its_error_shapes() -> None:
    doc = json.loads(openapi_document())
    assert doc["openapi"].startswith("3.")
    operations = [(route, method, op) for route, item in doc["paths"].items() for method, op in item.items()]
    assert len(operations) >= 17
    for route, method, op in operations:
        responses = op["responses"]
        assert any(code.startswith("2") for code in responses), (route, method)
        for code in ("400", "404", "422"):
            if (route, code) == ("/rules/validate", "422"):  # an invalid rule is a ValidateOut answer
                continue
            assert responses[code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorOut"
            }, (route, method, code)
    assert doc["paths"]["/segments"]["post"]["responses"]["201"]
    assert {p["name"] for p in doc["paths"]["/segments"]["post"]["parameters"]} == {"idempotency-key"}
