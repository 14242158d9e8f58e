"""DynamoDB stream records, as Lambda delivers them, read for the real-time services.

:class:`growthos_segments.core.ports.StreamRecordReader` on DynamoDB Streams:
images come as DynamoDB JSON and become plain values (ints/floats, lists); a
contacts or events record becomes the :class:`~growthos_segments.core.dependencies.Change`
it stands for, merged per contact, so the stream evaluator evaluates each
contact once per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from growthos_segments.core.dependencies import EVERYTHING, Change, changed_paths
from growthos_segments.core.ports import ContactChanges
from growthos_segments.infra import keys
from growthos_segments.infra.repos._common import item_values, plain
from growthos_segments.infra.settings import TableNames

__all__ = ["DynamoStreamRecords", "image", "record_id"]

def image(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stream image (DynamoDB JSON) as plain Python values (ints/floats, lists)."""
    if not raw:
        return None
    return plain(item_values(raw))


def record_id(record: Mapping[str, Any]) -> str:
    """The item identifier Lambda expects in ``batchItemFailures`` for a stream record."""
    return str((record.get("dynamodb") or {}).get("SequenceNumber") or record.get("eventID") or id(record))


def _table_of(record: Mapping[str, Any]) -> str | None:
    arn = record.get("eventSourceARN")
    if isinstance(arn, str) and ":table/" in arn:
        return arn.split(":table/", 1)[1].split("/", 1)[0]
    return None


def _change_of(record: Mapping[str, Any], is_event: bool) -> Change:
    name = record.get("eventName")
    body = record.get("dynamodb") or {}
    if is_event:
        if name == "REMOVE":
            return Change(any_event=True)
        new = image(body.get("NewImage"))
        return Change.of_event(new.get("name") if new else None)
    if name == "MODIFY":
        old, new = image(body.get("OldImage")), image(body.get("NewImage"))
        if old is None or new is None:
            return EVERYTHING
        return Change(paths=changed_paths(old, new))
    return EVERYTHING  # INSERT (a new contact) or REMOVE (a deleted one): every segment


class DynamoStreamRecords:
    """The contacts, events and memberships streams of one deployment's tables."""

    def __init__(self, tables: TableNames) -> None:
        self._tables = tables

    def record_id(self, record: Mapping[str, Any]) -> str:
        return record_id(record)

    def contact_changes(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[list[ContactChanges], dict[str, Exception]]:
        """Contacts and events stream records, one merged change per contact, in
        first-seen order, and the records with no usable key (reported as failures;
        the rest proceed)."""
        groups: dict[tuple[str, str], ContactChanges] = {}
        poison: dict[str, Exception] = {}
        for record in records:
            rid = record_id(record)
            try:
                body = record.get("dynamodb")
                if not isinstance(body, Mapping):
                    raise ValueError("record has no dynamodb section")
                key_image = image(body.get("Keys")) or {}
                tenant_id, contact_id = keys.split_contact_pk(key_image.get("pk"))
                table = _table_of(record)
                if table == self._tables.events:
                    is_event = True
                elif table == self._tables.contacts:
                    is_event = False
                else:  # unknown table name (a renamed stack): the key shape tells
                    is_event = "sk" in key_image
                change = _change_of(record, is_event)
            except (ValueError, TypeError, KeyError) as error:
                poison[rid] = error
                continue
            group = groups.get((tenant_id, contact_id))
            if group is None:
                group = groups[(tenant_id, contact_id)] = ContactChanges(tenant_id, contact_id, change)
            else:
                group.change = group.change | change
            group.records.append(rid)
        return list(groups.values()), poison

    def images(
        self, record: Mapping[str, Any]
    ) -> tuple[str | None, dict[str, Any] | None, dict[str, Any] | None]:
        body = record.get("dynamodb") or {}
        return record.get("eventName"), image(body.get("OldImage")), image(body.get("NewImage"))
