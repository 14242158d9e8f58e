"""The local stack's initial fill: a tenant's first memberships, evaluated in memory, written in bulk.

For data that is loaded before anything evaluates it (the demo seed): the
tenant's tables hold none of its memberships, re-checks or member counters
yet. A backfill would read every contact back and write each enter as its own
conditional transaction (on moto each one also copies the tables it touches,
so a few thousand members take minutes). Here the same
:class:`~growthos_segments.core.membership.MembershipEngine` evaluates the
documents on the in-memory ports (:mod:`growthos_segments.infra.memory`), so
the decisions, ``seq``, re-checks and counters are the engine's own, and the
rows it wrote there go to DynamoDB with BatchWriteItem, 25 per request. With
nothing stored, every decision is an enter or nothing, so a blind put cannot
overwrite a newer evaluation.

The tenant context (RFM thresholds) is computed first, from the same
documents, and stored, so segments that read it are right from the start.
The documents' attribute paths and event names fill the tenant's observed
fields last (:mod:`growthos_segments.services.fields`), so the rule builder's
completions and validation warnings work from the first request.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from growthos_segments.core.host import PluginHost
from growthos_segments.core.membership import with_context
from growthos_segments.core.ports import Resolution
from growthos_segments.infra.memory import DocumentPass, MemoryBackend
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.repos.contexts import DynamoTenantContexts
from growthos_segments.infra.repos.fields import DynamoObservedFields
from growthos_segments.services.context import context_reads
from growthos_segments.services.fields import FieldsService
from growthos_segments.services.realtime import evaluation_service

__all__ = ["InitialLoad", "LoadReport", "Progress"]


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What :class:`InitialLoad` wrote for one tenant."""

    tenant_id: str
    contacts: int
    memberships: int
    rechecks: int
    segments: int
    seconds: float


Progress = Callable[[str, int, int], None]
"""``(what, done, total)``: called as an initial load advances."""


class InitialLoad:
    """A tenant's first memberships, from contact documents still in memory, in bulk."""

    def __init__(self, repos: Repositories, host: PluginHost, *, page_size: int = 250) -> None:
        self.repos = repos
        self.host = host
        self.page_size = page_size

    def run(
        self,
        tenant_id: str,
        docs: Sequence[Mapping[str, Any]],
        now: datetime,
        *,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> LoadReport | None:
        """Evaluate ``docs`` (contact documents with their events) at ``now`` and store
        the result; ``None`` if ``cancelled`` said so before the writes began."""
        started = time.perf_counter()
        report = progress or (lambda what, done, total: None)
        memory = MemoryBackend()
        for doc in docs:
            memory.contacts.put(doc)
        ports = replace(memory.ports(), segments=self.repos.segments)
        service = evaluation_service(ports, self.host, clock=lambda: now, verify=False)
        tenant = service.segments.for_tenant(tenant_id, fresh=True)
        reads = context_reads(tenant)
        if reads is not None:
            context = self.host.tenant_context(tenant_id, DocumentPass(docs, reads, now), now)
            DynamoTenantContexts(self.repos.client, self.repos.settings.tables.counters).put(
                tenant_id, context, now
            )
            tenant = with_context(tenant, context)
        ids = [str(d["contact_id"]) for d in docs]
        segment_ids = list(tenant.versions)
        for start in range(0, len(ids), self.page_size):
            if cancelled is not None and cancelled():
                return None
            page = ids[start:start + self.page_size]
            service.engine.evaluate_many(tenant_id, page, only=segment_ids, segments=tenant)
            report("evaluating", start + len(page), len(ids))
        members = [r for r in memory.memberships.records() if r.member]
        rechecks = memory.rechecks.records()
        store, models, due = self.repos.memberships, self.repos.models, self.repos.rechecks
        recheck_rows = [
            due.row(r.tenant_id, r.segment_id, r.contact_id, recheck_at=r.recheck_at, seq=r.seq)
            for r in rechecks
        ]
        batches = (
            (models.memberships, [store.member_item(r) for r in members]),
            (models.counters, store.counter_items(members)),
            (models.rechecks, recheck_rows),
        )
        total = sum(len(items) for _, items in batches)
        written = 0
        for model, items in batches:
            with model.batch_write() as writer:
                for item in items:
                    writer.save(item)
                    written += 1
                    if written % 500 == 0 or written == total:
                        report("writing", written, total)
        filled = Counter(r.segment_id for r in members)
        # The first point of each segment's size history, so the history starts at "ready".
        self.repos.sizes.record(tenant_id, {sid: filled[sid] for sid in segment_ids}, at=now,
                                resolutions=list(Resolution))
        fields = DynamoObservedFields(self.repos.client, self.repos.settings.tables.counters)
        FieldsService(fields).observe_documents(tenant_id, docs)
        return LoadReport(tenant_id, len(ids), len(members), len(rechecks), len(segment_ids),
                          time.perf_counter() - started)
