"""template.yaml is the one declaration of the tables: models and local tables must match it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from growthos_segments.devstack.template import (
    create_tables,
    load_template,
    model_differences,
    table_env_vars,
    table_properties,
)
from growthos_segments.infra import aws
from growthos_segments.infra.models import build_models
from growthos_segments.infra.settings import TABLE_ENV, TABLE_LOGICAL_IDS, Settings

HANDLERS = {
    "StreamEvaluatorFunction": "growthos_segments.handlers.stream.handler",
    "NotifierFunction": "growthos_segments.handlers.notifier.handler",
    "ApiFunction": "growthos_segments.handlers.api.handler",
    "AuthorizerFunction": "growthos_segments.handlers.authorizer.handler",
    "SchedulerFunction": "growthos_segments.handlers.scheduler.handler",
    "BackfillFunction": "growthos_segments.handlers.backfill.handler",
}


def _models_by_table() -> dict[str, list[Any]]:
    settings = Settings.local("schema")
    return build_models(settings, aws.client("dynamodb", settings)).by_logical_id()


def test_models_agree_with_template() -> None:
    assert model_differences(_models_by_table()) == []


def _stream(t: dict[str, Any]) -> None:
    t["Resources"]["MembershipsTable"]["Properties"]["StreamSpecification"]["StreamViewType"] = "KEYS_ONLY"


def _ttl(t: dict[str, Any]) -> None:
    t["Resources"]["EventsTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"] = "ttl"


def _projection(t: dict[str, Any]) -> None:
    gsi = t["Resources"]["MembershipsTable"]["Properties"]["GlobalSecondaryIndexes"][0]
    gsi["Projection"] = {"ProjectionType": "KEYS_ONLY"}


def _index_key(t: dict[str, Any]) -> None:
    gsi = t["Resources"]["RechecksTable"]["Properties"]["GlobalSecondaryIndexes"][0]
    gsi["KeySchema"][1]["AttributeName"] = "recheck_at"


def _drop_index(t: dict[str, Any]) -> None:
    del t["Resources"]["ContactsTable"]["Properties"]["GlobalSecondaryIndexes"]


def _table_key(t: dict[str, Any]) -> None:
    t["Resources"]["CountersTable"]["Properties"]["KeySchema"][0]["AttributeName"] = "id"


def _extra_table(t: dict[str, Any]) -> None:
    t["Resources"]["SpareTable"] = copy.deepcopy(t["Resources"]["CountersTable"])


def _attribute_type(t: dict[str, Any]) -> None:
    t["Resources"]["SegmentsTable"]["Properties"]["AttributeDefinitions"][1]["AttributeType"] = "N"


@pytest.mark.parametrize(
    "tamper",
    [_stream, _ttl, _projection, _index_key, _drop_index, _table_key, _extra_table, _attribute_type],
)
def test_any_disagreement_is_reported(tamper: Callable[[dict[str, Any]], None]) -> None:
    template = load_template()
    tamper(template)
    assert model_differences(_models_by_table(), template) != []


def test_loader_keeps_cloudformation_tags() -> None:
    template = load_template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["CONTACTS_TABLE"] == {"Ref": "ContactsTable"}
    evaluator = template["Resources"]["StreamEvaluatorFunction"]["Properties"]
    stream = evaluator["Events"]["ContactChanges"]["Properties"]["Stream"]
    assert stream == {"Fn::GetAtt": ["ContactsTable", "StreamArn"]}
    assert "Fn::Sub" in template["Outputs"]["ApiUrl"]["Value"]


def test_every_table_reaches_functions_through_its_environment_variable() -> None:
    template = load_template()
    expected = {TABLE_ENV[name]: TABLE_LOGICAL_IDS[name] for name in TABLE_ENV}
    assert table_env_vars(template) == expected
    assert set(table_properties(template)) == set(TABLE_LOGICAL_IDS.values())


def test_functions_handlers_and_triggers() -> None:
    template = load_template()
    resources = template["Resources"]
    runtime = template["Globals"]["Function"]["Runtime"]
    assert runtime.startswith("python3.") and int(runtime.split(".")[1]) >= 11
    assert template["Globals"]["Function"]["CodeUri"] == "."
    for logical_id, handler in HANDLERS.items():
        assert resources[logical_id]["Type"] == "AWS::Serverless::Function"
        assert resources[logical_id]["Properties"]["Handler"] == handler
        if logical_id != "AuthorizerFunction":
            assert resources[logical_id]["Properties"].get("Policies"), f"{logical_id} has no policy"

    stream_events = [
        (logical_id, event)
        for logical_id in ("StreamEvaluatorFunction", "NotifierFunction")
        for event in resources[logical_id]["Properties"]["Events"].values()
    ]
    sources = {event["Properties"]["Stream"]["Fn::GetAtt"][0] for _, event in stream_events}
    assert sources == {"ContactsTable", "EventsTable", "MembershipsTable"}
    for _, event in stream_events:
        props = event["Properties"]
        assert event["Type"] == "DynamoDB"
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["BisectBatchOnFunctionError"] is True
        assert 0 < props["MaximumRetryAttempts"] <= 10
        assert props["DestinationConfig"]["OnFailure"]["Destination"]

    schedule = resources["SchedulerFunction"]["Properties"]["Events"]["EveryMinute"]
    assert schedule["Properties"]["Schedule"] == "rate(1 minute)"
    backfill = resources["BackfillFunction"]["Properties"]["Events"]["BackfillJobs"]
    assert backfill["Type"] == "SQS"
    assert backfill["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    api = resources["SegmentsApi"]["Properties"]["Auth"]
    assert api["DefaultAuthorizer"] == "TenantAuthorizer"
    assert api["Authorizers"]["TenantAuthorizer"]["FunctionPayloadType"] == "REQUEST"
    assert {"ApiUrl", "SegmentsBusName"} <= set(template["Outputs"])


def test_no_function_writes_to_a_table_it_only_reads() -> None:
    """Least privilege, spot-checked where it matters: the notifier touches no
    table, the authorizer has no policy, only the API may write segments."""
    resources = load_template()["Resources"]
    assert "Policies" not in resources["AuthorizerFunction"]["Properties"]
    notifier = str(resources["NotifierFunction"]["Properties"]["Policies"])
    assert "dynamodb:" not in notifier
    for logical_id in ("StreamEvaluatorFunction", "SchedulerFunction", "BackfillFunction"):
        for policy in resources[logical_id]["Properties"]["Policies"]:
            for statement in policy.get("Statement", []):
                resource = str(statement["Resource"])
                if "SegmentsTable" in resource:
                    assert set(statement["Action"]) <= {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"}


def test_tables_created_from_template_match_it(mock_aws_session: None, settings: Settings) -> None:
    streams = create_tables(settings)
    client = aws.client("dynamodb", settings)
    declared = table_properties(load_template())
    assert set(streams) == {"ContactsTable", "EventsTable", "SegmentsTable", "MembershipsTable"}
    for name, logical_id in TABLE_LOGICAL_IDS.items():
        props = declared[logical_id]
        table = client.describe_table(TableName=getattr(settings.tables, name))["Table"]
        assert sorted(map(str, table["KeySchema"])) == sorted(map(str, props["KeySchema"]))
        assert {g["IndexName"] for g in table.get("GlobalSecondaryIndexes", [])} == {
            g["IndexName"] for g in props.get("GlobalSecondaryIndexes", [])
        }
        view = (props.get("StreamSpecification") or {}).get("StreamViewType")
        assert table.get("StreamSpecification", {}).get("StreamViewType") == view
        ttl = client.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in props:
            assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]
            assert ttl["TimeToLiveStatus"] == "ENABLED"
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"
    # Idempotent: a restarted local stack keeps its tables (and data).
    assert create_tables(settings) == streams
