"""A fault-injection soak of real-time membership.

``tests/integration/test_soak.py`` runs a small one in ``make test``;
``make bench`` (``benchmarks/bench_soak.py``) runs a larger one. With one
seeded random generator:

- **writes**: contacts created, replaced, patched (plan, signup date, NPS),
  deleted and re-created; events appended (sub-second times) and deleted —
  through the repositories, so the tables' streams carry them;
- **delivery**: contacts and events stream records reach a stream evaluator in
  batches that are shuffled, hold duplicates and records delivered long ago,
  and are retried from their first failed record, as Lambda retries;
- **hosts**: two deployments of the engine share the tables, their ``seq``
  clocks ``skew_ms`` apart; each batch and scheduler run goes to either;
- **faults**: every read and write the engine makes can raise, before it takes
  effect or after (a write that happened, its response lost);
- **notifications**: the memberships stream reaches the notifier in Lambda's
  way (retry from the first failed record; a batch sometimes delivered twice),
  which publishes through :class:`~growthos_segments.infra.publisher.EventBridgePublisher` to a
  bus that throttles entries, refuses whole requests, and applies some
  requests but loses their responses;
- **time**: the clock jumps ahead, and at the next minute the scheduler runs
  (again, until a run has no failure, as the next minutes' runs would).

The soak keeps its own copy of the data and decides membership with a few
lines of plain Python per segment, not the rule compiler. At each checkpoint
it compares the stored members, counters and re-checks with that; at the end
it checks the bus against the memberships stream (the outbox), pair by pair.
Each mismatch is a divergence.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from growthos_segments.core.membership import SeqClock
from growthos_segments.core.ports import SegmentRecord
from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra import keys
from growthos_segments.infra.publisher import EventBridgePublisher
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.streams import DynamoStreamRecords, record_id
from growthos_segments.services.notifier import Notifier
from growthos_segments.services.realtime import EvaluationService
from growthos_segments.services.scheduler import Scheduler
from growthos_segments.services.stream import StreamEvaluator
from tests.support.realtime import Clock, Streams

START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
Pair = tuple[str, str, str]
"""(tenant, segment, contact)."""
Profile = dict[str, dict[str, Any]]
Events = list[tuple[str, datetime]]
Oracle = Callable[[Profile | None, Events, datetime], tuple[bool, datetime | None]]
"""``(member, next_flip)``: membership at ``now`` and the first later instant it
changes with no new data (``None``: never)."""


# --------------------------------------------------------------------------- the segments and their oracles


def _pro(profile: Profile | None, events: Events, now: datetime) -> tuple[bool, datetime | None]:
    return profile is not None and profile["attributes"].get("plan") == "pro", None


def _promoters(profile: Profile | None, events: Events, now: datetime) -> tuple[bool, datetime | None]:
    nps = profile["scores"].get("nps") if profile is not None else None
    return type(nps) in (int, float) and nps >= 9, None


def _signed_up_within(days: int) -> Oracle:
    def decide(profile: Profile | None, events: Events, now: datetime) -> tuple[bool, datetime | None]:
        signup = profile["attributes"].get("signup_date") if profile is not None else None
        if not isinstance(signup, str):
            return False, None
        start = datetime.fromisoformat(signup).replace(tzinfo=UTC)
        end = start + timedelta(days=days)
        return (True, end) if start <= now < end else (False, None)  # signups are never in the future

    return decide


def _did_within(name: str, span: timedelta) -> Oracle:
    def decide(profile: Profile | None, events: Events, now: datetime) -> tuple[bool, datetime | None]:
        inside = [at for n, at in events if n == name and now - span < at <= now]
        if profile is None or not inside:
            return False, None
        return True, max(inside) + span

    return decide


def _not(oracle: Oracle) -> Oracle:
    def decide(profile: Profile | None, events: Events, now: datetime) -> tuple[bool, datetime | None]:
        if profile is None:
            return False, None
        member, flip = oracle(profile, events, now)
        return not member, flip

    return decide


def _pro_and(oracle: Oracle) -> Oracle:
    def decide(profile: Profile | None, events: Events, now: datetime) -> tuple[bool, datetime | None]:
        return oracle(profile, events, now) if _pro(profile, events, now)[0] else (False, None)

    return decide


def segments(tenant_id: str) -> dict[str, tuple[dict[str, Any], Oracle]]:
    """The rules each tenant saves, with the plain-Python decision for each. The two
    tenants use the same ids and contact ids with different windows, so a mix-up
    between them shows as a divergence."""
    days = 3 if tenant_id == "t1" else 2
    opened = _did_within("email.opened", timedelta(days=days))
    return {
        "pro": ({"attribute": {"field": "plan", "op": "equals", "value": "pro"}}, _pro),
        "new_signups": (
            {"attribute": {"field": "signup_date", "op": "within_last", "amount": 7, "unit": "days"}},
            _signed_up_within(7),
        ),
        "opened": ({"email": {"action": "opened", "within": f"{days}d"}}, opened),
        "promoters": ({"score": {"name": "nps", "gte": 9}}, _promoters),
        "engaged_pro": (
            {"and": [{"segment": {"id": "pro"}}, {"segment": {"id": "opened"}}]},
            _pro_and(opened),
        ),
        "lapsed": (
            {"!": {"event": {"name": "order.completed", "within": "2d"}}},
            _not(_did_within("order.completed", timedelta(days=2))),
        ),
    }


# --------------------------------------------------------------------------- configuration and report


@dataclass(frozen=True)
class SoakConfig:
    seed: int = 1
    tenants: tuple[str, ...] = ("t1", "t2")
    contacts: int = 4
    """Per tenant (the same ids in every tenant)."""
    rounds: int = 6
    """Each round: a jump of time, ``writes`` random writes, a checkpoint."""
    writes: int = 8
    skew_ms: int = 50
    """How far the second host's seq clock runs ahead of the first's. The seq clocks
    read a wall that moves 1 ms per reading (about one per evaluation), so this is
    also how many evaluations apart two evaluations on different hosts may be and
    still take their seqs in the wrong order."""
    fault_rate: float = 0.04
    """Chance that one engine read or write raises."""
    publish_fault_rate: float = 0.1
    """Chance that one PutEvents request (or, separately, one entry) fails."""
    duplicate_rate: float = 0.3
    redeliver_rate: float = 0.3
    reorder_rate: float = 0.5
    max_jump: timedelta = timedelta(hours=30)


@dataclass
class SoakReport:
    operations: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    delivery: Counter[str] = field(default_factory=Counter)
    transitions: int = 0
    """Committed transitions (memberships stream records that change ``member``)."""
    events: int = 0
    """Events that reached the bus, duplicates included."""
    divergences: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        def listing(counts: Counter[str]) -> str:
            return ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "none"

        return [
            f"operations: {sum(self.operations.values())} ({listing(self.operations)})",
            f"faults injected: {sum(self.faults.values())} ({listing(self.faults)})",
            f"delivery: {listing(self.delivery)}",
            f"transitions committed: {self.transitions}; events on the bus: {self.events}",
            f"divergences: {len(self.divergences)}",
            *(f"  {d}" for d in self.divergences[:20]),
        ]


# --------------------------------------------------------------------------- faults


class InjectedFault(RuntimeError):
    """Raised by the soak, never by the code under test."""


class Faults:
    def __init__(self, rng: random.Random, rate: float, counts: Counter[str]) -> None:
        self._rng = rng
        self._rate = rate
        self.counts = counts

    def draw(self, where: str) -> str | None:
        """``None``, or when the call fails: ``before`` or ``after`` it takes effect."""
        if self._rng.random() >= self._rate:
            return None
        when = self._rng.choice(("before", "after"))
        self.counts[f"{where} {when}"] += 1
        return when


class Faulty:
    """Proxies ``inner``; the named methods fail at random."""

    def __init__(self, inner: Any, methods: Iterable[str], faults: Faults, name: str) -> None:
        self._inner = inner
        self._methods = frozenset(methods)
        self._faults = faults
        self._name = name

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._methods:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            when = self._faults.draw(f"{self._name}.{name}")
            if when == "before":
                raise InjectedFault(f"{self._name}.{name} failed")
            result = attr(*args, **kwargs)
            if when == "after":
                raise InjectedFault(f"{self._name}.{name} took effect, then its response was lost")
            return result

        return call


class FlakyBus:
    """The ``events`` client the publisher calls: an EventBridge bus that throttles
    entries, refuses whole requests, and applies some requests but loses their
    responses. ``log`` is what reached the bus, in order."""

    def __init__(self, rng: random.Random, rate: float, counts: Counter[str]) -> None:
        self._rng = rng
        self._rate = rate
        self.counts = counts
        self.log: list[dict[str, Any]] = []
        """Details in arrival order; ``again`` is set on those that came while a batch
        was being delivered again after it had succeeded."""
        self.again = False
        self.shared_requests = 0
        """Requests that carried two events of one pair."""

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        details = [json.loads(entry["Detail"]) for entry in Entries]
        pairs = [(d["tenant_id"], d["segment_id"], d["contact_id"]) for d in details]
        if len(set(pairs)) < len(pairs):
            self.shared_requests += 1
        draw = self._rng.random()
        if draw < self._rate / 2:
            self.counts["PutEvents refused"] += 1
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutEvents")
        if draw < self._rate:
            self.log += [{**d, "again": self.again} for d in details]
            self.counts["PutEvents applied, response lost"] += 1
            raise ClientError({"Error": {"Code": "InternalFailure", "Message": "reset"}}, "PutEvents")
        results = []
        for detail in details:
            if self._rng.random() < self._rate:
                self.counts["entry throttled"] += 1
                results.append({"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"})
            else:
                self.log.append({**detail, "again": self.again})
                results.append({"EventId": detail["idempotency_id"]})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


class StepWall:
    """Wall clock for the hosts' seq clocks, one millisecond further at every
    reading: seqs (and so the soak) depend on the seed alone."""

    def __init__(self) -> None:
        self.ns = int(START.timestamp() * 1e9)

    def read(self) -> int:
        self.ns += 1_000_000
        return self.ns


@dataclass
class Host:
    service: EvaluationService
    evaluator: StreamEvaluator
    scheduler: Scheduler


# --------------------------------------------------------------------------- the soak


@dataclass
class TenantData:
    profiles: dict[str, Profile] = field(default_factory=dict)
    events: dict[str, dict[str, tuple[str, datetime]]] = field(default_factory=dict)
    """contact -> event id -> (name, at); events outlive their contact's profile, as in the table."""


class Soak:
    def __init__(self, repos: Repositories, config: SoakConfig) -> None:
        self.repos = repos
        self.config = config
        self.report = SoakReport()
        self.rng = random.Random(config.seed)
        self.clock = Clock(START)
        self.faults = Faults(self.rng, config.fault_rate, self.report.faults)
        self.streams = Streams(repos.settings)
        wall = StepWall()
        self.hosts = [self._host(wall, offset, f"host{n}") for n, offset in enumerate((0, config.skew_ms))]
        self.bus = FlakyBus(self.rng, config.publish_fault_rate, self.report.faults)
        publisher = EventBridgePublisher(self.bus, repos.settings.event_bus_name)
        self.notifier = Notifier(publisher, DynamoStreamRecords(repos.settings.tables))
        self.data = {tenant: TenantData() for tenant in config.tenants}
        self.contact_ids = [f"c{n}" for n in range(config.contacts)]
        self.backlog: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.stored: dict[Pair, bool] = {}
        self._event_ids = 0

    def _host(self, wall: StepWall, offset_ms: int, name: str) -> Host:
        def faulty(inner: Any, *methods: str) -> Any:
            return Faulty(inner, methods, self.faults, f"{name}.{type(inner).__name__}")

        repos = replace(
            self.repos,
            views=faulty(self.repos.views, "load_view", "load_views"),
            memberships=faulty(self.repos.memberships, "enter", "exit", "confirm"),
            rechecks=faulty(self.repos.rechecks, "schedule"),
        )
        offset = offset_ms * 1_000_000
        seqs = SeqClock(lambda: wall.read() + offset)
        service = build_service(self.repos.settings, repos=repos, clock=self.clock, seqs=seqs)
        service.engine.states = faulty(service.engine.states, "read", "read_many")
        return Host(service, StreamEvaluator(service), Scheduler(service))

    # ----------------------------------------------------------------------- driving

    def run(self) -> SoakReport:
        for tenant in self.config.tenants:
            for sid, (rule, _) in segments(tenant).items():
                self.repos.segments.save(SegmentRecord(tenant, sid, sid, rule), now=self.clock())
        for _ in range(self.config.rounds):
            self.clock.advance(seconds=self.rng.uniform(1, self.config.max_jump.total_seconds()))
            for _ in range(self.config.writes):
                self.write()
                self.clock.advance(seconds=self.rng.uniform(0, 600))
                if self.rng.random() < 0.5:
                    self.deliver_changes(batches=self.rng.randint(1, 2))
                if self.rng.random() < 0.15:
                    self.deliver_notifications()
            self.checkpoint()
        self.check_events()
        return self.report

    def write(self) -> None:
        rng, now = self.rng, self.clock()
        tenant, cid = rng.choice(self.config.tenants), rng.choice(self.contact_ids)
        data = self.data[tenant]
        kind = rng.choices(
            ("put", "plan", "signup", "nps", "delete", "email.opened", "order.completed", "page.viewed",
             "delete event"),
            weights=(2, 2, 3, 2, 1, 3, 2, 1, 3),
        )[0]
        self.report.operations[kind] += 1
        profile = data.profiles.get(cid)
        if kind == "put":
            attributes: dict[str, Any] = {"plan": rng.choice(("free", "pro", "team"))}
            if rng.random() < 0.8:
                attributes["signup_date"] = (now - timedelta(days=rng.randint(0, 9))).date().isoformat()
            scores = {"nps": rng.randint(0, 10)} if rng.random() < 0.6 else {}
            self.repos.contacts.put({"tenant_id": tenant, "contact_id": cid, "attributes": attributes,
                                     "scores": scores}, now=now)
            data.profiles[cid] = {"attributes": attributes, "scores": scores}
        elif kind in ("plan", "signup", "nps"):
            signup = (profile or {}).get("attributes", {}).get("signup_date")
            # A correction moves the signup date earlier: the contact leaves new_signups sooner.
            earlier = datetime.fromisoformat(signup) - timedelta(days=rng.randint(1, 3)) if signup else now
            field_name, value = {
                "plan": ("plan", rng.choice(("free", "pro", "team"))),
                "signup": ("signup_date", earlier.date().isoformat()),
                "nps": ("nps", rng.choice((None, *range(11)))),
            }[kind]
            section = "scores" if kind == "nps" else "attributes"
            self.repos.contacts.patch(tenant, cid, now=now, **{section: {field_name: value}})
            if profile is None:  # a patch creates the contact with what it sets
                profile = data.profiles[cid] = {"attributes": {}, "scores": {}}
            if value is None:
                profile[section].pop(field_name, None)
            else:
                profile[section][field_name] = value
        elif kind == "delete":
            self.repos.contacts.delete(tenant, cid)
            data.profiles.pop(cid, None)
        elif kind == "delete event":
            events = data.events.get(cid) or {}
            if events:  # often the newest one, which moves a window's end earlier
                newest = max(events, key=lambda e: events[e][1])
                event_id = newest if rng.random() < 0.5 else rng.choice(sorted(events))
                _, at = events.pop(event_id)
                self.repos.models.events(keys.event_pk(tenant, cid), keys.event_sk(at, event_id)).delete()
        else:
            self._event_ids += 1
            event_id = f"e{self._event_ids}"
            at = now - timedelta(seconds=rng.uniform(0, 4 * 86400))
            self.repos.events.append(tenant, cid, kind, at=at, event_id=event_id)
            data.events.setdefault(cid, {})[event_id] = (kind, at)

    def deliver_changes(self, *, batches: int | None = None) -> None:
        """Hand contacts/events records to the evaluators, hostile; ``batches=None``
        goes on until every record written so far was evaluated without failure."""
        tables = self.repos.settings.tables
        rng, done = self.rng, 0
        while batches is None or done < batches:
            if not self.backlog:
                self.backlog = self.streams.read(tables.contacts) + self.streams.read(tables.events)
                if not self.backlog:
                    return
            done += 1
            if done > 10_000:
                raise AssertionError("change records never drained")
            size = rng.randint(1, 6)
            batch, rest = self.backlog[:size], self.backlog[size:]
            if rng.random() < self.config.duplicate_rate:
                batch.insert(rng.randrange(len(batch) + 1), rng.choice(batch))
                self.report.delivery["change batches with a duplicate"] += 1
            if self.delivered and rng.random() < self.config.redeliver_rate:
                batch.insert(rng.randrange(len(batch) + 1), rng.choice(self.delivered))
                self.report.delivery["change batches with an old record"] += 1
            if rng.random() < self.config.reorder_rate:
                rng.shuffle(batch)
                self.report.delivery["change batches reordered"] += 1
            result = rng.choice(self.hosts).evaluator.evaluate_batch(batch)
            self.report.delivery["change batches"] += 1
            self.delivered += batch
            failed = [i for i, record in enumerate(batch) if record_id(record) in result.failed]
            if failed:  # Lambda: checkpoint before the first failed record, redeliver the rest
                self.report.delivery["change batches retried"] += 1
                retry = {record_id(r): r for r in batch[failed[0]:]}
                self.backlog = list(retry.values()) + rest
            else:
                self.backlog = rest

    def deliver_notifications(self) -> None:
        """The memberships stream to the notifier: batches in order, retried from the
        first failed record, sometimes delivered twice; until everything is acknowledged."""
        records = self.streams.read(self.repos.settings.tables.memberships)
        self.outbox += records
        start = again_until = attempts = 0
        while start < len(records):
            attempts += 1
            if attempts > 10_000:
                raise AssertionError("membership records never drained")
            batch = records[start:start + self.rng.randint(1, 25)]
            # What a batch delivered again after it succeeded publishes (until the shard
            # is past it) repeats events, possibly after newer ones of their pair.
            self.bus.again = start < again_until
            result = self.notifier.notify(batch)
            self.report.delivery["notifier batches"] += 1
            failed = [i for i, record in enumerate(batch) if record_id(record) in result.failed]
            if failed:
                self.report.delivery["notifier batches retried"] += 1
                start += failed[0]
            elif self.rng.random() < self.config.duplicate_rate:
                self.report.delivery["notifier batches delivered again after success"] += 1
                again_until = max(again_until, start + len(batch))
            else:
                start += len(batch)

    def checkpoint(self) -> None:
        """At the next minute (or a little later): every change evaluated, the
        scheduler run until clean, everything notified; then compare."""
        now = self.clock()
        minute = now.replace(second=0, microsecond=0)
        self.clock.now = minute + timedelta(minutes=(minute != now) + self.rng.randint(0, 2))
        self.deliver_changes()
        for _ in range(100):
            scheduled = self.rng.choice(self.hosts).scheduler.run()
            self.report.delivery["scheduler runs"] += 1
            if scheduled.failures == 0 and scheduled.complete:
                break
        else:
            raise AssertionError("the scheduler never had a run without failures")
        self.deliver_notifications()
        self.report.delivery["checkpoints"] += 1
        self.compare()

    # ----------------------------------------------------------------------- checking

    def diverge(self, what: str) -> None:
        self.report.divergences.append(f"{self.clock().isoformat()} {what}")

    def expected(self, tenant: str, oracle: Oracle, cid: str) -> tuple[bool, datetime | None]:
        data = self.data[tenant]
        events = list((data.events.get(cid) or {}).values())
        return oracle(data.profiles.get(cid), events, self.clock())

    def compare(self) -> None:
        memberships, rechecks = self.repos.memberships, self.repos.rechecks
        for tenant in self.config.tenants:
            stored_rechecks = {cid: {r.segment_id: r.recheck_at for r in rechecks.for_contact(tenant, cid)}
                               for cid in self.contact_ids}
            for sid, (_, oracle) in segments(tenant).items():
                members = set(memberships.members(tenant, sid, limit=1000).items)
                expected = set()
                for cid in self.contact_ids:
                    member, flip = self.expected(tenant, oracle, cid)
                    self.stored[(tenant, sid, cid)] = cid in members
                    if member:
                        expected.add(cid)
                    stored = stored_rechecks[cid].get(sid)
                    if flip is not None and (stored is None or stored > flip):
                        self.diverge(f"{tenant}/{sid}/{cid}: re-check {stored} later than the flip at {flip}")
                if members != expected:
                    self.diverge(f"{tenant}/{sid}: members {sorted(members)}, expected {sorted(expected)}")
                count = memberships.count(tenant, sid)
                if count != len(expected):
                    self.diverge(f"{tenant}/{sid}: counter {count}, expected {len(expected)}")

    def check_events(self) -> None:
        """The bus against the outbox, per pair: the first delivery of each event in
        commit order and nothing else; no event after a newer one of its pair,
        except when Lambda delivers a batch again after it succeeded (which
        repeats it); no request with two events of a pair; replaying the bus
        (dropping repeated idempotency ids) gives the stored state."""
        committed: dict[Pair, list[str]] = {}
        deserialize = TypeDeserializer().deserialize
        for record in self.outbox:
            body = record["dynamodb"]
            new = {k: deserialize(v) for k, v in (body.get("NewImage") or {}).items()}
            old = {k: deserialize(v) for k, v in (body.get("OldImage") or {}).items()}
            if isinstance(new.get("member"), bool) and new["member"] != bool(old.get("member", False)):
                pair = (new["tenant_id"], new["segment_id"], new["contact_id"])
                committed.setdefault(pair, []).append(new["transition_id"])
        self.report.transitions = sum(map(len, committed.values()))
        self.report.events = len(self.bus.log)
        first_seen: dict[Pair, list[str]] = {}
        newest: dict[Pair, int] = {}
        replayed: dict[Pair, bool] = {}
        seen: set[str] = set()
        for detail in self.bus.log:
            pair = (detail["tenant_id"], detail["segment_id"], detail["contact_id"])
            if detail["seq"] < newest.get(pair, 0) and not detail["again"]:
                self.diverge(f"{pair}: event seq {detail['seq']} arrived after {newest[pair]}")
            newest[pair] = max(newest.get(pair, 0), detail["seq"])
            if detail["idempotency_id"] not in seen:
                seen.add(detail["idempotency_id"])
                first_seen.setdefault(pair, []).append(detail["idempotency_id"])
                replayed[pair] = detail["member"]
        for pair in sorted(committed.keys() | first_seen.keys()):
            if committed.get(pair, []) != first_seen.get(pair, []):
                self.diverge(f"{pair}: events {first_seen.get(pair)} but transitions {committed.get(pair)}")
        for pair, member in replayed.items():
            if self.stored.get(pair) != member:
                self.diverge(f"{pair}: replaying the events gives {member}, stored {self.stored.get(pair)}")
        if self.bus.shared_requests:
            self.diverge(f"{self.bus.shared_requests} PutEvents requests carried two events of one pair")

