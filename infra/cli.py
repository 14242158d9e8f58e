"""The ``segments`` command line: validate, evaluate and browse the catalog offline.

Every failure a user can cause (a missing file, bad JSON, an invalid rule, a
malformed contact line) ends in one readable line on stderr and a non-zero
exit; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from core.errors import RuleValidationError
from core.host import DuplicateNameError, PluginHost, PluginLoadError
from core.rules import parse_rule, to_json
from core.segments import SegmentDefinition, SegmentSet, SegmentSetError
from core.timeutil import parse_now, to_iso

if TYPE_CHECKING:
    from infra.settings import Settings

EXIT_INVALID = 2
EXIT_USAGE = 1
RULE_ID = "rule"


class CliError(Exception):
    """A user-facing failure: printed as one line, exit code attached."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _host() -> PluginHost:
    from plugins import default_host

    try:
        return default_host()
    except (DuplicateNameError, PluginLoadError) as exc:
        raise CliError(f"plugins: {exc}") from None


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory, expected a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot read: {exc}") from None


def _read_json(path: str) -> Any:
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}", EXIT_INVALID) from None
    except RecursionError:
        raise CliError(f"{path}: JSON is nested too deeply", EXIT_INVALID) from None


def _contacts(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    text = _read_text(path)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            message = f"{path}:{number}: invalid JSON: {exc.msg} (column {exc.colno})"
            raise CliError(message, EXIT_INVALID) from None
        except RecursionError:
            raise CliError(f"{path}:{number}: JSON is nested too deeply", EXIT_INVALID) from None
        if not isinstance(doc, dict):
            kind = type(doc).__name__
            raise CliError(f"{path}:{number}: expected a contact object, got {kind}", EXIT_INVALID)
        if not isinstance(doc.get("contact_id"), str | int):
            raise CliError(f"{path}:{number}: contact has no 'contact_id'", EXIT_INVALID)
        yield number, doc


def _emit(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


def cmd_validate(args: argparse.Namespace) -> int:
    raw = _read_json(args.rule)
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
    raw = _read_json(args.rule)
    try:
        _emit(to_json(parse_rule(raw, _host())))
    except RuleValidationError as exc:
        raise CliError(f"{args.rule}: invalid rule: {exc.errors[0]}"
                       + (f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""),
                       EXIT_INVALID) from None
    return 0


def _segment_set(args: argparse.Namespace, host: PluginHost) -> SegmentSet:
    definitions = [SegmentDefinition(RULE_ID, _read_json(args.rule))]
    if args.segments:
        raw = _read_json(args.segments)
        if not isinstance(raw, list):
            raise CliError(f"{args.segments}: expected a JSON list of segments", EXIT_INVALID)
        for index, item in enumerate(raw):
            try:
                definitions.append(SegmentDefinition.from_json(item))
            except (KeyError, TypeError, ValueError) as exc:
                raise CliError(f"{args.segments}: segment #{index}: {exc}", EXIT_INVALID) from None
    try:
        return SegmentSet(host, definitions)
    except SegmentSetError as exc:
        first_id, errors = next(iter(exc.errors.items()))
        where = args.rule if first_id == RULE_ID else f"{args.segments} segment {first_id!r}"
        more = sum(len(v) for v in exc.errors.values()) - 1
        tail = f" (and {more} more; run 'segments validate')" if more else ""
        raise CliError(f"{where}: invalid rule: {errors[0]}{tail}", EXIT_INVALID) from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    try:
        now = parse_now(args.now)
    except ValueError as exc:
        raise CliError(f"--now: {exc}") from None
    host = _host()
    segments = _segment_set(args, host)
    compiled = segments.segments[RULE_ID]
    contacts = [doc for _, doc in _contacts(args.contacts)]
    needs_context = any(s.reads.context for s in segments.segments.values())
    contexts: dict[Any, dict[str, Any]] = {}
    for doc in contacts:
        context = None
        if needs_context:  # tenant-wide data (RFM thresholds) from this file's contacts, per tenant
            tenant = doc.get("tenant_id")
            if tenant not in contexts:
                same_tenant = [c for c in contacts if c.get("tenant_id") == tenant]
                contexts[tenant] = host.tenant_context(str(tenant), same_tenant, now)
            context = contexts[tenant]
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

    from infra.local.stack import DEFAULT_MOTO_PORT
    from infra.settings import Settings

    endpoint = args.endpoint or f"http://127.0.0.1:{os.environ.get('MOTO_PORT') or DEFAULT_MOTO_PORT}"
    return Settings.local(args.prefix, endpoint_url=endpoint, region=args.region)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Write realistic changes into a running local stack (``make run``); AWS libraries load only here."""
    from infra.local.simulate import SimulationError, simulate

    if args.count is not None and args.count < 1:
        raise CliError("--count must be at least 1")
    settings = _local_settings(args)
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

    from infra import aws
    from infra.local.bus import TailError, tail

    settings = _local_settings(args)
    events, sqs = aws.client("events", settings), aws.client("sqs", settings)
    where = f"{settings.event_bus_name} at {settings.endpoint_url}"

    def ready() -> None:
        narrowed = "".join(f" {k} {v}" for k, v in (("tenant", args.tenant), ("segment", args.segment)) if v)
        print(f"watching {where} for Segment Entered / Exited{narrowed}; Ctrl-C stops", file=sys.stderr,
              flush=True)

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


def _local_stack_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--endpoint", help="moto server URL (default: http://127.0.0.1:$MOTO_PORT, port 5055)")
    add("--prefix", default="growthos", help="the local stack's --prefix (default: growthos)")
    add("--region", default="us-east-1", help="the local stack's region (default: us-east-1)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"segments: {message}\n")


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

    evaluate = commands.add_parser("evaluate", help="evaluate a rule for each contact of a JSONL file")
    evaluate.add_argument("--rule", required=True, metavar="RULE.json")
    evaluate.add_argument("--contacts", required=True, metavar="CONTACTS.jsonl")
    evaluate.add_argument("--now", metavar="ISO-8601", help="evaluation time (default: the clock)")
    evaluate.add_argument("--explain", action="store_true", help="add the per-node trace")
    evaluate.add_argument("--segments", metavar="SEGMENTS.json",
                          help="segments the rule references: a JSON list of {id, rule, type, ...}")
    evaluate.set_defaults(run=cmd_evaluate)

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
