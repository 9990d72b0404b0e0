"""The CLI as a user runs it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ("download", "plan", "compare", "demo", "login", "coordinator", "worker")


def run(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120)


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, str(ROOT / "main.py"), "--help"],
        [sys.executable, "-m", "tgfetch", "--help"],
        [str(Path(sys.executable).parent / "tgfetch"), "--help"],
    ],
    ids=["main.py", "python -m", "console script"],
)
def test_help_lists_subcommands(argv: list[str]) -> None:
    out = run(argv)
    assert out.returncode == 0, out.stderr
    for name in SUBCOMMANDS:
        assert name in out.stdout


def test_bogus_mode_exits_2_with_the_valid_names(tmp_path: Path) -> None:
    out = run([sys.executable, str(ROOT / "main.py"), "plan"], {"TASK_DISTRIBUTION_MODE": "bogus"}, tmp_path)
    assert out.returncode == 2
    text = out.stdout + out.stderr
    assert "TASK_DISTRIBUTION_MODE" in text and "bogus" in text and "media_group_aware" in text
    assert "Traceback" not in text
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("MAX_IMBALANCE_RATIO", "abc"),
        ("MAX_IMBALANCE_RATIO", "7"),
        ("LOAD_BALANCE_METRIC", "nope"),
        ("GROUPING_BATCH_SIZE", "0"),
        ("GROUPING_BATCH_SIZE", "500"),
        ("GROUPING_TIMEOUT", "-3"),
        ("PREFER_LARGE_GROUPS_FIRST", "maybe"),
    ],
)
def test_bad_setting_exits_2_without_traceback(tmp_path: Path, var: str, value: str) -> None:
    out = run([sys.executable, "-m", "tgfetch", "plan"], {var: value}, tmp_path)
    assert out.returncode == 2
    assert var in out.stderr and value in out.stderr
    assert "Traceback" not in out.stderr


def test_start_after_end_exits_2(tmp_path: Path) -> None:
    out = run([sys.executable, "-m", "tgfetch", "plan", "--start", "9", "--end", "3"], cwd=tmp_path)
    assert out.returncode == 2
    assert "START_MESSAGE_ID" in out.stderr and "END_MESSAGE_ID" in out.stderr


def test_flag_overrides_env(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "tgfetch", "plan", "--batch-size", "0"]
    out = run(argv, {"GROUPING_BATCH_SIZE": "5"}, tmp_path)
    assert out.returncode == 2 and "GROUPING_BATCH_SIZE=0" in out.stderr


def test_seed_test_script_passes(tmp_path: Path) -> None:
    out = run([sys.executable, str(ROOT / "test_media_group_distribution.py")], cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK" in out.stdout and "range_based" in out.stdout


def test_seed_example_plan_names_split_albums(tmp_path: Path) -> None:
    argv = [sys.executable, str(ROOT / "main.py"), "plan", "--simulate", "--sim-messages", "150", "--sim-clients", "3"]
    out = run(argv, {"TASK_DISTRIBUTION_MODE": "range_based"}, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "72006–72155" in out.stdout and "split" in out.stdout
    out = run(argv, {"TASK_DISTRIBUTION_MODE": "media_group_aware"}, tmp_path)
    assert out.returncode == 0 and "albums kept whole: 12 of 12" in out.stdout
