"""API keys with a name and team scopes: ``API_KEYS`` entries and what the authorizer passes on."""

from __future__ import annotations

import hashlib
import re

import pytest

from growthos_segments.handlers import authorizer
from growthos_segments.infra.settings import ApiKeys, KeyIdentity, SettingsError
from tests.integration.api_support import FakeContext, reset_authorizer

ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef/v1/GET/segments"


def test_a_key_names_its_tenant_and_optionally_a_name_and_teams() -> None:
    digest = hashlib.sha256(b"s3cret").hexdigest()
    keys = ApiKeys.parse(f"k1=demo, k2=demo/campaigns-module, k3=demo/ana@example.com/growth+sales,"
                         f"sha256:{digest}=acme/nudges")
    assert keys.identity_for("k1") == KeyIdentity("demo", f"key:{hashlib.sha256(b'k1').hexdigest()[:12]}")
    assert keys.identity_for("k2") == KeyIdentity("demo", "campaigns-module")
    assert keys.identity_for("k3") == KeyIdentity("demo", "ana@example.com", frozenset({"growth", "sales"}))
    assert keys.identity_for("s3cret") == KeyIdentity("acme", "nudges")
    assert keys.identity_for("k4") is None


@pytest.mark.parametrize(("entry", "says"), [
    ("k=demo/", "the key's name must be"),
    ("k=demo/bad name", "the key's name must be"),
    ("k=demo/ana/", "teams are '+'-separated"),
    ("k=demo/ana/Growth", "teams are '+'-separated"),
    ("k=demo/ana/growth/x", "teams are '+'-separated"),
    ("k=demo/ana/growth++sales", "teams are '+'-separated"),
    ("k=de#mo/ana", "invalid tenant id"),
    ("k=demo/ana,k=demo/bob", "key already maps to another identity"),
])
def test_a_malformed_identity_is_refused_naming_the_entry(entry: str, says: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(says)) as refused:
        ApiKeys.parse(entry)
    assert "API_KEYS entry #" in str(refused.value)


def test_the_authorizer_passes_the_name_and_teams_as_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_authorizer(monkeypatch, "k1=demo,k2=demo/growth-app/sales+growth")

    def context(key: str) -> dict[str, object]:
        event = {"type": "REQUEST", "methodArn": ARN, "headers": {"x-api-key": key}}
        return authorizer.handler(event, FakeContext())["context"]

    assert context("k2") == {"tenant_id": "demo", "caller": "growth-app", "teams": "growth,sales"}
    plain = context("k1")
    assert plain["teams"] == "" and str(plain["caller"]).startswith("key:")
