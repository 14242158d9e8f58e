"""Hypothesis strategies the parity property tests share."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def rule_trees(leaves: st.SearchStrategy[Any], max_leaves: int) -> st.SearchStrategy[Any]:
    """Rule trees of ``leaves`` under and / or (one to three children) and ``!``."""
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3).map(lambda cs: {"and": cs}),
            st.lists(children, min_size=1, max_size=3).map(lambda cs: {"or": cs}),
            children.map(lambda c: {"!": c}),
        ),
        max_leaves=max_leaves,
    )
