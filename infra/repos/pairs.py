"""Stored state of (segment, contact) pairs: membership and re-check rows in one read.

:class:`growthos_segments.core.membership.PairStateReader` on DynamoDB. A contact
change costs three reads: the view's GetItem and Query, then this one strongly
consistent ``BatchGetItem`` across the memberships and re-checks tables.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from growthos_segments.core.membership import PairState
from growthos_segments.infra import keys
from growthos_segments.infra.repos._common import parse_iso
from growthos_segments.infra.settings import TableNames

__all__ = ["BATCH_GET_KEYS", "DynamoPairStates"]

BATCH_GET_KEYS = 100
"""BatchGetItem reads at most 100 keys per request."""


def _s(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if isinstance(value, Mapping) else None


def _n(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    raw = value.get("N") if isinstance(value, Mapping) else None
    return int(raw) if raw is not None else None


class DynamoPairStates:
    """:class:`growthos_segments.core.membership.PairStateReader`: membership and re-check rows of
    (segment, contact) pairs, strongly consistent, up to 50 pairs per BatchGetItem
    (two keys each, one per table, in the same request).

    One contact with more than 50 affected segments (a new or deleted contact
    touches all of them) reads its membership keys in chunks of 100 and its
    re-checks with one Query of its re-check partition, which holds every
    segment's row anyway.
    """

    def __init__(
        self,
        client: Any,
        tables: TableNames,
        *,
        max_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._memberships = tables.memberships
        self._rechecks = tables.rechecks
        self._max_attempts = max_attempts
        self._sleep = sleep

    def read(self, tenant_id: str, contact_id: str, segment_ids: Sequence[str]) -> dict[str, PairState]:
        return self.read_many(tenant_id, [contact_id], segment_ids).get(contact_id, {})

    def read_many(
        self, tenant_id: str, contact_ids: Sequence[str], segment_ids: Sequence[str]
    ) -> dict[str, dict[str, PairState]]:
        contacts = list(dict.fromkeys(contact_ids))
        segments = list(dict.fromkeys(segment_ids))
        if not contacts or not segments:
            return {}
        members: dict[tuple[str, str], tuple[bool, int]] = {}
        rechecks: dict[tuple[str, str], tuple[datetime, int]] = {}
        membership_keys = [
            (self._memberships,
             {"pk": {"S": keys.membership_pk(tenant_id, sid)}, "sk": {"S": keys.check_contact_id(cid)}})
            for cid in contacts
            for sid in segments
        ]
        if len(contacts) == 1 and 2 * len(segments) > BATCH_GET_KEYS:
            wanted = membership_keys
            self._query_rechecks(keys.recheck_pk(tenant_id, contacts[0]), contacts[0], rechecks)
        else:
            wanted = membership_keys + [
                (self._rechecks,
                 {"pk": {"S": keys.recheck_pk(tenant_id, cid)}, "sk": {"S": keys.check_segment_id(sid)}})
                for cid in contacts
                for sid in segments
            ]
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            self._batch_get(wanted[start:start + BATCH_GET_KEYS], members, rechecks)
        out: dict[str, dict[str, PairState]] = {}
        for cid in contacts:
            states: dict[str, PairState] = {}
            for sid in segments:
                member, seq = members.get((cid, sid), (False, None))
                recheck_at, recheck_seq = rechecks.get((cid, sid), (None, None))
                if seq is not None or recheck_at is not None:
                    states[sid] = PairState(member, seq, recheck_at, recheck_seq)
            out[cid] = states
        return out

    def _batch_get(
        self,
        wanted: list[tuple[str, dict[str, Any]]],
        members: dict[tuple[str, str], tuple[bool, int]],
        rechecks: dict[tuple[str, str], tuple[datetime, int]],
    ) -> None:
        request: dict[str, Any] = {}
        for table, key in wanted:
            if table not in request:
                projection = "#c, #sid, #m, #q" if table == self._memberships else "#c, #sk, #r, #q"
                names = (
                    {"#c": "contact_id", "#sid": "segment_id", "#m": "member", "#q": "seq"}
                    if table == self._memberships
                    else {"#c": "contact_id", "#sk": "sk", "#r": "recheck_at", "#q": "seq"}
                )
                request[table] = {"Keys": [], "ConsistentRead": True, "ProjectionExpression": projection,
                                  "ExpressionAttributeNames": names}
            request[table]["Keys"].append(key)
        for attempt in range(self._max_attempts):
            response = self._client.batch_get_item(RequestItems=request)
            found = response.get("Responses", {})
            for item in found.get(self._memberships, []):
                cid, sid, seq = _s(item, "contact_id"), _s(item, "segment_id"), _n(item, "seq")
                if cid is not None and sid is not None and seq is not None:
                    members[(cid, sid)] = (bool(item.get("member", {}).get("BOOL")), seq)
            for item in found.get(self._rechecks, []):
                self._recheck(item, rechecks)
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return
            self._sleep(min(1.0, 0.02 * 2**attempt) * random.random())
        raise RuntimeError("BatchGetItem kept returning unprocessed keys (throttled); retry the record")

    @staticmethod
    def _recheck(item: Mapping[str, Any], rechecks: dict[tuple[str, str], tuple[datetime, int]]) -> None:
        cid, sid, at, seq = _s(item, "contact_id"), _s(item, "sk"), _s(item, "recheck_at"), _n(item, "seq")
        if cid is not None and sid is not None and at is not None and seq is not None:
            rechecks[(cid, sid)] = (parse_iso(at), seq)

    def _query_rechecks(
        self, pk: str, contact_id: str, rechecks: dict[tuple[str, str], tuple[datetime, int]]
    ) -> None:
        kwargs: dict[str, Any] = {
            "TableName": self._rechecks,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**kwargs)
            for item in response.get("Items", []):
                self._recheck(item, rechecks)
            if not response.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
