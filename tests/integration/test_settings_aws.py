"""Settings from the environment, and clients that cannot miss the moto endpoint fix."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from growthos_segments.devstack.template import create_tables, load_template, table_env_vars
from growthos_segments.infra import aws
from growthos_segments.infra.repos import build_repositories
from growthos_segments.infra.settings import TABLE_ENV, Settings, SettingsError, current_settings

TABLE_NAMES = {var: f"stack-{var.lower()}" for var in TABLE_ENV.values()}


def test_settings_from_the_environment_the_template_sets() -> None:
    assert set(table_env_vars(load_template())) == set(TABLE_NAMES)
    env = {
        **TABLE_NAMES,
        "AWS_REGION": "eu-west-1",
        "EVENT_BUS_NAME": "stack-segments",
        "EVENT_RETENTION_DAYS": "30",
        "SEGMENT_CACHE_SECONDS": "0.5",
    }
    settings = Settings.from_env(env)
    assert settings.tables.contacts == "stack-contacts_table"
    assert settings.region == "eu-west-1" and settings.endpoint_url is None
    assert settings.event_retention == timedelta(days=30) and settings.segment_cache_seconds == 0.5
    assert settings.account_id_endpoint_mode is None
    # a local stack hands the same settings to a handler process through its env
    local = Settings.local("demo", endpoint_url="http://127.0.0.1:5000")
    again = Settings.from_env(local.table_env())
    assert again.tables == local.tables and again.endpoint_url == local.endpoint_url
    assert again.account_id_endpoint_mode == "disabled"


def test_missing_or_malformed_variables_are_named() -> None:
    with pytest.raises(SettingsError, match="CONTACTS_TABLE"):
        Settings.from_env({k: v for k, v in TABLE_NAMES.items() if k != "CONTACTS_TABLE"})
    with pytest.raises(SettingsError, match="EVENT_RETENTION_DAYS"):
        Settings.from_env({**TABLE_NAMES, "EVENT_RETENTION_DAYS": "a year"})


def test_client_config_carries_the_account_id_endpoint_fix() -> None:
    config = aws.botocore_config(Settings.local("x"))
    assert config.account_id_endpoint_mode == "disabled"
    assert aws.botocore_config(Settings.from_env(TABLE_NAMES)).account_id_endpoint_mode is None


def test_streams_work_under_moto_even_without_the_environment_variable(
    mock_aws_session: None, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fix lives in the client config, not only in the test environment."""
    monkeypatch.delenv("AWS_ACCOUNT_ID_ENDPOINT_MODE")
    repos = build_repositories(settings)
    streams = create_tables(settings, repos.client)
    repos.contacts.put({"tenant_id": "t1", "contact_id": "c1"})
    streams_client = aws.client("dynamodbstreams", settings)
    description = streams_client.describe_stream(StreamArn=streams["ContactsTable"])["StreamDescription"]
    shard = description["Shards"][0]["ShardId"]
    iterator = streams_client.get_shard_iterator(
        StreamArn=streams["ContactsTable"], ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams_client.get_records(ShardIterator=iterator)["Records"]
    # moto emits an extra key-only INSERT for an UpdateItem that creates an item
    # (DynamoDB emits one record); the last record carries the full new image.
    assert {r["eventName"] for r in records} == {"INSERT"}
    image = records[-1]["dynamodb"]["NewImage"]
    assert image["pk"] == {"S": "t1#c1"} and image["tenant_id"] == {"S": "t1"}


def test_one_settings_model_carries_every_function_s_tuning() -> None:
    settings = Settings.from_env({
        **TABLE_NAMES,
        "BACKFILL_PAGE_SIZE": "7",
        "CONTEXT_REFRESH_HOURS": "1.5",
        "API_KEYS": "k1=demo",
        "BACKFILL_QUEUE_URL": "https://queue",
    })
    assert settings.backfill_page_size == 7 and settings.context_max_age == timedelta(hours=1.5)
    assert settings.api_keys.identity_for("k1").tenant_id == "demo"  # type: ignore[union-attr]
    assert settings.api_keys.identity_for("k2") is None
    assert settings.require_backfill_queue("backfill worker") == "https://queue"
    with pytest.raises(SettingsError, match="BACKFILL_QUEUE_URL is required by the backfill worker"):
        Settings.from_env(TABLE_NAMES).require_backfill_queue("backfill worker")
    for name, bad in (("BACKFILL_PAGE_SIZE", "0"), ("BACKFILL_PAGE_SIZE", "many"),
                      ("CONTEXT_REFRESH_HOURS", "daily"), ("API_KEYS", "k=bad#tenant")):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({**TABLE_NAMES, name: bad})


def test_a_process_reads_its_settings_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TABLE_NAMES.items():
        monkeypatch.setenv(name, value)
    current_settings.cache_clear()
    try:
        first = current_settings()
        monkeypatch.setenv("CONTACTS_TABLE", "changed")
        assert current_settings() is first and first.tables.contacts == "stack-contacts_table"
    finally:
        current_settings.cache_clear()


def test_csv_imports_read_their_bucket_and_queue_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the API and import functions are given ``IMPORTS_BUCKET`` and ``IMPORT_QUEUE_URL``:
    read with the rest of the settings, required (naming both) where imports are built, and
    not looked up in the process environment behind the settings' back."""
    from growthos_segments.handlers.imports_wiring import build_import_jobs

    queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/stack-imports"
    env = {**TABLE_NAMES, "IMPORTS_BUCKET": "stack-imports", "IMPORT_QUEUE_URL": queue}
    settings = Settings.from_env(env)
    assert settings.require_imports() == ("stack-imports", queue)
    without = Settings.from_env(TABLE_NAMES)
    with pytest.raises(SettingsError, match="IMPORTS_BUCKET and IMPORT_QUEUE_URL"):
        without.require_imports()
    monkeypatch.setenv("IMPORTS_BUCKET", "stack-imports")
    monkeypatch.setenv("IMPORT_QUEUE_URL", queue)
    with pytest.raises(SettingsError, match="IMPORTS_BUCKET and IMPORT_QUEUE_URL"):
        build_import_jobs(SimpleNamespace(settings=without))  # type: ignore[arg-type]  # fails before any client
