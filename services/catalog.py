"""The segment catalog: each tenant's active segments, compiled once per revision.

Every service that evaluates (stream, scheduler, backfill, the audience API's
explain and estimate) asks the catalog for a tenant's compiled segments; the
catalog reads the active heads through the :class:`SegmentStore` port and
attaches the stored tenant context, so a contact change normally costs no
segment request and no compilation at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from growthos_segments.core.host import PluginHost
from growthos_segments.core.membership import TenantSegments, with_context
from growthos_segments.core.ports import SegmentRecord, SegmentStore, TenantContextStore
from growthos_segments.core.segments import SegmentDefinition

__all__ = ["SegmentCatalog", "definition_of"]

log = logging.getLogger("growthos_segments.services.catalog")


def definition_of(record: SegmentRecord) -> SegmentDefinition:
    """A stored segment version as the kernel compiles it."""
    return SegmentDefinition(
        id=record.segment_id,
        rule=dict(record.rule) if record.rule else None,
        version=record.version,
        name=record.name,
        type=record.type,  # type: ignore[arg-type]  # SegmentDefinition coerces the string
        exclude_segments=tuple(record.exclude_segments),
        include_contacts=frozenset(record.include_contacts),
        exclude_contacts=frozenset(record.exclude_contacts),
    )


@dataclass(slots=True)
class _Compiled:
    segments: TenantSegments
    context_checked: float = 0.0


class SegmentCatalog:
    """:class:`growthos_segments.core.membership.SegmentSource`: each tenant's active segments
    compiled together (with its tenant context), rebuilt only when the (segment id,
    version) fingerprint of the active heads changes.

    The heads come from :meth:`SegmentStore.active_segments`, itself cached and
    revalidated with one small read every few seconds, so a contact change
    normally costs no segment request at all. Compiling (parsing, validating,
    building closures) happens once per revision per container.
    """

    def __init__(
        self,
        store: SegmentStore,
        host: PluginHost,
        contexts: TenantContextStore | None = None,
        *,
        context_seconds: float = 300.0,
        max_tenants: int = 256,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._host = host
        self._contexts = contexts
        self._context_seconds = context_seconds
        self._max = max_tenants
        self._monotonic = monotonic
        self._cache: OrderedDict[str, _Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def for_tenant(self, tenant_id: str, *, fresh: bool = False) -> TenantSegments:
        records = self._store.list_segments(tenant_id) if fresh else self._store.active_segments(tenant_id)
        fingerprint = tuple(sorted((r.segment_id, r.version) for r in records))
        with self._lock:
            entry = self._cache.get(tenant_id)
        if entry is None or entry.segments.fingerprint != fingerprint:
            compiled = TenantSegments.build(tenant_id, self._host, (definition_of(r) for r in records))
            for sid, why in compiled.rejected.items():
                log.warning("tenant %s: segment %s is not evaluated: %s", tenant_id, sid, why)
            compiled = replace(compiled, fingerprint=fingerprint)
            entry = _Compiled(compiled)
        entry = self._with_context(tenant_id, entry, force=fresh)
        with self._lock:
            self._cache[tenant_id] = entry
            self._cache.move_to_end(tenant_id)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return entry.segments

    def _with_context(self, tenant_id: str, entry: _Compiled, *, force: bool) -> _Compiled:
        if self._contexts is None or not entry.segments.index.context_readers:
            return entry
        now = self._monotonic()
        if not force and entry.context_checked and now - entry.context_checked < self._context_seconds:
            return entry
        stored = self._contexts.get(tenant_id)
        context = stored.context if stored is not None else {}
        return _Compiled(with_context(entry.segments, context), now)

    def invalidate(self, tenant_id: str) -> None:
        with self._lock:
            self._cache.pop(tenant_id, None)
