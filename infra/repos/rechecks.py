"""Re-check state: when a (segment, contact) pair can change with no new data.

Rows live under the contact (``T#contact`` / segment_id) so one evaluation's
updates for a contact share a partition; the ``by_due`` index keys them by
``T#NN`` / due minute, so the scheduler asks "what is due by now" with one
key-range Query per shard instead of scanning.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DeleteError, PutError

from growthos_segments.core.ports import Page, RecheckRecord
from growthos_segments.infra import keys
from growthos_segments.infra.models import Models, RecheckModel
from growthos_segments.infra.repos._common import decode_cursor, encode_cursor, iso, parse_iso

__all__ = ["RecheckRepository"]


def _record(item: RecheckModel) -> RecheckRecord:
    return RecheckRecord(
        tenant_id=item.tenant_id,
        segment_id=item.segment_id,
        contact_id=item.contact_id,
        recheck_at=parse_iso(item.recheck_at),
        seq=int(item.seq),
    )


def _stamp(moment: datetime) -> str:
    """``2026-11-20T09:14:00.000000Z``: always microseconds, so that strings order as instants."""
    return iso(moment, "microseconds")


def _conditional_failed(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


class RecheckRepository:
    """:class:`growthos_segments.core.ports.RecheckStore` on DynamoDB."""

    shards = keys.RECHECK_SHARDS

    def __init__(self, models: Models) -> None:
        self._model = models.rechecks

    def schedule(
        self,
        tenant_id: str,
        segment_id: str,
        contact_id: str,
        *,
        recheck_at: datetime | None,
        seq: int,
        replacing: tuple[datetime, int] | None = None,
    ) -> bool:
        """Write the pair's re-check under the rule of :meth:`core.ports.RecheckStore.schedule`.

        One conditional PutItem (or DeleteItem to clear): "no row, or the stored
        re-check is later than this one, or the row is still ``replacing``".
        ``recheck_at`` is stored at a fixed width so that DynamoDB's string
        comparison is chronological; rows written at second precision by earlier
        versions match ``replacing`` in either form.
        """
        model = self._model
        pk = keys.recheck_pk(tenant_id, contact_id)
        sk = keys.check_segment_id(segment_id)
        unchanged = model.pk.does_not_exist()
        if replacing is not None:
            read_at, read_seq = replacing
            unchanged = (model.recheck_at.is_in(_stamp(read_at), iso(read_at))) & (model.seq == read_seq)
        try:
            if recheck_at is None:
                model(pk, sk).delete(condition=unchanged)
            else:
                earlier = model.pk.does_not_exist() | (model.recheck_at > _stamp(recheck_at))
                self.row(tenant_id, segment_id, contact_id, recheck_at=recheck_at, seq=seq).save(
                    condition=earlier | unchanged
                )
        except (PutError, DeleteError) as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def row(
        self, tenant_id: str, segment_id: str, contact_id: str, *, recheck_at: datetime, seq: int
    ) -> RecheckModel:
        """The item of one pair's re-check, as :meth:`schedule` writes it (a bulk load
        into a tenant with no re-checks yet writes it unconditionally)."""
        return self._model(
            keys.recheck_pk(tenant_id, contact_id),
            keys.check_segment_id(segment_id),
            tenant_id=tenant_id,
            segment_id=segment_id,
            contact_id=contact_id,
            recheck_at=_stamp(recheck_at),
            seq=seq,
            due_pk=keys.recheck_due_pk(tenant_id, contact_id),
            due_at=keys.due_bucket(recheck_at),
        )

    def for_contact(self, tenant_id: str, contact_id: str) -> list[RecheckRecord]:
        results = self._model.query(keys.recheck_pk(tenant_id, contact_id), consistent_read=True)
        return [_record(item) for item in results]

    def due(
        self,
        tenant_id: str,
        *,
        now: datetime,
        shard: int,
        limit: int = 500,
        cursor: str | None = None,
    ) -> Page[RecheckRecord]:
        """Due rows of one shard, oldest bucket first (index reads are eventually
        consistent: a row written this instant may show up one run later)."""
        due_pk = keys.tenant_shard_key(tenant_id, shard)
        start = decode_cursor(
            cursor,
            equal={"due_pk": due_pk},
            prefixed={"pk": keys.tenant_prefix(tenant_id)},
            allowed=frozenset({"sk", "due_at"}),
        )
        results = self._model.by_due.query(
            due_pk,
            self._model.due_at <= keys.due_bucket_floor(now),
            limit=limit,
            last_evaluated_key=start,
        )
        records = [_record(item) for item in results]
        return Page(records, encode_cursor(results.last_evaluated_key))
