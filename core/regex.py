"""Safe regular expressions for rule parameters.

Patterns are compiled with RE2 (google-re2), which runs in time linear in the
input and rejects the constructs that make backtracking engines explode
(back-references, look-around). A hostile pattern therefore cannot stall the
evaluator; it is refused on save with a clear message instead.

Compiling is the one cost RE2 does not bound by itself: a short pattern such
as ``\\pL{10}`` repeated twenty times builds a program big enough to take most
of a second. Programs are therefore capped at :data:`MAX_PROGRAM_MEMORY` (a
pattern over it is refused in a few milliseconds), and a rule holds at most
``Limits.max_regexes`` patterns, counted through pydantic's validation context
(:func:`regex_budget`) while the rule is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import re2
from pydantic import AfterValidator, ValidationInfo

from growthos_segments.core.limits import DEFAULT_LIMITS

__all__ = ["MAX_PROGRAM_MEMORY", "RegexBudget", "SafeRegex", "compile_safe_regex", "regex_budget"]

MAX_PROGRAM_MEMORY = 128 * 1024
"""RE2's ``max_mem`` per pattern. At RE2's default (8 MB) a 200-character pattern
took 0.6 s to compile; at this size the worst pattern takes a few to about 20 ms.
Ordinary patterns (``^[^@]+@(gmail|googlemail)\\.com$``, ``\\w{1000}``, ``\\pL+``)
are far below it; a large Unicode class repeated more than six times
(``\\pL{7}``) is over it."""

_CONTEXT_KEY = "regex_budget"


@dataclass(slots=True)
class RegexBudget:
    """How many more patterns the rule being parsed may hold."""

    remaining: int
    limit: int


def regex_budget(limit: int) -> dict[str, Any]:
    """A pydantic validation context that counts the patterns of one rule."""
    return {_CONTEXT_KEY: RegexBudget(limit, limit)}


@lru_cache(maxsize=1024)
def compile_safe_regex(pattern: str, ignore_case: bool = False) -> Any:
    """Compile with RE2; raises ``ValueError`` with a readable reason."""
    if len(pattern) > DEFAULT_LIMITS.max_regex_length:
        raise ValueError(
            f"regular expression is {len(pattern)} characters; the limit is "
            f"{DEFAULT_LIMITS.max_regex_length}"
        )
    options = re2.Options()
    options.log_errors = False  # RE2 would otherwise print to stderr on a bad pattern
    options.case_sensitive = not ignore_case
    options.max_mem = MAX_PROGRAM_MEMORY
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        if "pattern too large" in reason:
            raise ValueError(
                f"regular expression is too large once compiled (over {MAX_PROGRAM_MEMORY // 1024} KB); "
                "repeat large classes such as \\pL fewer times"
            ) from None
        raise ValueError(
            f"unsupported regular expression ({reason}); back-references and "
            "look-around are not allowed"
        ) from None


def _check(pattern: str, info: ValidationInfo) -> str:
    context = info.context
    budget = context.get(_CONTEXT_KEY) if isinstance(context, dict) else None
    if isinstance(budget, RegexBudget):
        if budget.remaining <= 0:
            raise ValueError(f"a rule holds at most {budget.limit} regular expressions")
        budget.remaining -= 1
    compile_safe_regex(pattern)
    return pattern


SafeRegex = Annotated[str, AfterValidator(_check)]
"""A pydantic field type: a string that compiles as a safe (RE2) pattern."""
