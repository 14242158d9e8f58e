"""Free-text search across profile fields, ignoring case and accents.

Condition type (category ``contact``)::

    {"search": {"q": "acme"}}
    {"search": {"q": "José García"}}                       # both words, any fields, any order
    {"search": {"q": "robotics", "fields": ["custom.industry", "custom.notes"], "custom_fields": false}}

``q`` is split into words at white space; a contact matches when **every** word
occurs (as a substring: ``acm`` finds ``Acme Labs``) in at least one of the
searched fields, in any order and not necessarily in the same field (``ada
acme`` finds Ada Smith of Acme Labs), as a search box does. The fields are paths
under ``attributes`` (default :data:`DEFAULT_FIELDS`: the name, e-mail and
company fields the contact document uses) and, unless ``custom_fields`` is
false, every field of ``attributes.custom`` (whatever the tenant named them); a
field holding a string is searched, one holding a list is searched in its
string items, anything else (numbers, booleans, maps, missing) is not.

Texts and words are compared folded (:func:`fold`): Unicode NFKD
(compatibility decomposition: ``ﬁ`` is ``fi``, ``²`` is ``2``), combining marks
removed (``é`` is ``e``), then full case folding (``ß`` and ``ẞ`` are ``ss``,
Greek capital and final sigma fold to the small one). So ``jose`` finds ``José``, ``EMILE`` finds
``Émile`` and ``strasse`` finds ``Straße``. The SQL form folds text with
``translate`` and ``replace`` over a table built from :func:`fold` itself for
every character of :data:`REPERTOIRE` (Latin, Greek, Cyrillic, combining marks,
general punctuation; of the characters folding to several, only ``ß`` and
``ẞ``): for text of ASCII and those characters it computes exactly the same
folded text; a row whose searched text holds any other character is
left undecided and the per-contact path answers it. The answer depends on the
profile only: ``recheck_at`` is always ``None``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, StrictBool, StrictStr, field_validator

from growthos_segments.kit import ConditionType, ContactView, Predicate, Reads, Result, hookimpl
from growthos_segments.kit.params import ParamsModel
from growthos_segments.plugins.attributes import AttributePath, attribute_getter

if TYPE_CHECKING:
    from growthos_segments.kit.sql import SqlForm

__all__ = [
    "DEFAULT_FIELDS", "REPERTOIRE", "SEARCH", "SEVERAL_ALLOWED", "fold", "fold_character", "folding_table",
]

DEFAULT_FIELDS: tuple[str, ...] = (
    "name", "first_name", "last_name", "email", "company", "custom.company",
)
"""The fields searched when ``fields`` is not given (paths under ``attributes``)."""
CUSTOM = "custom"
"""The map under ``attributes`` whose every field ``custom_fields`` searches."""
MAX_QUERY_LENGTH = 200
MAX_WORDS = 10
MAX_FIELDS = 20
REPERTOIRE: tuple[tuple[int, int], ...] = ((0x00A0, 0x04FF), (0x1E00, 0x1EFF), (0x2000, 0x206F))
"""Code point ranges (inclusive) beyond ASCII whose characters the SQL form folds exactly as
:func:`fold` (but those of them that fold to several characters, beyond
:data:`SEVERAL_ALLOWED`): Latin-1, Latin Extended-A/B, IPA, spacing modifiers, combining
marks, Greek, Cyrillic, Latin Extended Additional (Vietnamese), general punctuation."""


def fold_character(char: str) -> str:
    """One character as search compares it: NFKD, combining marks removed, case-folded."""
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class _Folded(dict[int, str]):
    """Code point -> its folded text, filled as characters are first seen (``str.translate``
    calls ``__missing__`` for a code point not yet in it)."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = fold_character(chr(code))
        return folded


_FOLDED = _Folded()


def fold(text: str) -> str:
    """``text`` as search compares it: :func:`fold_character` of each of its characters.

    The same as folding the whole text (decomposition and case folding map each
    character on its own, and the reordering NFKD does only moves the marks removed
    here), which is what lets the per-contact path fold by a table of the characters
    seen so far and the SQL form by a table of its repertoire."""
    if text.isascii():
        return text.lower()
    return text.translate(_FOLDED)


SEVERAL_ALLOWED = frozenset("ßẞ")
"""The characters folding to several characters that the SQL form folds (one ``replace``
each distinct result); the others of the repertoire (``ĳ``, ``ǆ``, ``…``...) leave their
rows undecided, which keeps the SQL expression shallow."""


@cache
def folding_table() -> tuple[dict[str, str], tuple[tuple[int, int], ...]]:
    """(every character the SQL form folds that :func:`fold` changes, with what it folds to;
    the code point ranges, beyond ASCII, of the text the SQL form folds exactly)."""
    table = {chr(c): chr(c).lower() for c in range(ord("A"), ord("Z") + 1)}
    ranges: list[tuple[int, int]] = []
    for low, high in REPERTOIRE:
        start = low
        for code in range(low, high + 1):
            char = chr(code)
            folded = fold(char)
            if len(folded) > 1 and char not in SEVERAL_ALLOWED:
                if start < code:
                    ranges.append((start, code - 1))
                start = code + 1
            elif folded != char:
                table[char] = folded
        if start <= high:
            ranges.append((start, high))
    return table, tuple(ranges)


def _words(q: str) -> list[str]:
    return fold(q).split()


class SearchParams(ParamsModel):
    """Every word of ``q`` occurs in one of ``fields``, ignoring case and accents."""

    q: Annotated[StrictStr, Field(
        min_length=1, max_length=MAX_QUERY_LENGTH,
        description=f"words to find (all of them, any order, as substrings); at most {MAX_WORDS}")]
    fields: Annotated[list[AttributePath], Field(
        min_length=1, max_length=MAX_FIELDS,
        description="paths under attributes whose text (or list of texts) is searched",
    )] = list(DEFAULT_FIELDS)
    custom_fields: Annotated[StrictBool, Field(
        description="also search every field of attributes.custom (false: only the fields listed)",
    )] = True

    @field_validator("q")
    @classmethod
    def _some_words(cls, q: str) -> str:
        words = _words(q)
        if not words:
            raise ValueError("q has no words to search for (only white space or accents)")
        if len(words) > MAX_WORDS:
            raise ValueError(f"q has {len(words)} words; the limit is {MAX_WORDS}")
        return q


_LISTS = (list, tuple, set, frozenset)
"""What holds a list here: a JSON array, or a DynamoDB string set not yet made a list."""


def _named_fields(params: SearchParams) -> list[str]:
    """The fields searched by name: a custom field is left out when every custom field is
    searched anyway (a nested one, ``custom.a.b``, is not among those)."""
    if not params.custom_fields:
        return list(params.fields)
    return [field for field in params.fields if field.split(".")[:-1] != [CUSTOM]]


def _add_texts(value: object, texts: list[str]) -> None:
    if type(value) is str:
        texts.append(value.lower() if value.isascii() else fold(value))
    elif isinstance(value, _LISTS):
        texts += [fold(item) for item in value if type(item) is str]


def _compile(params: SearchParams) -> Predicate:
    words = _words(params.q)
    getters = [attribute_getter(field) for field in _named_fields(params)]
    custom_fields = params.custom_fields

    def search(view: ContactView, now: datetime) -> Result:
        texts: list[str] = []
        for get in getters:
            _add_texts(get(view), texts)
        if custom_fields:
            custom = view.attributes.get(CUSTOM)
            if isinstance(custom, Mapping):
                for value in custom.values():
                    _add_texts(value, texts)
        for word in words:  # loops, not all(any(...)): two generators cost more than the search
            for text in texts:
                if word in text:
                    break
            else:
                return False, None
        return True, None

    return search


def _sql(params: SearchParams) -> SqlForm:
    # kit.sql_text (and sqlglot) load on the analytical path only.
    from growthos_segments.kit.sql_text import search_form

    table, ranges = folding_table()
    return search_form([("attributes", *field.split(".")) for field in _named_fields(params)],
                       _words(params.q), table, ranges,
                       every_value_of=[("attributes", CUSTOM)] if params.custom_fields else [])


def _reads(params: SearchParams) -> Reads:
    paths = {f"attributes.{field}" for field in _named_fields(params)}
    if params.custom_fields:
        paths.add(f"attributes.{CUSTOM}")
    return Reads(attributes=frozenset(paths))


def _describe(params: SearchParams) -> str:
    fields = _named_fields(params) + (["every custom field"] if params.custom_fields else [])
    return f"mentions every word of {params.q!r} (ignoring case and accents) in {', '.join(fields)}"


SEARCH = ConditionType(
    name="search",
    label="Search profile text",
    description=(
        "Every word of a search text occurs in the contact's name, e-mail, company or any of "
        "its custom fields (or only in the fields you name), ignoring case and accents "
        "(José = jose, Straße = strasse)."
    ),
    category="contact",
    params=SearchParams,
    compile=_compile,
    reads=_reads,
    describe=_describe,
    bulk_compile=_sql,
    examples=(
        {"q": "acme"},
        {"q": "José García"},
        {"q": "robotics", "fields": ["custom.industry", "custom.notes"], "custom_fields": False},
    ),
)


@hookimpl
def register_condition_types(register: Callable[..., None]) -> None:
    register(SEARCH)
