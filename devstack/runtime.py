"""In-process stand-in for the Lambda runtime: lazy handlers, one invocation at a time.

A handler module is imported on first use, as a cold start would. Handler
modules that are not written yet (the stream evaluator, notifier, scheduler and
backfill arrive in later issues) are reported once, clearly, and their triggers
are skipped; nothing here writes a placeholder in their place.

Each function runs one invocation at a time (a lock per function). On AWS every
concurrent invocation gets its own container, so module-level state in a
handler (a Powertools resolver's ``current_event``, caches) is never shared
between two requests; serialising per function keeps that true in one process.
A run longer than the function's ``Timeout`` is reported as Lambda reports it:
the invocation failed with ``Task timed out``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from growthos_segments.devstack.functions import FunctionSpec

__all__ = ["ACCOUNT_ID", "FakeContext", "Invocation", "Invoke", "LambdaFunction"]

ACCOUNT_ID = "123456789012"
"""moto's default account; ARNs built locally must agree with the ones moto returns."""

log = logging.getLogger("growthos_segments.devstack")

Handler = Callable[[Any, Any], Any]


class FakeContext:
    """The attributes of a Lambda context object that Powertools and handlers read.

    The remaining time is the function's ``Timeout`` from the start of the
    invocation, and zero once ``stop`` is set: a stopping stack is a function
    about to be cut off, so handlers that watch their budget (the scheduler, a
    backfill slice, the tenant-context pass) wind down and hand the rest over
    as they would before a time-out, instead of holding up Ctrl-C.
    """

    def __init__(
        self, spec: FunctionSpec, region: str, started: float, stop: threading.Event | None = None
    ) -> None:
        self.function_name = spec.logical_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{spec.logical_id}"
        self.memory_limit_in_mb = spec.memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.logical_id}"
        self.log_stream_name = "local"
        self._deadline = started + spec.timeout
        self._stop = stop

    def get_remaining_time_in_millis(self) -> int:
        if self._stop is not None and self._stop.is_set():
            return 0
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True, slots=True)
class Invocation:
    """What one invocation returned, or how it failed (``error`` set)."""

    payload: Any = None
    error: str | None = None
    """``"ExceptionType: message"`` for an unhandled exception or a time-out."""
    error_type: str | None = None
    error_message: str | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


Invoke = Callable[[Any], Invocation]
"""How triggers call a function: event in, :class:`Invocation` out."""


class LambdaFunction:
    """One function of the template, loaded on first use."""

    def __init__(
        self,
        spec: FunctionSpec,
        region: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        stop: threading.Event | None = None,
    ) -> None:
        self.spec = spec
        self.region = region
        self._clock = clock
        self._stop = stop
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._handler: Handler | None = None
        self._state: str = "unloaded"  # unloaded | ready | missing | broken
        self.problem: str | None = None
        self.busy = False
        """An invocation is running (the stack cuts it off at shutdown, as a time-out would)."""

    @classmethod
    def of(
        cls,
        handler: Handler,
        *,
        name: str = "TestFunction",
        timeout: int = 30,
        region: str = "us-east-1",
        clock: Callable[[], float] = time.monotonic,
        stop: threading.Event | None = None,
    ) -> LambdaFunction:
        """A function around a plain callable (tests, and handlers not in the template)."""
        label = getattr(handler, "__name__", type(handler).__name__)
        spec = FunctionSpec(name, f"{handler.__module__}.{label}", timeout, 128, {})
        function = cls(spec, region, clock=clock, stop=stop)
        function._handler, function._state = handler, "ready"
        return function

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.spec.logical_id}"

    def available(self) -> bool:
        """Load the handler if needed; ``False`` (logged once) if it cannot be loaded."""
        with self._load_lock:
            if self._state == "unloaded":
                self._load()
            return self._state == "ready"

    def _load(self) -> None:
        module_name, _, attribute = self.spec.handler.rpartition(".")
        try:
            found = importlib.util.find_spec(module_name)
        except ModuleNotFoundError:
            found = None
        if found is None:
            self._state = "missing"
            self.problem = f"{module_name} does not exist yet"
            log.warning(
                "%s: handler module %s is not written yet; its triggers are skipped",
                self.spec.logical_id,
                module_name,
            )
            return
        try:
            module = importlib.import_module(module_name)
            handler = getattr(module, attribute)
        except Exception as exc:  # any import-time failure of the handler's code
            self._state = "broken"
            self.problem = f"{self.spec.handler} failed to load: {type(exc).__name__}: {exc}"
            log.error(
                "%s: %s; its triggers are skipped\n%s",
                self.spec.logical_id,
                self.problem,
                traceback.format_exc(),
            )
            return
        if not callable(handler):
            self._state = "broken"
            self.problem = f"{self.spec.handler} is not callable"
            log.error("%s: %s; its triggers are skipped", self.spec.logical_id, self.problem)
            return
        self._handler = handler
        self._state = "ready"

    def invoke(self, event: Any) -> Invocation:
        """Run the handler synchronously; exceptions and time-outs become an error result."""
        if not self.available():
            return Invocation(error=f"Unavailable: {self.problem}", error_type="Unavailable")
        assert self._handler is not None
        with self._lock:
            started = self._clock()
            context = FakeContext(self.spec, self.region, started, self._stop)
            self.busy = True
            try:
                payload = self._handler(event, context)
            except Exception as exc:  # the function's error is data for the caller
                duration = self._clock() - started
                log.debug("%s raised\n%s", self.spec.logical_id, traceback.format_exc())
                return Invocation(
                    error=f"{type(exc).__name__}: {exc}",
                    error_type=type(exc).__name__,
                    error_message=str(exc),
                    duration=duration,
                )
            finally:
                self.busy = False
            duration = self._clock() - started
        if duration > self.spec.timeout:
            return Invocation(
                error=f"Task timed out after {duration:.2f} seconds (Timeout is {self.spec.timeout})",
                error_type="TimeoutError",
                duration=duration,
            )
        return Invocation(payload=payload, duration=duration)
