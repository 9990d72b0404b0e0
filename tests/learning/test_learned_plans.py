"""Plans from the per-machine history: per-account file costs (issue 19, item 4) and `auto`'s bandit (item 5)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "download"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from download_helpers import NAMES, run_job, settings_for  # noqa: E402
from learning_helpers import samples  # noqa: E402

from tgfetch.learning.bandit import Arm, choose  # noqa: E402
from tgfetch.learning.history import History, default_history_path  # noqa: E402
from tgfetch.model import TaskDistributionResult  # noqa: E402
from tgfetch.predictions import AUTO_CANDIDATES  # noqa: E402
from tgfetch.telegram.simulator import SimulatedTelegram  # noqa: E402

SLOW, SLOW_DC = "client3", 4


def _learn_slow_dc() -> None:
    """The history knows the three accounts; `SLOW` takes 8 times longer on DC `SLOW_DC`."""
    recorded = []
    for i, name in enumerate(NAMES):
        for s in samples(300, seed=i + 1, account=name, noise=0.05):
            if name == SLOW and s.dc == SLOW_DC:
                s = dataclasses.replace(s, seconds=s.seconds * 8)
            recorded.append(s)
    with History.open(default_history_path()) as history:
        history.add_samples(recorded)


def _slow_dc_bytes(plan: TaskDistributionResult) -> int:
    return sum(m.file_size for g in plan.assignment(SLOW).message_groups for m in g.messages
               if m.has_media and m.dc_id == SLOW_DC)


def _groups(plan: TaskDistributionResult) -> dict[str, str]:
    return {g.group_id: a.client_name for a in plan.client_assignments for g in a.message_groups}


async def _plan_of(sim: SimulatedTelegram, dest: Path, **overrides: Any) -> TaskDistributionResult:
    plans: list[TaskDistributionResult] = []
    settings = settings_for(dest, load_balance_metric="estimated_time", **overrides)
    report = await run_job(sim, dest, settings=settings, on_plan=lambda plan, scan: plans.append(plan))
    assert report.ok
    return plans[0]


async def test_predicted_costs_keep_work_off_an_account_slow_on_one_dc(tmp_path: Path) -> None:
    _learn_slow_dc()
    sim = SimulatedTelegram(seed=6, messages=400, first_id=1, size_scale=0.05)
    speed_plan = await _plan_of(sim, tmp_path / "off", learning="off")  # today's: no history read
    learned = await _plan_of(sim, tmp_path / "on")
    assert "predicted" not in speed_plan.info and learned.info["predicted"]["replanned"]
    assert _groups(learned) != _groups(speed_plan)
    assert _slow_dc_bytes(learned) < 0.5 * _slow_dc_bytes(speed_plan)
    assert learned.metrics.makespan < learned.info["predicted"]["speed_plan_makespan_s"]
    # albums whole: every group once, on one account, and no album split
    assert sorted(_groups(learned)) == sorted(_groups(speed_plan)) and not learned.metrics.albums_split
    assert not learned.metrics.validation_errors


def _cli(argv: list[str], capsys: Any) -> tuple[int, str]:
    from tgfetch.cli import main

    with pytest.raises(SystemExit) as done:
        main(argv)
    return int(done.value.code or 0), capsys.readouterr().out


SIM = ["--simulate", "--sim-messages", "120"]


def test_auto_with_recorded_runs_chooses_by_the_bandit_and_plan_says_why(
        tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASK_DISTRIBUTION_MODE", "auto")
    code, out = _cli(["plan", *SIM], capsys)
    assert code == 0 and "why: auto chose" in out and "by today's rule" in out
    assert _cli(["download", *SIM, "--quiet", "--dest", str(tmp_path / "dl")], capsys)[0] == 0
    code, out = _cli(["plan", *SIM, "--report", str(tmp_path / "plan.json")], capsys)
    assert code == 0 and "by Thompson sampling on ideal/makespan of past runs" in out.replace("\n", " ")
    with History.open(default_history_path()) as history:
        (run,) = history.runs()
    expected = choose(AUTO_CANDIDATES, [(Arm(run.strategy, run.metric), run.reward)],
                      key=f"{run.job}|{','.join(sorted(run.accounts))}").arm
    plan = json.loads((tmp_path / "plan.json").read_text())["plan"]
    assert (plan["strategy"], plan["metric"]) == (expected.strategy, expected.metric)


@pytest.mark.parametrize("mode, metric", [("auto", "file_count"), ("media_group_aware", "estimated_time")])
def test_without_history_plans_are_unchanged(tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch,
                                             mode: str, metric: str) -> None:
    monkeypatch.setenv("TASK_DISTRIBUTION_MODE", mode)
    monkeypatch.setenv("LOAD_BALANCE_METRIC", metric)
    plans = []
    for learning in ("off", "on"):
        monkeypatch.setenv("LEARNING", learning)
        report = tmp_path / f"{learning}.json"
        assert _cli(["plan", *SIM, "--report", str(report)], capsys)[0] == 0
        plans.append(json.loads(report.read_text())["plan"])
    for p in plans:
        p.pop("planning_seconds", None)
        p.pop("info", None)
    assert plans[0] == plans[1]
