from __future__ import annotations

from datetime import UTC, datetime

import pytest

from growthos_segments.core.host import PluginHost
from tests.support import toy_plugin

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def toy_host() -> PluginHost:
    return PluginHost([toy_plugin], load_entry_points=False)
