"""moto's server in a thread of this process, bound to loopback, with a clean stop.

Why not ``moto.server.ThreadedMotoServer`` as is: its ``start()`` binds the port
inside the server thread and waits for a ready flag that a failed bind never
sets, so a taken port hangs the caller (and werkzeug itself answers a taken port
with ``sys.exit(1)``). Here the listening socket is bound first, in the
caller's thread, so a taken port is a :class:`PortInUse` at once, and werkzeug
serves on that socket. The WSGI application and request handler are moto's own.

In-process rather than a subprocess: shutdown is a method call (nothing can be
orphaned), and the stream janitor below can reach moto's backend. Starting a
server installs :mod:`growthos_segments.devstack.moto_tuning` in this process, which keeps a
long-running stack's memory bounded and each request's work proportional to
what it touches.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from growthos_segments.devstack import moto_tuning

__all__ = ["MotoServer", "PortInUse", "listen"]

log = logging.getLogger("growthos_segments.devstack")


class PortInUse(OSError):
    """Another process already listens on the port we need."""

    def __init__(self, host: str, port: int, what: str) -> None:
        self.host, self.port, self.what = host, port, what
        super().__init__(errno.EADDRINUSE, f"{host}:{port} is already in use ({what})")


def listen(host: str, port: int, what: str) -> socket.socket:
    """A listening TCP socket on ``host:port``; :class:`PortInUse` if it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as every server here does
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortInUse(host, port, what) from None
        raise
    return sock


class MotoServer:
    """A moto server on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False) -> None:
        self.host = host
        self.requested_port = port
        self._verbose = verbose
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._janitor: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        from moto.moto_server.threaded_moto_server import MotoRequestHandler
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        moto_tuning.apply()
        # werkzeug logs every request (and a traceback for each moto 500) unless told not to.
        logging.getLogger("werkzeug").setLevel(logging.INFO if self._verbose else logging.CRITICAL)
        app = _SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))
        sock = listen(self.host, self.requested_port, "moto server")
        try:
            self._server = make_server(
                self.host,
                sock.getsockname()[1],
                app,
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=sock.fileno(),
            )
        finally:
            sock.close()  # werkzeug serves on its own duplicate of the descriptor
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()
        self._janitor = threading.Thread(target=self._sweep, name="moto-janitor", daemon=True)
        self._janitor.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop serving and close the socket; ``False`` if a thread did not finish."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        alive = False
        for thread in (self._thread, self._janitor):
            if thread is not None:
                thread.join(timeout)
                alive |= thread.is_alive()
        return not alive

    def _sweep(self, every: float = 60.0, max_age: float = 900.0) -> None:
        """Forget shard iterators older than 15 minutes (DynamoDB's own expiry).

        moto keeps every iterator it ever issued, and a poller gets a new one
        per GetRecords (four a second per shard): without this the server grows
        by ~100 MB an hour. The pump treats a forgotten iterator as expired and
        reopens after the last sequence number it read.
        """
        first_seen: dict[str, float] = {}
        while not self._stop.wait(every):
            try:
                first_seen = prune_shard_iterators(first_seen, max_age, time.monotonic())
            except Exception:  # moto internals moved: log once a minute, keep serving
                log.debug("shard iterator sweep failed", exc_info=True)


class _SerializedDynamoDB:
    """Run DynamoDB (and Streams) requests one at a time.

    moto applies concurrent requests without isolation: a conditional write and
    a transaction from two functions of the stack can interleave and both pass
    their conditions, which real DynamoDB never allows. Only DynamoDB calls are
    serialised; SQS long polls (the bus printer, queue triggers) must not hold
    the lock while they wait.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))  # the body is built inside the lock


def prune_shard_iterators(first_seen: dict[str, float], max_age: float, now: float) -> dict[str, float]:
    """Drop iterators first seen more than ``max_age`` ago; returns the updated ages."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    alive: dict[str, float] = {}
    for regions in list(dynamodbstreams_backends.values()):
        for backend in list(regions.values()):
            iterators = backend.shard_iterators
            for key in list(iterators.copy()):
                seen = first_seen.get(key, now)
                if now - seen > max_age:
                    iterators.pop(key, None)
                else:
                    alive[key] = seen
    return alive
