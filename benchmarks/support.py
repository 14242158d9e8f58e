"""What several benchmarks share: tuned moto in-process, free ports, HTTP calls to the local stack."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
DEMO_KEY = {"x-api-key": "local-demo-key", "Content-Type": "application/json"}


@contextmanager
def moto_in_process() -> Iterator[None]:
    """moto's in-process mock, tuned as the local stack tunes its server (``devstack.moto_tuning``)."""
    os.environ.update(FAKE_AWS)
    from moto import mock_aws

    from growthos_segments.devstack import moto_tuning

    with mock_aws():
        moto_tuning.apply()
        yield


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_call(base: str, method: str, path: str, body: Any = None, timeout: float = 120) -> tuple[int, Any]:
    """One request to the local stack's API as the demo tenant: (status, JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=DEMO_KEY, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
