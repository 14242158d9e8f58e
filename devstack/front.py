"""The local API Gateway: HTTP on 127.0.0.1 to API Gateway proxy events and back.

Requests are matched against the template's ``Type: Api`` routes, authorized by
calling the API's REQUEST authorizer function first (as API Gateway does: a
missing identity header or an ``Unauthorized`` error is a 401, a Deny policy a
403, the policy's ``context`` lands in ``requestContext.authorizer``), and
then handed to the route's function as a REST (v1) proxy event. The function's
proxy response becomes the HTTP response, ``multiValueHeaders`` and base64
bodies included.

Like API Gateway, the front routes on the path as it was sent: ``%2F`` inside
a segment does not separate segments, and the event's ``path`` keeps the
percent-encoding while ``pathParameters`` are decoded. The identity header of
the authorizer must be present and non-empty, or the request is a 401 before
the authorizer runs. The refusals API Gateway makes itself (401, 403, unknown
route, 5xx) use the API's ``GatewayResponses`` of the template: its status
codes and ``application/json`` templates (with ``$context.error.message`` and
``$context.error.messageString``), falling back to ``DEFAULT_4XX`` /
``DEFAULT_5XX`` and then to API Gateway's own bodies, as API Gateway does, with
the entries' ``ResponseParameters`` headers (the CORS headers). An ``OPTIONS``
request to a route of an API with ``Cors`` is answered by the front itself, with
no key and no function call, as the preflight API Gateway answers for SAM's
``Cors``. Template parameters in these headers take their defaults (the local
stack's values).

Paths are served from the root (``/health``), like ``sam local start-api``;
the event's ``requestContext.path`` carries the stage prefix a deployed API has.
Authorizer results are not cached locally (every request is authorized).

The Segment Builder's built files (``web/dist``, from ``make web``) are served on
the same port, so the app calls the API on its own origin: a path no API route
has — or that only the API's greedy ``/{proxy+}`` catch-all has — is a file of
the app when a browser navigates to it (``Accept: text/html``, ``/`` being the
app's page) or when it names a file of the build (``/assets/...``, ``/config.json``).
API clients keep getting the API's own 404 for ``/``, and every other API route wins
over the files.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import logging
import mimetypes
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from growthos_segments.devstack.functions import ApiRoute, Authorizer
from growthos_segments.devstack.motoserver import PortInUse
from growthos_segments.devstack.runtime import ACCOUNT_ID, LambdaFunction
from growthos_segments.devstack.template import load_template

__all__ = [
    "ApiFront", "GatewayResponse", "HttpResponse", "cors_preflights", "gateway_responses", "policy_decision",
]

log = logging.getLogger("growthos_segments.devstack.front")

MAX_BODY = 10 * 1024 * 1024
"""API Gateway's payload limit."""

WEB_DIST = Path(os.environ.get("SEGMENTS_WEB_DIST") or Path(__file__).resolve().parents[1] / "web" / "dist")
"""Where ``make web`` builds the Segment Builder; absent until it has run.
``SEGMENTS_WEB_DIST`` serves another build (a developer's own ``vite build --outDir``)."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, payload: Any) -> HttpResponse:
        return cls(status, [("Content-Type", "application/json")], json.dumps(payload).encode())


@dataclass(frozen=True, slots=True)
class GatewayResponse:
    """One ``GatewayResponses`` entry of a REST API: a status override and a JSON template."""

    status: int | None = None
    template: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def render(self, status: int, message: str | None, default: Mapping[str, Any]) -> HttpResponse:
        if self.template is None:
            answer = HttpResponse.json(self.status or status, default)
            return HttpResponse(answer.status, [*answer.headers, *self.headers], answer.body)
        body = self.template.replace("$context.error.messageString", json.dumps(message))
        body = body.replace("$context.error.message", message or "")
        headers = [("Content-Type", "application/json"), *self.headers]
        return HttpResponse(self.status or status, headers, body.encode())


def _literal(value: Any, template: Mapping[str, Any]) -> str:
    """A mapped header value (``'text'``, or a ``Fn::Sub`` of one) as API Gateway sends it,
    with each ``${Parameter}`` at its default."""
    if isinstance(value, Mapping) and "Fn::Sub" in value:
        parameters = template.get("Parameters") or {}
        value = re.sub(r"\$\{([\w]+)\}", lambda m: str(parameters[m.group(1)].get("Default", "")),
                       str(value["Fn::Sub"]))
    return str(value).strip("'")


def _apis(template: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    resources = (template.get("Resources") or {}).items()
    return {name: resource.get("Properties") or {} for name, resource in resources
            if isinstance(resource, Mapping) and resource.get("Type") == "AWS::Serverless::Api"}


_PREFLIGHT = {"AllowOrigin": "Access-Control-Allow-Origin", "AllowMethods": "Access-Control-Allow-Methods",
              "AllowHeaders": "Access-Control-Allow-Headers", "MaxAge": "Access-Control-Max-Age"}
"""SAM's ``Cors`` keys and the headers its preflight sends for them."""


def cors_preflights(template: Mapping[str, Any]) -> dict[str, HttpResponse]:
    """The preflight answer of every ``AWS::Serverless::Api`` with ``Cors``, by logical id."""
    found: dict[str, HttpResponse] = {}
    for name, properties in _apis(template).items():
        cors = properties.get("Cors")
        if isinstance(cors, Mapping):
            found[name] = HttpResponse(200, [(header, _literal(cors[key], template))
                                             for key, header in _PREFLIGHT.items() if key in cors])
    return found


def gateway_responses(template: Mapping[str, Any]) -> dict[str, dict[str, GatewayResponse]]:
    """``GatewayResponses`` of every ``AWS::Serverless::Api``, by API logical id and response type."""
    found: dict[str, dict[str, GatewayResponse]] = {}
    for name, properties in _apis(template).items():
        declared = properties.get("GatewayResponses") or {}
        found[name] = {
            kind: GatewayResponse(
                status=int(entry["StatusCode"]) if entry.get("StatusCode") is not None else None,
                template=(entry.get("ResponseTemplates") or {}).get("application/json"),
                headers=tuple((header, _literal(value, template)) for header, value in
                              ((entry.get("ResponseParameters") or {}).get("Headers") or {}).items()),
            )
            for kind, entry in declared.items()
        }
    return found


def _arn_matches(pattern: str, arn: str) -> bool:
    """IAM wildcards: ``*`` and ``?`` only (``[`` is literal, unlike fnmatch)."""
    return fnmatch.fnmatchcase(arn, pattern.replace("[", "[[]"))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_decision(policy: Any, method_arn: str) -> str:
    """``"allow"``, ``"deny"`` (an explicit Deny matches) or ``"none"`` (no Allow matches)."""
    statements = policy.get("Statement") if isinstance(policy, Mapping) else None
    allowed = False
    for statement in _listed(statements or []):
        if not isinstance(statement, Mapping):
            continue
        actions = [a for a in _listed(statement.get("Action", [])) if isinstance(a, str)]
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        resources = [r for r in _listed(statement.get("Resource", [])) if isinstance(r, str)]
        if not any(_arn_matches(r, method_arn) for r in resources):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return "deny"
        allowed |= effect == "allow"
    return "allow" if allowed else "none"


class ApiFront:
    """Turns HTTP requests into invocations of the template's API functions."""

    def __init__(
        self,
        routes: Sequence[ApiRoute],
        functions: Mapping[str, LambdaFunction],
        authorizers: Mapping[str, Authorizer | None],
        stages: Mapping[str, str],
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        region: str = "us-east-1",
        ready: threading.Event | None = None,
        responses: Mapping[str, Mapping[str, GatewayResponse]] | None = None,
        site: Path | None = WEB_DIST,
        preflights: Mapping[str, HttpResponse] | None = None,
    ) -> None:
        """``responses`` are the APIs' gateway responses and ``preflights`` their CORS
        preflight answers; by default those of the project's ``template.yaml``
        (:func:`gateway_responses`, :func:`cors_preflights`). ``site``: the built
        web app served beside the API, when that folder exists."""
        self.site = site.resolve() if site is not None and site.is_dir() else None
        self.routes = list(routes)
        template = load_template() if responses is None or preflights is None else {}
        self.responses = gateway_responses(template) if responses is None else responses
        self.preflights = cors_preflights(template) if preflights is None else preflights
        self.functions = functions
        self.authorizers = authorizers
        self.stages = stages
        self.region = region
        self.ready = ready or threading.Event()
        self.host = host
        front = self

        class Handler(_RequestHandler):
            api = front

        try:
            self.server = _Server((host, port), Handler)
        except OSError as error:
            if error.errno in (98, 48, 13):  # EADDRINUSE on Linux / macOS, EACCES
                raise PortInUse(host, port, "API front") from None
            raise
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name="api-front", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        if self._thread is not None:  # shutdown() waits for serve_forever, which must have started
            self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    # --- one request ----------------------------------------------------------------

    def gateway_response(
        self,
        api: str | None,
        kind: str | None,
        status: int,
        message: str | None,
        default_key: str = "message",
    ) -> HttpResponse:
        """API Gateway's own answer of response type ``kind``: the API's entry for it,
        else its ``DEFAULT_4XX``/``DEFAULT_5XX``, else API Gateway's built-in body.
        ``kind`` None: a refusal with no type of its own (502s, and the local-only 503,
        411, 400). Without a route (``api`` None) the only API of the template is meant."""
        if api is None and len(self.responses) == 1:
            api = next(iter(self.responses))
        declared = self.responses.get(api or "", {})
        fallback = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        entry = declared.get(kind or fallback) or declared.get(fallback) or GatewayResponse()
        return entry.render(status, message, {default_key: message})

    def handle(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str = "127.0.0.1",
    ) -> HttpResponse:
        if not self.ready.is_set():
            return self.gateway_response(
                None, None, 503, "the local stack is starting (seeding demo data); retry"
            )
        split = urlsplit(target)
        path = split.path or "/"
        route, params = next(
            ((r, p) for r in self.routes if (p := r.matches(method, path)) is not None), (None, None)
        )
        if route is None or route.path.endswith("+}"):
            page = self.site_file(method, path, headers)
            if page is not None:
                return page
        if route is None or params is None:
            return self.gateway_response(
                None, "MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token"
            )
        if method == "OPTIONS" and route.api in self.preflights:
            return self.preflights[route.api]
        stage = str(self.stages.get(route.api, "Prod"))
        decoded = {name: unquote(value) for name, value in params.items()}
        event = self._event(route, method, path, split.query, headers, body, stage, source_ip, decoded)
        authorizer = self.authorizers.get(route.api)
        if authorizer is not None:
            verdict = self._authorize(authorizer, route, event, stage)
            if isinstance(verdict, HttpResponse):
                return verdict
            event["requestContext"]["authorizer"] = verdict
        function = self.functions[route.function]
        result = function.invoke(event)
        if not result.ok:
            if result.error_type == "TimeoutError":
                return self.gateway_response(
                    route.api, "INTEGRATION_TIMEOUT", 504, "Endpoint request timed out"
                )
            log.error("%s failed on %s %s: %s", route.function, method, path, result.error)
            return self.gateway_response(route.api, None, 502, "Internal server error")
        response = _proxy_response(result.payload)
        if response is None:
            log.error("%s returned a malformed proxy response: %r", route.function, result.payload)
            return self.gateway_response(route.api, None, 502, "Internal server error")
        return response

    def site_file(self, method: str, path: str, headers: Sequence[tuple[str, str]]) -> HttpResponse | None:
        """A file of the web app for a path no route has, or ``None`` (see the module docstring)."""
        if self.site is None or method not in ("GET", "HEAD"):
            return None
        browsing = any(k.lower() == "accept" and "text/html" in v for k, v in headers)
        name = unquote(path).lstrip("/")
        if "\x00" in name:  # no file has that name, and the file system refuses to look it up
            return None
        wanted = (self.site / name).resolve()
        if not wanted.is_relative_to(self.site):
            return None
        if wanted.is_dir() and browsing:
            wanted = wanted / "index.html"
        if not wanted.is_file():
            return None
        kind = mimetypes.guess_type(wanted.name)[0] or "application/octet-stream"
        return HttpResponse(200, [("Content-Type", kind), ("Cache-Control", "no-cache")], wanted.read_bytes())

    def _event(
        self,
        route: ApiRoute,
        method: str,
        path: str,
        query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        stage: str,
        source_ip: str,
        params: Mapping[str, str],
    ) -> dict[str, Any]:
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            single[name] = value
            multi.setdefault(name, []).append(value)
        query_single: dict[str, str] = {}
        query_multi: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            query_single[name] = value
            query_multi.setdefault(name, []).append(value)
        text: str | None = None
        encoded = False
        if body:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text, encoded = base64.b64encode(body).decode("ascii"), True
        now = datetime.now(UTC)
        lowered = {k.lower(): v for k, v in single.items()}
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": single or None,
            "multiValueHeaders": multi or None,
            "queryStringParameters": query_single or None,
            "multiValueQueryStringParameters": query_multi or None,
            "pathParameters": dict(params) or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": route.api.lower(),
                "resourceId": "local",
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/{stage}{path}",
                "stage": stage,
                "protocol": "HTTP/1.1",
                "requestId": str(uuid.uuid4()),
                "extendedRequestId": str(uuid.uuid4()),
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "domainName": lowered.get("host", self.host),
                "identity": {
                    "sourceIp": source_ip,
                    "userAgent": lowered.get("user-agent"),
                    "accessKey": None,
                    "accountId": None,
                    "caller": None,
                    "user": None,
                    "userArn": None,
                    "cognitoIdentityId": None,
                    "cognitoIdentityPoolId": None,
                },
            },
            "body": text,
            "isBase64Encoded": encoded,
        }

    def _authorize(
        self, authorizer: Authorizer, route: ApiRoute, event: dict[str, Any], stage: str
    ) -> dict[str, Any] | HttpResponse:
        present = {k.lower() for k, v in (event["headers"] or {}).items() if v.strip()}
        if any(h.lower() not in present for h in authorizer.identity_headers):
            return self.gateway_response(route.api, "UNAUTHORIZED", 401, "Unauthorized")
        method_arn = (
            f"arn:aws:execute-api:{self.region}:{ACCOUNT_ID}:{route.api.lower()}/{stage}/"
            f"{event['httpMethod']}{event['path']}"
        )
        request = {k: v for k, v in event.items() if k not in ("body", "isBase64Encoded", "resource")}
        request.update(type="REQUEST", methodArn=method_arn, resource=route.path)
        started = time.perf_counter()
        result = self.functions[authorizer.function].invoke(request)
        if not result.ok:
            if result.error_message == "Unauthorized":
                return self.gateway_response(route.api, "UNAUTHORIZED", 401, "Unauthorized")
            log.error("authorizer %s failed: %s", authorizer.function, result.error)
            return self.gateway_response(route.api, "AUTHORIZER_FAILURE", 500, None)
        payload = result.payload
        if not isinstance(payload, Mapping) or "policyDocument" not in payload:
            log.error("authorizer %s returned no policy: %r", authorizer.function, payload)
            return self.gateway_response(route.api, "AUTHORIZER_CONFIGURATION_ERROR", 500, None)
        decision = policy_decision(payload["policyDocument"], method_arn)
        if decision == "deny":
            return self.gateway_response(
                route.api, "ACCESS_DENIED", 403,
                "User is not authorized to access this resource with an explicit deny", "Message",
            )
        if decision == "none":
            return self.gateway_response(
                route.api, "ACCESS_DENIED", 403, "User is not authorized to access this resource", "Message"
            )
        context = payload.get("context") or {}
        if not isinstance(context, Mapping) or any(
            not isinstance(v, str | int | float | bool) for v in context.values()
        ):
            log.error(
                "authorizer %s context must hold strings, numbers and booleans: %r",
                authorizer.function,
                context,
            )
            return self.gateway_response(route.api, "AUTHORIZER_CONFIGURATION_ERROR", 500, None)
        return {
            **context,
            "principalId": payload.get("principalId"),
            "integrationLatency": int((time.perf_counter() - started) * 1000),
        }


def _proxy_response(payload: Any) -> HttpResponse | None:
    """A Lambda proxy response as HTTP; ``None`` if API Gateway would reject it (502)."""
    if not isinstance(payload, Mapping):
        return None
    status = payload.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return None
    headers: list[tuple[str, str]] = []
    multi = payload.get("multiValueHeaders") or {}
    single = payload.get("headers") or {}
    if not isinstance(multi, Mapping) or not isinstance(single, Mapping):
        return None
    lowered_multi = {str(k).lower() for k in multi}
    for name, values in multi.items():
        headers.extend((str(name), str(v)) for v in _listed(values))
    headers.extend((str(k), str(v)) for k, v in single.items() if str(k).lower() not in lowered_multi)
    body = payload.get("body")
    if body is None:
        raw = b""
    elif not isinstance(body, str):
        return None
    elif payload.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return None
    else:
        raw = body.encode("utf-8")
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return HttpResponse(status, headers, raw)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that resets its connection (a browser closing a kept-alive one) is no
        error of the stack's: one log line instead of socketserver's traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            log.info("%s:%s closed the connection (%s)", *client_address[:2], type(error).__name__)
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    api: ApiFront
    protocol_version = "HTTP/1.1"
    server_version = "growthos-local-api"
    disable_nagle_algorithm = True
    """Headers and body leave in two writes; with Nagle's algorithm the body waits for the
    client's delayed ACK of the headers (about 40 ms) on every keep-alive request."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server refuses before routing (a request line over 64 KiB is a 414,
        a malformed one a 400) is answered as API Gateway answers its own refusals: the
        template's gateway response, in the API's error shape, never an HTML page."""
        self.close_connection = True
        self.request_version = "HTTP/1.1"  # http.server writes no status line for its 0.9 default
        if not getattr(self, "command", None):
            self.command = "GET"  # the answer is not to a HEAD: it carries its body
        text = {414: "Request-URI Too Long"}.get(code, message or "Bad Request")
        self._answer(self.api.gateway_response(None, None, code, text), unread_body=True)

    def _answer(self, response: HttpResponse, unread_body: bool) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if unread_body:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _serve(self) -> None:
        started = time.perf_counter()
        unread_body = True  # refused before reading it: the connection cannot be reused
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            response = self.api.gateway_response(None, None, 411, "send a Content-Length (no chunked bodies)")
        elif length < 0:
            response = self.api.gateway_response(None, None, 400, "bad Content-Length")
        elif length > MAX_BODY:
            response = self.api.gateway_response(None, "REQUEST_TOO_LARGE", 413, "Request Too Long")
        else:
            body = self.rfile.read(length) if length else b""
            unread_body = False
            response = self.api.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
        try:
            self._answer(response, unread_body)
        except (BrokenPipeError, ConnectionResetError):
            # The client left first (a browser tab closed, or a fetch the app cancelled):
            # nobody is left to answer, and that is no error of the stack's.
            self.close_connection = True
            log.info("%s %s: the client closed the connection before the answer", self.command, self.path)
            return
        log.info(
            "%s %s -> %d (%.0f ms)",
            self.command,
            self.path,
            response.status,
            (time.perf_counter() - started) * 1000,
        )

    def __getattr__(self, name: str) -> Any:
        """Every method is served (``ANY`` routes take them all, and the function answers
        one it has no route for), where http.server would answer a 501 page for TRACE."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        return  # one line per request is logged by _serve instead
