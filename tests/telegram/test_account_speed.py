"""The live speed an account reports to the scheduler, on a fake clock."""

from __future__ import annotations

import pytest

from tgfetch.telegram import account as account_module
from tgfetch.telegram.account import Account
from tgfetch.telegram.simulator import SimulatedTelegram

PART = 512 * 1024


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(account_module.time, "monotonic", lambda: now[0])
    return now


def test_speed_is_counted_from_the_first_answer(clock: list[float]) -> None:
    """Three 512 KiB requests share 1 MiB/s: the first answer comes after 1.5 s, then one every
    0.5 s.  Counting from the start would report half the speed for a long while."""
    acc = Account("x", SimulatedTelegram(seed=1, messages=5).client("x"))
    assert acc.speed_estimate(123.0) == 123.0 and acc.steady_busy == 0.0
    for _ in range(3):
        acc._net_enter()
    clock[0] += 1.5
    acc._net_exit(PART)
    assert acc.steady_busy == 0.0
    for _ in range(4):  # the pipeline stays full: each answer is replaced by a new request
        acc._net_enter()
        clock[0] += 0.5
        acc._net_exit(PART)
    assert acc.steady_busy == pytest.approx(2.0)
    assert acc.speed_estimate(1.0) == pytest.approx(1024 * 1024)
    assert acc.throughput == pytest.approx(5 * PART / 3.5)  # the whole run's average, saved for the next plan


def test_idle_time_is_not_counted(clock: list[float]) -> None:
    acc = Account("x", SimulatedTelegram(seed=1, messages=5).client("x"))
    acc._net_enter()
    clock[0] += 0.5
    acc._net_exit(PART)
    clock[0] += 10.0  # nothing in flight
    acc._net_enter()
    clock[0] += 0.5
    acc._net_exit(PART)
    assert acc.net_busy == pytest.approx(1.0) and acc.steady_busy == pytest.approx(0.5)
    assert acc.speed_estimate(1.0) == pytest.approx(PART / 0.5)
