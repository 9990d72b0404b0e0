"""The tracker expects a departure of the efficiency from its prior to fade (`horizon`): a slow or a quick
spell ends; the longer it has lasted, the longer it is expected to go on.  Not in a run whose predictor
started without knowing every account (`settled`)."""

from __future__ import annotations

import math
import time

import pytest

from tgfetch.learning.eta import REVERT, Eta, EtaTracker, horizon, settled
from tgfetch.learning.predictor import Predictor
from tgfetch.learning.samples import Sample

MB = 1_000_000


@pytest.mark.parametrize("work,efficiency,revert", [(100.0, 0.5, 10.0), (2.0, 0.5, 10.0), (30.0, 1.6, 5.0),
                                                    (50.0, 0.2, 40.0), (10.0, 1.0, 10.0)])
def test_horizon_does_the_work_at_an_efficiency_fading_to_the_prior(work: float, efficiency: float,
                                                                     revert: float) -> None:
    t = horizon(work, efficiency, 1.0, revert)
    done = t + (efficiency - 1.0) * revert * (1 - math.exp(-t / revert))  # the efficiency's integral
    assert done == pytest.approx(work, rel=1e-6)
    assert min(work, work / efficiency) - 1e-9 <= t <= max(work, work / efficiency) + 1e-9


def test_a_short_job_left_runs_at_the_efficiency_now_a_long_one_at_the_prior() -> None:
    assert horizon(1.0, 0.5) == pytest.approx(2.0, rel=0.1)  # well within the spell: at half speed
    assert horizon(1000.0, 0.5) == pytest.approx(1000.0 + 0.5 * REVERT, rel=1e-3)  # the spell's cost only
    assert horizon(0.0, 0.5) == 0.0


def _slow_then(tracker: EtaTracker, slow_s: float) -> Eta:
    """`slow_s` seconds at half the predicted 2 MB/s after 10 s at it; the estimate then."""
    left, now = 400 * MB, 0.0
    while now < 10.0 + slow_s:
        tracker.correct(now, Eta(left / 2e6, 0.0, 0.0, {"pooled": left / 2e6}), left, True)
        left -= int((2e6 if now < 10.0 else 1e6) * 0.5)
        now += 0.5
    return tracker.correct(now, Eta(left / 2e6, 0.0, 0.0, {"pooled": 100.0}), left, True)


def test_a_slowdown_is_expected_to_pass_the_later_the_longer_it_lasted() -> None:
    fresh, old = _slow_then(EtaTracker(0.0), 15.0), _slow_then(EtaTracker(0.0), 40.0)  # younger, older than REVERT
    for got in (fresh, old):
        e = got.detail["efficiency"]
        assert e < 0.8
        assert 100.0 < got.seconds < 100.0 / e  # slower than predicted, but not to the end
    assert _kept(old) > _kept(fresh)  # the old spell is expected to last longer


def _kept(got: Eta) -> float:
    """The share of the slowdown to the end (pooled seconds over the efficiency) the estimate keeps."""
    return (got.seconds - 100.0) / (100.0 / got.detail["efficiency"] - 100.0)


def test_without_fade_the_efficiency_stays_to_the_end() -> None:
    """A run whose predictor knew nothing of some account: the efficiency is also the predictor's level."""
    got = _slow_then(EtaTracker(0.0, fade=False), 6.0)
    assert got.seconds == pytest.approx(100.0 / got.detail["efficiency"])


def test_settled_once_every_account_was_learned() -> None:
    p = Predictor()
    assert not settled(p, ["a", "b"])
    for name in ("a", "b"):
        p.observe(Sample(name, 2 * MB, 2, 1.0, time.time() - 60, 1.0, 12.0, account_bytes=2 * MB))
    assert settled(p, ["a", "b"]) and not settled(p, ["a", "b", "c"])
