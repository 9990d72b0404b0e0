"""The learned predictions inside a real job: samples, the per-machine history, the estimated finish."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "download"))

from download_helpers import run_job, settings_for  # noqa: E402

from tgfetch.learning.history import History, default_history_path  # noqa: E402
from tgfetch.telegram.simulator import SimulatedTelegram  # noqa: E402


async def test_a_job_learns_its_files_and_reports_its_estimates(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=6, messages=200, first_id=1, size_scale=0.05)
    views: list[Any] = []
    report = await run_job(sim, tmp_path / "dl", bandwidth=4e6, on_start=views.append)
    assert report.ok
    pred = report.to_json()["predictions"]
    fetched = [f for f in report.files if f.linked_from is None]
    assert pred["learning"] == "on" and pred["samples"] + pred["rejected"] == len(fetched)
    assert [p["done"] for p in pred["eta"]] == [0.1, 0.25, 0.5, 0.75]
    for p in pred["eta"]:  # each estimate is scored against the time the round really had left
        assert p["low_s"] <= p["eta_s"] <= p["high_s"] and p["actual_s"] > 0
        rounding = 1e-4 + 1e-3 * (1 + p["error"]) / p["actual_s"]  # the fields are rounded to 3 decimals
        assert abs(p["error"] - abs(p["eta_s"] - p["actual_s"]) / p["actual_s"]) < rounding
    assert views[0].engine.scheduler.forecast is not None  # what the live view and the dashboard show
    path = default_history_path()
    assert str(path).startswith(os.environ["XDG_DATA_HOME"])
    with History.open(path) as history:
        assert len(history.samples()) == pred["samples"]
        (run,) = history.runs()
        assert run.strategy == report.strategy and run.makespan > 0 and 0 < run.reward <= 1


async def test_learning_off_reads_and_writes_no_history(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=6, messages=60, first_id=1, size_scale=0.05)
    settings = settings_for(tmp_path / "dl", learning="off")
    report = await run_job(sim, tmp_path / "dl", settings=settings)
    assert report.ok and report.to_json()["predictions"]["learning"] == "off"
    assert not default_history_path().exists()


def _cli(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    import pytest

    from tgfetch.cli import main

    with pytest.raises(SystemExit) as done:
        main(argv)
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


def test_history_command_shows_and_forgets_what_a_job_learned(tmp_path: Path, capsys: Any) -> None:
    code, out, _ = _cli(["history"], capsys)
    assert code == 0 and "nothing learned yet" in out
    sim = ["--simulate", "--sim-messages", "40", "--sim-profile", "drifting", "--quiet", "--dest", str(tmp_path / "dl")]
    assert _cli(["download", *sim], capsys)[0] == 0
    code, out, _ = _cli(["history", "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["samples"] > 0 and summary["runs"] == 1
    assert set(summary["accounts"]) == {"client1", "client2", "client3"}
    code, out, _ = _cli(["history", "--reset"], capsys)
    assert code == 0 and f"forgot {summary['samples']} file samples and 1 runs" in out
    code, out, _ = _cli(["history", "--json"], capsys)
    assert json.loads(out)["samples"] == 0


def test_an_unknown_speed_profile_is_one_line(capsys: Any) -> None:
    code, _, err = _cli(["download", "--simulate", "--sim-profile", "bumpy", "--quiet"], capsys)
    assert code == 2 and "--sim-profile: unknown speed profile 'bumpy'; choose one of steady" in err
