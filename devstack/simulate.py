"""``segments simulate``: realistic activity written into a running local stack.

A new user runs ``make run`` in one terminal and this in another, and within
seconds sees ``ENTER``/``EXIT`` lines appear: orders pull contacts out of
``at_risk``, NPS answers move them between promoters and detractors, email
opens and clicks make them ``engaged``, new sign-ups join ``new_signups``.
Every write goes through the same repositories other GrowthOS modules use, so
the change travels the real path: table -> stream -> pump -> evaluator ->
memberships -> notifier -> EventBridge -> the printer.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from pynamodb.exceptions import PynamoDBException

from growthos_segments.core.timeutil import to_iso
from growthos_segments.infra.keys import CONTACT_SHARDS
from growthos_segments.infra.repos import Repositories, build_repositories
from growthos_segments.infra.settings import Settings

__all__ = ["SimulationError", "Simulator", "simulate"]


class SimulationError(RuntimeError):
    """The stack cannot be reached or has no contacts for the tenant (one readable line)."""


@dataclass
class Simulator:
    """Chooses and writes one realistic change at a time."""

    repos: Repositories
    tenant_id: str
    contact_ids: list[str]
    rng: random.Random

    def step(self, now: datetime) -> str:
        """Write one change; returns a line describing it."""
        actions: list[tuple[Callable[[datetime], str], float]] = [
            (self._order, 0.25),
            (self._email, 0.2),
            (self._nps, 0.15),
            (self._lead, 0.1),
            (self._signup, 0.1),
            (self._referral, 0.08),
            (self._nudge, 0.07),
            (self._sessions, 0.05),
        ]
        action = self.rng.choices([a for a, _ in actions], weights=[w for _, w in actions])[0]
        return action(now)

    def _contact(self) -> str:
        return self.rng.choice(self.contact_ids)

    def _event(self, contact_id: str, name: str, now: datetime, **properties: object) -> None:
        self.repos.events.append(self.tenant_id, contact_id, name, at=now, properties=properties)

    def _order(self, now: datetime) -> str:
        contact_id = self._contact()
        amount = round(self.rng.uniform(19, 320), 2)
        order_id = f"sim-{uuid.uuid4().hex[:10]}"
        self._event(contact_id, "order.completed", now, order_id=order_id, amount=amount, currency="USD")
        return f"{contact_id:<10} order.completed   {amount:.2f} USD"

    def _email(self, now: datetime) -> str:
        contact_id = self._contact()
        device = self.rng.choice(("mobile", "desktop"))
        self._event(contact_id, "email.opened", now, campaign_id="cmp_bf_2026", device=device)
        if self.rng.random() < 0.5:
            self._event(
                contact_id, "email.clicked", now, campaign_id="cmp_bf_2026", device=device, url="/pricing"
            )
            return f"{contact_id:<10} email.opened + email.clicked (cmp_bf_2026)"
        return f"{contact_id:<10} email.opened      (cmp_bf_2026, {device})"

    def _nps(self, now: datetime) -> str:
        contact_id = self._contact()
        nps = self.rng.choices(range(11), weights=(2, 1, 1, 2, 2, 4, 5, 9, 14, 12, 10))[0]
        self.repos.contacts.patch(self.tenant_id, contact_id, scores={"nps": nps}, now=now)
        return f"{contact_id:<10} scores.nps = {nps}"

    def _lead(self, now: datetime) -> str:
        contact_id = self._contact()
        lead = self.rng.randint(0, 100)
        self.repos.contacts.patch(self.tenant_id, contact_id, scores={"lead": lead}, now=now)
        return f"{contact_id:<10} scores.lead = {lead}"

    def _signup(self, now: datetime) -> str:
        contact_id = f"new-{uuid.uuid4().hex[:8]}"
        country = self.rng.choice(("GB", "IE", "US", "DE"))
        self.repos.contacts.put(
            {
                "tenant_id": self.tenant_id,
                "contact_id": contact_id,
                "attributes": {
                    "email": f"{contact_id}@example.com",
                    "plan": "free",
                    "country": country,
                    "signup_date": now.date().isoformat(),
                    "created_at": to_iso(now, "seconds"),
                    "custom": {"interests": ["automation"]},
                },
                "scores": {"lead": self.rng.randint(10, 90)},
                "suppression": {"unsubscribed": False, "bounced": False, "status": "ok"},
                "lists": ["newsletter"],
            },
            now=now,
        )
        self.contact_ids.append(contact_id)
        return f"{contact_id:<10} signed up (free, {country})"

    def _referral(self, now: datetime) -> str:
        contact_id = self._contact()
        self._event(contact_id, "referral.invited", now, referee_id=f"friend-{uuid.uuid4().hex[:6]}")
        return f"{contact_id:<10} referral.invited"

    def _nudge(self, now: datetime) -> str:
        contact_id = self._contact()
        action = self.rng.choice(("shown", "shown", "clicked", "dismissed"))
        self._event(contact_id, f"nudge.{action}", now, nudge_id="upgrade_banner")
        return f"{contact_id:<10} nudge.{action}      (upgrade_banner)"

    def _sessions(self, now: datetime) -> str:
        contact_id = self._contact()
        for _ in range(3):
            self._event(contact_id, "session.started", now)
        return f"{contact_id:<10} session.started x3"


def _contact_sample(repos: Repositories, tenant_id: str, per_shard: int = 200) -> list[str]:
    found: list[str] = []
    for shard in range(CONTACT_SHARDS):
        found.extend(repos.contacts.contact_ids(tenant_id, shard=shard, limit=per_shard).items)
    return found


def _unreachable(settings: Settings, error: Exception, when: str) -> SimulationError:
    cause = getattr(error, "cause", None) or error
    if isinstance(cause, EndpointConnectionError | ConnectionError):
        return SimulationError(
            f"cannot reach the local stack at {settings.endpoint_url} {when}; "
            "is `make run` running (with the same MOTO_PORT)?"
        )
    return SimulationError(f"the local stack at {settings.endpoint_url} refused a request {when}: {cause}")


def simulate(
    settings: Settings,
    tenant_id: str,
    *,
    rate: float,
    count: int | None = None,
    duration: float | None = None,
    seed: int | None = None,
    emit: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Write changes at ``rate`` per second until ``count`` or ``duration``; returns how many."""
    if rate <= 0:
        raise SimulationError("--rate must be positive")
    repos = build_repositories(settings)
    try:
        contact_ids = _contact_sample(repos, tenant_id)
    except (PynamoDBException, ClientError, BotoCoreError) as error:
        raise _unreachable(settings, error, "before the first write") from None
    if not contact_ids:
        raise SimulationError(
            f"tenant {tenant_id!r} has no contacts at {settings.endpoint_url}; is `make run` running "
            f"with the same --prefix ({settings.tables.contacts})?"
        )
    simulator = Simulator(repos, tenant_id, contact_ids, random.Random(seed))
    emit(f"writing ~{rate:g} change(s)/s for tenant {tenant_id} ({len(contact_ids)} contacts); Ctrl-C stops")
    started = clock()
    written = 0
    next_at = started
    while (count is None or written < count) and (duration is None or clock() - started < duration):
        delay = next_at - clock()
        if delay > 0:
            sleep(delay)
        try:
            line = simulator.step(datetime.now(UTC))
        except (PynamoDBException, ClientError, BotoCoreError) as error:
            raise _unreachable(settings, error, f"after {written} write(s)") from None
        written += 1
        emit(f"-> {line}")
        next_at += simulator.rng.expovariate(rate)  # Poisson arrivals: bursts and lulls, like real traffic
    return written
