"""On the drifting profile, a real simulated job: the new ETA is nearer the truth at half-way than today's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from learnsim import Job, Probe, run_profiled, state_db  # noqa: E402

from tgfetch.learning.predictor import Predictor  # noqa: E402
from tgfetch.telegram.simulator.profiles import ProfileClock  # noqa: E402


def _errors_around(p: Probe, lo: float, hi: float) -> tuple[float, float]:
    """Mean |estimate - truth| / truth of the new and today's estimates between fractions lo and hi."""
    total = p.ended - p.started
    near = [s for s in p.snapshots if lo <= (s.at - p.started) / total <= hi]
    assert len(near) >= 3
    new = sum(abs(s.new.seconds - (p.ended - s.at)) / (p.ended - s.at) for s in near) / len(near)
    old = sum(abs(s.old - (p.ended - s.at)) / (p.ended - s.at) for s in near) / len(near)
    return new, old


@pytest.mark.slow
async def test_new_eta_beats_todays_at_half_way_on_the_drifting_profile(tmp_path: Path) -> None:
    """A first run learns (both estimators: the predictor its files, today's the speeds in the state DB);
    the second is measured, as in bench/eta.py's warm runs."""
    job = Job(seed=6, messages=300, size_scale=0.12)
    clock, predictor = ProfileClock(day_seconds=600.0, start_hour=6.0), Predictor()
    await run_profiled(job, "drifting", tmp_path / "first", clock=clock, predictor=predictor, probe=False)
    report, probe, applied = await run_profiled(job, "drifting", tmp_path / "job", clock=clock, predictor=predictor,
                                                state=state_db(tmp_path / "first"))
    assert report.ok and applied.log is not None and len(applied.log.traces) >= len(report.files) * 0.9
    assert predictor.samples > len(report.files)
    new, old = _errors_around(probe, 0.4, 0.6)
    assert new < old, (new, old, probe.ended - probe.started)
