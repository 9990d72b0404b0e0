"""The per-file model: deterministic, learns a known law, carries an interval, falls back to the EWMA."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from learning_helpers import law, samples

from tgfetch.learning.ewma import EwmaModel
from tgfetch.learning.predictor import GUARD_WINDOW, Predictor
from tgfetch.learning.robust import RobustModel, huber_fit
from tgfetch.learning.samples import InFlight, Query, Sample


def test_same_samples_give_the_same_predictions() -> None:
    a, b = Predictor(), Predictor()
    for s in samples(400, seed=3):
        a.observe(s)
        b.observe(s)
    queries = [Query("a", 10**k, dc, 3.0) for k in range(4, 9) for dc in (1, 2, 4)]
    assert [a.predict(q) for q in queries] == [b.predict(q) for q in queries]
    assert a.model.coefficients("a") == b.model.coefficients("a")


def test_robust_model_learns_the_dc_law_better_than_the_ewma() -> None:
    train, test = samples(600, seed=1), samples(300, seed=2)
    robust, ewma = RobustModel(), EwmaModel()
    for s in train:
        robust.update(s)
        ewma.update(s)
    truth = np.array([law("a", s.size, s.dc) for s in test])
    err_robust = np.abs(np.array([robust.cost(s.query) for s in test]) - truth).sum() / truth.sum()
    err_ewma = np.abs(np.array([ewma.cost(s.query) for s in test]) - truth).sum() / truth.sum()
    assert err_robust < 0.08
    assert err_robust < err_ewma
    coef = robust.coefficients("a")
    assert coef["DC4"] > coef["DC3"] > 0  # DC 4 costs 1.5 x per byte, DC 3 1.1 x


def test_huber_fit_ignores_a_few_wild_rows() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(200), rng.uniform(1, 10, 200)])
    y = 0.5 + 2.0 * x[:, 1]
    y[:10] *= 20  # stragglers
    theta = huber_fit(x, y, np.ones(200))
    assert theta == pytest.approx([0.5, 2.0], rel=0.1)  # the light ridge pulls a little


def test_prediction_interval_covers_most_new_files() -> None:
    p = Predictor()
    for s in samples(500, seed=4, noise=0.3):
        p.observe(s)
    held = samples(400, seed=5, noise=0.3)
    inside = 0
    for s in held:
        pred = p.predict(s.query)
        assert pred.low <= pred.seconds <= pred.high and pred.source == "model"
        inside += pred.low <= s.seconds <= pred.high
    assert 0.65 <= inside / len(held) <= 0.95  # a 10 %-90 % interval


class Tripled(RobustModel):
    """A model gone wrong: three times the robust fit."""

    def cost(self, q: Query) -> float:
        return 3 * super().cost(q)


def test_a_model_worse_than_the_ewma_falls_back_to_it(caplog: pytest.LogCaptureFixture) -> None:
    p = Predictor(model=Tripled())
    caplog.set_level(logging.INFO, logger="tgfetch.learning")
    for s in samples(300, seed=6):
        p.observe(s)
    assert p.source("a") == "ewma"
    q = Query("a", 5_000_000, 2, 3.0)
    assert p.predict(q).seconds == pytest.approx(p.ewma.predict(q))
    good = Predictor()
    for s in samples(300, seed=6):
        good.observe(s)
    assert good.source("a") == "model"


def test_guard_switches_back_when_the_model_recovers() -> None:
    p = Predictor()
    for s in samples(200, seed=7):
        p.observe(s)
    assert p.source("a") == "model"
    t = p.tracks["a"]
    t.errors.extend([(1.0, 0.1)] * GUARD_WINDOW)  # as if it had done worse lately
    p._guard("a", t)
    assert p.source("a") == "ewma"
    for s in samples(GUARD_WINDOW * 2, seed=8, start=samples(200, seed=7)[-1].started + 10):
        p.observe(s)
    assert p.source("a") == "model"


def test_nothing_learned_is_the_prior_then_the_ewma() -> None:
    p = Predictor()
    assert p.predict(Query("x", 1000)).source == "prior"
    p.observe(Sample("x", 5_000_000, 2, 1.0, samples(1)[0].started, 2.0))
    assert p.predict(Query("x", 1000)).source == "ewma"
    assert p.ewma.rate("x").speed == pytest.approx(5_000_000 / (2.0 - p.ewma.rate("x").overhead), rel=0.05)


def test_in_flight_concurrency_is_a_time_average() -> None:
    f = InFlight()
    a = f.start("acc", now=0.0)
    b = f.start("acc", now=1.0)
    assert f.active("acc") == 2
    assert f.finish(b, now=2.0) == pytest.approx(2.0)
    assert f.finish(a, now=4.0) == pytest.approx((1 * 1 + 2 * 1 + 1 * 2) / 4)
