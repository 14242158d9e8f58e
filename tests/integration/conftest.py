"""Integration fixtures: moto's in-process AWS, fresh tables per test.

Fake credentials and ``AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled`` are set for the
whole session before any client exists, so nothing here can reach real AWS and
botocore's account-based endpoints cannot bypass the mock. moto runs tuned as
the local stack runs it (:mod:`growthos_segments.devstack.moto_tuning`: bounded memory, Query
cost independent of table size), so these tests exercise what the stack runs;
costs are asserted in requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from moto import mock_aws

from growthos_segments.devstack import moto_tuning
from growthos_segments.devstack.template import create_tables
from growthos_segments.infra.repos import Repositories, build_repositories
from growthos_segments.infra.settings import Settings

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
UNSET = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_CONFIG_FILE",
         "AWS_SHARED_CREDENTIALS_FILE")

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session", autouse=True)
def fake_aws_environment() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_ENV.items():
            patch.setenv(name, value)
        for name in UNSET:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", "/dev/null")
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        yield


@pytest.fixture(scope="session", autouse=True)
def tuned_moto() -> None:
    moto_tuning.apply()


@pytest.fixture
def mock_aws_session() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def settings() -> Settings:
    return Settings.local("it")


@pytest.fixture
def repos(mock_aws_session: None, settings: Settings) -> Repositories:
    built = build_repositories(settings)
    create_tables(settings, built.client)
    built.requests.reset()
    return built
