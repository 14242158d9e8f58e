"""Backfill by SQL candidates on AWS's path: the SQS worker of ``handlers.backfill`` with
``ANALYTICS_COPY`` naming a folder of the analytical copy, on moto's DynamoDB and SQS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import growthos_segments.handlers.backfill as backfill_handler
from growthos_segments.analytics.parquet import write_tenant
from growthos_segments.core.ports import BackfillJob
from growthos_segments.core.timeutil import parse_instant, to_iso
from growthos_segments.devstack.runtime import LambdaFunction
from growthos_segments.handlers.backfill_wiring import build_backfill, copy_candidates
from growthos_segments.infra import aws
from growthos_segments.infra.queue import SqsBackfillQueue
from growthos_segments.infra.settings import Settings, SettingsError
from growthos_segments.services.backfill import Backfill
from tests.integration.test_backfill import CONTACTS, PRO, PRO_IDS, drain, rt, settings
from tests.support.realtime import Realtime, lambda_environment

__all__ = ["rt", "settings"]  # the fixtures this module shares with test_backfill


def _copy(root: Path, as_of: str) -> None:
    """The copy as the copy function would hold it: every contact, fresh as of ``as_of``."""
    docs = [{"contact_id": cid, "attributes": {"plan": "pro" if n % 2 == 0 else "free"}, "updated_at": as_of}
            for n, cid in enumerate(CONTACTS)]
    write_tenant(root, "t1", docs)


@pytest.fixture
def worker_env(rt: Realtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    sqs = aws.client("sqs", rt.settings)
    url = sqs.create_queue(QueueName="backfill")["QueueUrl"]
    settings = Settings.local("it", segment_cache_seconds=3600, backfill_queue_url=url)
    with lambda_environment(monkeypatch, settings, backfill_handler.worker, BACKFILL_PAGE_SIZE="3",
                            ANALYTICS_COPY=str(tmp_path / "copy")):
        yield sqs, url


def test_the_worker_evaluates_only_the_candidates_of_a_fresh_copy(
    rt: Realtime, worker_env: tuple[Any, str], tmp_path: Path
) -> None:
    sqs, url = worker_env
    saved = rt.save("pro", PRO)
    stamp = parse_instant(saved.updated_at)
    assert stamp is not None
    _copy(tmp_path / "copy", to_iso(stamp + timedelta(seconds=3600)))  # the save plus the cache window
    SqsBackfillQueue(sqs, url).send([BackfillJob("t1", "pro", saved.version)])
    function = LambdaFunction.of(backfill_handler.handler, name="BackfillFunction", timeout=300)
    _, failures = drain(sqs, url, function)
    assert failures == []
    progress = Backfill(rt.service).progress("t1", "pro", saved.version)
    assert progress.complete and (progress.done, progress.entered) == (10, 10)  # 10 candidates of 20
    assert rt.members("pro") == PRO_IDS


def test_a_copy_behind_the_save_sends_the_job_back_delayed(
    rt: Realtime, worker_env: tuple[Any, str], tmp_path: Path
) -> None:
    sqs, url = worker_env
    rt.clock.now = datetime.now(UTC)  # the worker waits on the real clock: save now
    saved = rt.save("pro", PRO)
    _copy(tmp_path / "copy", saved.updated_at or "")
    worker = backfill_handler.worker()
    job = BackfillJob("t1", "pro", saved.version)
    assert worker.handle(job) == job  # looked at the copy, queued itself again
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []  # delayed: not visible yet
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"


def test_without_a_copy_configured_the_backfill_evaluates_everyone(rt: Realtime) -> None:
    assert copy_candidates(rt.settings) is None
    rt.save("pro", PRO)
    progress = build_backfill(rt.settings, rt.service).run("t1", "pro", workers=1)
    assert (progress.done, progress.entered) == (20, 10)


@pytest.mark.parametrize("raw", ["-1", "3601", "nan", "soon"])
def test_a_bad_copy_wait_is_one_clear_error(raw: str) -> None:
    env = {**Settings.local("it").table_env(), "BACKFILL_COPY_WAIT_SECONDS": raw}
    with pytest.raises(SettingsError, match="BACKFILL_COPY_WAIT_SECONDS must be"):
        Settings.from_env(env)


def test_the_copy_wait_defaults_to_none_against_an_endpoint_override() -> None:
    env = Settings.local("it").table_env()
    assert Settings.from_env(env).backfill_copy_wait == timedelta(minutes=2)
    local = Settings.from_env({**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
    assert local.backfill_copy_wait == timedelta(0)
    chosen = Settings.from_env({**env, "BACKFILL_COPY_WAIT_SECONDS": "30"})
    assert chosen.backfill_copy_wait == timedelta(seconds=30)
