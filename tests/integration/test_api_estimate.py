"""Size estimates: the sample index, the interval, the contact counter and the column cache."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.contract import Reads
from growthos_segments.infra import keys
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.samples import SampleReader
from growthos_segments.services.estimate import Estimator, wilson_interval

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONTACTS = 400


def is_pro(doc: dict[str, Any]) -> bool:
    return doc["attributes"].get("plan") == "pro"


def opened_lately(doc: dict[str, Any]) -> bool:
    return any(e["name"] == "email.opened" for e in doc["events"])


PLAN = Reads(attributes=frozenset({"attributes.plan"}))
OPENED = Reads(events=frozenset({"email.opened"}), lookback=timedelta(days=7))


@pytest.fixture
def tenant(repos: Repositories) -> Repositories:
    """400 contacts, a quarter on pro; half opened an email 3 days ago, all clicked 20 days ago."""
    docs = [
        {
            "tenant_id": "t1",
            "contact_id": f"c{i}",
            "attributes": {"plan": "pro" if i % 4 == 0 else "free", "city": "Leeds"},
        }
        for i in range(CONTACTS)
    ]
    repos.contacts.put_many(docs, now=NOW)
    events = [
        {
            "tenant_id": "t1",
            "contact_id": f"c{i}",
            "name": "email.opened",
            "at": NOW - timedelta(days=3),
            "event_id": f"o{i}",
        }
        for i in range(0, CONTACTS, 2)
    ]
    events += [
        {
            "tenant_id": "t1",
            "contact_id": f"c{i}",
            "name": "email.clicked",
            "at": NOW - timedelta(days=20),
            "event_id": f"k{i}",
        }
        for i in range(CONTACTS)
    ]
    repos.events.append_many(events)
    repos.contacts.put({"tenant_id": "t2", "contact_id": "c0", "attributes": {"plan": "pro"}}, now=NOW)
    repos.requests.reset()
    return repos


def queries(fraction: float) -> int:
    """Queries that read a sample of this fraction: one per sample shard it touches."""
    return len(keys.sample_range("t1", 0, round(fraction * keys.SAMPLE_POSITIONS)))


def samples(repos: Repositories) -> SampleReader:
    return SampleReader(repos.client, repos.settings.tables, repos.contacts)


def sampled(repos: Repositories, **kwargs: Any) -> Estimator:
    return Estimator(samples(repos), target=150, exact_limit=50, **kwargs)


def test_the_wilson_interval_contains_the_share_and_narrows() -> None:
    low, high = wilson_interval(20, 100, 10_000)
    assert low < 0.2 < high
    narrower = wilson_interval(200, 1000, 10_000)
    assert narrower[1] - narrower[0] < high - low
    corrected = wilson_interval(20, 100, 120)  # most of the population was sampled
    assert corrected[1] - corrected[0] < high - low
    assert wilson_interval(20, 100, 100) == (0.2, 0.2)
    assert wilson_interval(0, 100, 10_000)[0] == 0.0 and wilson_interval(100, 100, 10_000)[1] == 1.0


def test_the_contact_counter_follows_creates_and_deletes(tenant: Repositories) -> None:
    assert tenant.contacts.count("t1") == CONTACTS and tenant.contacts.count("t2") == 1
    tenant.contacts.put({"tenant_id": "t1", "contact_id": "c0", "attributes": {}}, now=NOW)  # a replace
    tenant.contacts.patch("t1", "new", attributes={"plan": "pro"})  # a create through patch
    assert tenant.contacts.count("t1") == CONTACTS + 1
    assert tenant.contacts.delete("t1", "new") and not tenant.contacts.delete("t1", "new")
    assert tenant.contacts.count("t1") == CONTACTS
    assert tenant.contacts.count("nobody") is None


def test_a_sampled_estimate_covers_the_truth_in_three_requests(tenant: Repositories) -> None:
    estimator = sampled(tenant, cache_seconds=0)
    with tenant.requests.measure() as cost:
        result = estimator.estimate("t1", is_pro, PLAN, NOW)
    shards = queries(result.sampled_fraction)
    assert dict(cost.by_operation) == {"Query": 1 + shards}  # the counter, then profiles per sample shard
    assert not result.exact and result.population == CONTACTS and result.population_source == "counter"
    assert 150 <= result.sample_size < CONTACTS
    assert result.low <= CONTACTS // 4 <= result.high and result.low <= result.estimate <= result.high
    with tenant.requests.measure() as cost:
        opened = estimator.estimate("t1", opened_lately, OPENED, NOW)
    assert dict(cost.by_operation) == {"Query": 1 + 2 * shards}  # ... and their events
    assert opened.low <= CONTACTS // 2 <= opened.high


def test_the_sample_is_the_contacts_at_the_lowest_positions(tenant: Repositories) -> None:
    stop = keys.SAMPLE_POSITIONS // 4 + 1000  # crosses into the second sample shard: two Queries
    docs = samples(tenant).contacts("t1", 0, stop, frozenset({"attributes.plan"}))
    expected = {f"c{i}" for i in range(CONTACTS) if keys.sample_position(f"c{i}") < stop}
    assert {d["contact_id"] for d in docs} == expected
    assert all(set(d["attributes"]) <= {"plan", "custom"} for d in docs)  # projected
    assert abs(len(expected) / CONTACTS - stop / keys.SAMPLE_POSITIONS) < 0.08  # positions are uniform


def test_small_tenants_are_counted_exactly(tenant: Repositories) -> None:
    result = Estimator(samples(tenant), exact_limit=1000, cache_seconds=0).estimate("t1", is_pro, PLAN, NOW)
    assert result.exact and result.estimate == result.low == result.high == CONTACTS // 4
    assert result.sample_size == CONTACTS


def test_without_a_counter_the_sample_scales_itself(tenant: Repositories) -> None:
    pk = keys.contact_count_pk("t1")
    for item in list(tenant.models.counters.query(pk)):
        item.delete()
    result = sampled(tenant, cache_seconds=0).estimate("t1", is_pro, PLAN, NOW)
    assert result.population_source == "sample" and result.sample_size >= 150
    assert result.low <= CONTACTS // 4 <= result.high


def test_the_cache_reads_only_new_columns_until_it_expires(tenant: Repositories) -> None:
    clock = [0.0]
    estimator = sampled(tenant, cache_seconds=60, monotonic=lambda: clock[0])
    measure: Callable[..., Any] = tenant.requests.measure
    first = estimator.estimate("t1", is_pro, PLAN, NOW)
    shards = queries(first.sampled_fraction)
    with measure() as cost:
        assert estimator.estimate("t1", is_pro, PLAN, NOW) == first
    assert cost.total == 0
    city = Reads(attributes=frozenset({"attributes.city"}))
    with measure() as cost:
        leeds = estimator.estimate("t1", lambda d: d["attributes"].get("city") == "Leeds", city, NOW)
    assert dict(cost.by_operation) == {"Query": shards} and leeds.matches == leeds.sample_size
    with measure() as cost:
        opened = estimator.estimate("t1", opened_lately, OPENED, NOW)
        assert estimator.estimate("t1", opened_lately, OPENED, NOW) == opened
    assert dict(cost.by_operation) == {"Query": shards}
    # a longer lookback than what was read is read again; clicks 20 days ago now count
    both = Reads(events=frozenset({"email."}), lookback=timedelta(days=30))
    with measure() as cost:
        clicked = estimator.estimate(
            "t1", lambda d: any(e["name"] == "email.clicked" for e in d["events"]), both, NOW
        )
    assert dict(cost.by_operation) == {"Query": shards} and clicked.matches == clicked.sample_size
    # and the 7-day rule still sees only its own window from the wider read
    assert (
        estimator.estimate(
            "t1", lambda d: any(e["name"] == "email.clicked" for e in d["events"]), OPENED, NOW
        ).matches
        == 0
    )
    clock[0] = 61.0
    with measure() as cost:
        estimator.estimate("t1", is_pro, PLAN, NOW)
    assert dict(cost.by_operation) == {"Query": 1 + shards}


def test_sample_ranges_cover_positions_once() -> None:
    width = keys.SAMPLE_POSITIONS // keys.SAMPLE_SHARDS
    assert keys.sample_range("t", 0, keys.SAMPLE_POSITIONS) == [
        (f"t#{s:02d}", None, None) for s in range(keys.SAMPLE_SHARDS)
    ]
    assert keys.sample_range("t", 10, width + 5) == [
        ("t#00", "000a", f"{width - 1:04x}$"),
        ("t#01", f"{width:04x}", f"{width + 4:04x}$"),
    ]
    assert keys.sample_range("t", 7, 7) == []
    with pytest.raises(ValueError):
        keys.sample_range("t", 0, keys.SAMPLE_POSITIONS + 1)


def test_each_predicate_is_estimated_over_one_read_of_the_sample(tenant: Repositories) -> None:
    """Sizing a rule and each of its conditions costs the reads of the rule alone, and
    each condition's estimate is the one it gets when asked for alone."""
    both = Reads(attributes=PLAN.attributes, events=OPENED.events, lookback=OPENED.lookback)
    together = sampled(tenant, cache_seconds=0).estimate_each(
        "t1", lambda d: (is_pro(d) and opened_lately(d), is_pro(d), opened_lately(d)), 3, both, NOW
    )
    shared_cost = tenant.requests.total
    tenant.requests.reset()
    whole = sampled(tenant, cache_seconds=0).estimate(
        "t1", lambda d: is_pro(d) and opened_lately(d), both, NOW
    )
    assert tenant.requests.total == shared_cost  # the two extra predicates read nothing more
    alone = [sampled(tenant, cache_seconds=0).estimate("t1", is_pro, PLAN, NOW),
             sampled(tenant, cache_seconds=0).estimate("t1", opened_lately, OPENED, NOW)]
    assert together == [whole, *alone]
    assert not whole.exact and whole.matches == alone[0].matches < alone[1].matches  # pro contacts all opened


def test_listed_contacts_are_counted_outright_and_the_sample_sizes_the_rest(tenant: Repositories) -> None:
    """A segment's manual include list is known members: added whole to the estimate and
    its interval, whether the sample holds them or not, never scaled up as a share, and a
    listed contact the rule matches too is counted once."""
    free = frozenset({f"c{i}" for i in range(1, 81, 4)} | {"nobody"})  # 20 free contacts and an unknown id
    pro = frozenset(f"c{i}" for i in range(0, 80, 4))  # 20 of the 100 pro contacts

    def pro_with(listed: frozenset[str]) -> Any:
        return sampled(tenant, cache_seconds=0).estimate_each(
            "t1", lambda d: (is_pro(d),), 1, PLAN, NOW, listed=listed)[0]

    plain = sampled(tenant, cache_seconds=0).estimate("t1", is_pro, PLAN, NOW)
    with_free, with_pro = pro_with(free), pro_with(pro)
    assert not with_free.exact and with_free.sample_size == plain.sample_size == with_pro.sample_size
    assert with_free.low <= CONTACTS // 4 + len(free) <= with_free.high and with_free.low >= len(free)
    assert with_pro.low <= CONTACTS // 4 <= with_pro.high and with_pro.matches == plain.matches
    assert with_free.population == with_pro.population == CONTACTS
    exact = Estimator(samples(tenant), exact_limit=1000, cache_seconds=0).estimate_each(
        "t1", lambda d: (is_pro(d),), 1, PLAN, NOW, listed=free)[0]
    assert exact.exact and exact.estimate == CONTACTS // 4 + 20  # every contact read: the unknown id is none
