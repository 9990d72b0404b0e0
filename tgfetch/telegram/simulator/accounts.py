"""Per-account server-side state: identity, counters, bandwidth, fault progress."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import random
import time
from collections.abc import Iterator
from typing import Protocol

from .content import derive_int
from .faults import FaultPlan, RuleCounter

LARGE_FILE = 20 << 20  # from this size on a file is in the large download queue (core.telegram.org/api/files)


@dataclasses.dataclass(frozen=True)
class Part:
    """One getFile answer as the pacer sees it (what a `PaceHook` is told)."""

    dc: int
    doc_id: int
    size: int  # the whole file's bytes
    offset: int
    nbytes: int


class PaceHook(Protocol):
    """Shapes an account's rate per answer and hears of each answer served (`profiles`)."""

    def rate(self, base: float, part: Part, active: int, now: float) -> float: ...
    def served(self, part: Part, start: float, end: float) -> None: ...


class Pacer:
    """Share one account's bandwidth among its concurrent requests (virtual time).

    Each answer reserves `size / bandwidth` seconds after the previous
    reservation, so N concurrent requests each get about 1/N of the rate.
    A `hook` (a speed profile) may change the rate of each answer from its DC,
    the requests already being paced (`active`) and the time.
    """

    def __init__(self, bandwidth: float | None) -> None:
        self.bandwidth = bandwidth
        self.hook: PaceHook | None = None
        self._next = 0.0
        self._active = 0

    async def consume(self, nbytes: int, part: Part | None = None) -> None:
        """Sleep until `nbytes` fit into this account's bandwidth."""
        rate = self.bandwidth
        if not rate or nbytes <= 0:
            return
        now = time.monotonic()
        hook = self.hook if part is not None else None
        if hook is not None and part is not None:
            rate = hook.rate(rate, part, self._active, now)
        self._next = max(now, self._next) + nbytes / rate
        self._active += 1
        try:
            await asyncio.sleep(self._next - now)
        finally:
            self._active -= 1
        if hook is not None and part is not None:
            hook.served(part, now, time.monotonic())


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
    # Files with a getFile being answered now (key 0: all; a DC: its large files), and the most at once:
    # what the server sees of a client's download queues (core.telegram.org/api/files; large: LARGE_FILE).
    in_flight: dict[int, collections.Counter[int]] = dataclasses.field(default_factory=dict)
    peak_files: int = 0
    peak_large_files: int = 0  # the most files of LARGE_FILE bytes or more at once on one DC
    pacer: Pacer = dataclasses.field(init=False)
    _rtt_rng: random.Random = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.user_id = 100_000 + derive_int("user", self.seed, self.name, bits=30)
        self.user_access_hash = derive_int("user_hash", self.seed, self.name)
        self.channel_access_hash = derive_int("channel_hash", self.seed, self.name)
        self.phone = "999" + str(derive_int("phone", self.seed, self.name) % 10**7).zfill(7)
        self.pacer = Pacer(self.bandwidth)
        self._rtt_rng = random.Random(derive_int("rtt", self.seed, self.name))

    @contextlib.contextmanager
    def serving(self, doc_id: int, dc_id: int, size: int) -> Iterator[None]:
        """Count a getFile of `doc_id` as in flight while it is answered."""
        queues = [self.in_flight.setdefault(0, collections.Counter())]
        if size >= LARGE_FILE:
            queues.append(self.in_flight.setdefault(dc_id, collections.Counter()))  # large files by DC
        for q in queues:
            q[doc_id] += 1
        self.peak_files = max(self.peak_files, len(queues[0]))
        self.peak_large_files = max(self.peak_large_files, len(queues[-1]) if len(queues) > 1 else 0)
        try:
            yield
        finally:
            for q in queues:
                q[doc_id] -= 1
                if q[doc_id] <= 0:
                    del q[doc_id]

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
