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

from collections.abc import Mapping, Sequence

from sqlglot import exp

from growthos_segments.kit.sql import CONTACT_DOC, SqlForm, is_kind, json_at, text_of

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


SEPARATOR = "\n"
"""Between the searched texts in the one text SQL folds: white space, which no search word
holds, so a word found in the joined text is found in one of the texts."""


def _texts(value: exp.Expression) -> exp.Expression:
    """The JSON value's text if it is a string, its string items joined by :data:`SEPARATOR`
    if it is an array, else ``''``."""
    element = exp.to_identifier("e")
    elements = exp.Anonymous(this="json_extract", expressions=[value.copy(), exp.Literal.string("$[*]")])
    strings = exp.ArrayFilter(this=elements, expression=exp.Lambda(
        this=is_kind(exp.column(element), "VARCHAR"), expressions=[element]))
    items = exp.Transform(this=strings, expression=exp.Lambda(
        this=text_of(exp.column(element.copy())), expressions=[element.copy()]))
    return exp.Case(ifs=[
        exp.If(this=is_kind(value.copy(), "VARCHAR"), true=text_of(value.copy())),
        exp.If(this=is_kind(value.copy(), "ARRAY"),
               true=exp.ArrayToString(this=items, expression=exp.Literal.string(SEPARATOR))),
    ], default=exp.Literal.string(""))


def _texts_of_values(keys: Sequence[str]) -> exp.Expression:
    """The texts (as :func:`_texts` takes them) of every value of the JSON object at ``keys``,
    joined by :data:`SEPARATOR`; ``''`` when it is not an object (DuckDB's ``.*`` step lists
    an object's values, and no value of anything else)."""
    path = json_at(keys).expressions[1].name + ".*"
    values = exp.Anonymous(this="json_extract", expressions=[CONTACT_DOC.copy(), exp.Literal.string(path)])
    value = exp.to_identifier("v")
    texts = exp.Transform(this=values, expression=exp.Lambda(
        this=_texts(exp.column(value)), expressions=[value.copy()]))
    return exp.ArrayToString(this=texts, expression=exp.Literal.string(SEPARATOR))


def search_form(
    fields: Sequence[Sequence[str]],
    words: Sequence[str],
    table: Mapping[str, str],
    repertoire: Sequence[tuple[int, int]],
    every_value_of: Sequence[Sequence[str]] = (),
) -> SqlForm:
    """Every one of the folded ``words`` (none holding white space) is in the folded text of
    one of ``fields`` (JSON paths to a string or an array of strings) or of one value of the
    objects at ``every_value_of``; text with a character outside ASCII and the code point
    ranges of ``repertoire`` is undecided.

    The texts are joined into one text, written once in the query (the words are
    tested by one lambda over their list), so the query stays small whatever the words."""
    searched = [_texts(json_at(keys)) for keys in fields]
    searched += [_texts_of_values(keys) for keys in every_value_of]
    joined: exp.Expression = exp.func("coalesce", searched[0], exp.Literal.string(""))
    for texts in searched[1:]:
        text = exp.func("coalesce", texts, exp.Literal.string(""))
        joined = exp.DPipe(this=exp.DPipe(this=joined, expression=exp.Literal.string(SEPARATOR)),
                           expression=text)
    # ASCII text (most of it) folds by lower(), the same in every engine; translate over the
    # whole table costs tens of microseconds a row, so only the other rows pay it.
    beyond_ascii = exp.RegexpLike(this=joined.copy(), expression=exp.Literal.string(r"[^\x00-\x7f]"))
    text = exp.Case(ifs=[exp.If(this=beyond_ascii, true=folded(joined.copy(), table))],
                    default=exp.Lower(this=joined.copy()))
    unfoldable = exp.RegexpLike(this=joined, expression=exp.Literal.string(_outside(repertoire)))
    if len(words) == 1:
        position = exp.Anonymous(this="strpos", expressions=[text, exp.Literal.string(words[0])])
        return SqlForm(exp.GT(this=position, expression=exp.Literal.number(0)), undecided=unfoldable)
    # No word missing: the words as a list filtered by one lambda, so the text is written once.
    word = exp.to_identifier("w")
    absent = exp.EQ(this=exp.Anonymous(this="strpos", expressions=[text, exp.column(word)]),
                    expression=exp.Literal.number(0))
    missing = exp.ArrayFilter(this=exp.Array(expressions=[exp.Literal.string(w) for w in words]),
                              expression=exp.Lambda(this=absent, expressions=[word.copy()]))
    return SqlForm(exp.EQ(this=exp.ArraySize(this=missing), expression=exp.Literal.number(0)),
                   undecided=unfoldable)
