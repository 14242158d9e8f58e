"""The local moto server runs DynamoDB requests one at a time, and nothing else."""

from __future__ import annotations

import threading
import time
from typing import Any

from growthos_segments.devstack.motoserver import _SerializedDynamoDB


class _Recorder:
    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(0.05)
        with self.lock:
            self.in_flight -= 1
        return [b"ok"]


def _run_concurrently(app: Any, target: str, n: int = 4) -> None:
    threads = [threading.Thread(target=lambda: app({"HTTP_X_AMZ_TARGET": target}, None)) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_dynamodb_and_streams_requests_never_overlap() -> None:
    recorder = _Recorder()
    app = _SerializedDynamoDB(recorder)
    _run_concurrently(app, "DynamoDB_20120810.TransactWriteItems")
    _run_concurrently(app, "DynamoDBStreams_20120810.GetRecords")
    assert recorder.most == 1


def test_other_services_are_not_serialised() -> None:
    recorder = _Recorder()
    _run_concurrently(_SerializedDynamoDB(recorder), "AmazonSQS.ReceiveMessage")
    assert recorder.most > 1
