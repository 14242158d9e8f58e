"""Field columns: the document paths rules read, extracted beside ``doc`` when the copy is written.

A rule that reads the profile would otherwise parse each contact's whole JSON
document once per path per query: about 2.4 CPU seconds per million contacts
here, more than the one-second budget of an exact count, and the same for
hand-written SQL. So the copy also stores, for the tenant's most common leaf
paths, a column holding the JSON value at that path::

    "field:attributes.plan"  =  json_extract(doc, '$."attributes"."plan"')

for EVERY row (SQL NULL where the path is missing, as ``json_extract`` answers).
That equality is the whole contract: a column is never typed, coerced or
cleaned, so a condition reads the same JSON value from it as from ``doc`` and
the compiler may take either; a path without a column is read from ``doc``.
Which paths get a column is only a matter of speed, never of correctness, so
they are chosen from a sample (the first batch written) and capped.

The extracted value is a small JSON text (``"pro"``, ``80``): testing it costs
about a tenth of a second per million contacts instead of seconds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from growthos_segments.kit.sql import json_at

if TYPE_CHECKING:
    import duckdb

__all__ = ["MAX_DEPTH", "MAX_FIELDS", "PREFIX", "choose_fields", "column_name", "field_columns",
           "field_selects", "path_of"]

PREFIX = "field:"
MAX_FIELDS = 64
"""Field columns per tenant at most: the paths most documents have."""
MAX_DEPTH = 4
"""Deepest path extracted (``attributes.custom.x`` is 3)."""
_KEY_RE = re.compile(r"[A-Za-z0-9_-]+\Z")


def column_name(keys: Sequence[str]) -> str:
    """``field:a.b`` for the path ``a.b`` (keys are plain names, so ``.`` cannot be ambiguous)."""
    return PREFIX + ".".join(keys)


def path_of(column: str) -> tuple[str, ...] | None:
    """The keys a field column holds, or ``None`` for any other column."""
    if not column.startswith(PREFIX):
        return None
    keys = tuple(column[len(PREFIX):].split("."))
    return keys if all(_KEY_RE.match(key) for key in keys) else None


def _leaves(
    value: Mapping[str, Any], prefix: tuple[str, ...], seen: set[tuple[str, ...]], maps: set[tuple[str, ...]]
) -> None:
    for key, inner in value.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            continue
        path = (*prefix, key)
        if not isinstance(inner, Mapping):
            seen.add(path)
        elif len(path) < MAX_DEPTH:
            maps.add(path)
            _leaves(inner, path, seen, maps)
        else:
            maps.add(path)


def choose_fields(
    profiles: Iterable[Mapping[str, Any]], limit: int = MAX_FIELDS
) -> tuple[tuple[str, ...], ...]:
    """The leaf paths (values that are not objects) most of these documents have, at most ``limit``.

    Ties go by name, so the same sample always gives the same columns. A path
    whose value is an object in any of them is left out (its column would copy
    whole maps): a rule reading a whole map reads it from ``doc``, and its leaves
    have their own columns.
    """
    counts: Counter[tuple[str, ...]] = Counter()
    maps: set[tuple[str, ...]] = set()
    for profile in profiles:
        seen: set[tuple[str, ...]] = set()
        _leaves(profile, (), seen, maps)
        counts.update(seen)
    ranked = sorted(((path, n) for path, n in counts.items() if path not in maps),
                    key=lambda item: (-item[1], item[0]))
    return tuple(path for path, _ in ranked[:limit])


def field_selects(paths: Iterable[Sequence[str]], doc: exp.Expression | None = None) -> list[exp.Expression]:
    """``json_extract(doc, path) AS "field:..."`` for each path: how every writer fills the columns."""
    source = doc if doc is not None else exp.column("doc")
    return [exp.alias_(json_at(tuple(keys), source.copy()), column_name(keys), quoted=True) for keys in paths]


def field_columns(con: duckdb.DuckDBPyConnection, table: str = "contacts") -> dict[str, str]:
    """The field columns of ``table`` (a table or view), keyed by the JSON path literal
    :func:`growthos_segments.kit.sql.json_at` writes for them (what the compiler looks up)."""
    names = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]  # table: a constant name
    out: dict[str, str] = {}
    for name in names:
        keys = path_of(name)
        if keys is not None:
            literal = json_at(keys).expressions[1]
            out[literal.name] = name
    return out

