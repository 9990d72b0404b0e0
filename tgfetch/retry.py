"""One retry/back-off policy for every retry loop (Telegram RPCs, file transfers, Redis).

A `RetryPolicy` says how often to try and how long to wait between tries: the wait
after failed attempt `n` (0-based) is `base * factor**n`, capped at `cap`. Loops that
only "call until it works" use `run`; loops with their own logic (a download counts
only failures without progress; a worker's loop waits on its stop event) keep their
own attempt counter and use `delay`, `sleep` and `gives_up`.

No jitter: each loop retries its own connection (one Telegram account, one worker's
Redis client, whose connection retries already jitter), so there is no herd to spread,
and deterministic waits keep tests and logs reproducible.

This module sits below `tgfetch.telegram` and `tgfetch.cluster`: it must not import
telethon or redis; callers pass the exception types to retry on.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tgfetch.aio import wait_event

__all__ = [
    "FILE_RETRY",
    "REDIS_CALL_RETRY",
    "REDIS_OUTAGE_RETRY",
    "RPC_RETRY",
    "SCAN_RETRY",
    "RetryPolicy",
]

T = TypeVar("T")

OnRetry = Callable[[int, BaseException], object]
"""Called before each wait with the 0-based number of the failed attempt and its error."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts to make and how long to wait after each failed one."""

    attempts: int | None
    """Calls in all, the first included; None: no limit (the loop must stop some other way)."""
    base: float
    """Seconds to wait after the first failure."""
    cap: float
    """Longest wait, in seconds."""
    factor: float = 2.0
    """Each further wait is this many times the previous one, up to `cap`."""

    def __post_init__(self) -> None:
        """Reject policies that would never call, shrink their waits or wait negative time."""
        if self.attempts is not None and self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")
        if self.base < 0 or self.cap < self.base:
            raise ValueError(f"need 0 <= base <= cap, not base={self.base} cap={self.cap}")
        if self.factor < 1:
            raise ValueError(f"factor must be at least 1, not {self.factor}")

    def with_retries(self, retries: int) -> RetryPolicy:
        """Return this policy with `retries` retries after the first attempt."""
        return dataclasses.replace(self, attempts=retries + 1)

    def delay(self, attempt: int) -> float:
        """Return the seconds to wait after failed attempt `attempt` (0-based)."""
        if attempt < 0:
            raise ValueError(f"attempt must be at least 0, not {attempt}")
        try:
            return min(self.base * self.factor**attempt, self.cap)
        except OverflowError:  # a loop without a limit, hours into an outage
            return self.cap

    def gives_up(self, failures: int) -> bool:
        """Tell whether `failures` failed attempts use up every attempt."""
        return self.attempts is not None and failures >= self.attempts

    async def sleep(self, attempt: int, stop: asyncio.Event | None = None) -> bool:
        """Wait `delay(attempt)` seconds, less if `stop` is set; return whether it was set."""
        seconds = self.delay(attempt)
        if stop is None:
            await asyncio.sleep(seconds)
            return False
        return await wait_event(stop, seconds)

    async def run(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        retry_on: tuple[type[BaseException], ...],
        on_retry: OnRetry | None = None,
    ) -> T:
        """Await `call()` until it returns, retrying `retry_on` errors; re-raise the last one when out of attempts."""
        attempt = 0
        while True:
            try:
                return await call()
            except retry_on as exc:
                if self.gives_up(attempt + 1):
                    raise
                if on_retry is not None:
                    on_retry(attempt, exc)
                await self.sleep(attempt)
            attempt += 1


# The attempts of the first three are defaults: callers set them from the settings
# (`with_retries(max_retries)` and the like).

RPC_RETRY = RetryPolicy(attempts=4, base=0.2, cap=5.0)
"""A Telegram call that failed for a transient reason (dropped connection, timeout): 0.2, 0.4 … 5 s."""

SCAN_RETRY = RPC_RETRY
"""One scan batch (getMessages of up to GROUPING_BATCH_SIZE ids); GROUPING_MAX_RETRIES sets the retries."""

FILE_RETRY = RetryPolicy(attempts=6, base=0.4, cap=10.0)
"""A file transfer that fails without progress: 0.4, 0.8 … 10 s; MAX_FILE_RETRIES sets the retries."""

REDIS_CALL_RETRY = RetryPolicy(attempts=6, base=0.2, cap=5.0)
"""An idempotent queue call that must land (complete, release): 6 calls over 6.2 s of waits."""

REDIS_OUTAGE_RETRY = RetryPolicy(attempts=None, base=0.1, cap=5.0)
"""A worker's loop while Redis is unreachable: 0.1, 0.2 … 5 s, until Redis is back or stop is set."""
