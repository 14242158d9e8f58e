"""The SQL form of a folded free-text search (the ``search`` condition's ``bulk_compile``).

SQL engines fold case and accents each their own way (DuckDB's ``lower`` keeps ``ß``,
its ``strip_accents`` does not decompose ``ﬁ``; Trino has no ``strip_accents``), so
the text is folded here by a table the plugin computes with its own folding function:
``translate`` for the characters that fold to one character or to none, then one
``replace`` per character that folds to several. For text whose characters all lie
in ASCII or the table's repertoire that is exactly the plugin's folding; a row with
any other character in a searched text is undecided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlglot import exp

from growthos_segments.kit.sql import SqlForm, any_element, is_kind, json_at, text_of

__all__ = ["folded", "search_form"]


def folded(text: exp.Expression, table: Mapping[str, str]) -> exp.Expression:
    """``text`` folded by ``table`` (character -> its folded text)."""
    singles = {c: f for c, f in table.items() if len(f) == 1}
    dropped = [c for c, f in table.items() if not f]
    several: dict[str, str] = {}  # folded text -> the one character replaced by it
    for char, text_of_char in table.items():
        if len(text_of_char) > 1:
            # the others folding to the same text become that character first: one replace each
            singles[char] = several.setdefault(text_of_char, char)
    singles = {c: f for c, f in singles.items() if c != f}
    out: exp.Expression = exp.Translate(
        this=text, from_=exp.Literal.string("".join(singles) + "".join(dropped)),
        to=exp.Literal.string("".join(singles.values())))
    for text_of_char, char in several.items():
        out = exp.Replace(this=out, expression=exp.Literal.string(char),
                          replacement=exp.Literal.string(text_of_char))
    return out


def _outside(repertoire: Sequence[tuple[int, int]]) -> str:
    """A regular expression matching one character outside ASCII and ``repertoire``."""
    ranges = "".join(f"{chr(low)}-{chr(high)}" for low, high in repertoire)
    return f"[^\\x00-\\x7f{ranges}]"


def _strings(value: exp.Expression, test: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """``test`` (a function of a JSON string's text) holds for the JSON value if it is a
    string, or for one of its string items if it is an array."""
    def on_string(item: exp.Expression) -> exp.Expression:
        return exp.and_(is_kind(item, "VARCHAR"), test(text_of(item)))

    return exp.or_(on_string(value), any_element(value, on_string))


def search_form(
    fields: Sequence[Sequence[str]],
    words: Sequence[str],
    table: Mapping[str, str],
    repertoire: Sequence[tuple[int, int]],
) -> SqlForm:
    """Every one of the folded ``words`` is in the folded text of one of ``fields`` (JSON
    paths to a string or an array of strings); text with a character outside ASCII and the
    code point ranges of ``repertoire`` is undecided."""
    values = [json_at(keys) for keys in fields]

    def finds(word: str) -> exp.Expression:
        def found(text: exp.Expression) -> exp.Expression:
            position = exp.Anonymous(this="strpos", expressions=[folded(text, table),
                                                                  exp.Literal.string(word)])
            return exp.GT(this=position, expression=exp.Literal.number(0))

        return exp.or_(*(_strings(value.copy(), found) for value in values))

    outside = _outside(repertoire)

    def unfoldable(text: exp.Expression) -> exp.Expression:
        return exp.RegexpLike(this=text, expression=exp.Literal.string(outside))

    predicate = exp.and_(*(exp.paren(finds(word)) for word in words))
    undecided = exp.or_(*(_strings(value.copy(), unfoldable) for value in values))
    return SqlForm(predicate, undecided=undecided)
