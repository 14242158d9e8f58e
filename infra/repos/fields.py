"""Observed fields on DynamoDB: one small item per attribute path and per event name.

:class:`growthos_segments.core.ports.ObservedFields` in the counters table (derived
data), in the tenant's derived-data partition (``T#_tenant``, beside its context
and contact counter) under the sort-key prefix ``fields#``: ``fields#a#<path>``
holds a path's JSON types (a string set, so merging types is an ADD) and its
first samples (JSON text, written only if absent); ``fields#e#<name>`` holds an
event name's count (an ADD). Every write is one UpdateItem that merges, so
concurrent writers never lose each other's types or counts. The catalog is one
Query of that key range (a few pages at most: the service caps the vocabulary).

Forgetting samples is the one write that replaces: it reads the paths concerned
(one BatchGetItem per 100, consistently) and writes each changed list back only
if the stored list is still the one read; a list left empty is removed, so the
next observation of the path stores its samples again.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from growthos_segments.core.ports import (
    FIELD_CAP,
    FieldCatalog,
    ObservedAttribute,
    Sample,
    SamplesKeptChanging,
    sample_key,
)
from growthos_segments.infra import keys
from growthos_segments.infra.repos._common import batch_get

__all__ = ["DynamoObservedFields"]

PREFIX = "fields#"
ATTRIBUTE = PREFIX + "a#"
EVENT = PREFIX + "e#"
FORGET_ATTEMPTS = 5
"""Reads of a path whose samples another writer changed meanwhile, before giving up."""


class DynamoObservedFields:
    """A tenant's observed paths and event names as items of the counters table."""

    def __init__(self, client: Any, table: str, *, cap: int = FIELD_CAP) -> None:
        self._client = client
        self._table = table
        self._cap = cap

    def _key(self, tenant_id: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": keys.contact_count_pk(keys.check_tenant_id(tenant_id))}, "sk": {"S": sk}}

    def catalog(self, tenant_id: str) -> FieldCatalog:
        attributes: list[ObservedAttribute] = []
        events: dict[str, int] = {}
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.contact_count_pk(keys.check_tenant_id(tenant_id))},
                ":prefix": {"S": PREFIX},
            },
        }
        while True:
            page = self._client.query(**request)
            for item in page.get("Items", ()):
                sk = item["sk"]["S"]
                if sk.startswith(ATTRIBUTE) and len(attributes) < self._cap:
                    samples = json.loads(item.get("samples", {}).get("S") or "[]")
                    types = frozenset(item.get("types", {}).get("SS") or ())
                    attributes.append(ObservedAttribute(sk[len(ATTRIBUTE):], types, tuple(samples)))
                elif sk.startswith(EVENT) and len(events) < self._cap:
                    events[sk[len(EVENT):]] = int(item.get("n", {}).get("N") or 0)
            last = page.get("LastEvaluatedKey")
            if not last:
                return FieldCatalog(tuple(attributes), events)
            request["ExclusiveStartKey"] = last

    def add_attributes(self, tenant_id: str, attributes: Sequence[ObservedAttribute]) -> None:
        for attribute in attributes:
            names = {"#s": "samples"}
            values: dict[str, Any] = {":s": {"S": json.dumps(list(attribute.samples))}}
            expression = "SET #s = if_not_exists(#s, :s)"
            if attribute.types:  # a string set cannot be empty
                names["#t"] = "types"
                values[":t"] = {"SS": sorted(attribute.types)}
                expression += " ADD #t :t"
            self._client.update_item(
                TableName=self._table,
                Key=self._key(tenant_id, ATTRIBUTE + attribute.path),
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def count_events(self, tenant_id: str, counts: Mapping[str, int]) -> None:
        for name, count in counts.items():
            self._client.update_item(
                TableName=self._table,
                Key=self._key(tenant_id, EVENT + name),
                UpdateExpression="ADD #n :n",
                ExpressionAttributeNames={"#n": "n"},
                ExpressionAttributeValues={":n": {"N": str(count)}},
            )

    def forget_samples(self, tenant_id: str, values: Mapping[str, Collection[Sample]]) -> int:
        pending = {path: {sample_key(v) for v in gone} for path, gone in values.items() if gone}
        removed = 0
        for _ in range(FORGET_ATTEMPTS):
            if not pending:
                return removed
            wanted = [self._key(tenant_id, ATTRIBUTE + path) for path in pending]
            changed: dict[str, set[tuple[bool, Sample]]] = {}
            for item in batch_get(self._client, self._table, wanted, ConsistentRead=True,
                                  ProjectionExpression="sk, samples"):
                path = item["sk"]["S"][len(ATTRIBUTE):]
                text = item.get("samples", {}).get("S")
                if not text:
                    continue
                stored = json.loads(text)
                kept = [s for s in stored if sample_key(s) not in pending[path]]
                if len(kept) == len(stored):
                    continue
                if self._replace_samples(tenant_id, path, text, kept):
                    removed += len(stored) - len(kept)
                else:
                    changed[path] = pending[path]
            pending = changed
        if pending:
            paths = ", ".join(sorted(pending))
            raise SamplesKeptChanging(f"the samples of {paths} kept changing; forget the contact again")
        return removed

    def _replace_samples(self, tenant_id: str, path: str, read: str, kept: list[Sample]) -> bool:
        """Write ``kept`` if the samples are still the text ``read``; ``False`` if they changed."""
        names = {"#s": "samples"}
        values: dict[str, Any] = {":read": {"S": read}}
        update = "SET #s = :kept" if kept else "REMOVE #s"
        if kept:
            values[":kept"] = {"S": json.dumps(kept)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(tenant_id, ATTRIBUTE + path),
                UpdateExpression=update,
                ConditionExpression="#s = :read",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True
