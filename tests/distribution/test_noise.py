"""What a plan logs: each line once, and only news above DEBUG (so --quiet can hide it)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from distribution_helpers import RoundRobin, channel, distributor, random_channel


def said(caplog: pytest.LogCaptureFixture, text: str) -> list[int]:
    """Return the level of every captured record that contains text."""
    return [r.levelno for r in caplog.records if text in r.getMessage()]


def run_plan(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m tgfetch plan --simulate` in an empty folder."""
    argv = [sys.executable, "-m", "tgfetch", "plan", "--simulate", *args]
    return subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **env}, cwd=tmp_path, timeout=120)


async def test_recommendation_is_info_only_when_it_differs(caplog: pytest.LogCaptureFixture) -> None:
    singles = channel([(1, 10)] * 6)  # no albums: range_based is recommended
    with caplog.at_level(logging.DEBUG, logger="tgfetch.distribution"):
        await distributor(task_distribution_mode="range_based").distribute(singles, ["a", "b"])
    assert said(caplog, "recommended strategy") == [logging.DEBUG]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tgfetch.distribution"):
        res = await distributor().distribute(singles, ["a", "b"])
    assert said(caplog, "recommended strategy: range_based") == [logging.INFO]
    assert res.strategy in said_text(caplog, "recommended strategy")


def said_text(caplog: pytest.LogCaptureFixture, text: str) -> str:
    """Return the messages of the captured records that contain text."""
    return "\n".join(r.getMessage() for r in caplog.records if text in r.getMessage())


async def test_small_channel_imbalance_is_a_plan_warning_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    two_files = channel([(1, 10), (1, 10)])  # 3 clients: one must stay idle
    with caplog.at_level(logging.DEBUG, logger="tgfetch.distribution"):
        res = await distributor().distribute(two_files, ["a", "b", "c"])
    # The plan report prints the plan's warnings: a log line too would say it twice.
    assert said(caplog, "exceeds MAX_IMBALANCE_RATIO") == [logging.DEBUG]
    assert res.metrics.warnings == [said_text(caplog, "exceeds MAX_IMBALANCE_RATIO")]
    assert set(said(caplog, "trying")) <= {logging.DEBUG}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_comparison_table_is_left_to_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="tgfetch.distribution"):
        res = await distributor(enable_strategy_comparison=True).distribute(random_channel(7, 60), ["a", "b"])
    assert said(caplog, "Strategy comparison") == [logging.DEBUG]
    assert len(res.info["comparison"]) == 3


async def test_an_unused_registration_is_named_once(caplog: pytest.LogCaptureFixture) -> None:
    d = distributor()
    d.register_strategy("custom", RoundRobin)
    coll = random_channel(2, 20)
    with caplog.at_level(logging.INFO, logger="tgfetch.distribution"):
        res = await d.distribute(coll, ["a", "b"])
        assert (await d.distribute(coll, ["a", "b"], mode="custom")).strategy == "custom"
    assert res.strategy == "media_group_aware"
    assert said(caplog, "not custom") == [logging.INFO]
    assert "mode='custom'" in said_text(caplog, "not custom")
    caplog.clear()
    explicit = distributor(task_distribution_mode="media_group_aware", custom_strategy="x:Y")
    explicit.register_strategy("custom", RoundRobin)
    with caplog.at_level(logging.INFO, logger="tgfetch.distribution"):
        await explicit.distribute(coll, ["a", "b"])
        await distributor(custom_strategy="x:Y").distribute(coll, ["a", "b"])
    assert said(caplog, "not custom") == [logging.INFO]  # CUSTOM_STRATEGY set, mode left at its default


def test_cli_comparison_table_printed_once(tmp_path: Path) -> None:
    out = run_plan(tmp_path, ENABLE_STRATEGY_COMPARISON="true")
    assert out.returncode == 0, out.stderr
    assert (out.stdout + out.stderr).count("Strategy comparison") == 1


def test_cli_recommendation_only_when_it_differs(tmp_path: Path) -> None:
    same = run_plan(tmp_path, "--mode", "load_balanced")  # the simulated channel is heavy-tailed
    assert same.returncode == 0, same.stderr
    assert "recommended strategy" not in same.stderr
    other = run_plan(tmp_path, "--mode", "media_group_aware")
    assert other.stderr.count("recommended strategy: load_balanced") == 1


def test_cli_small_channel_logs_nothing_at_warning(tmp_path: Path) -> None:
    info = run_plan(tmp_path, "--sim-messages", "5")
    assert info.returncode == 0, info.stderr
    said_twice = [ln for ln in (info.stdout + info.stderr).splitlines() if "MAX_IMBALANCE_RATIO" in ln]
    assert len(said_twice) == 1 and said_twice[0].startswith("warning:"), said_twice
    quiet = run_plan(tmp_path, "--sim-messages", "5", LOG_LEVEL="WARNING")
    assert quiet.returncode == 0 and "tgfetch.distribution" not in quiet.stderr
