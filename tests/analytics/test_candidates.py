"""Backfill by SQL candidates: the same memberships and re-checks as evaluating everyone.

Each case builds two identical tenants on the in-memory ports, writes the same
contacts to the analytical copy (Parquet in a tmp dir), saves the same segments,
and backfills one of them twice: contact by contact over the whole tenant, and
over the candidates the copy names. Both must leave the same members of every
segment, the same re-check rows and the same bus events; the candidate run must
evaluate fewer contacts whenever the segments compile to SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from growthos_segments.analytics.candidates import CopyCandidates, time_reads
from growthos_segments.analytics.compiler import NoSqlForm, compile_segment
from growthos_segments.analytics.deltas import ParquetCopy
from growthos_segments.analytics.parquet import write_tenant
from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports import BackfillJob, BackfillProgress
from growthos_segments.core.ports_candidates import CandidateSet, NoCandidates
from growthos_segments.core.ports_copy import CopyChange, Watermark
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.core.timeutil import to_iso
from growthos_segments.infra.analytics_copy import LocalCopyStorage
from growthos_segments.infra.memory import MemoryBackend, MemoryBackfillQueue
from growthos_segments.infra.stream_progress import StorageProgress
from growthos_segments.kit import ConditionType, ContactView, Reads, Result, hookimpl
from growthos_segments.kit.params import ParamsModel
from growthos_segments.plugins import BUILTIN_PLUGINS, default_host
from growthos_segments.plugins.rfm import compute_rfm_context
from growthos_segments.services.backfill import Backfill, BackfillWorker, SqlCandidates
from growthos_segments.services.realtime import evaluation_service
from tests.support.memory import MemoryRealtime
from tests.support.realtime import Clock

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SAVED = NOW - timedelta(minutes=10)
CACHE = timedelta(seconds=5)
FRESH = SAVED + CACHE
"""The copy's instant in most cases: exactly the save plus the cache window."""
US = timedelta(microseconds=1)
DAY = timedelta(days=1)


def _at(offset: timedelta) -> str:
    return to_iso(NOW + offset, "microseconds")


def population() -> list[dict[str, Any]]:
    """Contacts at the edges the rules below test: values and events on both sides of
    30/60-day windows to the microsecond, in the future, missing, malformed, none at all."""
    seen = [None, -DAY, -30 * DAY, -30 * DAY + US, -30 * DAY - US, -45 * DAY, 3 * DAY, "yesterday", 17]
    orders: list[list[timedelta]] = [[], [-10 * DAY], [-60 * DAY], [-60 * DAY + US], [-90 * DAY],
                                     [2 * DAY], [-DAY, -70 * DAY]]
    created = [None, -5 * DAY, -29 * DAY, -400 * DAY]
    docs = []
    for n in range(54):
        attributes: dict[str, Any] = {"plan": ("pro", "free", None)[n % 3]}
        last_seen = seen[n % len(seen)]
        if isinstance(last_seen, timedelta):
            attributes["last_seen"] = _at(last_seen)
        elif last_seen is not None:
            attributes["last_seen"] = last_seen
        born = created[n % len(created)]
        if born is not None:
            attributes["created_at"] = _at(born)
        if n % 5 == 0:
            attributes["renewal"] = _at((n % 20 - 5) * DAY)
        events = [{"name": "order.completed", "at": _at(o), "properties": {}}
                  for o in orders[n % len(orders)]]
        events += [{"name": "email.opened", "at": _at(-k * 7 * DAY), "properties": {}} for k in range(n % 4)]
        docs.append({"contact_id": f"c{n:02d}", "attributes": attributes,
                     "tags": ["vip"] if n % 4 == 0 else [], "events": events})
    return docs


PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
RECENT = {"attribute": {"field": "last_seen", "op": "within_last", "amount": 30, "unit": "days"}}
LAPSED = {"!": RECENT}
RENEWAL_SOON = {"attribute": {"field": "renewal", "op": "within_next", "amount": 14, "unit": "days"}}
VIP = {"tag": {"match": "any", "tags": ["vip"]}}
NO_ORDER_60 = {"event": {"name": "order.completed", "exactly": 0, "within": "60d"}}
OPENED_3 = {"email": {"action": "opened", "min_count": 3, "within": "30d"}}
NO_LOGIN_WAIT = {"event": {"name": "app.login", "exactly": 0, "within": "30d", "young_contacts": "wait"}}


@dataclass(frozen=True)
class Case:
    """Segments saved (and filled) before, the segments saved at ``SAVED``, the one backfilled."""

    name: str
    before: Mapping[str, Mapping[str, Any]]
    saved: Mapping[str, Mapping[str, Any]]
    backfilled: str = "s"
    everyone: bool = False
    """Every contact is a candidate on this data: a member, or holding an event or value
    a condition compares with the instant (``last_seen`` for "lapsed", any ``created_at``
    for young contacts who wait: conservative, not exact)."""


def _rule(rule: Any, **fields: Any) -> dict[str, Any]:
    return {"rule": rule, **fields}


CASES = [
    Case("attribute", {}, {"s": _rule(PRO)}),
    Case("window", {}, {"s": _rule(RECENT)}),
    Case("negated window", {}, {"s": _rule(LAPSED)}, everyone=True),
    Case("future window", {}, {"s": _rule(RENEWAL_SOON)}),
    Case("and/or/not", {},
         {"s": _rule({"or": [{"and": [PRO, LAPSED]}, {"and": [VIP, {"!": RENEWAL_SOON}]}]})}, everyone=True),
    Case("reference", {"recent": _rule(RECENT)},
         {"s": _rule({"and": [PRO, {"!": {"segment": {"id": "recent"}}}]})}, everyone=True),
    Case("a referenced segment changes",
         {"r": _rule(PRO), "dep": _rule({"and": [VIP, {"segment": {"id": "r"}}]})},
         {"r": _rule(LAPSED)}, backfilled="r", everyone=True),
    Case("picks and exclusions", {"recent": _rule(RECENT)},
         {"s": _rule(VIP, exclude_segments=("recent",), include_contacts=("c05", "c31"),
                     exclude_contacts=("c08",))}),
    Case("a changed rule exits members", {"s": _rule(VIP)}, {"s": _rule(RECENT)}),
    Case("static list", {},
         {"s": _rule({}, type="static", include_contacts=("c03", "c04", "gone"))}),
    Case("no order in 60 days", {}, {"s": _rule(NO_ORDER_60)}, everyone=True),
    Case("opened 3 emails in 30 days", {}, {"s": _rule({"and": [OPENED_3, {"!": PRO}]})}),
    Case("young contacts wait", {}, {"s": _rule(NO_LOGIN_WAIT)}, everyone=True),
]


def _world(host: PluginHost, docs: list[dict[str, Any]]) -> MemoryRealtime:
    memory, clock = MemoryBackend(), Clock(SAVED - timedelta(hours=1))
    rt = MemoryRealtime(memory, evaluation_service(memory.ports(), host, clock=clock), clock)
    for doc in docs:
        rt.contact(**doc)
    assert rt.flush() == []  # no segment yet
    return rt


def _save(rt: MemoryRealtime, segment_id: str, fields: Mapping[str, Any]) -> None:
    rt.save(segment_id, fields["rule"], **{k: v for k, v in fields.items() if k != "rule"})


def _saved(docs: list[dict[str, Any]], rule: Any, *, then: datetime) -> MemoryRealtime:
    """A tenant of ``docs`` with segment ``s`` saved at ``SAVED``, its clock moved to ``then``."""
    rt = _world(default_host(), docs)
    rt.clock.now = SAVED
    _save(rt, "s", _rule(rule))
    rt.clock.now = then
    return rt


def _state(rt: MemoryRealtime, segment_ids: list[str]) -> tuple[Any, ...]:
    members = {sid: rt.members(sid) for sid in segment_ids}
    rechecks = sorted((r.segment_id, r.contact_id, r.recheck_at) for r in rt.memory.rechecks.records())
    return members, rechecks


@dataclass
class Outcome:
    full: BackfillProgress
    sql: BackfillProgress
    full_state: tuple[Any, ...]
    sql_state: tuple[Any, ...]
    full_events: list[tuple[str, str, str, str]]
    sql_events: list[tuple[str, str, str, str]]


def _copy(tmp_path: Path, docs: list[dict[str, Any]], as_of: datetime) -> Path:
    root = tmp_path / "copy"
    write_tenant(root, "t1", [{**doc, "updated_at": to_iso(as_of)} for doc in docs])
    return root


def run_both(
    tmp_path: Path, case: Case, *, host: PluginHost | None = None, as_of: datetime = FRESH,
    docs: list[dict[str, Any]] | None = None, context: Mapping[str, Any] | None = None,
) -> Outcome:
    host = host or default_host()
    docs = population() if docs is None else docs
    root = _copy(tmp_path, docs, as_of)
    worlds = [_world(host, docs), _world(host, docs)]
    for rt in worlds:
        if context is not None:
            rt.memory.contexts.put("t1", context, SAVED - DAY)
        for segment_id, fields in case.before.items():
            _save(rt, segment_id, fields)
            Backfill(rt.service).run("t1", segment_id, workers=1)
        rt.flush()
        rt.clock.now = SAVED
        for segment_id, fields in case.saved.items():
            _save(rt, segment_id, fields)
        rt.clock.now = NOW
    full, sql = worlds
    policy = SqlCandidates(CopyCandidates(lambda tenant: root), cache_window=CACHE)
    full_progress = Backfill(full.service, page_size=7).run("t1", case.backfilled, workers=1)
    sql_progress = Backfill(sql.service, page_size=7, candidates=policy).run("t1", case.backfilled, workers=1)
    segment_ids = sorted({*case.before, *case.saved})
    return Outcome(full_progress, sql_progress, _state(full, segment_ids), _state(sql, segment_ids),
                   sorted(full.flush()), sorted(sql.flush()))


class _Counting(CopyCandidates):
    """The copy, counting the candidate queries asked of it."""

    def __init__(self, root_of: Callable[[str], Path | None]) -> None:
        super().__init__(root_of)
        self.asked: list[str] = []

    def candidates(self, tenant_id: str, *args: Any) -> CandidateSet | None:
        self.asked.append(tenant_id)
        return super().candidates(tenant_id, *args)


def _compiles(host: PluginHost, case: Case) -> bool:
    definitions = {**case.before, **case.saved}
    segments = SegmentSet(host, [
        SegmentDefinition(sid, fields["rule"], **{k: v for k, v in fields.items() if k != "rule"})
        for sid, fields in definitions.items()])
    try:
        for sid in definitions:
            compile_segment(segments, sid)
    except NoSqlForm:
        return False
    return True


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_candidates_leave_the_memberships_and_rechecks_of_a_full_backfill(
    tmp_path: Path, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "growthos_segments.services.backfill")
    got = run_both(tmp_path, case)
    assert got.sql_state == got.full_state
    assert got.sql_events == got.full_events
    assert got.sql.complete and got.full.complete
    assert (got.sql.entered, got.sql.exited) == (got.full.entered, got.full.exited)
    assert got.full.done == len(population())
    compiles = _compiles(default_host(), case)
    assert ("evaluating candidates only" in caplog.text) is compiles
    if compiles and not case.everyone:
        assert got.sql.done < got.full.done  # only the candidates went through the engine
    else:  # a type without SQL form yet, or no contact to leave out: every contact
        assert got.sql.done == got.full.done


def test_the_cases_reach_entries_exits_and_rechecks(tmp_path: Path) -> None:
    """The comparison above is not vacuous: the data moves contacts in, out, and later."""
    changed = run_both(tmp_path, CASES[8])
    assert changed.full.entered > 0 and changed.full.exited > 0
    _, rechecks = changed.full_state
    assert rechecks and all(r[2] > NOW for r in rechecks)
    assert changed.sql.done < changed.full.done


def test_a_time_only_entry_is_a_candidate(tmp_path: Path) -> None:
    """Seen 20 days ago: not lapsed now, lapsed in 10 days with no write. A backfill that
    skipped it would store no re-check, and it would never enter."""
    docs = [{"contact_id": "soon", "attributes": {"last_seen": _at(-20 * DAY)}},
            {"contact_id": "never", "attributes": {"plan": "free"}},
            {"contact_id": "quiet", "attributes": {"last_seen": _at(-40 * DAY)}}]
    got = run_both(tmp_path, Case("lapsed", {}, {"s": _rule(LAPSED)}), docs=docs)
    members, rechecks = got.sql_state
    assert members == {"s": ["never", "quiet"]}
    assert rechecks == [("s", "soon", NOW + 10 * DAY)]
    assert got.sql_state == got.full_state
    assert got.sql.done == 3  # members, and the one that moves with time: all three here


def test_a_time_invariant_rule_evaluates_only_its_members(tmp_path: Path) -> None:
    got = run_both(tmp_path, Case("pro", {}, {"s": _rule(PRO)}))
    assert got.sql.done == got.sql.entered == 18


# --------------------------------------------------------------------------- freshness


def test_a_copy_older_than_the_save_plus_the_cache_window_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "growthos_segments.services.backfill")
    waits: list[float] = []
    docs = population()
    root = _copy(tmp_path, docs, FRESH - US)
    rt = _saved(docs, PRO, then=FRESH)
    source = _Counting(lambda tenant: root)
    policy = SqlCandidates(source, cache_window=CACHE, wait=timedelta(minutes=5), sleep=waits.append)
    backfill = Backfill(rt.service, candidates=policy)
    assert backfill.copy_wait("t1", "s", 1) == 30.0  # within the wait: poll again in 30 s
    rt.clock.now = FRESH + timedelta(minutes=5) - timedelta(seconds=2)
    assert backfill.copy_wait("t1", "s", 1) == 2.0  # the last poll
    rt.clock.now = FRESH + timedelta(minutes=5)
    assert backfill.copy_wait("t1", "s", 1) == 0.0  # waited long enough: everyone
    progress = backfill.run("t1", "s", workers=1)
    assert waits == [] and progress.done == len(docs) and progress.entered == 18
    assert "is older than the save plus the cache window" in caplog.text
    assert source.asked == []  # its freshness was enough to leave it: no candidate query


def test_an_in_process_run_waits_for_the_copy_then_uses_it(tmp_path: Path) -> None:
    docs = population()
    rt = _saved(docs, PRO, then=FRESH)
    stale = _copy(tmp_path / "stale", docs, FRESH - timedelta(seconds=1))
    fresh = _copy(tmp_path / "fresh", docs, FRESH)
    where = {"root": stale}

    def sleep(seconds: float) -> None:  # the copy catches up while the backfill waits
        rt.clock.now += timedelta(seconds=seconds)
        where["root"] = fresh

    policy = SqlCandidates(CopyCandidates(lambda tenant: where["root"]), cache_window=CACHE, sleep=sleep)
    progress = Backfill(rt.service, candidates=policy).run("t1", "s", workers=1)
    assert rt.clock.now == FRESH + timedelta(seconds=30)
    assert progress.done == progress.entered == 18


def test_a_queued_job_is_sent_back_delayed_while_the_copy_is_behind(tmp_path: Path) -> None:
    docs = population()
    rt = _saved(docs, PRO, then=FRESH)
    where = {"root": _copy(tmp_path / "stale", docs, SAVED)}
    policy = SqlCandidates(CopyCandidates(lambda tenant: where["root"]), cache_window=CACHE)
    queue = MemoryBackfillQueue()
    worker = BackfillWorker(Backfill(rt.service, candidates=policy), queue)
    job = BackfillJob("t1", "s", 1)
    assert worker.handle(job) == job
    assert (queue.jobs, queue.delays) == ([job], [30])
    where["root"] = _copy(tmp_path / "fresh", docs, FRESH)
    assert worker.handle(job) is None
    slices = queue.jobs[1:]
    assert len(slices) == rt.memory.contacts.shards and all(j.shard is not None for j in slices)
    for slice_job in slices:
        assert worker.handle(slice_job) is None
    progress = Backfill(rt.service).progress("t1", "s", 1)
    assert progress.complete and progress.done == progress.entered == 18


def test_changes_after_the_copy_are_the_streams(tmp_path: Path) -> None:
    """A contact written after the horizon is not in the copy; the stream evaluates it
    against the new version, and the candidate backfill leaves it as it found it."""
    docs = population()
    root = _copy(tmp_path, docs, FRESH)
    rt = _saved(docs, PRO, then=FRESH + timedelta(seconds=1))
    rt.contact("late", attributes={"plan": "pro"})
    rt.contact("c01", attributes={"plan": "pro"})  # was free in the copy
    assert sorted(rt.flush()) == [("ENTER", "t1", "s", "c01"), ("ENTER", "t1", "s", "late")]
    rt.clock.now = NOW
    policy = SqlCandidates(CopyCandidates(lambda tenant: root), cache_window=CACHE)
    progress = Backfill(rt.service, candidates=policy).run("t1", "s", workers=1)
    assert progress.done == 20  # the 18 pro contacts of the copy and the two current members
    pro = sorted([d["contact_id"] for d in docs if d["attributes"].get("plan") == "pro"] + ["c01", "late"])
    assert rt.members("s") == pro


def _streamed(tmp_path: Path, docs: list[dict[str, Any]], watermark: datetime) -> Path:
    """A copy kept from the streams: rebuilt from the tables before the save, then one
    delta from a stream batch whose newest record is past the horizon (``FRESH``, c01 and
    ``new`` made pro), and the streams' watermark at ``watermark``."""
    root = tmp_path / "copy"
    store = ParquetCopy(LocalCopyStorage(root), workdir=tmp_path / "work")
    store.rebuild("t1", docs, as_of=SAVED - timedelta(hours=1))
    changes = [CopyChange("t1", cid, "contact", f"{n:03d}", FRESH, False,
                          {"tenant_id": "t1", "contact_id": cid, "attributes": {"plan": "pro"}})
               for n, cid in enumerate(("c01", "new"))]
    store.apply("t1", changes, as_of=FRESH)
    StorageProgress(LocalCopyStorage(root)).save(Watermark(watermark, watermark, 2, 6))
    return root


def test_the_streams_deltas_are_read_and_the_watermark_says_how_fresh_the_copy_is(tmp_path: Path) -> None:
    """A base rebuilt before the save is fresh enough once the streams' watermark passes
    the horizon, and the contacts the deltas changed are read from them."""
    docs = population()
    root = _streamed(tmp_path, docs, FRESH)
    rt = _saved(docs, PRO, then=NOW)
    rt.contact("c01", attributes={"plan": "pro"})  # free in the base
    rt.contact("new", attributes={"plan": "pro"})  # not in the base
    policy = SqlCandidates(CopyCandidates(lambda tenant: root), cache_window=CACHE)
    progress = Backfill(rt.service, candidates=policy).run("t1", "s", workers=1)
    assert progress.done == progress.entered == 20  # the 18 pro contacts of the base and the delta's 2
    assert "c01" in rt.members("s") and "new" in rt.members("s")


def test_a_delta_past_the_save_is_not_freshness_while_another_shard_lags(tmp_path: Path) -> None:
    """One stream shard applied past the horizon (its delta is at ``FRESH``) while another
    lags with a change made before it (c03 made pro, not in the copy): the watermark is
    before that change, so the backfill does not trust the copy, and c03 enters. (Taking
    the newest delta as the copy's instant named candidates without c03.)"""
    docs = population()
    lagging = FRESH - timedelta(seconds=3)  # when c03's change was made, on the lagging shard
    root = _streamed(tmp_path, docs, lagging - timedelta(seconds=1))
    rt = _saved(docs, PRO, then=NOW)
    rt.contact("c01", attributes={"plan": "pro"})
    rt.contact("new", attributes={"plan": "pro"})
    rt.contact("c03", attributes={"plan": "pro"})
    waits: list[float] = []
    policy = SqlCandidates(CopyCandidates(lambda tenant: root), cache_window=CACHE, wait=timedelta(0),
                           sleep=waits.append)
    progress = Backfill(rt.service, candidates=policy).run("t1", "s", workers=1)
    assert progress.done == 55  # everyone: the copy is not known to hold every change before the horizon
    assert "c03" in rt.members("s")


def test_a_watermark_computed_now_lets_the_backfill_use_the_copy(tmp_path: Path) -> None:
    """The stored watermark is short of the horizon, the one computed on demand is past it:
    the candidates are used, without waiting for the fold to store it."""
    docs = population()
    root = _streamed(tmp_path, docs, SAVED)
    rt = _saved(docs, PRO, then=NOW)
    rt.contact("c01", attributes={"plan": "pro"})
    rt.contact("new", attributes={"plan": "pro"})
    computed: list[datetime] = []

    def watermark() -> datetime:
        computed.append(FRESH)
        return FRESH

    policy = SqlCandidates(CopyCandidates(lambda tenant: root), cache_window=CACHE, watermark=watermark)
    backfill = Backfill(rt.service, candidates=policy)
    assert backfill.copy_wait("t1", "s", 1) == 0.0
    progress = backfill.run("t1", "s", workers=1)
    assert progress.done == progress.entered == 20 and computed  # candidates only
    assert "c01" in rt.members("s") and "new" in rt.members("s")


def test_no_copy_of_the_tenant_or_none_configured_evaluates_everyone(tmp_path: Path) -> None:
    docs = population()
    rt = _saved(docs, PRO, then=NOW)
    absent = SqlCandidates(CopyCandidates(lambda tenant: tmp_path / "nothing"), cache_window=CACHE)
    assert Backfill(rt.service, candidates=absent).copy_wait("t1", "s", 1) == 0.0
    assert Backfill(rt.service, candidates=absent).run("t1", "s", workers=1).done == len(docs)
    nowhere = SqlCandidates(CopyCandidates(lambda tenant: None), cache_window=CACHE)
    assert Backfill(rt.service, candidates=nowhere).run("t1", "s", workers=1, restart=True).done == len(docs)


# --------------------------------------------------------------------------- slices


def test_candidate_slices_and_whole_shard_slices_together_cover_everyone(tmp_path: Path) -> None:
    """Mode is per slice, fixed by its first page: slices that started while the copy was
    missing evaluate their whole shard, the others their candidates, and together they
    fill the segment exactly."""
    docs = population()
    root = _copy(tmp_path, docs, FRESH)
    rt = _saved(docs, RECENT, then=NOW)
    where: dict[str, Path] = {"root": tmp_path / "missing"}
    policy = SqlCandidates(CopyCandidates(lambda tenant: where["root"]), cache_window=CACHE)
    backfill = Backfill(rt.service, page_size=2, candidates=policy)
    continuations = []
    for job in backfill.plan("t1", "s"):
        where["root"] = root if job.shard % 2 else tmp_path / "missing"
        continuations.append(backfill.run_slice(job, remaining=lambda: 0.0))  # one page each
    where["root"] = root
    for pending in continuations:
        while pending is not None:
            pending = backfill.run_slice(pending)
    expected = run_both(tmp_path / "both", Case("recent", {}, {"s": _rule(RECENT)}))
    progress = backfill.progress("t1", "s", 1)
    assert _state(rt, ["s"]) == expected.full_state
    assert progress.complete and expected.sql.done < progress.done < expected.full.done


def test_slices_in_one_container_ask_the_copy_once(tmp_path: Path) -> None:
    docs = population()
    rt = _saved(docs, PRO, then=NOW)
    root = _copy(tmp_path, docs, FRESH)
    source = _Counting(lambda tenant: root)
    backfill = Backfill(rt.service, candidates=SqlCandidates(source, cache_window=CACHE))
    for job in backfill.plan("t1", "s"):
        assert backfill.run_slice(job) is None
    assert source.asked == ["t1"]
    assert backfill.progress("t1", "s", 1).done == 18


def test_a_superseded_version_stops_without_asking_the_copy(tmp_path: Path) -> None:
    docs = population()
    rt = _saved(docs, PRO, then=NOW)
    root = _copy(tmp_path, docs, NOW + CACHE)  # fresh for version 2, saved at NOW
    source = _Counting(lambda tenant: root)
    asked = source.asked
    policy = SqlCandidates(source, cache_window=CACHE)
    backfill = Backfill(rt.service, candidates=policy)
    old_jobs = backfill.plan("t1", "s")
    _save(rt, "s", _rule(VIP))
    assert all(backfill.run_slice(job) is None for job in old_jobs)
    assert asked == [] and backfill.progress("t1", "s", 1).done == 0
    assert backfill.run_slice(BackfillJob("t1", "s", 2, 0)) is None
    assert asked == ["t1"]


def test_a_candidate_slice_whose_copy_vanished_fails_instead_of_skipping(tmp_path: Path) -> None:
    docs = population()
    where: dict[str, Path] = {"root": _copy(tmp_path, docs, FRESH)}
    rt = _saved(docs, PRO, then=NOW)
    policy = SqlCandidates(CopyCandidates(lambda tenant: where["root"]), cache_window=CACHE)
    backfill = Backfill(rt.service, page_size=1, candidates=policy)
    busiest = max(backfill.plan("t1", "s"), key=lambda job: sum(
        1 for d in docs if d["attributes"].get("plan") == "pro"
        and rt.memory.contacts.shard_of(d["contact_id"]) == job.shard))
    continuation = backfill.run_slice(busiest, remaining=lambda: 0.0)
    assert continuation is not None and continuation.cursor is not None
    where["root"] = tmp_path / "gone"
    elsewhere = Backfill(rt.service, page_size=1, candidates=policy)  # another container
    with pytest.raises(RuntimeError, match="cannot name the candidates any more"):
        elsewhere.run_slice(continuation)
    assert backfill.run_slice(continuation) is None  # this one still holds the candidates


# --------------------------------------------------------------------------- the source


class _Params(ParamsModel):
    name: str


def _never(p: _Params) -> Callable[[ContactView, datetime], Result]:
    return lambda view, now: (any(e.name == p.name for e in view.events()), None)


class _OpaquePlugin:
    @hookimpl
    def register_condition_types(self, register: Callable[..., None]) -> None:
        register(ConditionType(name="opaque", label="opaque", description="test", category="test",
                               params=_Params, compile=_never,
                               reads=lambda p: Reads(events=frozenset({p.name}), lookback=timedelta.max)))


def test_a_type_without_sql_form_backfills_everyone_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "growthos_segments.services.backfill")
    host = PluginHost((*BUILTIN_PLUGINS, _OpaquePlugin()), load_entry_points=False)
    opaque = Case("opaque", {}, {"s": _rule({"opaque": {"name": "order.completed"}})})
    got = run_both(tmp_path, opaque, host=host)
    assert got.sql_state == got.full_state and got.sql.done == got.full.done == len(population())
    assert "no exact SQL form: /opaque: condition type 'opaque' has no SQL form" in caplog.text
    segments = SegmentSet(host, [SegmentDefinition("s", {"opaque": {"name": "x"}})])
    with pytest.raises(NoCandidates):
        CopyCandidates(lambda tenant: tmp_path / "copy").candidates("t1", segments, ["s"], NOW)


RFM_CASES = [
    Case("rfm tier", {}, {"s": _rule({"rfm_tier": {"tier": ["champions", "loyal", "lost"]}})}),
    Case("rfm recency, stale thresholds match nothing", {},
         {"s": _rule({"rfm_score": {"dimension": "recency", "min": 3, "max": 5, "if_stale": "no_match"}})}),
    Case("not an rfm tier, through a reference", {"top": _rule({"rfm_tier": {"tier": "champions"}})},
         {"s": _rule({"and": [PRO, {"!": {"segment": {"id": "top"}}}]})}),
]


@pytest.mark.parametrize("case", RFM_CASES, ids=lambda case: case.name)
def test_a_segment_reading_the_tenant_context_is_backfilled_from_candidates_in_the_engines_context(
    tmp_path: Path, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    """The stored thresholds (computed a day before the save, stale 7 days after that) are
    bound into the candidate query: the candidates leave exactly what a full backfill
    leaves, and only they are evaluated."""
    caplog.set_level(logging.INFO, "growthos_segments.services.backfill")
    context = {"rfm": compute_rfm_context(population(), SAVED - DAY)}
    assert context["rfm"]["customers"] > 0
    got = run_both(tmp_path, case, context=context)
    assert got.sql_state == got.full_state and got.sql_events == got.full_events
    assert got.full.entered > 0
    assert "evaluating candidates only" in caplog.text
    assert got.sql.done < got.full.done


def test_only_conditions_that_read_the_instant_add_contacts_that_move_with_time() -> None:
    host = default_host()
    segments = SegmentSet(host, [
        SegmentDefinition("pro", PRO),
        SegmentDefinition("mixed", {"and": [PRO, {"!": {"segment": {"id": "recent"}}}, VIP]}),
        SegmentDefinition("recent", RECENT),
    ])
    assert time_reads(segments, "pro") == []
    assert time_reads(segments, "mixed") == [Reads(attributes=frozenset({"attributes.last_seen"}))]


def test_the_copy_of_another_tenant_is_never_read(tmp_path: Path) -> None:
    docs = population()
    write_tenant(tmp_path, "other", [{**doc, "updated_at": to_iso(FRESH)} for doc in docs])
    segments = SegmentSet(default_host(), [SegmentDefinition("s", PRO)])
    source = CopyCandidates(lambda tenant: tmp_path)
    assert source.candidates("t1", segments, ["s"], NOW) is None and source.as_of("t1") is None
    found = source.candidates("other", segments, ["s"], NOW)
    assert isinstance(found, CandidateSet) and len(found.ids) == 18 and found.as_of == FRESH

