"""Functions, triggers and the API's authorizer, read from ``template.yaml``.

SAM's ``sam local`` needs Docker; this module reads the same declarations it
would, so every batch size, retry limit, filter and destination the local stack
applies is the one that gets deployed. Only the subset of SAM/CloudFormation the
template uses is understood (``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` and the
pseudo parameters); anything else is an error that names the offending place,
rather than a silently different local behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ApiRoute",
    "Authorizer",
    "FunctionSpec",
    "LocalApp",
    "QueueSource",
    "Resolver",
    "ScheduleSource",
    "StreamSource",
    "TemplateError",
    "load_app",
]


class TemplateError(ValueError):
    """The template uses something the local stack cannot reproduce faithfully."""


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One ``AWS::Serverless::Function`` with Globals applied."""

    logical_id: str
    handler: str
    """``module.attribute``, e.g. ``growthos_segments.handlers.stream.handler``."""
    timeout: int
    memory: int
    environment: Mapping[str, Any]
    """Unresolved: values may still be ``{"Ref": ...}`` (see :class:`Resolver`)."""


@dataclass(frozen=True, slots=True)
class StreamSource:
    """A ``Type: DynamoDB`` event: one event source mapping on a table's stream."""

    function: str
    name: str
    table: str
    """Logical id of the table whose ``StreamArn`` the event reads."""
    starting_position: str = "TRIM_HORIZON"
    batch_size: int = 100
    batching_window: float = 0.0
    max_retries: int = -1
    """-1: retry until the record expires (Lambda's default)."""
    bisect_on_error: bool = False
    report_item_failures: bool = False
    max_record_age: int = -1
    filters: tuple[str, ...] = ()
    """EventBridge-style patterns (JSON text), any of which lets a record through."""
    on_failure: Any = None
    """Unresolved destination (``{"Fn::GetAtt": [queue, "Arn"]}``) or None."""
    on_failure_type: str | None = None
    enabled: bool = True
    tumbling_window: int = 0
    """``TumblingWindowInSeconds`` (0: none): each call then carries its shard and window,
    and a response without ``state`` is a failed call."""


@dataclass(frozen=True, slots=True)
class QueueSource:
    """A ``Type: SQS`` event."""

    function: str
    name: str
    queue: str
    batch_size: int = 10
    batching_window: float = 0.0
    report_item_failures: bool = False
    max_concurrency: int | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class ScheduleSource:
    """A ``Type: Schedule`` event (EventBridge scheduled rule)."""

    function: str
    name: str
    expression: str
    enabled: bool = True

    def rate_seconds(self) -> float | None:
        """Seconds between runs for ``rate(N unit)``; ``None`` for ``cron(...)``."""
        match = re.fullmatch(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)", self.expression)
        if match is None:
            return None
        unit = match.group(2).rstrip("s")
        return int(match.group(1)) * {"minute": 60, "hour": 3600, "day": 86400}[unit]


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """A ``Type: Api`` event: ``method`` ``path`` on the REST API ``api``."""

    function: str
    name: str
    api: str
    path: str
    method: str

    def pattern(self) -> re.Pattern[str]:
        """``/{proxy+}`` matches one or more segments, ``{name}`` exactly one."""
        out = ""
        for part in re.split(r"(\{[^}]+\})", self.path):
            if part.startswith("{") and part.endswith("+}"):
                out += rf"(?P<{part[1:-2]}>.+)"
            elif part.startswith("{") and part.endswith("}"):
                out += rf"(?P<{part[1:-1]}>[^/]+)"
            else:
                out += re.escape(part)
        return re.compile(out + r"\Z")

    def matches(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method.upper()):
            return None
        found = self.pattern().match(path)
        return None if found is None else found.groupdict()


@dataclass(frozen=True, slots=True)
class Authorizer:
    """The REST API's default Lambda authorizer."""

    name: str
    function: str
    payload_type: str = "TOKEN"
    identity_headers: tuple[str, ...] = ()
    reauthorize_every: int = 300


@dataclass(frozen=True, slots=True)
class LocalApp:
    """Everything the local stack runs, as the template declares it."""

    functions: Mapping[str, FunctionSpec]
    streams: tuple[StreamSource, ...]
    queues: tuple[QueueSource, ...]
    schedules: tuple[ScheduleSource, ...]
    routes: tuple[ApiRoute, ...]
    authorizers: Mapping[str, Authorizer | None] = field(default_factory=dict)
    """Default authorizer per REST API logical id (``None``: the API has none)."""
    stages: Mapping[str, Any] = field(default_factory=dict)
    """Unresolved ``StageName`` per REST API logical id."""
    global_environment: Mapping[str, Any] = field(default_factory=dict)


# --- reading ------------------------------------------------------------------


def _bool(value: Any, where: str, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise TemplateError(f"{where}: expected true/false, got {value!r}")


def _int(value: Any, where: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TemplateError(f"{where}: expected an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise TemplateError(f"{where}: expected an integer, got {value!r}") from None


def _reports_items(properties: Mapping[str, Any]) -> bool:
    return "ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or [])


def _getatt_target(value: Any, attribute: str, where: str) -> str:
    """Logical id of ``!GetAtt X.<attribute>`` (the only stream/queue form the stack knows)."""
    if isinstance(value, Mapping) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        if isinstance(target, list) and len(target) == 2 and target[1] == attribute:
            return str(target[0])
    raise TemplateError(f"{where}: expected !GetAtt <LogicalId>.{attribute}, got {value!r}")


def load_app(template: Mapping[str, Any]) -> LocalApp:
    """Functions and triggers of a SAM template (with ``Globals`` applied)."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    global_fn: Mapping[str, Any] = template.get("Globals", {}).get("Function", {})
    global_env = dict(global_fn.get("Environment", {}).get("Variables", {}) or {})
    functions: dict[str, FunctionSpec] = {}
    streams: list[StreamSource] = []
    queues: list[QueueSource] = []
    schedules: list[ScheduleSource] = []
    routes: list[ApiRoute] = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props: Mapping[str, Any] = resource.get("Properties", {})
        where = f"Resources.{logical_id}"
        handler = props.get("Handler", global_fn.get("Handler"))
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{where}.Handler: expected 'module.function', got {handler!r}")
        env = {**global_env, **(props.get("Environment", {}).get("Variables", {}) or {})}
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            handler=handler,
            timeout=_int(props.get("Timeout", global_fn.get("Timeout")), f"{where}.Timeout", 3),
            memory=_int(props.get("MemorySize", global_fn.get("MemorySize")), f"{where}.MemorySize", 128),
            environment=env,
        )
        for event_name, event in (props.get("Events") or {}).items():
            kind = event.get("Type")
            ep: Mapping[str, Any] = event.get("Properties", {})
            at = f"{where}.Events.{event_name}"
            if kind == "DynamoDB":
                streams.append(_stream_source(logical_id, event_name, ep, at))
            elif kind == "SQS":
                queues.append(
                    QueueSource(
                        function=logical_id,
                        name=event_name,
                        queue=_getatt_target(ep.get("Queue"), "Arn", f"{at}.Queue"),
                        batch_size=_int(ep.get("BatchSize"), f"{at}.BatchSize", 10),
                        batching_window=float(ep.get("MaximumBatchingWindowInSeconds") or 0),
                        report_item_failures=_reports_items(ep),
                        max_concurrency=(ep.get("ScalingConfig") or {}).get("MaximumConcurrency"),
                        enabled=_bool(ep.get("Enabled"), f"{at}.Enabled", True),
                    )
                )
            elif kind == "Schedule":
                expression = ep.get("Schedule")
                if not isinstance(expression, str):
                    raise TemplateError(f"{at}.Schedule: expected rate(...) or cron(...)")
                schedules.append(
                    ScheduleSource(logical_id, event_name, expression, _bool(ep.get("Enabled"), at, True))
                )
            elif kind == "Api":
                api = ep.get("RestApiId")
                api_id = api["Ref"] if isinstance(api, Mapping) and "Ref" in api else "ServerlessRestApi"
                method = str(ep.get("Method")).upper()
                routes.append(ApiRoute(logical_id, event_name, api_id, str(ep.get("Path")), method))
            else:
                raise TemplateError(f"{at}: event type {kind!r} has no local equivalent")
    authorizers, stages = _apis(resources, functions)
    return LocalApp(
        functions=functions,
        streams=tuple(streams),
        queues=tuple(queues),
        schedules=tuple(schedules),
        routes=tuple(routes),
        authorizers=authorizers,
        stages=stages,
        global_environment=global_env,
    )


def _stream_source(function: str, name: str, ep: Mapping[str, Any], at: str) -> StreamSource:
    known = {
        "Stream",
        "StartingPosition",
        "BatchSize",
        "MaximumBatchingWindowInSeconds",
        "FunctionResponseTypes",
        "MaximumRetryAttempts",
        "BisectBatchOnFunctionError",
        "MaximumRecordAgeInSeconds",
        "FilterCriteria",
        "DestinationConfig",
        "Enabled",
        "ParallelizationFactor",
        "TumblingWindowInSeconds",
    }
    unknown = sorted(set(ep) - known)
    if unknown:
        raise TemplateError(f"{at}: the local pump does not implement {', '.join(unknown)}")
    if _int(ep.get("ParallelizationFactor"), f"{at}.ParallelizationFactor", 1) != 1:
        raise TemplateError(f"{at}.ParallelizationFactor: only 1 (strict per-shard order) is implemented")
    position = ep.get("StartingPosition", "TRIM_HORIZON")
    if position not in ("TRIM_HORIZON", "LATEST"):
        raise TemplateError(f"{at}.StartingPosition: expected TRIM_HORIZON or LATEST, got {position!r}")
    window = _int(ep.get("TumblingWindowInSeconds"), f"{at}.TumblingWindowInSeconds", 0)
    if not 0 <= window <= 900:
        raise TemplateError(f"{at}.TumblingWindowInSeconds: expected 0 to 900 seconds, got {window}")
    destination = (ep.get("DestinationConfig") or {}).get("OnFailure") or {}
    filters = tuple(str(f.get("Pattern")) for f in ((ep.get("FilterCriteria") or {}).get("Filters") or []))
    return StreamSource(
        function=function,
        name=name,
        table=_getatt_target(ep.get("Stream"), "StreamArn", f"{at}.Stream"),
        starting_position=position,
        batch_size=_int(ep.get("BatchSize"), f"{at}.BatchSize", 100),
        batching_window=float(ep.get("MaximumBatchingWindowInSeconds") or 0),
        max_retries=_int(ep.get("MaximumRetryAttempts"), f"{at}.MaximumRetryAttempts", -1),
        bisect_on_error=_bool(
            ep.get("BisectBatchOnFunctionError"), f"{at}.BisectBatchOnFunctionError", False
        ),
        report_item_failures=_reports_items(ep),
        max_record_age=_int(ep.get("MaximumRecordAgeInSeconds"), f"{at}.MaximumRecordAgeInSeconds", -1),
        filters=filters,
        on_failure=destination.get("Destination"),
        on_failure_type=destination.get("Type"),
        enabled=_bool(ep.get("Enabled"), f"{at}.Enabled", True),
        tumbling_window=window,
    )


def _apis(
    resources: Mapping[str, Any], functions: Mapping[str, FunctionSpec]
) -> tuple[dict[str, Authorizer | None], dict[str, Any]]:
    authorizers: dict[str, Authorizer | None] = {}
    stages: dict[str, Any] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Api":
            continue
        props: Mapping[str, Any] = resource.get("Properties", {})
        stages[logical_id] = props.get("StageName", "Prod")
        auth: Mapping[str, Any] = props.get("Auth") or {}
        default = auth.get("DefaultAuthorizer")
        if default is None or default == "AWS_IAM":
            authorizers[logical_id] = None
            continue
        declared: Mapping[str, Any] = (auth.get("Authorizers") or {}).get(default) or {}
        where = f"Resources.{logical_id}.Properties.Auth.Authorizers.{default}"
        function = _getatt_target(declared.get("FunctionArn"), "Arn", f"{where}.FunctionArn")
        if function not in functions:
            raise TemplateError(f"{where}.FunctionArn: {function} is not a function of this template")
        identity: Mapping[str, Any] = declared.get("Identity") or {}
        authorizers[logical_id] = Authorizer(
            name=str(default),
            function=function,
            payload_type=str(declared.get("FunctionPayloadType", "TOKEN")),
            identity_headers=tuple(str(h) for h in identity.get("Headers") or ()),
            reauthorize_every=_int(identity.get("ReauthorizeEvery"), f"{where}.ReauthorizeEvery", 300),
        )
    return authorizers, stages


# --- intrinsic functions ------------------------------------------------------


_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass
class Resolver:
    """Resolves ``Ref`` / ``Fn::GetAtt`` / ``Fn::Sub`` against the local stack.

    ``refs`` maps a logical id or parameter to what ``Ref`` returns; ``attributes``
    maps ``(logical id, attribute)`` to what ``GetAtt`` returns. Unknown names
    raise :class:`TemplateError`, so a new reference in the template is noticed
    instead of becoming an empty string in a function's environment.
    """

    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    lazy_attributes: dict[tuple[str, str], Callable[[], Any]] = field(default_factory=dict)
    conditions: Mapping[str, Any] = field(default_factory=dict)
    """The template's ``Conditions`` (``Fn::Equals`` only), decided when an ``Fn::If`` asks."""

    def resolve(self, value: Any, where: str = "template") -> Any:
        if isinstance(value, Mapping):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref":
                    return self.ref(str(arg), where)
                if key == "Fn::GetAtt":
                    logical_id, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                    return self.getatt(str(logical_id), str(attribute), where)
                if key == "Fn::Sub":
                    return self.sub(arg, where)
                if key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
                    return self.resolve(arg[1] if self.condition(str(arg[0]), where) else arg[2], where)
                if key.startswith("Fn::"):
                    raise TemplateError(f"{where}: {key} is not supported by the local stack")
            return {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    def condition(self, name: str, where: str) -> bool:
        declared = self.conditions.get(name)
        if not isinstance(declared, Mapping) or list(declared) != ["Fn::Equals"]:
            raise TemplateError(f"{where}: the local stack decides only Fn::Equals conditions, not {name!r}")
        left, right = (self.resolve(v, f"Conditions.{name}") for v in declared["Fn::Equals"])
        return bool(left == right)

    def ref(self, name: str, where: str) -> Any:
        if name not in self.refs:
            raise TemplateError(f"{where}: the local stack has no value for !Ref {name}")
        return self.refs[name]

    def getatt(self, logical_id: str, attribute: str, where: str) -> Any:
        key = (logical_id, attribute)
        if key not in self.attributes and key in self.lazy_attributes:
            self.attributes[key] = self.lazy_attributes[key]()
        if key not in self.attributes:
            raise TemplateError(f"{where}: the local stack has no value for !GetAtt {logical_id}.{attribute}")
        return self.attributes[key]

    def sub(self, arg: Any, where: str) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v, where) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self.getatt(logical_id, attribute, where))
            return str(self.ref(name, where))

        return _SUB.sub(replace, str(text))
