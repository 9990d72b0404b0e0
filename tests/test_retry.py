"""The retry policy: waits, limits, which errors are retried, stopping a wait."""

from __future__ import annotations

import asyncio

import pytest

from tgfetch.retry import FILE_RETRY, REDIS_CALL_RETRY, REDIS_OUTAGE_RETRY, RPC_RETRY, SCAN_RETRY, RetryPolicy

TINY = RetryPolicy(attempts=4, base=0.001, cap=0.002)
"""Real waits, short enough not to slow the suite."""


class Flaky:
    """A call that raises the given errors in turn, then returns its call number."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.raised: list[BaseException] = []

    async def __call__(self) -> int:
        self.calls += 1
        if self.errors:
            exc = self.errors.pop(0)
            self.raised.append(exc)
            raise exc
        return self.calls


def test_delays_grow_by_the_factor_up_to_the_cap() -> None:
    p = RetryPolicy(attempts=None, base=0.1, cap=1.0)
    assert [p.delay(i) for i in range(7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    p3 = RetryPolicy(attempts=None, base=1.0, cap=50.0, factor=3.0)
    assert [p3.delay(i) for i in range(5)] == pytest.approx([1.0, 3.0, 9.0, 27.0, 50.0])
    assert RetryPolicy(attempts=1, base=0.5, cap=0.5, factor=1.0).delay(10) == 0.5


def test_delay_of_a_very_late_attempt_is_the_cap() -> None:
    # An unlimited loop hours into an outage: factor**attempt overflows a float.
    assert REDIS_OUTAGE_RETRY.delay(100_000) == REDIS_OUTAGE_RETRY.cap
    assert RetryPolicy(attempts=None, base=1, cap=7, factor=2).delay(100_000) == 7  # ints too


def test_named_policies_keep_the_numbers_of_the_loops_they_replace() -> None:
    for i in range(12):
        assert RPC_RETRY.delay(i) == pytest.approx(min(0.2 * 2**i, 5.0))  # Account.retrying, scan batches
        assert SCAN_RETRY.delay(i) == RPC_RETRY.delay(i)
        assert REDIS_OUTAGE_RETRY.delay(i) == pytest.approx(min(0.1 * 2**i, 5.0))  # worker loop
    for failures in range(1, 12):  # a file transfer counts failures from 1
        assert FILE_RETRY.delay(failures - 1) == pytest.approx(min(0.2 * 2**failures, 10.0))
    assert [REDIS_CALL_RETRY.delay(i) for i in range(5)] == pytest.approx([0.2 * 2**i for i in range(5)])
    assert REDIS_CALL_RETRY.attempts == 6
    assert REDIS_OUTAGE_RETRY.attempts is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempts": 0, "base": 0.1, "cap": 1.0},
        {"attempts": 1, "base": -0.1, "cap": 1.0},
        {"attempts": 1, "base": 2.0, "cap": 1.0},
        {"attempts": 1, "base": 0.1, "cap": 1.0, "factor": 0.5},
    ],
)
def test_nonsense_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_delay_of_a_negative_attempt_is_rejected() -> None:
    with pytest.raises(ValueError):
        TINY.delay(-1)


def test_with_retries_counts_the_first_attempt_apart() -> None:
    p = RPC_RETRY.with_retries(3)
    assert p.attempts == 4
    assert (p.base, p.cap, p.factor) == (RPC_RETRY.base, RPC_RETRY.cap, RPC_RETRY.factor)
    assert [p.gives_up(n) for n in range(6)] == [False, False, False, False, True, True]
    assert RPC_RETRY.with_retries(0).gives_up(1)
    assert not REDIS_OUTAGE_RETRY.gives_up(10**9)


@pytest.mark.parametrize("k", [1, 2, 4])
async def test_call_that_succeeds_on_attempt_k_returns_its_value(k: int) -> None:
    call = Flaky(*(ConnectionError(f"drop {i}") for i in range(k - 1)))
    seen: list[tuple[int, BaseException]] = []
    assert await TINY.run(call, retry_on=(ConnectionError,), on_retry=lambda a, e: seen.append((a, e))) == k
    assert call.calls == k
    assert seen == list(enumerate(call.raised))


async def test_exhausted_attempts_reraise_the_last_error() -> None:
    call = Flaky(*(TimeoutError(f"try {i}") for i in range(10)))
    seen: list[int] = []
    with pytest.raises(TimeoutError) as info:
        await TINY.run(call, retry_on=(TimeoutError,), on_retry=lambda a, e: seen.append(a))
    assert call.calls == TINY.attempts == 4
    assert info.value is call.raised[-1]
    assert seen == [0, 1, 2]  # no wait (and no "retrying") after the last attempt


async def test_one_attempt_is_no_retry() -> None:
    call = Flaky(OSError("down"))
    with pytest.raises(OSError):
        await TINY.with_retries(0).run(call, retry_on=(OSError,))
    assert call.calls == 1


async def test_other_errors_pass_through_at_once() -> None:
    call = Flaky(KeyError("bug"), ConnectionError("never reached"))
    seen: list[int] = []
    with pytest.raises(KeyError):
        await TINY.run(call, retry_on=(ConnectionError,), on_retry=lambda a, e: seen.append(a))
    assert call.calls == 1
    assert seen == []


async def test_cancellation_is_never_retried() -> None:
    call = Flaky(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await TINY.run(call, retry_on=(Exception,))
    assert call.calls == 1


async def test_subclasses_of_retry_on_are_retried() -> None:
    call = Flaky(ConnectionResetError("reset"), BrokenPipeError("pipe"))
    assert await TINY.run(call, retry_on=(ConnectionError,)) == 3


async def test_sleep_without_stop_waits_and_reports_no_stop() -> None:
    assert await TINY.sleep(0) is False
    assert await TINY.sleep(3, asyncio.Event()) is False


async def test_stop_event_cuts_a_sleep_short() -> None:
    hour = RetryPolicy(attempts=None, base=3600.0, cap=3600.0)
    stop = asyncio.Event()
    task = asyncio.create_task(hour.sleep(0, stop))
    await asyncio.sleep(0)  # the task is now waiting on its hour
    assert not task.done()
    stop.set()
    assert await task is True


async def test_sleep_with_stop_already_set_returns_at_once() -> None:
    stop = asyncio.Event()
    stop.set()
    assert await RetryPolicy(attempts=None, base=3600.0, cap=3600.0).sleep(5, stop) is True
