"""The tracker's interval is never empty and follows how much its estimates move; the floor lets the end
game move a slow account's group in flight; predictions use the files each account has in flight now."""

from __future__ import annotations

import math

import pytest
from test_eta import trained

from tgfetch.learning import eta as eta_module
from tgfetch.learning.eta import Eta, EtaTracker, Remaining, estimate

MB = 1_000_000


def test_the_interval_is_a_real_interval_even_without_an_error_band() -> None:
    p = trained({"a": 2e6, "b": 1e6})
    rem = [Remaining("a", [[(3 * MB, 2)]] * 10), Remaining("b", [[(3 * MB, 2)]] * 10)]
    raw = estimate(rem, p, hour=12.0)
    assert raw.low == pytest.approx(raw.seconds)  # the predictor has no error band: a point
    tracker = EtaTracker(started=0.0)
    for k in range(5):
        got = tracker.update(float(k), rem, p, hour=12.0)
        assert got.low < got.seconds < got.high
        assert got.high / got.seconds >= math.exp(eta_module.MIN_BAND) * 0.999


def test_the_interval_is_real_when_the_floor_decides() -> None:
    p = trained({"a": 2e6, "b": 2e6})
    rem = [Remaining("a", inflight=[[(40 * MB, 2)]]), Remaining("b", [[(MB, 2)]])]
    got = EtaTracker(started=0.0).update(0.0, rem, p, hour=12.0)
    assert got.seconds == pytest.approx(20.0, rel=0.05)  # the floor: 40 MB at 2 MB/s
    assert got.low < got.seconds < got.high


def test_the_interval_widens_when_the_estimates_move() -> None:
    steady, jumpy = EtaTracker(started=0.0), EtaTracker(started=0.0)
    for k in range(20):
        left = 100 - 4 * k
        steady.correct(float(k), Eta(float(left) / 4, 0.0, 0.0, {"pooled": left / 4}), left * MB, True)
        wobble = 1.4 if k % 2 else 0.7  # the predicted finish jumps back and forth
        last = jumpy.correct(float(k), Eta(left / 4 * wobble, 0.0, 0.0, {"pooled": left / 4 * wobble}),
                             left * MB, True)
    calm = steady.correct(20.0, Eta(5.0, 0.0, 0.0, {"pooled": 5.0}), 20 * MB, True)
    assert calm.detail["band"] == pytest.approx(eta_module.MIN_BAND)
    assert last.detail["band"] > 3 * eta_module.MIN_BAND
    assert last.high / last.seconds > calm.high / calm.seconds


def test_a_slow_accounts_group_in_flight_can_be_taken_over() -> None:
    """The end game hands a slow account's group in flight to a quicker idle one: the floor is the
    quicker account's time, not the slow one's."""
    p = trained({"slow": 0.5e6, "fast": 4e6})
    rem = [Remaining("slow", inflight=[[(40 * MB, 2)]]), Remaining("fast", [[(MB, 2)]])]
    got = estimate(rem, p, hour=12.0)
    assert got.detail["floor"] == pytest.approx(10.0, rel=0.2)  # 40 MB at 4 MB/s, not 80 s at 0.5 MB/s
    alone = estimate([Remaining("slow", inflight=[[(40 * MB, 2)]])], p, hour=12.0)
    assert alone.seconds == pytest.approx(80.0, rel=0.05)  # nobody to take it over


def test_predictions_use_the_files_in_flight_now() -> None:
    p = trained({"a": 2e6})
    busy = Remaining("a", inflight=[[(MB, 2)]] * 3, copies=[[(MB, 2)]])
    assert eta_module._concurrency(p, busy) == 4.0
    assert eta_module._concurrency(p, Remaining("a", [[(MB, 2)]])) == pytest.approx(p.concurrency("a"))


def _slowdown(tracker: EtaTracker, slow_s: float) -> tuple[int, float]:
    """30 s at the predicted 2 MB/s, then `slow_s` s at 1 MB/s: (bytes left, now)."""
    left, now = 400 * MB, 0.0
    while now < 30.0 + slow_s:
        tracker.correct(now, Eta(left / 2e6, 0.0, 0.0, {"pooled": left / 2e6}), left, True)
        left -= int((2e6 if now < 30.0 else 1e6) * 0.5)
        now += 0.5
    return left, now


def test_the_efficiency_follows_a_slowdown_sooner_than_the_whole_runs_mean() -> None:
    """A run that learns the predictor's level as it goes (``fade`` False): after 20 s at half the
    predicted speed the whole run's mean is 0.8, the recent 0.5."""
    tracker = EtaTracker(started=0.0, fade=False)
    _slowdown(tracker, 20.0)
    assert 0.45 < tracker.efficiency < 0.7


def test_a_warm_runs_efficiency_remembers_longer_but_follows_a_long_slowdown() -> None:
    """A warm run (the efficiency a departure from a known level): after 40 s at half speed it is under
    the whole run's mean (50 / 70 = 0.71), above a cold run's; the estimate is slower, not to the end."""
    cold, warm = EtaTracker(started=0.0, fade=False), EtaTracker(started=0.0)
    _slowdown(cold, 40.0)
    left, now = _slowdown(warm, 40.0)
    assert cold.efficiency < warm.efficiency < 50 / 70
    got = warm.correct(now, Eta(left / 2e6, 0.0, 0.0, {"pooled": left / 2e6}), left, True).seconds
    assert left / 2e6 * 1.03 < got < left / 2e6 / warm.efficiency  # slower, but not to the end
