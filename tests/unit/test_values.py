"""Plain JSON values, whichever path (DynamoDB, pynamodb, a Python caller) loaded them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from growthos_segments.core.expressions import CompiledExpression
from growthos_segments.core.values import plain, plain_number
from growthos_segments.core.view import ContactView


class _MapAttribute:
    """Stands in for pynamodb's MapAttribute, which renders itself with as_dict()."""

    def as_dict(self) -> dict[str, object]:
        return {"plan": "pro", "seats": Decimal("3")}


def test_storage_types_become_json_types() -> None:
    stored = {
        "scores": {"nps": Decimal("9"), "ltv": Decimal("12.5")},
        "tags": {"vip", "beta"},
        "sizes": {Decimal("10"), Decimal("9")},
        "custom": _MapAttribute(),
        "seen": datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        "pair": ("a", 1),
        7: None,
    }
    assert plain(stored) == {
        "scores": {"nps": 9, "ltv": 12.5},
        "tags": ["beta", "vip"],
        "sizes": [9, 10],
        "custom": {"plan": "pro", "seats": 3},
        "seen": "2026-11-22T10:00:00Z",
        "pair": ["a", 1],
        "7": None,
    }
    assert type(plain(Decimal("9"))) is int


def test_a_number_that_is_not_json_has_no_plain_value() -> None:
    assert plain_number(Decimal("NaN")) is None
    assert plain_number(Decimal("Infinity")) is None
    assert plain_number(Decimal("-0.25")) == -0.25


def test_expressions_see_the_plain_document() -> None:
    # The datalogic handle is built from plain(doc): a set of numbers is a sorted list.
    view = ContactView({"attributes": {"sizes": {Decimal("10"), Decimal("9")}}})
    first = CompiledExpression({"==": [{"var": "attributes.sizes.0"}, 9]})
    assert first(view, datetime(2026, 11, 22, tzinfo=UTC)) == (True, None)
