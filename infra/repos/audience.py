"""Point reads of the audience routes, as few DynamoDB requests as each answer allows.

A membership check reads the segment head, the membership row and the contact's
key in one strongly consistent BatchGetItem, so it costs one request whatever
the answer; a snapshot reads its members' suppression state 100 contacts per
BatchGetItem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from growthos_segments.core.ports import ContactDocument, MembershipCheck, StoredState
from growthos_segments.infra import keys
from growthos_segments.infra.repos._common import item_values
from growthos_segments.infra.settings import TableNames

__all__ = ["AudienceLookupRepository"]

BATCH_GET = 100
"""Keys per BatchGetItem (DynamoDB's limit)."""


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class AudienceLookupRepository:
    """:class:`growthos_segments.core.ports.AudienceLookups` on DynamoDB."""

    def __init__(self, client: Any, tables: TableNames) -> None:
        self._client = client
        self._tables = tables

    def membership_check(self, tenant_id: str, segment_id: str, contact_id: str) -> MembershipCheck:
        tables = self._tables
        request = {
            tables.segments: {
                "Keys": [{"pk": {"S": keys.segment_pk(tenant_id)},
                          "sk": {"S": keys.segment_head_sk(segment_id)}}],
                "ProjectionExpression": "#st",
                "ExpressionAttributeNames": {"#st": "status"},
                "ConsistentRead": True,
            },
            tables.memberships: {
                "Keys": [{"pk": {"S": keys.membership_pk(tenant_id, segment_id)},
                          "sk": {"S": keys.check_contact_id(contact_id)}}],
                "ConsistentRead": True,
            },
            tables.contacts: {
                "Keys": [{"pk": {"S": keys.contact_pk(tenant_id, contact_id)}}],
                "ProjectionExpression": "pk",
                "ConsistentRead": True,
            },
        }
        found = self._batch_get(request)
        segment = (found.get(tables.segments) or [None])[0]
        row = (found.get(tables.memberships) or [None])[0]
        stored = None if row is None else StoredState(
            member=row.get("member") is True,
            entered_at=row.get("entered_at"),
            exited_at=row.get("exited_at"),
            segment_version=_int(row.get("segment_version")),
        )
        return MembershipCheck(
            segment_status=None if segment is None else str(segment.get("status")),
            stored=stored,
            contact_exists=bool(found.get(tables.contacts)),
        )

    def contact_exists(self, tenant_id: str, contact_id: str) -> bool:
        response = self._client.get_item(
            TableName=self._tables.contacts,
            Key={"pk": {"S": keys.contact_pk(tenant_id, contact_id)}},
            ProjectionExpression="pk",
            ConsistentRead=True,
        )
        return bool(response.get("Item"))

    def suppression_profiles(
        self, tenant_id: str, contact_ids: Sequence[str]
    ) -> dict[str, ContactDocument]:
        table = self._tables.contacts
        out: dict[str, ContactDocument] = {}
        for start in range(0, len(contact_ids), BATCH_GET):
            chunk = contact_ids[start:start + BATCH_GET]
            request = {table: {
                "Keys": [{"pk": {"S": keys.contact_pk(tenant_id, cid)}} for cid in chunk],
                "ProjectionExpression": "contact_id, suppression, #at.email",
                "ExpressionAttributeNames": {"#at": "attributes"},
            }}
            for item in self._batch_get(request).get(table, []):
                if isinstance(item.get("contact_id"), str):
                    out[item["contact_id"]] = item
        return out

    def _batch_get(self, request: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        pending: dict[str, Any] = request
        for _ in range(8):
            response = self._client.batch_get_item(RequestItems=pending)
            for table, items in response.get("Responses", {}).items():
                found.setdefault(table, []).extend(
                    item_values(item) for item in items
                )
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                return found
        raise RuntimeError("BatchGetItem kept returning unprocessed keys")
