"""Size estimates of unsaved rules from a uniform random sample of a tenant's contacts.

Why a sample rather than loading views: a view is a request or two per contact,
so a 400-contact sample would be 800 requests. The sample port
(:class:`growthos_segments.core.ports.ContactSamples`) instead reads the contacts
at a range of stable hash positions in a few requests (on DynamoDB: one range
Query per sample shard of the ``by_sample`` indexes, see
``growthos_segments.infra.repos.samples``).

How big: the tenant's contact count comes from a counter
(:meth:`ContactSamples.count`); the first read takes
enough positions for :attr:`Estimator.target` contacts (plus 10 %), and when
chance gives fewer, the next positions are read until the target is met. A
tenant of at most :attr:`Estimator.exact_limit` contacts is read whole and
counted exactly.

The interval: the matching share ``k/n`` of the sample gets a 95 % Wilson score
interval, with the finite-population correction (the sample can be a sizeable
part of a small tenant), scaled to the tenant's count and clipped to what the
sample proves (at least ``k`` members, at most ``N - (n - k)``). When the counter
is missing or below the sample (data loaded before the counter existed), the
population is the sample size divided by the sampled fraction instead, and the
response says so.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from growthos_segments.core.contract import Reads
from growthos_segments.core.dependencies import event_matches
from growthos_segments.core.ports import ContactDocument, ContactSamples, history_since
from growthos_segments.core.view import VIEW_FIELDS

__all__ = ["Estimate", "Estimator", "top_level_conditions", "wilson_interval"]

Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Estimate:
    estimate: int
    low: int
    high: int
    exact: bool
    sample_size: int
    matches: int
    population: int
    population_source: str
    """``counter`` (the tenant's contact count), ``sample`` (scaled from the sample) or
    ``exact`` (every contact was read)."""
    sampled_fraction: float
    confidence: float = 0.95


def top_level_conditions(rule: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The children of the rule's root ``and`` / ``or`` with their JSON pointers into the
    rule, or the rule itself (pointer ``""``) when its root is anything else: the parts a
    marketer adds one by one, each sized alone to show which one narrows the audience."""
    (operator, operand), = rule.items()
    if operator in ("and", "or") and isinstance(operand, list):
        return [(f"/{operator}/{index}", child) for index, child in enumerate(operand)]
    return [("", rule)]


def wilson_interval(matches: int, n: int, population: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a share, with the finite-population correction.

    The correction shrinks the variance by ``(N - n) / (N - 1)``, expressed as a
    larger effective sample; a sample that is the whole population has no
    uncertainty left.
    """
    if n <= 0:
        return 0.0, 1.0
    share = matches / n
    if population <= n:
        return share, share
    effective = n * (population - 1) / (population - n)
    z2 = z * z
    denominator = 1 + z2 / effective
    centre = (share + z2 / (2 * effective)) / denominator
    half = z / denominator * math.sqrt(share * (1 - share) / effective + z2 / (4 * effective * effective))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class _Sample:
    """One tenant's sampled contacts, column by column (see :class:`Estimator`)."""

    stop: int
    counted: int | None
    created: float
    docs: dict[str, ContactDocument]
    paths: frozenset[str] | None
    """Document paths read so far (``None``: everything)."""
    events: dict[str, tuple[datetime | None, dict[str, list[tuple[str, dict[str, Any]]]]]] = field(
        default_factory=dict
    )
    """Per event prefix: since when it was read, and ``(sk, event)`` per contact."""

    def covers(self, prefix: str, since: datetime | None) -> bool:
        for cached, (cached_since, _) in self.events.items():
            if event_matches(cached, prefix) and (
                cached_since is None or (since is not None and cached_since <= since)
            ):
                return True
        return False


class Estimator:
    """Estimates how many of a tenant's contacts a predicate matches.

    The sample is kept per tenant for :attr:`cache_seconds`, column by column: a
    rule builder calls the estimate on every edit, and each call then reads only
    the document paths and event names no earlier call of the window read
    (usually none). An estimate is a statement about a sample anyway; one that
    is up to a minute old is as good, and the response's ``evaluated_at`` is the
    instant the rule was evaluated, not when the sample was read.
    """

    def __init__(
        self,
        samples: ContactSamples,
        *,
        target: int = 400,
        exact_limit: int = 1000,
        max_rounds: int = 4,
        cache_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.samples = samples
        self.target = target
        """Contacts the sample aims for: ±5 percentage points at worst (p = 0.5)."""
        self.exact_limit = exact_limit
        """Tenants up to this size are read whole and counted exactly."""
        self.max_rounds = max_rounds
        self.cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: dict[str, _Sample] = {}
        self._lock = threading.Lock()

    def estimate(
        self,
        tenant_id: str,
        matches: Callable[[ContactDocument], bool],
        reads: Reads,
        now: datetime,
    ) -> Estimate:
        """Sample the tenant, count the documents ``matches`` accepts, scale up.

        ``reads`` (what the rule and everything it references read) bounds the
        projection, the event names and how far back events are loaded.
        """
        return self.estimate_each(tenant_id, lambda doc: (matches(doc),), 1, reads, now)[0]

    def estimate_each(
        self,
        tenant_id: str,
        matches: Callable[[ContactDocument], Sequence[bool]],
        width: int,
        reads: Reads,
        now: datetime,
        *,
        listed: frozenset[str] = frozenset(),
    ) -> list[Estimate]:
        """One estimate per position of what ``matches`` answers (``width`` answers per
        document), all over the one sample read once: a rule and each of its conditions
        are then sized on the same contacts, at the cost of one rule's reads.

        ``reads`` must cover what every one of the predicates reads. ``listed`` are
        contacts known to match every predicate (a segment's manual include list): they
        are counted outright, not scaled as a share of the sample, and the sample sizes
        the other contacts; when the sample is not the whole tenant, an id of
        ``listed`` is counted whether a contact has it or not.
        """
        paths = None if "*" in reads.attributes else frozenset(reads.attributes)
        since = history_since(now, reads.lookback)
        sample = self._sample(tenant_id, paths)
        if reads.lookback is not None:
            self._add_events(tenant_id, sample, reads.events, since)
        floor = self.samples.event_key_floor(since) if since is not None else ""
        n = present = 0
        hits = [0] * width
        for contact_id, profile in sample.docs.items():
            if contact_id in listed:
                present += 1
                continue
            doc = dict(profile)
            doc["events"] = self._events_of(sample, contact_id, reads, floor)
            for index, matched in enumerate(matches(doc)):
                hits[index] += bool(matched)
            n += 1
        return [self._scaled(sample, count, n, present, len(listed)) for count in hits]

    def _scaled(self, sample: _Sample, hits: int, n: int, present: int, listed: int) -> Estimate:
        """``hits`` of the ``n`` sampled contacts not listed, scaled to the tenant's
        contacts not listed with its interval, plus the ``listed`` ones (``present`` of
        them were in the sample)."""
        total = self.samples.positions
        fraction = sample.stop / total
        sampled = n + present
        if sample.stop >= total:
            found = hits + present
            return Estimate(found, found, found, True, sampled, found, sampled, "exact", 1.0)
        counted = sample.counted
        if counted is not None and counted >= sampled:
            population, source = counted, "counter"
        else:
            population, source = (round(sampled / fraction) if fraction else sampled), "sample"
        rest = max(population - listed, n)
        low_share, high_share = wilson_interval(hits, n, rest)
        low = max(hits, math.floor(low_share * rest))
        high = min(rest - (n - hits), math.ceil(high_share * rest))
        estimate = min(max(round(hits / n * rest) if n else 0, low), high)
        return Estimate(estimate + listed, low + listed, high + listed, False, sampled, hits + present,
                        population, source, fraction)

    def _sample(self, tenant_id: str, paths: frozenset[str] | None) -> _Sample:
        """The cached sample with ``paths`` read, reading what is missing."""
        now = self._monotonic()
        with self._lock:
            sample = self._cache.get(tenant_id)
        if sample is not None and now - sample.created >= self.cache_seconds:
            sample = None
        if sample is not None:
            if sample.paths is None or (paths is not None and paths <= sample.paths):
                return sample
            missing = None if paths is None else paths - sample.paths
            columns = self.samples.contacts(tenant_id, 0, sample.stop, missing)
            if {d["contact_id"] for d in columns} == set(sample.docs):
                for column in columns:
                    _merge(sample.docs[column["contact_id"]], column)
                sample.paths = None if missing is None else sample.paths | missing
                return sample
            sample = None  # contacts came or went: read a fresh sample
        sample = self._fresh(tenant_id, paths, now)
        with self._lock:
            self._cache[tenant_id] = sample
            if len(self._cache) > 256:
                self._cache.pop(next(iter(self._cache)))
        return sample

    def _fresh(self, tenant_id: str, paths: frozenset[str] | None, now: float) -> _Sample:
        """Positions ``[0, stop)`` grown until they hold :attr:`target` contacts."""
        counted = self.samples.count(tenant_id)
        total = self.samples.positions
        if counted is not None and counted <= self.exact_limit:
            stop = total
        elif counted:
            stop = min(total, math.ceil(total * self.target * 1.1 / counted))
        else:
            stop = max(1, total // 64)  # no counter: start small and grow from what is found
        docs: dict[str, ContactDocument] = {}
        start = 0
        for _ in range(self.max_rounds):
            for doc in self.samples.contacts(tenant_id, start, stop, paths):
                docs[doc["contact_id"]] = doc
            start = stop
            if stop >= total or len(docs) >= self.target:
                break
            grow = self.target * 1.2 / len(docs) if docs else 8.0
            stop = min(total, max(stop + 1, math.ceil(stop * grow)))
        return _Sample(start, counted, now, docs, paths)

    def _add_events(
        self, tenant_id: str, sample: _Sample, prefixes: frozenset[str], since: datetime | None
    ) -> None:
        missing = frozenset(p for p in prefixes if not sample.covers(p, since))
        if not missing or not sample.docs:
            return
        found = self.samples.events(tenant_id, 0, sample.stop, since=since, prefixes=missing)
        for prefix in missing:
            sample.events[prefix] = (since, {
                cid: [pair for pair in pairs if event_matches(prefix, str(pair[1].get("name")))]
                for cid, pairs in found.items()
            })

    @staticmethod
    def _events_of(sample: _Sample, contact_id: str, reads: Reads, floor: str) -> list[dict[str, Any]]:
        if reads.lookback is None:
            return []
        picked: dict[str, dict[str, Any]] = {}
        for prefix, (_, per_contact) in sample.events.items():
            if not any(event_matches(prefix, wanted) or event_matches(wanted, prefix)
                       for wanted in reads.events):
                continue
            for sk, event in per_contact.get(contact_id, ()):
                if sk >= floor and any(event_matches(w, str(event.get("name"))) for w in reads.events):
                    picked[sk] = event
        return [picked[sk] for sk in sorted(picked)]


def _merge(target: dict[str, Any], column: Mapping[str, Any]) -> None:
    """Add the values of a projected read to a cached document (maps merge by key)."""
    for name in VIEW_FIELDS:
        value = column.get(name)
        if isinstance(value, dict) and isinstance(target.get(name), dict):
            for key, inner in value.items():
                if isinstance(inner, dict) and isinstance(target[name].get(key), dict):
                    target[name][key].update(inner)
                elif key != "custom" or inner:
                    target[name][key] = inner
        elif value:
            target[name] = value
