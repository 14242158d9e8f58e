"""Stream evaluation: contacts and events change records in, membership transitions out.

Records are merged per contact (the :class:`StreamRecordReader` port) and each
contact is evaluated once per batch against what is stored *now* (a consistent
read), so duplicates, retries and records that arrive out of order cannot
reorder transitions. A record that cannot be read, or whose contact's
evaluation fails, is reported failed; the rest of the batch is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from growthos_segments.core.membership import ContactOutcome
from growthos_segments.core.ports import ContactChanges
from growthos_segments.services.fields import FieldsService
from growthos_segments.services.realtime import EvaluationService

__all__ = ["BatchResult", "StreamEvaluator"]

log = logging.getLogger("growthos_segments.services.stream")


@dataclass
class BatchResult:
    failed: dict[str, Exception] = field(default_factory=dict)
    """Record id -> why (every record of a contact whose evaluation failed)."""
    outcomes: list[ContactOutcome] = field(default_factory=list)
    changes: list[ContactChanges] = field(default_factory=list)
    """The batch's changes, one per contact (what :meth:`StreamEvaluator.learn_fields` reads)."""


class StreamEvaluator:
    """Evaluates a batch of contacts/events stream records, each contact once."""

    def __init__(self, service: EvaluationService, *, workers: int = 1) -> None:
        self._service = service
        self._workers = max(1, workers)
        store = service.ports.fields
        self.fields = FieldsService(store) if store is not None else None
        """Learns the tenants' observed fields from each batch (kept per container)."""

    def evaluate_batch(self, records: Sequence[Mapping[str, Any]]) -> BatchResult:
        groups, poison = self._service.ports.records.contact_changes(records)
        result = BatchResult(failed=dict(poison), changes=groups)
        for rid, error in poison.items():
            log.error("stream record %s cannot be read: %s", rid, error)
        work = [g for g in groups if not g.change.empty]

        def run(group: ContactChanges) -> ContactOutcome | Exception:
            try:
                return self._service.engine.evaluate(group.tenant_id, group.contact_id, group.change)
            except Exception as error:  # one contact's failure must not fail the others
                log.exception("evaluating %s/%s failed", group.tenant_id, group.contact_id)
                return error

        if self._workers > 1 and len(work) > 1:
            with ThreadPoolExecutor(max_workers=min(self._workers, len(work))) as pool:
                done = list(pool.map(run, work))
        else:
            done = [run(group) for group in work]
        for group, outcome in zip(work, done, strict=True):
            if isinstance(outcome, Exception):
                for rid in group.records:
                    result.failed[rid] = outcome
            else:
                result.outcomes.append(outcome)
        return result

    def learn_fields(self, result: BatchResult) -> int:
        """Record the observed fields of an evaluated batch; returns the profiles read.

        Kept apart from :meth:`evaluate_batch`, whose cost is the evaluation's
        alone: field help is advisory, so its failure is logged and never fails
        (and so repeats) the batch."""
        if self.fields is None:
            return 0
        try:
            service = self._service
            return self.fields.observe_changes(result.changes, service.ports.views, service.clock())
        except Exception:
            log.exception("recording observed fields failed")
            return 0
