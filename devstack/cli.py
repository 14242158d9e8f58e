"""The ``segments`` command line: validate, evaluate and browse the catalog offline.

Every failure a user can cause (a missing file, bad JSON, an invalid rule, a
malformed contact line) ends in one readable line on stderr and a non-zero
exit; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from growthos_segments.core.errors import RuleValidationError
from growthos_segments.core.host import DuplicateNameError, PluginHost, PluginLoadError
from growthos_segments.core.limits import DEFAULT_LIMITS, EARLIEST_INSTANT, LATEST_INSTANT, in_time_range
from growthos_segments.core.rules import load_json, parse_rule, to_json
from growthos_segments.core.segments import SegmentDefinition, SegmentSet, SegmentSetError
from growthos_segments.core.timeutil import parse_now, to_iso

if TYPE_CHECKING:
    from growthos_segments.infra.settings import Settings

EXIT_INVALID = 2
EXIT_USAGE = 1
RULE_ID = "rule"


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code attached."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _host() -> PluginHost:
    from growthos_segments.plugins import default_host

    try:
        return default_host()
    except (DuplicateNameError, PluginLoadError) as exc:
        raise CliError(f"plugins: {exc}") from None


MAX_RULE_BYTES = DEFAULT_LIMITS.max_text_length
"""A rule file is at most what ``parse_rule`` accepts as JSON text."""
MAX_SEGMENTS_BYTES = 32_000_000
"""A segments file: a tenant's worth of segments, not an unbounded read."""
MAX_LINE_BYTES = 8_000_000
"""One contact (a JSON line): room for tens of thousands of events."""


def _open(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _read_bytes(path: str, limit: int) -> bytes:
    """The whole file, refusing one larger than ``limit`` (``/dev/zero`` included)."""
    with _open(path) as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise CliError(f"{path}: larger than {limit:,} bytes, the limit for this file", EXIT_INVALID)
    return data


def _decode(path: str, data: bytes, line: int = 1, offset: int = 0) -> str:
    """UTF-8 text, or one line naming where it is not (``offset``: of ``data`` in the file)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line += data.count(b"\n", 0, exc.start)
        raise CliError(f"{path}:{line}: not UTF-8 (byte offset {offset + exc.start})", EXIT_INVALID) from None


def _parse(text: str, where: str, *, one_line: bool = False) -> Any:
    try:
        return load_json(text)
    except json.JSONDecodeError as exc:
        if one_line:
            message = f"{where}: invalid JSON: {exc.msg} (column {exc.colno})"
        else:
            message = f"{where}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"
        raise CliError(message, EXIT_INVALID) from None
    except RecursionError:
        raise CliError(f"{where}: JSON is nested too deeply", EXIT_INVALID) from None


def _read_json(path: str, limit: int) -> Any:
    return _parse(_decode(path, _read_bytes(path, limit)), path)


def _contacts(path: str) -> Iterator[dict[str, Any]]:
    """Contacts one line at a time, so memory stays at one line whatever the file."""
    with _open(path) as handle:
        offset = 0
        for number in itertools.count(1):
            try:
                raw = handle.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise CliError(f"{path}:{number}: cannot read: {exc.strerror or exc}") from None
            if not raw:
                return
            if len(raw.removesuffix(b"\n")) > MAX_LINE_BYTES:
                raise CliError(f"{path}:{number}: line is longer than {MAX_LINE_BYTES:,} bytes", EXIT_INVALID)
            line = _decode(path, raw, number, offset)
            offset += len(raw)
            if not line.strip():
                continue
            doc = _parse(line, f"{path}:{number}", one_line=True)
            if not isinstance(doc, dict):
                kind = type(doc).__name__
                raise CliError(f"{path}:{number}: expected a contact object, got {kind}", EXIT_INVALID)
            if not isinstance(doc.get("contact_id"), str | int):
                raise CliError(f"{path}:{number}: contact has no 'contact_id'", EXIT_INVALID)
            yield doc


def _emit(value: Any) -> None:
    try:
        sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800") has no UTF-8: escape this line
        sys.stdout.write(json.dumps(value, default=str) + "\n")


def cmd_validate(args: argparse.Namespace) -> int:
    raw = _read_json(args.rule, MAX_RULE_BYTES)
    try:
        node = parse_rule(raw, _host())
    except RuleValidationError as exc:
        if args.json:
            _emit({"valid": False, "errors": exc.to_json()})
        else:
            print(f"{args.rule}: {len(exc.errors)} error(s)", file=sys.stderr)
            for error in exc.errors:
                print(f"  {error}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        _emit({"valid": True, "normalized": to_json(node)})
    else:
        print(f"{args.rule}: valid")
    return 0


def cmd_normalize(args: argparse.Namespace) -> int:
    raw = _read_json(args.rule, MAX_RULE_BYTES)
    try:
        _emit(to_json(parse_rule(raw, _host())))
    except RuleValidationError as exc:
        raise CliError(f"{args.rule}: invalid rule: {exc.errors[0]}"
                       + (f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""),
                       EXIT_INVALID) from None
    return 0


def _segment_set(args: argparse.Namespace, host: PluginHost) -> SegmentSet:
    definitions = [SegmentDefinition(RULE_ID, _read_json(args.rule, MAX_RULE_BYTES))]
    if args.segments:
        raw = _read_json(args.segments, MAX_SEGMENTS_BYTES)
        if not isinstance(raw, list):
            raise CliError(f"{args.segments}: expected a JSON list of segments", EXIT_INVALID)
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise CliError(f"{args.segments}: segment #{index}: expected an object", EXIT_INVALID)
            try:
                definitions.append(SegmentDefinition.from_json(item))
            except KeyError as exc:
                raise CliError(f"{args.segments}: segment #{index}: {exc.args[0]!r} is required",
                               EXIT_INVALID) from None
            except (TypeError, ValueError) as exc:
                raise CliError(f"{args.segments}: segment #{index}: {exc}", EXIT_INVALID) from None
    try:
        return SegmentSet(host, definitions)
    except SegmentSetError as exc:
        first_id, errors = next(iter(exc.errors.items()))
        where = args.rule if first_id == RULE_ID else f"{args.segments} segment {first_id!r}"
        more = sum(len(v) for v in exc.errors.values()) - 1
        tail = f" (and {more} more; run 'segments validate')" if more else ""
        raise CliError(f"{where}: invalid rule: {errors[0]}{tail}", EXIT_INVALID) from None


def _now(args: argparse.Namespace) -> datetime:
    try:
        now = parse_now(args.now)
    except ValueError as exc:
        raise CliError(f"--now: {exc}") from None
    if not in_time_range(now):
        raise CliError(f"--now: {args.now} is outside the supported years "
                       f"{EARLIEST_INSTANT.year}-{LATEST_INSTANT.year - 1}")
    return now


def cmd_evaluate(args: argparse.Namespace) -> int:
    now = _now(args)
    host = _host()
    segments = _segment_set(args, host)
    compiled = segments.segments[RULE_ID]
    contacts: Iterable[dict[str, Any]] = _contacts(args.contacts)  # streamed: one line in memory
    contexts: dict[Any, dict[str, Any]] | None = None
    if any(s.reads.context for s in segments.segments.values()):
        # Tenant-wide data (RFM thresholds) comes from this file's contacts: read them all first.
        contacts = list(contacts)
        tenants: dict[Any, list[dict[str, Any]]] = {}
        for doc in contacts:
            tenants.setdefault(doc.get("tenant_id"), []).append(doc)
        contexts = {tenant: host.tenant_context(str(tenant), docs, now) for tenant, docs in tenants.items()}
    for doc in contacts:
        context = None if contexts is None else contexts[doc.get("tenant_id")]
        view = segments.view(doc, context=context)
        if args.explain:
            explanation = compiled.explain(view, now)
            match, recheck, trace = explanation.match, explanation.recheck_at, explanation.trace
        else:
            (match, recheck), trace = compiled.evaluate(view, now), None
        line: dict[str, Any] = {
            "contact_id": doc["contact_id"], "match": match, "recheck_at": to_iso(recheck),
        }
        if trace is not None:
            line["trace"] = trace
        _emit(line)
    return 0


def cmd_count(args: argparse.Namespace) -> int:
    """The exact count (and members) of the rule over the contacts, by SQL when the rule
    has an exact SQL form, else contact by contact; each tenant answered on its own and
    summed, as ``evaluate`` would list them. ``--contacts`` is a JSONL file or the
    analytical copy's folder (``<root>/tenant_id=<tenant>/...`` in Parquet)."""
    now = _now(args)
    host = _host()
    segments = _segment_set(args, host)
    try:
        from growthos_segments.analytics.engine import answer, answer_json
    except ImportError as exc:
        raise CliError(f"count needs the analytics extra (pip install "
                       f"'growthos-segments[analytics]'): {exc}") from None
    answers = [answer(con, host, segments, RULE_ID, tenant, now) for con, tenant in _copies(args.contacts)]
    out = answer_json(answers[0])
    out["count"] = sum(len(a.members) for a in answers)
    if args.members:
        out["members"] = [member for a in answers for member in a.members]
    _emit(out)
    return 0


def _copies(path: str) -> Iterator[tuple[Any, str]]:
    """``(connection, tenant)`` for each tenant of a JSONL file or of a Parquet copy's folder."""
    from growthos_segments.analytics.documents import connect, load_documents

    if os.path.isdir(path):
        import duckdb

        from growthos_segments.analytics.parquet import DocumentError, open_tenant

        folders = sorted(p.name.removeprefix("tenant_id=") for p in Path(path).glob("tenant_id=*"))
        if not folders:
            raise CliError(f"{path}: no tenant_id=<tenant> folder of the analytical copy here", EXIT_INVALID)
        for tenant in folders:
            con = duckdb.connect()
            try:
                open_tenant(con, path, tenant)
            except (DocumentError, FileNotFoundError) as exc:
                raise CliError(f"{path}: {exc}", EXIT_INVALID) from None
            yield con, tenant
        return
    try:
        written = datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    except OSError:
        written = None  # _contacts() below names the problem with the file
    con = connect()
    try:
        load_documents(con, _contacts(path), updated_at=written)
    except ValueError as exc:
        raise CliError(f"{path}: {exc}", EXIT_INVALID) from None
    tenants = [row[0] for row in con.execute("SELECT DISTINCT tenant_id FROM contacts ORDER BY 1").fetchall()]
    for tenant in tenants or [""]:
        yield con, tenant


def cmd_condition_types(args: argparse.Namespace) -> int:
    catalog = _host().catalog()
    sys.stdout.write(json.dumps(catalog, indent=2, ensure_ascii=False) + "\n")
    return 0


def cmd_templates(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(_host().list_templates(), indent=2, ensure_ascii=False) + "\n")
    return 0


def _local_settings(args: argparse.Namespace) -> Settings:
    """Settings for the running local stack: ``--endpoint``, else ``MOTO_PORT`` (as ``make run``)."""
    import os

    from growthos_segments.devstack.stack import DEFAULT_MOTO_PORT
    from growthos_segments.infra.settings import Settings

    endpoint = args.endpoint or f"http://127.0.0.1:{os.environ.get('MOTO_PORT') or DEFAULT_MOTO_PORT}"
    return Settings.local(args.prefix, endpoint_url=endpoint, region=args.region)


def _stop_on_signals() -> None:
    """SIGINT and SIGTERM end a long-running command like Ctrl-C does.

    Explicitly: a command started in the background of a script inherits SIGINT
    as ignored (Python then installs no KeyboardInterrupt handler of its own),
    and a supervisor stops processes with SIGTERM; either way ``tail`` must get
    to remove its subscription and ``simulate`` to say how far it got.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Write realistic changes into a running local stack (``make run``); AWS libraries load only here."""
    from growthos_segments.devstack.simulate import SimulationError, simulate

    if args.count is not None and args.count < 1:
        raise CliError("--count must be at least 1")
    settings = _local_settings(args)
    _stop_on_signals()
    try:
        written = simulate(settings, args.tenant, rate=args.rate, count=args.count, duration=args.duration,
                           seed=args.seed, emit=lambda line: print(line, flush=True))
    except SimulationError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 0
    print(f"wrote {written} change(s)", flush=True)
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    """Print the enter/exit events of a running local stack's bus until Ctrl-C."""
    import threading

    from botocore.exceptions import BotoCoreError, ClientError

    from growthos_segments.devstack.bus import TailError, tail
    from growthos_segments.infra import aws

    settings = _local_settings(args)
    events, sqs = aws.client("events", settings), aws.client("sqs", settings)
    where = f"{settings.event_bus_name} at {settings.endpoint_url}"

    def ready() -> None:
        narrowed = "".join(f" {k} {v}" for k, v in (("tenant", args.tenant), ("segment", args.segment)) if v)
        print(f"watching {where} for Segment Entered / Exited{narrowed}; Ctrl-C stops", file=sys.stderr,
              flush=True)

    _stop_on_signals()
    try:
        tail(events, sqs, settings.event_bus_name, stop=threading.Event(),
             emit=lambda line: print(line, flush=True), tenant_id=args.tenant, segment_id=args.segment,
             raw=args.json, on_ready=ready)
    except TailError as exc:
        raise CliError(f"{exc} at {settings.endpoint_url}; is `make run` running with the same "
                       f"MOTO_PORT and --prefix?") from None
    except (ClientError, BotoCoreError) as exc:
        raise CliError(f"cannot read {where}: {exc}; is `make run` running (with the same MOTO_PORT)?") \
            from None
    except KeyboardInterrupt:
        pass
    return 0


EXIT_BAD_ROWS = 3
"""``segments import``: the good rows were imported, some rows were bad (each printed)."""


def _types(options: Sequence[str]) -> dict[str, str]:
    types: dict[str, str] = {}
    for option in options:
        column, equals, kind = option.partition("=")
        if not equals or not column.strip() or not kind.strip():
            raise CliError(f"--type {option}: write COLUMN=KIND, e.g. --type nps=number")
        types[column.strip()] = kind.strip()
    return types


def cmd_import(args: argparse.Namespace) -> int:
    """Import a CSV file of contacts into the running local stack through the ingestion service.

    Exit 0 when every row was imported, 3 when some rows were bad (each is printed
    with its line on stderr; the others were imported), 2 when the file as a whole
    cannot be imported (nothing was), 1 on a usage error or an unreachable stack.
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    from growthos_segments.devstack.progress import ProgressLine
    from growthos_segments.infra.keys import InvalidKeyError, check_tenant_id
    from growthos_segments.infra.repos import build_repositories
    from growthos_segments.infra.repos.ingest import DynamoIngest
    from growthos_segments.services.csv_import import (
        DEFAULT_CSV_LIMITS,
        CsvImportError,
        PreviewStore,
        import_rows,
        parse_csv,
    )
    from growthos_segments.services.ingest import IngestService

    try:
        tenant = check_tenant_id(args.tenant)
    except InvalidKeyError as exc:
        raise CliError(f"--tenant: {exc}") from None
    types = _types(args.type or [])
    data = _read_bytes(args.file, DEFAULT_CSV_LIMITS.max_bytes)
    try:
        parsed = parse_csv(data, separator=args.separator, types=types, list_name=args.list)
    except CsvImportError as exc:
        raise CliError(f"{args.file}: {exc}", EXIT_INVALID) from None
    for column in parsed.columns:
        if args.dry_run:
            print(f"column {column.header!r} -> {column.to_json()['target']}: {column.kind}"
                  + ("" if column.forced else " (inferred)"), flush=True)
        if column.note:
            print(f"{args.file}: column {column.header!r}: {column.note}", file=sys.stderr, flush=True)
    settings = _local_settings(args)
    repos = build_repositories(settings)
    unreachable = "is `make run` running (with the same MOTO_PORT and --prefix)?"
    try:
        repos.client.describe_table(TableName=settings.tables.contacts)
    except (ClientError, BotoCoreError) as exc:
        raise CliError(f"cannot reach the local stack's tables at {settings.endpoint_url} ({exc}); "
                       f"{unreachable}") from None
    store = DynamoIngest(repos.contacts, repos.events)
    target = PreviewStore(store) if args.dry_run else store
    service = IngestService(target, retention=settings.event_retention)
    bar = ProgressLine(stream=sys.stderr)
    label = f"{'checking' if args.dry_run else 'importing'} {os.path.basename(args.file)}"
    _stop_on_signals()
    try:
        report = import_rows(parsed, tenant, service, now=datetime.now(UTC), dry_run=args.dry_run,
                             progress=lambda done, total: bar.step(label, done, total))
    except (ClientError, BotoCoreError, PynamoDBException) as exc:
        raise CliError(f"cannot write to the local stack at {settings.endpoint_url} ({exc}); "
                       f"{unreachable}") from None
    for bad in report.bad:
        print(f"{args.file}: {bad}", file=sys.stderr)
    print(f"{args.file}: tenant {tenant}: {report.summary()}", flush=True)
    return EXIT_BAD_ROWS if report.bad else 0


def cmd_copy_rebuild(args: argparse.Namespace) -> int:
    """Write one tenant's analytical copy from the tables (an existing tenant, a lost copy)."""
    import os
    from dataclasses import replace

    from botocore.exceptions import BotoCoreError, ClientError

    from growthos_segments.handlers.copy import build_copy_service
    from growthos_segments.infra.keys import InvalidKeyError, check_tenant_id
    from growthos_segments.infra.settings import Settings, SettingsError

    where = args.copy or os.environ.get("ANALYTICS_COPY")
    if not where:
        raise CliError("say where the copy lives: --copy FOLDER or s3://bucket/prefix (or ANALYTICS_COPY)")
    try:
        tenant = check_tenant_id(args.tenant)
        settings = Settings.from_env() if args.deployed else _local_settings(args)
        service = build_copy_service(replace(settings, analytics_copy=where))
        written = service.rebuild(tenant)
    except (InvalidKeyError, SettingsError) as exc:
        raise CliError(str(exc)) from None
    except (ClientError, BotoCoreError) as exc:
        raise CliError(f"cannot read the tables: {exc}") from None
    print(f"tenant {tenant}: {written} contacts copied into {where}", flush=True)
    return 0


def cmd_copy_athena_views(args: argparse.Namespace) -> int:
    """Print the Athena (Trino) statements that create the copy's merged views."""
    from growthos_segments.analytics.deltas import athena_views

    for view in athena_views(args.database).values():
        print(view.sql("trino", pretty=True) + ";\n")
    return 0


def _local_stack_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--endpoint", help="moto server URL (default: http://127.0.0.1:$MOTO_PORT, port 5055)")
    add("--prefix", default="growthos", help="the local stack's --prefix (default: growthos)")
    add("--region", default="us-east-1", help="the local stack's region (default: us-east-1)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"segments: {message}\n")


def _rule_over_contacts(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of the commands that apply one rule to a JSONL file of contacts."""
    command.add_argument("--rule", required=True, metavar="RULE.json")
    command.add_argument("--contacts", required=True, metavar="CONTACTS.jsonl")
    command.add_argument("--now", metavar="ISO-8601", help="evaluation time (default: the clock)")
    command.add_argument("--segments", metavar="SEGMENTS.json",
                         help="segments the rule references: a JSON list of {id, rule, type, ...}")
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="segments", description="GrowthOS segment engine: rules offline.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    validate = commands.add_parser("validate", help="check a rule; exit 2 with every error if invalid")
    validate.add_argument("rule", metavar="RULE.json")
    validate.add_argument("--json", action="store_true", help="machine-readable output")
    validate.set_defaults(run=cmd_validate)

    normalize = commands.add_parser("normalize", help="print a rule in its normal form")
    normalize.add_argument("rule", metavar="RULE.json")
    normalize.set_defaults(run=cmd_normalize)

    evaluate = _rule_over_contacts(commands.add_parser(
        "evaluate", help="evaluate a rule for each contact of a JSONL file"))
    evaluate.add_argument("--explain", action="store_true", help="add the per-node trace")
    evaluate.set_defaults(run=cmd_evaluate)

    count = _rule_over_contacts(commands.add_parser(
        "count", help="exact count of a rule over a JSONL file of contacts (SQL when the rule allows)"))
    count.add_argument("--members", action="store_true", help="also list the members' contact ids (as text)")
    count.set_defaults(run=cmd_count)

    catalog = commands.add_parser("condition-types", help="the condition-type catalog as JSON")
    catalog.set_defaults(run=cmd_condition_types)

    templates = commands.add_parser("templates", help="the segment templates as JSON")
    templates.set_defaults(run=cmd_templates)

    simulate = commands.add_parser("simulate", help="write realistic events into the running local stack")
    add = simulate.add_argument
    add("--tenant", default="demo", help="tenant to write for (default: demo)")
    add("--rate", type=float, default=2.0, help="changes per second, on average (default: 2)")
    add("--count", type=int, help="stop after this many changes (default: until Ctrl-C)")
    add("--duration", type=float, help="stop after this many seconds")
    add("--seed", type=int, help="random seed, for a repeatable run")
    _local_stack_options(simulate)
    simulate.set_defaults(run=cmd_simulate)

    tail = commands.add_parser("tail", help="print the running local stack's enter/exit events")
    tail.add_argument("--tenant", help="only this tenant's events")
    tail.add_argument("--segment", help="only this segment's events")
    tail.add_argument("--json", action="store_true", help="each event's whole envelope, one JSON per line")
    _local_stack_options(tail)
    tail.set_defaults(run=cmd_tail)

    imports = commands.add_parser(
        "import", help="import a CSV file of contacts into the running local stack (exit 3: some rows bad)")
    add = imports.add_argument
    add("file", metavar="CONTACTS.csv", help="UTF-8 CSV with a header row and a contact_id column")
    add("--tenant", default="demo", help="tenant to import into (default: demo)")
    add("--dry-run", action="store_true", help="report what would change and every bad row; write nothing")
    add("--list", metavar="NAME", help="also put every imported contact on this list")
    add("--separator", default=";", help="between the values of a multi-value cell (default: ';')")
    add("--type", action="append", metavar="COLUMN=KIND",
        help="force a column's type: text, number, boolean, date, datetime, multi (repeatable)")
    _local_stack_options(imports)
    imports.set_defaults(run=cmd_import)

    copy = commands.add_parser("copy", help="the analytical copy of contacts and events")
    copy_commands = copy.add_subparsers(dest="copy_command", required=True, parser_class=_Parser)
    rebuild = copy_commands.add_parser(
        "rebuild", help="write one tenant's copy from the tables (the local stack's, or --deployed)")
    rebuild.add_argument("--tenant", required=True)
    rebuild.add_argument("--copy", metavar="FOLDER|s3://BUCKET/PREFIX",
                         help="where the copy lives (default: $ANALYTICS_COPY; `make run` prints it)")
    rebuild.add_argument("--deployed", action="store_true",
                         help="read the tables the environment names (CONTACTS_TABLE ..., as on AWS)")
    _local_stack_options(rebuild)
    rebuild.set_defaults(run=cmd_copy_rebuild)
    views = copy_commands.add_parser(
        "athena-views", help="print the Athena statements of the copy's merged views (contacts_current ...)")
    views.add_argument("--database", default="growthos_segments_copy",
                       help="the stack's Glue database (AnalyticsDatabase; default: growthos_segments_copy)")
    views.set_defaults(run=cmd_copy_athena_views)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CliError as exc:
        print(f"segments: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:  # `segments evaluate ... | head`
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
