"""CSV contact imports: a growth team's spreadsheet read into ingestion items.

Growth teams keep custom fields and static lists in spreadsheets; this module
turns one exported CSV file into the contact items of the ingestion contract
(:mod:`growthos_segments.services.ingest`), so a CSV import is validated and
written exactly as an HTTP upsert is. Parsing is pure (bytes in, items and bad
rows out) so the CLI, the API's import job and the dry run share it.

The decisions, each because a silent guess would put wrong data in segments:

- **A ``contact_id`` column is required.** Ids are what every other module keys
  a contact on; ids derived from e-mail addresses would create contacts no
  other module knows.
- **Where a column goes**, by its header: ``contact_id``; the profile fields
  the plugins and the demo data read (:data:`PROFILE_COLUMNS`) and
  ``attributes.<name>`` go under ``attributes``; ``tags`` and ``lists`` (values
  *added*, never removing what other modules set); ``score.<name>`` or
  ``scores.<name>`` (numbers); ``suppression.<flag>`` (booleans; ``status`` is
  text); ``custom.<name>`` and every other header are custom fields
  (``attributes.custom.<name>``). Names are what a rule's ``field`` path can
  read (letters, digits, ``_`` and ``-``): a header like ``Lead Source`` is
  refused rather than renamed behind the user's back.
- **Types are inferred per column over the whole file**, on its non-empty
  cells: ``boolean`` when every cell is true/false/yes/no (any case);
  ``number`` when every cell is a plain decimal number (``-12``, ``3.5``,
  ``1e3``; no leading zeros, so postcodes and ids like ``007`` stay text, no
  thousands separators), within DynamoDB's range; ``date`` for ISO 8601 dates
  (``2026-04-03``) and ``datetime`` for ISO 8601 date-times, both kept as the
  ISO text the conditions read; otherwise ``text``. Locale dates such as
  ``03/04/2026`` are ambiguous (March or April?) and stay text, with a note.
  ``multi`` (a list of strings split on the separator, ``;`` by default) when
  no other kind fits, some cell holds the separator and every item is short
  (at most :data:`MULTI_ITEM_CHARS` characters), with a note
  saying so. A header suffix (``interests:multi``, ``notes:text``) or an
  option (``types={"interests": "multi"}``) forces a kind instead, and then a
  cell that is not of that kind makes its row bad.
- **An empty cell sets nothing** (it does not remove the stored value).
- **A bad row is reported with its physical line** in the file (the header is
  line 1; a quoted cell spanning lines counts every line) and its column, and
  the other rows still import. Bad rows: a ragged row (other than trailing
  empty cells), a missing contact id, a contact id already on an earlier line
  (one row per contact, so a file has one meaning whatever its batches), a
  cell of the wrong kind for a forced column, an over-long cell or row.
- **A file-level problem is one error** (:class:`CsvImportError`): not UTF-8
  (a BOM is accepted), no header, duplicate or invalid headers, no
  ``contact_id`` column, too large, too many columns or rows, a quote left open.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from growthos_segments.core.limits import MAX_NUMBER, MAX_SIGNIFICANT_DIGITS, MIN_NUMBER
from growthos_segments.core.ports import ContactDocument
from growthos_segments.core.ports_ingest import ForgetResult, IngestEvent, IngestStore, ProfileWrite
from growthos_segments.services.ingest import MAX_CONTACTS, IngestService

__all__ = [
    "DEFAULT_CSV_LIMITS",
    "KINDS",
    "PROFILE_COLUMNS",
    "BadRow",
    "Column",
    "CsvImportError",
    "CsvLimits",
    "ImportReport",
    "ImportRow",
    "ParsedFile",
    "PreviewStore",
    "check_options",
    "import_rows",
    "parse_csv",
]

Kind = Literal["text", "number", "boolean", "date", "datetime", "multi"]
KINDS: tuple[Kind, ...] = ("text", "number", "boolean", "date", "datetime", "multi")
Section = Literal["id", "attributes", "custom", "tags", "lists", "scores", "suppression"]

PROFILE_COLUMNS = frozenset({
    "email", "first_name", "last_name", "name", "phone", "city", "country", "timezone", "plan",
    "signup_date", "created_at", "trial_ends_at", "referred_by", "latitude", "longitude",
})
"""Headers that are top-level profile attributes (what the plugins and the demo data read)."""
_TEXT_COLUMNS = frozenset({
    "email", "first_name", "last_name", "name", "phone", "city", "country", "timezone", "plan", "referred_by",
})
"""Profile fields that are text whatever their cells look like (a phone number is not a number)."""

_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,128}\Z")
_INTEGER_RE = re.compile(r"-?(?:0|[1-9][0-9]{0,37})\Z")
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_LOCALE_DATE_RE = re.compile(r"[0-9]{1,2}[/.][0-9]{1,2}[/.][0-9]{2,4}\Z")
_BOOLEANS = {"true": True, "yes": True, "false": False, "no": False}


@dataclass(frozen=True, slots=True)
class CsvLimits:
    max_bytes: int = 64 * 1024 * 1024
    """The whole file: 100,000 rows of a wide export fit with room to spare."""
    max_rows: int = 1_000_000
    max_columns: int = 200
    max_cell_chars: int = 10_000
    """One cell: far more than any attribute a rule reads, far less than DynamoDB's 400 KB item."""
    max_row_chars: int = 100_000


DEFAULT_CSV_LIMITS = CsvLimits()


class CsvImportError(ValueError):
    """The file as a whole cannot be imported; ``line`` is where, when one line is to blame."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f'line {self.line}, column "{self.column}"' if self.column else f"line {self.line}"
        return f"{where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    section: Section
    key: str
    kind: Kind
    forced: bool
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        target = {"id": "contact_id", "tags": "tags", "lists": "lists"}.get(self.section)
        if target is None:
            section = "attributes.custom" if self.section == "custom" else self.section
            target = f"{section}.{self.key}"
        out: dict[str, Any] = {"column": self.header, "target": target, "kind": self.kind,
                               "forced": self.forced}
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    item: dict[str, Any]
    """A contact item of the ingestion contract."""


@dataclass(slots=True)
class ParsedFile:
    columns: list[Column]
    rows: list[ImportRow] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.rows) + len({b.line for b in self.bad})


def _target(name: str) -> tuple[Section, str]:
    if name == "contact_id":
        return "id", name
    if name in ("tags", "lists"):
        return name, name  # type: ignore[return-value]
    prefix, dot, rest = name.partition(".")
    if dot:
        sections: dict[str, Section] = {"score": "scores", "scores": "scores", "suppression": "suppression",
                                        "custom": "custom", "attributes": "attributes"}
        if prefix in sections:
            return sections[prefix], rest
    return ("attributes" if name in PROFILE_COLUMNS else "custom"), name


def _required_kind(section: Section, key: str) -> Kind | None:
    if section == "id":
        return "text"
    if section in ("tags", "lists"):
        return "multi"
    if section == "scores":
        return "number"
    if section == "suppression":
        return "text" if key == "status" else "boolean"
    if section == "attributes" and key in _TEXT_COLUMNS:
        return "text"
    return None


def _columns(header: Sequence[str], types: Mapping[str, str]) -> tuple[list[tuple[Section, str, Kind | None]],
                                                                      list[str]]:
    """Each column's target and forced kind (``None``: inferred), and the headers as written."""
    names: list[str] = []
    out: list[tuple[Section, str, Kind | None]] = []
    targets: dict[tuple[Section, str], str] = {}
    for number, raw in enumerate(header, 1):
        text = raw.strip()
        name, colon, suffix = text.rpartition(":")
        if not colon or suffix not in KINDS:
            name, suffix = text, ""
        if not name:
            raise CsvImportError(f"column {number} has no name in the header", 1)
        if name in names:
            raise CsvImportError(f'column "{name}" appears twice in the header', 1)
        section, key = _target(name)
        if not _NAME_RE.match(key):
            raise CsvImportError(f'column "{name}": a field name takes letters, digits, "_" and "-" '
                                 f"(at most 128); rename the column", 1)
        if (section, key) in targets:
            raise CsvImportError(f'columns "{targets[section, key]}" and "{name}" both set the same field', 1)
        targets[section, key] = name
        asked = types.get(name) or suffix or None
        required = _required_kind(section, key)
        if asked is not None and asked not in KINDS:
            raise CsvImportError(f'column "{name}": unknown type "{asked}" (one of {", ".join(KINDS)})')
        if asked is not None and required is not None and asked != required:
            raise CsvImportError(f'column "{name}" is always {required}, not {asked}')
        names.append(name)
        out.append((section, key, asked or required))  # type: ignore[arg-type]
    unknown = sorted(set(types) - set(names))
    if unknown:
        raise CsvImportError(f'a type is given for column "{unknown[0]}", which the header does not have')
    if "contact_id" not in names:
        raise CsvImportError('the header has no "contact_id" column (every row names its contact)', 1)
    return out, names


def _number(text: str) -> int | float | None:
    if _INTEGER_RE.match(text):  # most numbers in a file: no Decimal needed to bound them
        return int(text)
    if not _NUMBER_RE.match(text):
        return None
    try:
        exact = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only what Decimal reads
        return None
    magnitude = abs(exact)
    digits = len(exact.normalize().as_tuple().digits)
    if magnitude > MAX_NUMBER or (magnitude and magnitude < MIN_NUMBER) or digits > MAX_SIGNIFICANT_DIGITS:
        return None
    if "." in text or "e" in text or "E" in text:
        return float(text)
    return int(text)


def _date(text: str) -> str | None:
    if len(text) != 10:
        return None
    try:
        date.fromisoformat(text)
    except ValueError:
        return None
    return text


def _datetime(text: str) -> str | None:
    if len(text) <= 10 or text[10] not in "Tt ":
        return None
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return None
    return text


_EXPECTED = {
    "number": "a number", "boolean": "true, false, yes or no", "date": "an ISO 8601 date (2026-04-03)",
    "datetime": "an ISO 8601 date-time (2026-04-03T09:30:00Z)",
}


def _convert(kind: Kind, text: str, separator: str) -> Any:
    """The cell's value, or ``None`` when it is not of ``kind`` (never for text or multi)."""
    if kind == "text":
        return text
    if kind == "multi":
        values = (part.strip() for part in text.split(separator))
        return list(dict.fromkeys(v for v in values if v))
    if kind == "number":
        return _number(text)
    if kind == "boolean":
        return _BOOLEANS.get(text.lower())
    if kind == "date":
        return _date(text)
    return _datetime(text) or _date(text)  # a date-time column may hold plain dates too


MULTI_ITEM_CHARS = 40
"""The longest item of a column inferred as multi-select: longer ones read as prose."""


def _infer(cells: Iterator[tuple[int, str]], separator: str = ";") -> tuple[Kind, str | None]:
    """The narrowest kind every cell fits, and a note when a near miss left the column text.

    A column none of the scalar kinds fits is multi-select when some cell holds the
    separator and every item of every cell is short (``a;b``, ``vip ; beta;``; empty items are
    dropped as in a forced multi column):
    a note says so, since free text with a separator in it would look the same."""
    candidates: dict[Kind, tuple[int, str] | None] = {"boolean": None, "number": None, "date": None,
                                                       "datetime": None}
    fits: dict[Kind, int] = dict.fromkeys(candidates, 0)
    locale: tuple[int, str] | None = None
    seen = 0
    split: tuple[int, str] | None = None
    listlike = True
    for line, text in cells:
        seen += 1
        if listlike:
            items = [item.strip() for item in text.split(separator)]
            listlike = any(items) and all(len(item) <= MULTI_ITEM_CHARS for item in items)
            if split is None and len(items) > 1:
                split = (line, text)
        for kind in candidates:
            if _convert(kind, text, ";") is None:
                if candidates[kind] is None:
                    candidates[kind] = (line, text)
            else:
                fits[kind] += 1
        if locale is None and _LOCALE_DATE_RE.match(text):
            locale = (line, text)
    for kind in ("boolean", "number", "date", "datetime"):
        if seen and candidates[kind] is None:  # type: ignore[index]
            return kind, None  # type: ignore[return-value]
    if locale is not None:
        return "text", (f'line {locale[0]}: "{locale[1]}" is a day/month date, which is ambiguous: '
                        "kept as text; write dates as ISO 8601 (2026-04-03)")
    if listlike and split is not None:
        return "multi", (f'line {split[0]}: "{_clip(split[1])}" holds "{separator}", so the column is a '
                         f"list of values; add :text to its header to keep it as text")
    best = max(fits, key=lambda k: fits[k])
    miss = candidates[best]
    if miss is not None and fits[best] * 2 >= seen:
        return "text", f'line {miss[0]}: "{_clip(miss[1])}" is not {_EXPECTED[best]}, so the column is text'
    return "text", None


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8 (byte offset {exc.start}); save the file as UTF-8 CSV"
        raise CsvImportError(message, line) from None


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each record with the physical line it starts on (the header is line 1)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous = 0
    try:
        for record in reader:
            yield previous + 1, record
            previous = reader.line_num
    except csv.Error as exc:
        raise CsvImportError(f"not valid CSV: {exc}", previous + 1) from None


def check_options(*, separator: str, types: Mapping[str, str], list_name: str | None) -> None:
    """The options that do not depend on the file (a job checks them when it is started)."""
    if not separator or separator.isspace() or separator in ",\"\r\n":
        raise CsvImportError(f"the multi-value separator {separator!r} cannot be a comma, a quote, "
                             "a blank or a newline")
    if list_name is not None and not list_name.strip():
        raise CsvImportError("the list name is empty")
    for column, kind in types.items():
        if kind not in KINDS:
            raise CsvImportError(f'column "{column}": unknown type "{kind}" (one of {", ".join(KINDS)})')


def parse_csv(
    data: bytes,
    *,
    separator: str = ";",
    types: Mapping[str, str] | None = None,
    list_name: str | None = None,
    limits: CsvLimits = DEFAULT_CSV_LIMITS,
) -> ParsedFile:
    """The file's columns (with their kinds), its good rows as contact items, and its bad rows.

    ``list_name`` puts every imported contact on that list (added to its lists).
    """
    check_options(separator=separator, types=types or {}, list_name=list_name)
    if len(data) > limits.max_bytes:
        raise CsvImportError(f"the file is {len(data):,} bytes; the limit is {limits.max_bytes:,}")
    records = _records(_decode(data))
    first = next(records, None)
    if first is None or not any(cell.strip() for cell in first[1]):
        raise CsvImportError("the file is empty: the first line must be the header", 1)
    header = first[1]
    while header and not header[-1].strip():  # trailing empty header cells (a trailing comma)
        header = header[:-1]
    if len(header) > limits.max_columns:
        raise CsvImportError(f"{len(header)} columns; the limit is {limits.max_columns}", 1)
    specs, names = _columns(header, types or {})
    parsed = ParsedFile(columns=[])
    cells: list[tuple[int, list[str]]] = []
    for line, record in records:
        if not any(cell.strip() for cell in record):
            continue  # a blank line
        if len(cells) + len(parsed.bad) >= limits.max_rows:
            raise CsvImportError(f"more than {limits.max_rows:,} rows; split the file", line)
        problem = _shape_problem(record, len(header), limits)
        if problem is not None:
            parsed.bad.append(BadRow(line, None, problem))
            continue
        cells.append((line, [cell.strip() for cell in record[: len(header)]]))
    kinds: list[tuple[Kind, bool, str | None]] = []
    for index, (_section, _key, forced) in enumerate(specs):
        if forced is not None:
            kinds.append((forced, True, None))
        else:
            kind, note = _infer(((line, row[index]) for line, row in cells if row[index]), separator)
            kinds.append((kind, False, note))
    parsed.columns = [Column(names[i], s, k, kinds[i][0], kinds[i][1], kinds[i][2])
                      for i, (s, k, _f) in enumerate(specs)]
    _rows(parsed, cells, separator, list_name.strip() if list_name else None, limits)
    parsed.bad.sort(key=lambda bad: bad.line)
    return parsed


def _shape_problem(record: list[str], width: int, limits: CsvLimits) -> str | None:
    if len(record) < width or any(cell.strip() for cell in record[width:]):
        return f"{len(record)} cells, but the header has {width} columns"
    if sum(len(cell) for cell in record) > limits.max_row_chars:
        return f"the row is longer than {limits.max_row_chars:,} characters"
    return None


def _rows(parsed: ParsedFile, cells: list[tuple[int, list[str]]], separator: str, list_name: str | None,
          limits: CsvLimits) -> None:
    first_line: dict[str, int] = {}
    id_index = next(i for i, c in enumerate(parsed.columns) if c.section == "id")
    for line, row in cells:
        contact_id = row[id_index]
        if not contact_id:
            parsed.bad.append(BadRow(line, "contact_id", "empty; every row names its contact"))
            continue
        if contact_id in first_line:
            parsed.bad.append(BadRow(line, "contact_id", f'"{_clip(contact_id)}" is also on line '
                                                         f"{first_line[contact_id]} (one row per contact)"))
            continue
        first_line[contact_id] = line
        item: dict[str, Any] = {"contact_id": contact_id}
        problems: list[BadRow] = []
        for column, text in zip(parsed.columns, row, strict=True):
            if column.section == "id" or not text:
                continue
            if len(text) > limits.max_cell_chars:
                problems.append(BadRow(line, column.header, f"{len(text):,} characters; the limit is "
                                                            f"{limits.max_cell_chars:,}"))
                continue
            value = text if column.kind == "text" else _convert(column.kind, text, separator)
            if value is None:
                expected = _EXPECTED[column.kind]
                problems.append(BadRow(line, column.header, f'"{_clip(text)}" is not {expected}'))
            elif column.section in ("tags", "lists"):
                if value:
                    item[column.section] = {"add": value}
            else:
                item.setdefault(column.section, {})[column.key] = value
        if problems:
            parsed.bad.extend(problems)
            continue
        if list_name is not None:
            lists = item.setdefault("lists", {"add": []})["add"]
            if list_name not in lists:
                lists.append(list_name)
        parsed.rows.append(ImportRow(line, item))


# --------------------------------------------------------------------------- the import


class PreviewStore:
    """The :class:`~growthos_segments.core.ports_ingest.IngestStore` of a dry run: reads the
    stored profiles, writes nothing.

    A dry run answers with the ingestion service's own statuses and per-item
    errors (created, updated, unchanged; the same validation as a real import)
    because it *is* the service, over a store whose writes succeed without
    storing. A CSV file holds one row per contact, so no write is ever read back.
    """

    def __init__(self, store: IngestStore) -> None:
        self._store = store

    def profiles(self, tenant_id: str, contact_ids: Sequence[str]) -> dict[str, ContactDocument]:
        return self._store.profiles(tenant_id, contact_ids)

    def write_profiles(self, tenant_id: str, writes: Sequence[ProfileWrite], *, now: datetime) -> list[bool]:
        return [True] * len(writes)

    def append_events(self, tenant_id: str, events: Sequence[IngestEvent]) -> list[bool]:
        raise TypeError("a contact import stores no events")

    def forget(self, tenant_id: str, contact_id: str, *, max_events: int) -> ForgetResult:
        raise TypeError("a contact import forgets no contacts")


@dataclass(slots=True)
class ImportReport:
    """What an import did (or, dry, would do): counts per status, columns, every bad row."""

    dry_run: bool
    columns: list[Column]
    rows: int = 0
    """Rows read, bad ones included (blank lines are not rows)."""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTED, 0))
    bad: list[BadRow] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        done = ", ".join(f"{self.counts[k]:,} {k}" for k in _COUNTED)
        bad = len({b.line for b in self.bad})
        rows = "bad row" if bad == 1 else "bad rows"
        return f"{verb} {self.rows - bad:,} of {self.rows:,} rows ({done}); {bad:,} {rows}"

    def to_json(self, *, max_bad: int | None = None) -> dict[str, Any]:
        shown = self.bad if max_bad is None else self.bad[:max_bad]
        return {"dry_run": self.dry_run, "rows": self.rows, "counts": dict(self.counts),
                "columns": [c.to_json() for c in self.columns],
                "bad_rows": [b.to_json() for b in shown], "bad_row_count": len(self.bad)}


_COUNTED = ("created", "updated", "unchanged")


def _pointer_column(pointer: str, columns: Sequence[Column]) -> str | None:
    """The CSV column an ingestion error's pointer (``/items/3/custom/nps``) names, if any."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[3:]]
    for column in columns:
        if parts[:1] == ["contact_id"] and column.section == "id":
            return column.header
        whole = column.section in ("tags", "lists")
        if parts[:1] == [column.section] and (whole or parts[1:2] == [column.key]):
            return column.header
    return None


def import_rows(
    parsed: ParsedFile,
    tenant_id: str,
    service: IngestService,
    *,
    now: datetime,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Upsert the good rows in batches of :data:`MAX_CONTACTS` through ``service``.

    A row the service refuses becomes a bad row with its line; the other rows of
    its batch are written as usual. For a dry run, pass a service over a
    :class:`PreviewStore`. ``progress(rows done, rows total)`` after each batch.
    """
    report = ImportReport(dry_run=dry_run, columns=parsed.columns, rows=parsed.rows_read,
                          bad=list(parsed.bad))
    total = len(parsed.rows)
    for start in range(0, total, MAX_CONTACTS):
        batch = parsed.rows[start:start + MAX_CONTACTS]
        results = service.upsert_contacts(tenant_id, [row.item for row in batch], now=now)
        for row, result in zip(batch, results, strict=True):
            if result.status in report.counts:
                report.counts[result.status] += 1
            for error in result.errors:
                column = _pointer_column(error.pointer, parsed.columns)
                report.bad.append(BadRow(row.line, column, error.message))
        if progress is not None:
            progress(start + len(batch), total)
    report.bad.sort(key=lambda bad: bad.line)
    return report
