"""boto3 sessions and clients built from :class:`Settings`, and a request counter.

One place decides endpoint, region, credentials and botocore config, so the
moto workarounds (``account_id_endpoint_mode``) and the local stack's fake
credentials cannot be forgotten by one caller. The request counter is how tests
and benchmarks state costs in DynamoDB requests instead of moto milliseconds.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from growthos_segments.infra.settings import Settings

__all__ = ["RequestCounter", "RequestTally", "botocore_config", "client", "session"]


def botocore_config(settings: Settings, **overrides: Any) -> Config:
    """Client config: standard retries, plus the account-id endpoint fix when set.

    With ``account_id_endpoint_mode`` left to botocore (>= 1.44.4) a client whose
    credentials carry an account id talks to ``<account>.ddb.<region>...``;
    moto's in-process mock does not answer there (DynamoDB Streams 404s), so
    mock mode sets ``"disabled"``. An explicit ``endpoint_url`` is unaffected.
    """
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 4},
        "connect_timeout": 5,
        "read_timeout": 15,
    }
    if settings.account_id_endpoint_mode:
        options["account_id_endpoint_mode"] = settings.account_id_endpoint_mode
    options.update(overrides)
    return Config(**options)


_SESSION_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def _cached_session(region: str, credentials: tuple[str, str] | None) -> boto3.session.Session:
    # A session parses botocore's service models once; a new session per client
    # re-reads them (~50 ms per client), which tests and the local stack feel.
    if credentials is not None:
        key, secret = credentials
        return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=region)
    return boto3.session.Session(region_name=region)


def session(settings: Settings) -> boto3.session.Session:
    """The boto3 session for ``settings`` (static fake credentials for the local stack)."""
    return _cached_session(settings.region, settings.static_credentials)


def client(service: str, settings: Settings, *, boto_session: boto3.session.Session | None = None,
           **config_overrides: Any) -> Any:
    """A low-level client for ``service`` pointed where ``settings`` says."""
    chosen = boto_session or session(settings)
    with _SESSION_LOCK:  # creating clients from one session is not thread-safe
        return chosen.client(
            service,
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=botocore_config(settings, **config_overrides),
        )


@dataclass(slots=True, eq=False)
class RequestTally:
    """Requests seen while a :meth:`RequestCounter.measure` block ran.

    Compared by identity: two nested blocks that saw the same requests are still
    two blocks, and closing one must not close the other.
    """

    by_operation: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())


class RequestCounter:
    """Counts API calls made through the clients it is attached to.

    It hooks botocore's ``before-call`` event, which fires once per API call
    (retries of the same call are not counted again), whether the call comes
    from boto3 or from pynamodb (which drives the same botocore client).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_operation: Counter[str] = Counter()
        self._open: list[RequestTally] = []

    def attach(self, botocore_client: Any) -> Any:
        service = botocore_client.meta.service_model.service_name
        botocore_client.meta.events.register(f"before-call.{service}", self._on_call)
        return botocore_client

    def _on_call(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.by_operation[model.name] += 1
            for tally in self._open:
                tally.by_operation[model.name] += 1

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())

    def reset(self) -> None:
        with self._lock:
            self.by_operation.clear()

    @contextmanager
    def measure(self) -> Iterator[RequestTally]:
        """Count the requests made inside the block (blocks may nest)."""
        tally = RequestTally()
        with self._lock:
            self._open.append(tally)
        try:
            yield tally
        finally:
            with self._lock:
                self._open.remove(tally)
