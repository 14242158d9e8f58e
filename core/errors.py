"""Errors a rule can have, each located by a JSON pointer into the rule.

Validation collects every problem before raising, so a rule builder can show
them all at once next to the nodes they belong to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic_core import PydanticCustomError

__all__ = ["RuleError", "RuleValidationError", "field_error", "pointer", "suggest"]


def pointer(parts: Iterable[str | int]) -> str:
    """Build an RFC 6901 JSON pointer from path parts (escaping ``~`` and ``/``)."""
    out = []
    for part in parts:
        out.append("/" + str(part).replace("~", "~0").replace("/", "~1"))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class RuleError:
    """One problem in a rule: where (JSON pointer), what, and a fix if we know one."""

    path: str
    message: str
    suggestion: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"path": self.path, "message": self.message}
        if self.suggestion:
            out["suggestion"] = self.suggestion
        return out

    def __str__(self) -> str:
        where = self.path or "/"
        tail = f" — {self.suggestion}" if self.suggestion else ""
        return f"{where}: {self.message}{tail}"


class RuleValidationError(ValueError):
    """Raised with every error found in a rule, never just the first."""

    def __init__(self, errors: Sequence[RuleError]) -> None:
        self.errors: tuple[RuleError, ...] = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors))

    def to_json(self) -> list[dict[str, str]]:
        return [e.to_json() for e in self.errors]


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """Offer the closest known name for a misspelt one ("did you mean 'email'?")."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def field_error(field: str, message: str) -> PydanticCustomError:
    """An error for a params model validator to raise when the problem is one field's.

    A model validator's own errors carry no field, so they would point at the
    condition; :func:`growthos_segments.core.rules.parse_rule` points this one at ``field`` instead
    (``/attribute/amount`` rather than ``/attribute``).
    """
    return PydanticCustomError("value_error", message, {"field": field})
