"""Per-account server-side state: identity, counters, bandwidth, fault progress."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import random
import time

from .content import derive_int
from .faults import FaultPlan, RuleCounter


class Pacer:
    """Share one account's bandwidth among its concurrent requests (virtual time).

    Each answer reserves `size / bandwidth` seconds after the previous
    reservation, so N concurrent requests each get about 1/N of the rate.
    """

    def __init__(self, bandwidth: float | None) -> None:
        self.bandwidth = bandwidth
        self._next = 0.0

    async def consume(self, nbytes: int) -> None:
        """Sleep until `nbytes` fit into this account's bandwidth."""
        rate = self.bandwidth
        if not rate or nbytes <= 0:
            return
        now = time.monotonic()
        self._next = max(now, self._next) + nbytes / rate
        await asyncio.sleep(self._next - now)


@dataclasses.dataclass
class Account:
    """One simulated Telegram account, shared by every client built for its name."""

    name: str
    seed: int
    plan: FaultPlan
    bandwidth: float | None
    latency: float
    jitter: float = 0.0
    user_id: int = 0
    user_access_hash: int = 0
    channel_access_hash: int = 0
    phone: str = ""
    username: str | None = None  # the account's public username, if it has one
    premium: bool = False  # Telegram Premium (core.telegram.org/api/premium): `user.premium`
    counts: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    rpcs: int = 0
    bytes_served: int = 0
    first_rpc_at: float | None = None
    revoked: bool = False
    deactivated: bool = False
    member: bool = True  # joined the channel: it is in the account's dialogs
    ref_generation: dict[int, int] = dataclasses.field(default_factory=dict)
    file_bytes: dict[int, int] = dataclasses.field(default_factory=dict)
    expired_after_bytes: set[tuple[int, int]] = dataclasses.field(default_factory=set)
    counters: dict[int, RuleCounter] = dataclasses.field(default_factory=dict)
    pacer: Pacer = dataclasses.field(init=False)
    _rtt_rng: random.Random = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.user_id = 100_000 + derive_int("user", self.seed, self.name, bits=30)
        self.user_access_hash = derive_int("user_hash", self.seed, self.name)
        self.channel_access_hash = derive_int("channel_hash", self.seed, self.name)
        self.phone = "999" + str(derive_int("phone", self.seed, self.name) % 10**7).zfill(7)
        self.pacer = Pacer(self.bandwidth)
        self._rtt_rng = random.Random(derive_int("rtt", self.seed, self.name))

    def round_trip(self) -> float:
        """Seconds this RPC spends on the network: `latency`, spread uniformly by ±`jitter` of it."""
        if self.jitter <= 0:
            return self.latency
        return self.latency * self._rtt_rng.uniform(1 - self.jitter, 1 + self.jitter)

    def counter(self, index: int) -> RuleCounter:
        """Return this account's progress on fault rule `index`."""
        found = self.counters.get(index)
        if found is None:
            found = RuleCounter(self.seed, index, self.name, self.plan.rules[index])
            self.counters[index] = found
        return found

    def record_rpc(self, method: str) -> None:
        """Count one RPC of this account and apply scheduled revocations."""
        if self.first_rpc_at is None:
            self.first_rpc_at = time.monotonic()
        self.rpcs += 1
        self.counts[method] += 1
        self.check_scheduled_loss()

    def check_scheduled_loss(self) -> None:
        """Revoke or deactivate the account once a revoke/deactivate rule is due."""
        for _, rule in self.plan.of_kind("revoke", "deactivate"):
            if rule.account != self.name or not self._due(rule.after_s, rule.after_rpcs, rule.after_bytes):
                continue
            if rule.kind == "revoke":
                self.revoked = True
            else:
                self.deactivated = True

    def _due(self, after_s: float | None, after_rpcs: int | None, after_bytes: int | None) -> bool:
        if after_s is not None:
            start = self.first_rpc_at or time.monotonic()
            return time.monotonic() - start >= after_s
        if after_bytes is not None:
            return self.bytes_served >= after_bytes
        # after_rpcs counts completed RPCs: after_rpcs=N lets N RPCs through.
        return self.rpcs > (after_rpcs or 0)

    def file_reference(self, doc_id: int) -> bytes:
        """Return this account's current file reference for a document or photo."""
        return reference_bytes(self.seed, self.name, doc_id, self.ref_generation.get(doc_id, 0))

    def rotate_reference(self, doc_id: int) -> None:
        """Expire this account's current file reference for `doc_id`."""
        self.ref_generation[doc_id] = self.ref_generation.get(doc_id, 0) + 1


def reference_bytes(seed: int, account: str, doc_id: int, generation: int) -> bytes:
    """Return the file reference of generation `generation` for (account, file)."""
    value = derive_int("file_ref", seed, account, doc_id, generation, bits=64)
    return b"\x02" + value.to_bytes(8, "big") + bytes([generation % 256])
