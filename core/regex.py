"""Safe regular expressions for rule parameters.

Patterns are compiled with RE2 (google-re2), which runs in time linear in the
input and rejects the constructs that make backtracking engines explode
(back-references, look-around). A hostile pattern therefore cannot stall the
evaluator; it is refused on save with a clear message instead.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

import re2
from pydantic import AfterValidator

from core.limits import DEFAULT_LIMITS

__all__ = ["SafeRegex", "compile_safe_regex"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would otherwise print to stderr on a bad pattern


@lru_cache(maxsize=1024)
def compile_safe_regex(pattern: str, ignore_case: bool = False) -> Any:
    """Compile with RE2; raises ``ValueError`` with a readable reason."""
    if len(pattern) > DEFAULT_LIMITS.max_regex_length:
        raise ValueError(
            f"regular expression is {len(pattern)} characters; the limit is "
            f"{DEFAULT_LIMITS.max_regex_length}"
        )
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(
            f"unsupported regular expression ({reason}); back-references and "
            "look-around are not allowed"
        ) from None


def _check(pattern: str) -> str:
    compile_safe_regex(pattern)
    return pattern


SafeRegex = Annotated[str, AfterValidator(_check)]
"""A pydantic field type: a string that compiles as a safe (RE2) pattern."""
