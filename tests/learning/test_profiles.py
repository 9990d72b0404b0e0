"""Speed profiles of simulated accounts: seeded, named, time-scaled, applied through the pacer."""

from __future__ import annotations

import asyncio
import time

import pytest

from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.telegram.simulator.accounts import Part
from tgfetch.telegram.simulator.profiles import (
    PROFILES,
    AccountShape,
    ProfileClock,
    TransferLog,
    apply_profile,
    profile_named,
)


def test_named_profiles_and_an_unknown_name() -> None:
    assert {"steady", "drifting", "daily", "throttled", "realistic"} <= set(PROFILES)
    assert profile_named(" Drifting ").name == "drifting"
    with pytest.raises(ValueError, match="steady"):
        profile_named("nope")


def test_shapes_are_seeded() -> None:
    p = profile_named("realistic")
    a, b, c = AccountShape(p, 7, "x"), AccountShape(p, 7, "x"), AccountShape(p, 8, "x")
    hours = [0.1 * k for k in range(500)]
    assert [a.factor(3, h) for h in hours] == [b.factor(3, h) for h in hours]
    assert [a.factor(3, h) for h in hours] != [c.factor(3, h) for h in hours]


def test_steady_only_the_dc_matters() -> None:
    s = AccountShape(profile_named("steady"), 1, "x")
    assert {s.factor(2, h) for h in (0.0, 5.0, 13.0, 40.0)} == {1.0}
    assert all(0.6 < s.factor(d, 3.0) < 1.0 for d in (1, 3, 4, 5))


def test_daily_curve_is_slowest_at_the_evening_peak() -> None:
    s = AccountShape(profile_named("daily"), 1, "x")
    evening = [s.factor(2, 20.0 + 24 * k) for k in range(5)]
    morning = [s.factor(2, 8.0 + 24 * k) for k in range(5)]
    assert sum(morning) / 5 > 1.5 * sum(evening) / 5


def test_throttled_periods_come_at_their_rate_and_spare_premium() -> None:
    p = profile_named("throttled")
    s = AccountShape(p, 1, "x")
    share = sum(s.throttle(h / 60) < 1 for h in range(60 * 24 * 20)) / (60 * 24 * 20)
    expected = p.throttles_per_day * p.throttle_minutes / (24 * 60)
    assert 0.5 * expected < share < 1.5 * expected
    s.premium = True
    assert all(s.throttle(h / 60) == 1.0 for h in range(60 * 24))


def test_drift_wanders_around_one() -> None:
    s = AccountShape(profile_named("drifting"), 3, "x")
    values = [s.drift(h * 0.25) for h in range(4000)]
    assert 0.8 < sorted(values)[len(values) // 2] < 1.25
    assert max(values) / min(values) > 1.5


def test_clock_compresses_a_day() -> None:
    c = ProfileClock(day_seconds=240.0, start_hour=6.0, epoch=100.0)
    assert c.hour(100.0) == 6.0 and c.hour(110.0) == pytest.approx(7.0) and c.hour(100.0 + 240) == 6.0


def test_transfer_log_one_trace_per_file_with_its_share() -> None:
    log = TransferLog(ProfileClock(epoch=0.0))
    big, small = Part(2, 1, 2 << 20, 0, 1 << 20), Part(3, 2, 4096, 0, 4096)
    log.requested("a", big, 0.0)
    log.requested("a", Part(2, 1, 2 << 20, 1 << 20, 1 << 20), 0.0)
    log.requested("a", small, 0.5)
    log.served("a", big, 0.0, 1.0)
    log.served("a", small, 0.5, 1.1)
    log.served("a", Part(2, 1, 2 << 20, 1 << 20, 1 << 20), 1.0, 2.0)
    first, second = log.traces
    assert (first.doc_id, first.dc, first.size, first.account_bytes) == (2, 3, 4096, 4096 + (1 << 20))
    assert first.concurrency == pytest.approx(2.0)
    assert (second.doc_id, second.size, second.seconds) == (1, 2 << 20, 2.0)
    assert second.concurrency == pytest.approx((0.5 * 1 + 0.6 * 2 + 0.9 * 1) / 2.0)


async def test_a_profile_slows_the_pacer_and_logs_the_file() -> None:
    sim = SimulatedTelegram(seed=1, messages=50, encrypt=False)
    name = "acc"
    sim.client(name, bandwidth=8e6)
    applied = apply_profile(sim, "throttled", [name], log=True)
    shape = applied.shapes[name]
    hours = next(h / 10 for h in range(100, 10_000) if shape.throttle(h / 10) < 1 and shape.throttle(h / 10 + 0.1) < 1)
    applied.clock.epoch = time.monotonic() - (hours - applied.clock.start_hour) / applied.clock.hours_per_second
    pacer = sim.account(name).pacer
    t0 = time.monotonic()
    await asyncio.gather(*(pacer.consume(1 << 19, Part(2, 9, 1 << 20, k << 19, 1 << 19)) for k in range(2)))
    took = time.monotonic() - t0
    expect = (1 << 20) / applied.rate(name)
    assert took == pytest.approx(expect, rel=0.3) and took > 2 * (1 << 20) / 8e6
    assert [t.doc_id for t in applied.log.traces] == [9] if applied.log else False
