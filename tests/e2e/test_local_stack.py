"""``make run`` as a user runs it: a subprocess, real HTTP on loopback, Ctrl-C to stop.

The stack starts on free ports (``--port 0 --moto-port 0``) with a small demo
tenant, and the test waits for the ready line rather than sleeping, so it is
quick on an idle machine and still passes on a loaded two-core CI runner.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra.demo_data import api_key_for
from infra.local.functions import load_app
from infra.local.stack import READY_MARKER, auth_header
from infra.template import load_template

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180.0
"""Generous: a loaded CI machine may be several times slower than a laptop."""
STOP_TIMEOUT = 30.0


@dataclass
class Running:
    process: subprocess.Popen[str]
    lines: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first stdout line matching ``pattern`` (fails with everything printed so far)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                stream, line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            found = re.search(pattern, line) if stream == "out" else None
            if found:
                return found
        pytest.fail(
            f"no line matching {pattern!r} within {timeout:.0f} s (exit code {self.process.poll()})\n"
            f"stdout:\n{''.join(self.stdout)}\nstderr:\n{''.join(self.stderr)}"
        )


def _pump(stream: Any, name: str, running: Running) -> None:
    for line in stream:
        (running.stdout if name == "out" else running.stderr).append(line)
        running.lines.put((name, line))


def start_stack(*args: str) -> Running:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for variable in ("LOCAL_API_PORT", "MOTO_PORT", "DEMO_CONTACTS", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(variable, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # our SIGINT is the only Ctrl-C it gets
    )
    running = Running(process)
    for stream, name in ((process.stdout, "out"), (process.stderr, "err")):
        threading.Thread(target=_pump, args=(stream, name, running), daemon=True).start()
    return running


@pytest.fixture
def stack() -> Iterator[Running]:
    running = start_stack(
        "--port", "0", "--moto-port", "0", "--contacts", "200", "--prefix", f"e2e{os.getpid()}"
    )
    yield running
    if running.process.poll() is None:  # the test failed before stopping it
        running.process.kill()
        running.process.wait(10)


def request(
    url: str, *, headers: dict[str, str] | None = None, body: Any = None, method: str | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    call = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_make_run_serves_the_api_prints_bus_events_and_stops_on_ctrl_c(stack: Running) -> None:
    ready = stack.wait_for(rf"{READY_MARKER} ([\d.]+) s: API (http://127\.0\.0\.1:\d+)", START_TIMEOUT)
    api = ready.group(2)
    moto = stack.wait_for(r"moto .*(http://127\.0\.0\.1:\d+)", 5).group(1)
    name, value = auth_header(load_app(load_template()), api_key_for("demo"))
    key = {name: value}

    status, body = request(f"{api}/health", headers=key)
    assert (status, body["status"]) == (200, "ok")

    status, body = request(f"{api}/condition-types", headers=key)
    assert status == 200
    assert {"attribute", "email", "score"} <= {entry["name"] for entry in body["condition_types"]}

    assert request(f"{api}/condition-types")[0] == 401
    assert request(f"{api}/condition-types", headers={name: value.replace("demo", "nobody")})[0] == 401

    status, body = request(f"{api}/rules/validate", headers=key, body={"rule": {"emial": {}}})
    assert status == 422
    assert body["errors"][0]["suggestion"] == "did you mean 'email'?"

    status, body = request(f"{api}/templates", headers={name: value.replace("demo", "acme")})
    assert status == 200 and body["templates"]

    # An event on the template's bus reaches the printer as one readable line.
    import boto3

    events = boto3.client(
        "events",
        endpoint_url=moto,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bus = f"e2e{os.getpid()}-segments"
    detail = {"tenant_id": "demo", "segment_id": "at_risk", "contact_id": "c42", "segment_version": 1}
    events.put_events(
        Entries=[
            {
                "Source": "growthos.segments",
                "DetailType": "Segment Entered",
                "Detail": json.dumps(detail),
                "EventBusName": bus,
            }
        ]
    )
    stack.wait_for(r"^ENTER at_risk c42 \(tenant demo, v1\)$", 30)

    # `segments simulate` writes into the running stack through the same repositories.
    simulate = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.cli",
            "simulate",
            "--count",
            "3",
            "--rate",
            "50",
            "--seed",
            "1",
            "--endpoint",
            moto,
            "--prefix",
            f"e2e{os.getpid()}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert simulate.returncode == 0, simulate.stderr
    assert "wrote 3 change(s)" in simulate.stdout

    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(STOP_TIMEOUT) == 0
    stack.wait_for(r"stopped cleanly", 5)
    assert not any("Traceback" in line for line in stack.stderr), "".join(stack.stderr)
    with socket.socket() as probe:  # the API port is free again (TIME_WAIT aside, as for any server)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", int(api.rsplit(":", 1)[1])))


@pytest.mark.parametrize("which", ["--port", "--moto-port"])
def test_a_taken_port_is_one_clear_line_and_a_non_zero_exit(which: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": "0", "--moto-port": "0", which: str(port)}
        running = start_stack(*[item for pair in ports.items() for item in pair], "--contacts", "5")
        try:
            code = running.process.wait(60)
        finally:
            if running.process.poll() is None:
                running.process.kill()
                running.process.wait(10)
    time.sleep(0.2)  # let the reader threads drain the pipes
    errors = [line for line in running.stderr if line.strip()]
    assert code == 2
    assert errors == [
        f"error: port {port} on 127.0.0.1 is already in use; stop whatever listens there or "
        f"choose another with {which} (or {'LOCAL_API_PORT' if which == '--port' else 'MOTO_PORT'})\n"
    ]


def test_ctrl_c_while_seeding_stops_cleanly() -> None:
    running = start_stack(
        "--port", "0", "--moto-port", "0", "--contacts", "3000", "--prefix", f"e2ei{os.getpid()}"
    )
    try:
        time.sleep(3)  # past imports, inside start-up (seeding 3,000 contacts takes longer than this)
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(STOP_TIMEOUT) == 0
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(10)
    running.wait_for(r"stopped cleanly", 5)
    assert not any("Traceback" in line for line in running.stderr), "".join(running.stderr)
