"""The fault-injection soak of real-time membership, small enough for every run.

``tests/soak/harness.py`` says what it does; ``make bench`` runs a larger one
(``benchmarks/bench_soak.py``).
"""

from __future__ import annotations

import pytest

from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.settings import Settings
from tests.soak.harness import Soak, SoakConfig


@pytest.fixture
def settings() -> Settings:
    return Settings.local("soak", segment_cache_seconds=3600)


def test_memberships_counters_rechecks_and_events_survive_faults_skew_and_time(repos: Repositories) -> None:
    report = Soak(repos, SoakConfig(seed=3)).run()
    print("\n".join(report.lines()))
    assert report.divergences == []
    # The run did exercise what it claims to.
    assert sum(report.faults.values()) >= 5 and report.transitions >= 10
    assert report.delivery["change batches retried"] and report.delivery["notifier batches retried"]
