"""Hard limits on rule size and shape, checked on save (never on the hot path).

They bound the work one rule can cause per contact and the memory a hostile
rule can take; every limit breach is a validation error with a JSON pointer.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 32
    """Nesting depth of the rule tree (logic nodes and expression operators)."""
    max_nodes: int = 2000
    """Rule-tree nodes: logic nodes, conditions, references, expression operators."""
    max_list_length: int = 1000
    """Items in any list inside the rule (children of and/or, value lists)."""
    max_string_length: int = 2048
    """Characters in any string inside the rule."""
    max_regex_length: int = 256
    """Characters in a regular expression pattern."""


DEFAULT_LIMITS = Limits()
