"""Key grammar: every key starts with the tenant, ids cannot forge another tenant's keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from growthos_segments.infra import keys

TENANT_KEYS: list[Callable[[str], str]] = [
    lambda t: keys.contact_pk(t, "c1"),
    lambda t: keys.tenant_shard_key(t, 3),
    lambda t: keys.event_pk(t, "c1"),
    lambda t: keys.segment_pk(t),
    lambda t: keys.membership_pk(t, "seg1"),
    lambda t: keys.membership_contact_key(t, "c1"),
    lambda t: keys.recheck_pk(t, "c1"),
    lambda t: keys.recheck_due_pk(t, "c1"),
    lambda t: keys.counter_pk(t, "seg1"),
    lambda t: keys.transition_id(t, "seg1", "c1", 5, True),
]


@pytest.mark.parametrize("build", TENANT_KEYS)
def test_every_partition_key_starts_with_the_tenant(build: Callable[[str], str]) -> None:
    key = build("acme")
    assert key == "acme" or key.startswith(keys.tenant_prefix("acme"))
    # ...and never with a different tenant whose id is a prefix of this one.
    assert not build("acme-eu").startswith(keys.tenant_prefix("acme"))


@pytest.mark.parametrize(
    "bad",
    ["", "a#b", "t1#", "#", "white space", "x" * 65, "é", "t1\n", None, 7],
)
def test_tenant_and_segment_ids_that_could_forge_keys_are_rejected(bad: object) -> None:
    with pytest.raises(keys.InvalidKeyError):
        keys.check_tenant_id(bad)
    with pytest.raises(keys.InvalidKeyError):
        keys.check_segment_id(bad)


@pytest.mark.parametrize("good", ["c1", "ana@example.com", "crm:00Q5e000", "Ünïcode name", "x" * 256])
def test_contact_ids_from_outside_systems_are_accepted(good: str) -> None:
    assert keys.check_contact_id(good) == good


@pytest.mark.parametrize("bad", ["", "a#b", "tab\there", "x" * 257, "c1\n"])
def test_contact_ids_with_separators_or_control_characters_are_rejected(bad: str) -> None:
    with pytest.raises(keys.InvalidKeyError):
        keys.contact_pk("t1", bad)


def test_event_sort_keys_sort_in_time_order() -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    moments = [base + timedelta(microseconds=n * 7919) for n in range(50)]
    moments += [base + timedelta(days=400), base - timedelta(days=3000)]
    sort_keys = [keys.event_sk(m, f"e{i}") for i, m in enumerate(moments)]
    assert [k for _, k in sorted(zip(moments, sort_keys, strict=True))] == sorted(sort_keys)
    assert all(len(k.split("#")[0]) == 27 for k in sort_keys)
    # the floor of an instant sorts before every event at that instant, after earlier ones
    floor = keys.event_sk_floor(base)
    assert keys.event_sk(base, "a") > floor > keys.event_sk(base - timedelta(microseconds=1), "z")


def test_offset_times_are_normalised_to_utc() -> None:
    from datetime import timezone

    paris = datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    assert keys.sortable_time(paris) == "2026-03-01T09:00:00.000000Z"


@pytest.mark.parametrize(
    ("at", "bucket"),
    [
        (datetime(2026, 1, 1, 9, 14, 0, tzinfo=UTC), "2026-01-01T09:14Z"),
        (datetime(2026, 1, 1, 9, 14, 0, 1, tzinfo=UTC), "2026-01-01T09:15Z"),
        (datetime(2026, 1, 1, 23, 59, 30, tzinfo=UTC), "2026-01-02T00:00Z"),
    ],
)
def test_due_bucket_rounds_up_so_nothing_is_evaluated_early(at: datetime, bucket: str) -> None:
    assert keys.due_bucket(at) == bucket
    assert keys.due_bucket_floor(at) <= bucket


def test_shards_are_stable_and_spread() -> None:
    shards = {keys.contact_shard(f"c{i}") for i in range(200)}
    assert shards == set(range(keys.CONTACT_SHARDS))
    assert keys.contact_shard("c42") == keys.contact_shard("c42")
    assert keys.counter_sk("members", "c1").startswith("members#")


def test_segment_version_keys_sort_numerically_and_do_not_collide() -> None:
    assert keys.segment_version_sk("s", 9) < keys.segment_version_sk("s", 10)
    # "s.1" versions must not appear under the prefix of "s"
    assert not keys.segment_version_sk("s.1", 1).startswith(keys.segment_version_prefix("s"))
    with pytest.raises(keys.InvalidKeyError):
        keys.segment_version_sk("s", 0)
