"""The notifier: memberships stream -> Segment Entered / Segment Exited on EventBridge.

No transition without its event (a record is acknowledged only when its event
was accepted), no event without its transition (only a change of ``member``
is one), and a stable idempotency id per transition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import handlers.notifier as notifier_handler
from core.ports import OutboundEvent, PublishFailure, PublishResult
from infra import keys
from infra.evaluation import Notifier, build_service
from infra.local.runtime import LambdaFunction
from infra.repos import Repositories
from tests.integration.conftest import NOW
from tests.support.realtime import Bus, Clock, Realtime, Streams, summary

README = Path(__file__).resolve().parents[2] / "README.md"
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}


@pytest.fixture
def rt(repos: Repositories) -> Iterator[Realtime]:
    clock = Clock(NOW)
    service = build_service(repos.settings, repos=repos, clock=clock)
    yield Realtime(repos, service, clock, Streams(repos.settings, repos.client), Bus(repos.settings))


def readme_rule() -> dict[str, Any]:
    """The subscription rule the README shows other modules."""
    text = README.read_text()
    found = re.search(r"<!-- subscription-rule -->\s*```json\n(.*?)```", text, re.S)
    assert found, "README lost its subscription rule example"
    rule: dict[str, Any] = json.loads(found.group(1))
    return rule


def test_a_transition_becomes_one_event_with_the_documented_shape(rt: Realtime) -> None:
    saved = rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "pro"})
    rt.evaluate()
    records = rt.membership_records()
    assert [r["eventName"] for r in records] == ["INSERT", "INSERT"]  # moto: key-only image, then the row
    result = rt.notify_records(records)
    assert (result.sent, result.skipped, result.failed) == (1, 1, {})
    [envelope] = rt.bus.received()
    assert envelope["source"] == "growthos.segments" and envelope["detail-type"] == "Segment Entered"
    row = rt.repos.memberships.get("t1", "pro", "c1")
    assert row is not None
    assert envelope["detail"] == {
        "tenant_id": "t1",
        "segment_id": "pro",
        "segment_version": saved.version,
        "contact_id": "c1",
        "member": True,
        "at": row.changed_at,
        "seq": row.seq,
        "idempotency_id": keys.transition_id("t1", "pro", "c1", row.seq, True),
    }
    assert envelope["time"].startswith("2026-11-22T12:00:00")

    rt.clock.advance(days=3)
    rt.repos.contacts.patch("t1", "c1", attributes={"plan": "free"})
    rt.evaluate()
    rt.notify()
    [exited] = rt.bus.received()
    assert exited["detail-type"] == "Segment Exited"
    assert exited["detail"]["member"] is False and exited["detail"]["entered_at"] == row.changed_at
    assert exited["detail"]["idempotency_id"].endswith("#exit")


def test_the_readme_rule_routes_exactly_what_it_says(rt: Realtime) -> None:
    rule = readme_rule()
    tenant = rule["detail"]["tenant_id"][0]
    segment = rule["detail"]["segment_id"][0]
    subscriber = rt.bus.tap("readme", rule)  # what another module would put on the bus
    at_risk = {"rfm_recency": {"older_than": "60d"}}
    for tenant_id in (tenant, "other"):
        rt.save(segment, at_risk, tenant_id=tenant_id)
        rt.save("pro", PRO, tenant_id=tenant_id)
        rt.contact("c1", tenant_id=tenant_id, attributes={"plan": "pro"})
        rt.event("c1", "order.completed", tenant_id=tenant_id, ago=timedelta(days=61), amount=10)
    everything = rt.flush()
    assert len(everything) == 4  # both tenants, both segments
    assert summary(subscriber.received()) == [("ENTER", tenant, segment, "c1")]


def test_confirmations_tombstones_and_rechecks_send_nothing(rt: Realtime) -> None:
    rt.save("pro", PRO)
    m = rt.repos.memberships
    m.enter("t1", "pro", "c1", seq=10, at=NOW)
    rt.notify()
    rt.bus.received()
    assert m.confirm("t1", "pro", "c1", member=True, seq=11, at=NOW)  # a newer seq, same state
    assert m.exit("t1", "pro", "never", seq=5, at=NOW).outcome.value == "unchanged"  # a tombstone
    rt.repos.rechecks.schedule("t1", "pro", "c1", recheck_at=NOW + timedelta(days=1), seq=12)
    records = rt.membership_records()
    assert len(records) >= 2
    result = rt.notify_records(records)
    assert result.sent == 0 and result.failed == {} and rt.bus.received() == []


def test_a_redelivered_transition_keeps_its_idempotency_id(rt: Realtime) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "pro"})
    rt.evaluate()
    records = rt.membership_records()
    once = rt.notify_records(records + records)  # duplicates within a batch: published once
    assert once.sent == 1
    again = rt.notify_records(records)  # a retried batch: published again, same id
    assert again.sent == 1
    first, second = rt.bus.received()
    assert first["detail"]["idempotency_id"] == second["detail"]["idempotency_id"]


class FlakyPublisher:
    """Accepts every event but the ones of one contact."""

    def __init__(self, refuse: str) -> None:
        self.refuse = refuse
        self.published: list[OutboundEvent] = []

    def publish(self, events: Sequence[OutboundEvent]) -> PublishResult:
        failed = [PublishFailure(e, "ThrottlingException", "slow down")
                  for e in events if e.detail["contact_id"] == self.refuse]
        self.published += [e for e in events if e.detail["contact_id"] != self.refuse]
        return PublishResult(sent=len(events) - len(failed), failed=failed)


def test_an_event_that_was_not_accepted_fails_only_its_records(rt: Realtime) -> None:
    rt.save("pro", PRO)
    for cid in ("c1", "c2", "c3"):
        rt.contact(cid, attributes={"plan": "pro"})
    rt.evaluate()
    records = rt.membership_records()
    publisher = FlakyPublisher(refuse="c2")
    result = Notifier(publisher).notify(records)
    c2 = {r["dynamodb"]["SequenceNumber"] for r in records if r["dynamodb"]["Keys"]["sk"]["S"] == "c2"}
    assert set(result.failed) <= c2 and result.failed  # the full-image record of c2 (not its key-only one)
    assert sorted(e.detail["contact_id"] for e in publisher.published) == ["c1", "c3"]


def test_the_handler_reports_unpublished_records_and_answers_empty_batches(
    rt: Realtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in rt.settings.table_env().items():
        monkeypatch.setenv(name, value)
    notifier_handler.notifier.cache_clear()
    try:
        function = LambdaFunction.of(notifier_handler.handler, name="NotifierFunction")
        assert function.invoke({"Records": []}).payload == {"batchItemFailures": []}
        rt.save("pro", PRO)
        for cid in ("c1", "c2"):
            rt.contact(cid, attributes={"plan": "pro"})
        rt.evaluate()
        records = rt.membership_records()
        monkeypatch.setattr(notifier_handler.notifier(), "_publisher", FlakyPublisher(refuse="c2"))
        response = function.invoke({"Records": records})
        assert response.ok, response.error
        failed = {f["itemIdentifier"] for f in response.payload["batchItemFailures"]}
        c2 = {r["dynamodb"]["SequenceNumber"] for r in records if r["dynamodb"]["Keys"]["sk"]["S"] == "c2"}
        assert failed and failed <= c2
        monkeypatch.undo()
        for name, value in rt.settings.table_env().items():
            monkeypatch.setenv(name, value)
        notifier_handler.notifier.cache_clear()
        again = [r for r in records if r["dynamodb"]["SequenceNumber"] in failed]
        retry = function.invoke({"Records": again})
        assert retry.payload == {"batchItemFailures": []}
        assert summary(rt.bus.received()) == [("ENTER", "t1", "pro", "c2")]
    finally:
        notifier_handler.notifier.cache_clear()
