"""The notifier: memberships stream -> Segment Entered / Segment Exited on EventBridge.

No transition without its event (a record is acknowledged only when its event
was accepted), no event without its transition (only a change of ``member``
is one), and a stable idempotency id per transition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import growthos_segments.handlers.notifier as notifier_handler
from growthos_segments.core.ports import OutboundEvent, PublishFailure, PublishResult
from growthos_segments.devstack.pump import MappingConfig, deliver
from growthos_segments.devstack.runtime import LambdaFunction
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra import keys
from growthos_segments.infra.memory import MemoryPublisher
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.settings import current_settings
from growthos_segments.services.notifier import HeldBack, Notifier, PublishError
from tests.integration.conftest import NOW
from tests.support.realtime import Bus, Clock, Realtime, Streams, lambda_environment, summary

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


def refusing(contact_id: str) -> MemoryPublisher:
    """A bus that accepts every event but the ones of one contact."""
    return MemoryPublisher(refuse=lambda event: event.detail["contact_id"] == contact_id)


def test_an_event_that_was_not_accepted_fails_its_record_and_holds_back_the_rest(rt: Realtime) -> None:
    rt.save("pro", PRO)
    for cid in ("c1", "c2", "c3"):
        rt.contact(cid, attributes={"plan": "pro"})
    rt.evaluate()
    records = rt.membership_records()
    publisher = refusing("c2")
    result = Notifier(publisher, rt.service.ports.records).notify(records)
    ids = [r["dynamodb"]["SequenceNumber"] for r in records]
    c2_full = next(i for i, r in enumerate(records)
                   if r["dynamodb"]["Keys"]["sk"]["S"] == "c2" and "member" in r["dynamodb"]["NewImage"])
    # Lambda retries from the first failed record whatever else is reported, so
    # that record and every later one are failed; the key-only INSERT before it is not.
    assert list(result.failed) == ids[c2_full:]
    assert isinstance(result.failed[ids[c2_full]], PublishError)
    assert all(isinstance(result.failed[i], HeldBack) for i in ids[c2_full + 1:])
    assert "c1" in [e.detail["contact_id"] for e in publisher.events]


def test_the_handler_reports_unpublished_records_and_answers_empty_batches(
    rt: Realtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    with lambda_environment(monkeypatch, rt.settings, notifier_handler.notifier):
        function = LambdaFunction.of(notifier_handler.handler, name="NotifierFunction")
        assert function.invoke({"Records": []}).payload == {"batchItemFailures": []}
        rt.save("pro", PRO)
        for cid in ("c1", "c2"):
            rt.contact(cid, attributes={"plan": "pro"})
        rt.evaluate()
        records = rt.membership_records()
        monkeypatch.setattr(notifier_handler.notifier(), "_publisher", refusing("c2"))
        response = function.invoke({"Records": records})
        assert response.ok, response.error
        failed = {f["itemIdentifier"] for f in response.payload["batchItemFailures"]}
        c2 = {r["dynamodb"]["SequenceNumber"] for r in records if r["dynamodb"]["Keys"]["sk"]["S"] == "c2"}
        assert failed and failed <= c2
        monkeypatch.undo()
        for name, value in rt.settings.table_env().items():
            monkeypatch.setenv(name, value)
        notifier_handler.notifier.cache_clear()
        current_settings.cache_clear()
        again = [r for r in records if r["dynamodb"]["SequenceNumber"] in failed]
        retry = function.invoke({"Records": again})
        assert retry.payload == {"batchItemFailures": []}
        assert summary(rt.bus.received()) == [("ENTER", "t1", "pro", "c2")]


# --------------------------------------------------------------------------- order under partial failures


class RefuseOnce:
    """EventBridge refusing chosen entries once (throttling), accepting the rest of
    each call; every call is recorded, so a test can see what shared a request."""

    def __init__(self, inner: Any, refuse: Callable[[OutboundEvent], bool]) -> None:
        self.inner = inner
        self.refuse = refuse
        self.refused: set[str] = set()
        self.calls: list[list[OutboundEvent]] = []

    def publish(self, events: Sequence[OutboundEvent]) -> PublishResult:
        self.calls.append(list(events))
        failed = []
        accepted = []
        for event in events:
            if event.idempotency_id not in self.refused and self.refuse(event):
                self.refused.add(event.idempotency_id)
                failed.append(PublishFailure(event, "ThrottlingException", "Rate exceeded"))
            else:
                accepted.append(event)
        sent = self.inner.publish(accepted) if accepted else PublishResult(0)
        return PublishResult(sent.sent, [*failed, *sent.failed])


def pair_of(envelope: Mapping[str, Any]) -> tuple[str, str, str]:
    detail = envelope["detail"]
    return detail["tenant_id"], detail["segment_id"], detail["contact_id"]


def replay(envelopes: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], bool]:
    """A consumer as the README describes one: drop repeated idempotency ids, apply the
    rest in arrival order."""
    seen: set[str] = set()
    state: dict[tuple[str, str, str], bool] = {}
    for envelope in envelopes:
        detail = envelope["detail"]
        if detail["idempotency_id"] not in seen:
            seen.add(detail["idempotency_id"])
            state[pair_of(envelope)] = detail["member"]
    return state


def assert_never_older_after_newer(envelopes: Sequence[Mapping[str, Any]]) -> None:
    newest: dict[tuple[str, str, str], int] = {}
    for envelope in envelopes:
        pair, seq = pair_of(envelope), envelope["detail"]["seq"]
        assert seq >= newest.get(pair, 0), f"{pair}: seq {seq} arrived after {newest[pair]}"
        newest[pair] = seq


def deliver_to_handler(rt: Realtime, records: list[dict[str, Any]]) -> None:
    """The notifier's event source mapping: partial batch responses, retry from the
    first failed record, until the batch is done."""
    function = LambdaFunction.of(notifier_handler.handler, name="NotifierFunction")
    config = MappingConfig(report_item_failures=True, bisect_on_error=True)
    given_up: list[dict[str, Any]] = []
    assert deliver(records, invoke=function.invoke, config=config,
                   on_failure=lambda recs, *_: given_up.extend(recs), backoff=lambda attempt: 0.0)
    assert given_up == []


@pytest.fixture
def handler_publisher(rt: Realtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., RefuseOnce]]:
    def install(refuse: Callable[[OutboundEvent], bool]) -> RefuseOnce:
        publisher = RefuseOnce(rt.service.publisher, refuse)
        monkeypatch.setattr(notifier_handler.notifier(), "_publisher", publisher)
        return publisher

    with lambda_environment(monkeypatch, rt.settings, notifier_handler.notifier):
        yield install


def test_a_refused_enter_is_never_overtaken_by_the_exit_that_follows_it(
    rt: Realtime, handler_publisher: Callable[..., RefuseOnce]
) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "pro"})
    rt.contact("c2", attributes={"plan": "pro"})
    rt.evaluate()
    rt.repos.contacts.patch("t1", "c1", attributes={"plan": "free"})
    rt.evaluate()
    records = rt.membership_records()  # c1 enter, c2 enter, c1 exit: one batch
    publisher = handler_publisher(
        lambda e: e.detail_type == "Segment Entered" and e.detail["contact_id"] == "c1"
    )
    deliver_to_handler(rt, records)
    envelopes = rt.bus.received()
    assert publisher.refused  # the fault did happen
    assert_never_older_after_newer(envelopes)
    assert replay(envelopes) == {("t1", "pro", "c1"): False, ("t1", "pro", "c2"): True}
    # No PutEvents request ever carried two events of one pair (EventBridge may
    # accept the second and refuse the first).
    for call in publisher.calls:
        pairs = [(e.detail["segment_id"], e.detail["contact_id"]) for e in call]
        assert len(pairs) == len(set(pairs))


def test_a_batch_that_failed_whole_is_a_partial_response_not_a_function_error(
    rt: Realtime, handler_publisher: Callable[..., RefuseOnce]
) -> None:
    rt.save("pro", PRO)
    rt.contact("c1", attributes={"plan": "pro"})
    rt.evaluate()
    records = [r for r in rt.membership_records() if "member" in r["dynamodb"]["NewImage"]]
    handler_publisher(lambda e: True)  # EventBridge refuses everything once
    function = LambdaFunction.of(notifier_handler.handler, name="NotifierFunction")
    response = function.invoke({"Records": records})
    assert response.ok, response.error  # an error would make Lambda bisect the batch
    assert [f["itemIdentifier"] for f in response.payload["batchItemFailures"]] == [
        r["dynamodb"]["SequenceNumber"] for r in records
    ]
    assert function.invoke({"Records": records}).payload == {"batchItemFailures": []}
    assert summary(rt.bus.received()) == [("ENTER", "t1", "pro", "c1")]


def test_a_refusal_stops_the_batch_before_the_next_request(rt: Realtime) -> None:
    rt.save("pro", PRO)
    for n in range(25):
        rt.contact(f"c{n:02d}", attributes={"plan": "pro"})
    rt.evaluate()
    records = [r for r in rt.membership_records() if "member" in r["dynamodb"]["NewImage"]]
    publisher = RefuseOnce(rt.service.publisher, lambda e: e.detail["contact_id"] == "c03")
    result = Notifier(publisher, rt.service.ports.records).notify(records)
    assert [len(call) for call in publisher.calls] == [10]  # nothing after the refused request
    ids = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert list(result.failed) == ids[3:] and result.sent == 9
