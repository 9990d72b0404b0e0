"""Outlier rejection: impossible samples never reach a model, each with a logged reason."""

from __future__ import annotations

import dataclasses
import logging
import math
import time

import pytest
from learning_helpers import samples

from tgfetch.learning.clean import Cleaner, reject_reason
from tgfetch.learning.predictor import Predictor
from tgfetch.learning.samples import Sample

GOOD = Sample("a", 2_000_000, 2, 3.0, time.time() - 60, 3.0, 10.5)


@pytest.mark.parametrize(("change", "reason"), [
    ({"size": 0}, "empty file"),
    ({"seconds": -1.0}, "bad duration"),
    ({"seconds": math.nan}, "bad duration"),
    ({"seconds": 86_400.0}, "huge duration"),
    ({"size": 10**12, "seconds": 1.0}, "absurd speed"),
    ({"size": 5_000_000, "seconds": 10_000.0, "started": time.time() - 20_000}, "broken network"),
    ({"started": 1_000.0}, "clock jump"),
    ({"started": time.time() + 7200}, "clock jump"),
    ({"concurrency": 0.0}, "bad concurrency"),
    ({"hour": 24.5}, "bad hour"),
])
def test_each_impossible_sample_has_its_reason(change: dict[str, float], reason: str) -> None:
    assert reject_reason(GOOD) is None
    assert reject_reason(dataclasses.replace(GOOD, **change)) == reason


def test_rejections_are_counted_and_logged_without_flooding(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tgfetch.learning")
    c = Cleaner()
    for _ in range(50):
        assert c.check(dataclasses.replace(GOOD, seconds=-1.0)) == "bad duration"
    assert c.rejected["bad duration"] == 50
    lines = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert 1 <= len(lines) <= 3 and "bad duration" in lines[0]


def test_poisoned_samples_do_not_move_the_model() -> None:
    clean, poisoned = Predictor(), Predictor()
    for s in samples(300, seed=1):
        clean.observe(s)
        poisoned.observe(s)
    later = samples(30, seed=2, start=samples(300)[-1].started)
    bad = [dataclasses.replace(s, seconds=s.seconds * 1000) for s in later]
    reasons = {poisoned.observe(s) for s in bad}
    assert reasons <= {"off the model", "broken network", "huge duration"} and None not in reasons
    q = samples(1, seed=3)[0].query
    assert poisoned.predict(q).seconds == pytest.approx(clean.predict(q).seconds, rel=0.02)
