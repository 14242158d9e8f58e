"""Read ``template.yaml`` so the local stack and the models cannot drift from it.

The template is the single declaration of the tables (and, for the local stack,
of the functions and their triggers). This module loads it with a YAML loader
that keeps CloudFormation short-form tags (``!Ref``, ``!Sub``, ``!GetAtt``...)
as their long-form dicts, creates the tables with boto3 exactly as declared,
and lists every difference between the pynamodb models and the declarations.

Table ``Properties`` in the template are literal on purpose (no intrinsics
besides what CloudFormation fills in, such as the table name), so they can be
replayed against moto without a CloudFormation engine.

Development tooling (the local stack, tests, benchmarks): it needs PyYAML, a
development dependency, and the deployed functions never read the template.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from growthos_segments.infra import aws
from growthos_segments.infra.settings import TABLE_LOGICAL_IDS, Settings

__all__ = [
    "TEMPLATE_PATH",
    "create_tables",
    "load_template",
    "model_differences",
    "table_env_vars",
    "table_properties",
]

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"
"""The repository's template (the local stack and the tests run from a checkout)."""

_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CfnLoader(_BASE_LOADER):  # type: ignore[valid-type, misc]
    """Safe YAML loader that understands CloudFormation's short-form tags."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)  # !GetAtt A.B is the list form [A, B]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path | str = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data (short-form tags become ``{"Ref": ...}`` etc.).

    Parsed once per path; each caller gets its own copy to change freely.
    """
    return copy.deepcopy(_load(str(Path(path).resolve())))


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=CfnLoader)  # CfnLoader is a SafeLoader
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return loaded


def table_properties(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{logical_id: Properties}`` of every ``AWS::DynamoDB::Table``."""
    return {
        logical_id: dict(resource.get("Properties", {}))
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::DynamoDB::Table"
    }


def table_env_vars(template: Mapping[str, Any]) -> dict[str, str]:
    """``{ENV_VAR: logical_id}`` for Globals variables that are ``!Ref`` to a table."""
    tables = table_properties(template)
    variables = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    return {
        name: value["Ref"]
        for name, value in variables.items()
        if isinstance(value, Mapping) and value.get("Ref") in tables
    }


def create_tables(
    settings: Settings,
    dynamodb_client: Any = None,
    template: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Create each template table under its name in ``settings`` (streams, GSIs, TTL).

    Returns ``{logical_id: stream_arn}`` for tables with a stream. Tables that
    already exist are left alone, so a restarted local stack keeps its data.
    """
    dynamodb_client = dynamodb_client or aws.client("dynamodb", settings)
    names = {TABLE_LOGICAL_IDS[name]: table for name, table in settings.tables.as_dict().items()}
    template = template if template is not None else load_template()
    streams: dict[str, str] = {}
    existing = set(_list_tables(dynamodb_client))
    for logical_id, props in table_properties(template).items():
        table_name = names[logical_id]
        if table_name not in existing:
            dynamodb_client.create_table(**_create_kwargs(table_name, props))
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                dynamodb_client.update_time_to_live(
                    TableName=table_name,
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
                )
        description = dynamodb_client.describe_table(TableName=table_name)["Table"]
        if description.get("LatestStreamArn"):
            streams[logical_id] = description["LatestStreamArn"]
    return streams


def _list_tables(dynamodb_client: Any) -> Iterable[str]:
    paginator = dynamodb_client.get_paginator("list_tables")
    for page in paginator.paginate():
        yield from page.get("TableNames", [])


_CREATE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "StreamSpecification",
)


def _create_kwargs(table_name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"TableName": table_name}
    for key in _CREATE_KEYS:
        if key in props:
            kwargs[key] = props[key]
    stream = kwargs.get("StreamSpecification")
    if stream is not None:
        # CloudFormation infers StreamEnabled from the view type; the API needs it.
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **stream}
    kwargs.setdefault("BillingMode", "PAY_PER_REQUEST")
    return kwargs


# --- models vs template -----------------------------------------------------


def _keys(schema: Iterable[Mapping[str, str]]) -> list[tuple[str, str]]:
    return sorted((k["AttributeName"], k["KeyType"]) for k in schema)


def _projection(projection: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    return projection["ProjectionType"], tuple(sorted(projection.get("NonKeyAttributes", [])))


def model_differences(
    models_by_table: Mapping[str, Iterable[Any]],
    template: Mapping[str, Any] | None = None,
) -> list[str]:
    """Every way the pynamodb models disagree with the template (empty = agree).

    Compared per table: key schema, attribute definitions, GSIs (name, keys,
    projection), stream view type, TTL attribute, billing mode. Several models
    may share a table (segment heads/versions and the tenant catalog); their
    keys must agree and their indexes together must equal the table's.
    """
    template = template if template is not None else load_template()
    tables = table_properties(template)
    problems: list[str] = []
    for logical_id in sorted(set(tables) - set(models_by_table)):
        problems.append(f"{logical_id}: declared in template.yaml but no model uses it")
    for logical_id, models in sorted(models_by_table.items()):
        props = tables.get(logical_id)
        if props is None:
            problems.append(f"{logical_id}: models exist but template.yaml has no such table")
            continue
        problems.extend(_table_differences(logical_id, props, list(models)))
    return problems


def _table_differences(logical_id: str, props: Mapping[str, Any], models: list[Any]) -> list[str]:
    problems: list[str] = []
    where = logical_id
    declared_keys = _keys(props.get("KeySchema", []))
    declared_defs = sorted(
        (d["AttributeName"], d["AttributeType"]) for d in props.get("AttributeDefinitions", [])
    )
    declared_gsis = {
        g["IndexName"]: (_keys(g["KeySchema"]), _projection(g["Projection"]))
        for g in props.get("GlobalSecondaryIndexes", [])
    }
    declared_stream = (props.get("StreamSpecification") or {}).get("StreamViewType")
    ttl = props.get("TimeToLiveSpecification") or {}
    declared_ttl = ttl.get("AttributeName") if ttl.get("Enabled") else None

    model_defs: set[tuple[str, str]] = set()
    model_gsis: dict[str, tuple[list[tuple[str, str]], tuple[str, tuple[str, ...]]]] = {}
    for model in models:
        name = model.__name__
        schema = model._get_schema()
        keys = _keys(schema["key_schema"])
        if keys != declared_keys:
            problems.append(f"{where}: {name} key schema {keys} != template {declared_keys}")
        model_defs.update((d["AttributeName"], d["AttributeType"]) for d in schema["attribute_definitions"])
        for gsi in schema["global_secondary_indexes"]:
            for d in gsi.get("attribute_definitions", []):
                model_defs.add((d["AttributeName"], d["AttributeType"]))
            model_gsis[gsi["index_name"]] = (_keys(gsi["key_schema"]), _projection(gsi["projection"]))
        stream = getattr(model.Meta, "stream_view_type", None)
        if stream != declared_stream:
            problems.append(f"{where}: {name} stream view {stream} != template {declared_stream}")
        ttl_attr = model._ttl_attribute()
        ttl_name = ttl_attr.attr_name if ttl_attr is not None else None
        if ttl_name != declared_ttl:
            problems.append(f"{where}: {name} TTL attribute {ttl_name} != template {declared_ttl}")
        billing = getattr(model.Meta, "billing_mode", None)
        if billing != props.get("BillingMode"):
            problems.append(f"{where}: {name} billing {billing} != template {props.get('BillingMode')}")
    if sorted(model_defs) != declared_defs:
        problems.append(f"{where}: attribute definitions {sorted(model_defs)} != template {declared_defs}")
    for index_name in sorted(set(declared_gsis) | set(model_gsis)):
        if index_name not in model_gsis:
            problems.append(f"{where}: index {index_name} declared in template.yaml but in no model")
        elif index_name not in declared_gsis:
            problems.append(f"{where}: index {index_name} in a model but not in template.yaml")
        elif model_gsis[index_name] != declared_gsis[index_name]:
            problems.append(
                f"{where}: index {index_name} model {model_gsis[index_name]} "
                f"!= template {declared_gsis[index_name]}"
            )
    return problems
