"""`make bench` measures realistic workloads: tenants of at least 3,000 contacts, and
each measurement on a contact no other measurement of the figure touched (a contact
evaluated again is faster than real traffic: its timestamps are parsed and cached)."""

from __future__ import annotations

from benchmarks import bench_backfill, bench_behavior, bench_core, bench_membership, bench_storage

REALISTIC = 3000


def test_every_in_process_bench_uses_a_realistic_tenant() -> None:
    assert bench_core.CONTACTS >= REALISTIC
    assert bench_behavior.CONTACTS >= REALISTIC
    assert bench_membership.CONTACTS >= REALISTIC
    assert bench_storage.CONTACTS >= REALISTIC
    assert {1000, 3000, 10000} <= set(bench_backfill.SIZES)


def test_core_figures_cycle_through_distinct_demo_contacts() -> None:
    contacts = bench_core.contacts(200)
    assert len({c["contact_id"] for c in contacts}) == 200


def test_behavioural_figures_give_every_contact_its_own_events() -> None:
    first, second = bench_behavior.contact_with_events(seed=1), bench_behavior.contact_with_events(seed=2)
    assert first["contact_id"] != second["contact_id"]
    assert not {e["at"] for e in first["events"]} & {e["at"] for e in second["events"]}


def test_membership_figures_change_each_contact_once() -> None:
    cases = [n for first in bench_membership.CASES for n in range(first, first + 10)]
    streamed = [n for numbers in bench_membership.STREAMS for n in numbers]
    assert len(set(cases)) == len(cases) and len(set(streamed)) == len(streamed)
    assert not set(cases) & set(streamed) and max(streamed) < bench_membership.CONTACTS
