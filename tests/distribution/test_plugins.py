"""Strategy plugins: CUSTOM_STRATEGY and `tgfetch.strategies` entry points, from the CLI and the library."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from distribution_helpers import RoundRobin, channel, distributor, settings

from tgfetch.distribution import TaskDistributor
from tgfetch.errors import ConfigError, UsageError
from tgfetch.model import ClientAssignment, DistributionMode

PLUGIN = '''
import logging

from tgfetch import ClientAssignment, TaskDistributionStrategy


class MyStrategy(TaskDistributionStrategy):
    """Deal whole groups to the clients in turn, and say so."""

    async def distribute_tasks(self, message_collection, client_names):
        logging.getLogger("tgfetch.plugmod").warning("plugmod.MyStrategy dealt %d groups", len(message_collection))
        out = [ClientAssignment(name) for name in client_names]
        for i, group in enumerate(message_collection.groups):
            out[i % len(out)].message_groups.append(group)
        return out

    def get_strategy_info(self):
        return {"name": "PlugRoundRobin", "description": "whole groups dealt in turn"}


class Abstract(TaskDistributionStrategy):
    def get_strategy_info(self):
        return {"name": "Abstract", "description": "no distribute_tasks"}


NOT_A_CLASS = 3
'''


def write_plugin(root: Path, entry_points: dict[str, str] | None = None) -> Path:
    """Write `plugmod.py` (and, with entry points, an installed-looking dist-info) under root."""
    (root / "plugmod.py").write_text(PLUGIN)
    if entry_points is not None:
        info = root / "tgfetch_plugin-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tgfetch_plugin\nVersion: 0.1\n")
        lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
        (info / "entry_points.txt").write_text(f"[tgfetch.strategies]\n{lines}")
    return root


@pytest.fixture
def importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Put tmp_path on sys.path for this test only, and forget `plugmod` afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("plugmod", None)


def plan(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m tgfetch plan --simulate` with root on PYTHONPATH."""
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    full = {**os.environ, "PYTHONPATH": path, **env}
    argv = [sys.executable, "-m", "tgfetch", "plan", "--simulate", "--sim-messages", "40", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=full, cwd=root, timeout=120)


@pytest.mark.parametrize("mode", ["custom", "roundrobin"])
def test_entry_point_plugin_plans_from_the_cli(tmp_path: Path, mode: str) -> None:
    root = write_plugin(tmp_path, {mode: "plugmod:MyStrategy"})
    out = plan(root, "--mode", mode)
    assert out.returncode == 0, out.stderr
    assert f"plan: {mode} by" in out.stdout
    assert "plugmod.MyStrategy dealt" in out.stderr


def test_custom_strategy_setting_plans_from_the_cli(tmp_path: Path) -> None:
    root = write_plugin(tmp_path)
    out = plan(root, "--mode", "custom", CUSTOM_STRATEGY="plugmod:MyStrategy")
    assert out.returncode == 0, out.stderr
    assert "plan: custom by" in out.stdout
    assert "plugmod.MyStrategy dealt" in out.stderr


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("plugmod", "not of the form module:Class"),
        ("nomod:MyStrategy", "no module named 'nomod'"),
        ("plugmod:Missing", "has no attribute 'Missing'"),
        ("plugmod:NOT_A_CLASS", "not a TaskDistributionStrategy subclass"),
        ("plugmod:ClientAssignment", "not a TaskDistributionStrategy subclass"),
        ("plugmod:Abstract", "does not implement distribute_tasks"),
    ],
)
def test_bad_custom_strategy_exits_2_with_one_line(tmp_path: Path, value: str, why: str) -> None:
    out = plan(write_plugin(tmp_path), "--mode", "custom", CUSTOM_STRATEGY=value)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert f"CUSTOM_STRATEGY={value!r}" in lines[0] and why in lines[0] and "expected module:Class" in lines[0]


def test_bad_entry_point_exits_2_naming_it(tmp_path: Path) -> None:
    out = plan(write_plugin(tmp_path, {"broken": "plugmod:Missing"}), "--mode", "broken")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "entry point broken='plugmod:Missing'" in lines[0] and "tgfetch_plugin" in lines[0]
    assert "has no attribute 'Missing'" in lines[0]


def test_unknown_mode_lists_the_installed_plugins(tmp_path: Path) -> None:
    out = plan(write_plugin(tmp_path, {"roundrobin": "plugmod:MyStrategy"}), "--mode", "bogus")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "TASK_DISTRIBUTION_MODE='bogus'" in lines[0]
    assert "media_group_aware" in lines[0] and "custom" in lines[0] and "roundrobin" in lines[0]


def test_plugins_are_imported_only_when_asked_for(importable: Path) -> None:
    write_plugin(importable, {"broken": "plugmod:Missing", "roundrobin": "plugmod:MyStrategy"})
    d = distributor(custom_strategy="nomod:Nothing")
    assert {"broken", "roundrobin", "custom"} <= set(d.strategy_names)  # listed, not imported
    assert d.strategy_class("media_group_aware").__name__ == "MediaGroupAwareStrategy"
    assert d.strategy_class("roundrobin").__name__ == "MyStrategy"
    with pytest.raises(ConfigError, match="CUSTOM_STRATEGY='nomod:Nothing'") as info:
        d.strategy_class("custom")
    assert info.value.exit_code == 2


def test_register_strategy_beats_the_plugins() -> None:
    d = distributor(custom_strategy="nomod:Nothing")
    d.register_strategy(DistributionMode.CUSTOM, RoundRobin)
    assert d.strategy_class("custom") is RoundRobin


def test_custom_without_any_strategy_says_how_to_add_one() -> None:
    with pytest.raises(UsageError, match="set CUSTOM_STRATEGY=module:Class"):
        distributor().strategy_class("custom")


def test_config_accepts_custom_and_checks_the_shape() -> None:
    assert settings(task_distribution_mode="custom").task_distribution_mode == "custom"
    assert settings(custom_strategy=" pkg.mod:Outer.Inner ").custom_strategy == "pkg.mod:Outer.Inner"
    from tgfetch.config import load_settings

    with pytest.raises(ConfigError, match="CUSTOM_STRATEGY='pkg.mod'"):
        load_settings(env_file=None, custom_strategy="pkg.mod")
    with pytest.raises(ConfigError, match="TASK_DISTRIBUTION_MODE='nope'.*custom"):
        load_settings(env_file=None, task_distribution_mode="nope")


async def test_download_channel_uses_a_registered_strategy(tmp_path: Path) -> None:
    from tgfetch.job import download_channel
    from tgfetch.telegram.simulator import SimulatedTelegram

    sim = SimulatedTelegram(seed=3, messages=30, size_scale=0.01)
    d = TaskDistributor(settings())
    d.register_strategy("custom", RoundRobin)
    job_settings = settings(task_distribution_mode="custom", download_dir=tmp_path / "dl")
    clients = {"a": sim.client("a"), "b": sim.client("b")}
    try:
        report = await download_channel(clients, sim.channel_username, 1, None, tmp_path / "dl", job_settings,
                                         distributor=d)
    finally:
        for c in clients.values():
            await c.disconnect()
    assert report.ok and report.plan is not None
    assert report.plan.strategy == "custom"
    assert report.plan.info["strategy_info"]["name"] == "RoundRobin"


def test_with_settings_keeps_registrations() -> None:
    d = distributor()
    d.register_strategy("mine", RoundRobin)
    other = d.with_settings(settings(max_imbalance_ratio=0.9))
    assert other.strategy_class("mine") is RoundRobin and other.settings.max_imbalance_ratio == 0.9


def test_readme_extension_api_blocks_run(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Extension API", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```python\n")[1:]]
    assert blocks
    for block in blocks:
        script = tmp_path / "block.py"
        script.write_text(textwrap.dedent(block))
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                             timeout=120)
        assert out.returncode == 0, out.stderr


async def test_plan_metric_is_custom_with_a_load_calculator() -> None:
    from rich.console import Console

    from tgfetch.report import plan_table

    def calc(assignment: ClientAssignment) -> float:
        return assignment.total_files * 0.7 + assignment.estimated_size / 2**20 * 0.3

    d = distributor(enable_strategy_comparison=True)
    res = await d.distribute(channel([(3, 10), (1, 2**20), (1, 10)]), ["a", "b"], load_calculator=calc)
    assert res.metric.value == "custom"
    assert {row["metric"] for row in res.info["comparison"]} == {"custom"}
    console = Console(record=True, width=200)
    console.print(plan_table(res))
    assert "by custom" in console.export_text()
    plain = await d.distribute(channel([(3, 10), (1, 10)]), ["a", "b"])
    assert plain.metric.value == "file_count"
