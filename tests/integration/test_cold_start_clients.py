"""The clients a function's cold start builds: the stream and backfill workers build no
EventBridge client, the stream no SQS one; the composition builds them on first use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from growthos_segments.core.ports import BackfillJob, OutboundEvent
from growthos_segments.handlers import backfill, stream
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra import aws
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.settings import current_settings


def clients_built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The services of the clients ``aws.client`` builds from now on (it caches none)."""
    built: list[str] = []
    build = aws.client

    def client(service: str, settings: Any, **options: Any) -> Any:
        built.append(service)
        return build(service, settings, **options)

    monkeypatch.setattr(aws, "client", client)
    return built


@pytest.fixture
def made(repos: Repositories, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The services of the clients built from now on, with the functions' environment set."""
    queue = aws.client("sqs", repos.settings).create_queue(QueueName="backfill")["QueueUrl"]
    aws.client("events", repos.settings).create_event_bus(Name="it-bus")
    deployed = replace(repos.settings, backfill_queue_url=queue, event_bus_name="it-bus")
    for name, value in deployed.table_env().items():
        monkeypatch.setenv(name, value)
    built = clients_built(monkeypatch)
    for cached in (current_settings, stream.evaluator, backfill.worker):
        cached.cache_clear()
    yield built
    for cached in (current_settings, stream.evaluator, backfill.worker):
        cached.cache_clear()


def test_the_stream_and_backfill_workers_build_no_client_they_never_call(made: list[str]) -> None:
    stream.evaluator()
    assert "events" not in made and "sqs" not in made
    backfill.worker()
    assert "events" not in made and made.count("sqs") == 1  # the worker's own queue, for continuations


def test_the_composition_builds_each_client_on_its_first_call(made: list[str]) -> None:
    service = build_service(current_settings())
    assert "events" not in made and "sqs" not in made
    entered = OutboundEvent("Segment Entered", {"tenant_id": "t1"}, "i1")
    assert service.publisher.publish([entered]).ok
    assert made[-1] == "events"
    backfills = service.ports.backfills
    assert backfills is not None
    backfills.send([BackfillJob(tenant_id="t1", segment_id="s1", version=1)])
    assert service.publisher.publish([entered]).ok
    assert [name for name in made if name in ("events", "sqs")] == ["events", "sqs"]  # each built once
