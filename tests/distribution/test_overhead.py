"""estimated_time with a given (learned) per-file overhead instead of FILE_OVERHEAD_SECONDS."""

from __future__ import annotations

import math
from typing import Any

import pytest
from distribution_helpers import channel, distributor, settings

from tgfetch.distribution import FILE_OVERHEAD_SECONDS, load_calculator_for
from tgfetch.distribution.costs import CostModel
from tgfetch.distribution.validation import measure_plan
from tgfetch.errors import UsageError
from tgfetch.job import plan_scan
from tgfetch.model import ClientAssignment, LoadBalanceMetric, MessageCollection, TaskDistributionResult
from tgfetch.telegram.account import ChannelRef

SPEEDS = {"fast": 10e6, "slow": 1e6}
SMALL, BIG = 200_000, 10_000_000


def photos_and_videos() -> MessageCollection:
    """300 photos of 200 kB (60 MB) and 2 videos of 10 MB (20 MB)."""
    return channel([(1, BIG)] * 2 + [(1, SMALL)] * 300)


async def plan(file_overhead: float | None = None, **kw: Any) -> TaskDistributionResult:
    return await distributor().distribute(
        photos_and_videos(),
        list(SPEEDS),
        mode="load_balanced",
        metric="estimated_time",
        client_speeds=SPEEDS,
        file_overhead=file_overhead,
        **kw,
    )


def byte_share(res: TaskDistributionResult, name: str) -> float:
    total = sum(a.estimated_size for a in res.client_assignments)
    return res.assignment(name).estimated_size / total


def file_share(res: TaskDistributionResult, name: str) -> float:
    total = sum(a.total_files for a in res.client_assignments)
    return res.assignment(name).total_files / total


async def test_zero_overhead_balances_bytes_by_speed_default_balances_file_counts() -> None:
    free = await plan(file_overhead=0.0)
    default = await plan()
    # No per-file cost: bytes go 10:1 (ideal share 10/11 = 91 %).
    assert byte_share(free, "fast") > 0.8
    assert file_share(free, "slow") < 0.15
    assert free.metrics.gap < 0.05
    # 0.5 s per file dwarfs 20 ms per photo: the slow client gets ~40 % of the files and
    # about a third of the bytes.
    assert byte_share(default, "fast") < 0.75
    assert file_share(default, "slow") > 0.35
    assert byte_share(free, "fast") - byte_share(default, "fast") > 0.15


async def test_default_overhead_is_file_overhead_seconds() -> None:
    default = await plan()
    explicit = await plan(file_overhead=FILE_OVERHEAD_SECONDS)
    assert [a.message_ids for a in default.client_assignments] == [a.message_ids for a in explicit.client_assignments]
    assert default.metrics.loads == explicit.metrics.loads
    assert default.metrics.lower_bound == explicit.metrics.lower_bound


@pytest.mark.parametrize("overhead", [0.0, 0.03])
async def test_reported_metrics_use_the_same_overhead(overhead: float) -> None:
    res = await plan(file_overhead=overhead, scanned_by={})
    expected = {
        a.client_name: a.total_files * overhead + a.estimated_size / SPEEDS[a.client_name]
        for a in res.client_assignments
    }
    for name, load in expected.items():
        assert res.metrics.loads[name] == pytest.approx(load, rel=1e-6)
    assert res.metrics.makespan == pytest.approx(max(expected.values()), rel=1e-6)
    coll = photos_and_videos()
    if overhead == 0.0:
        # The fractional bound of uniform machines: all bytes over the summed speed.
        assert res.metrics.lower_bound == pytest.approx(coll.total_size / sum(SPEEDS.values()), rel=1e-6)
    assert res.metrics.gap == pytest.approx(res.metrics.makespan / res.metrics.lower_bound - 1, rel=1e-6)
    # measure_plan, the load calculator and the cost model agree with the distributor.
    again = measure_plan(res.client_assignments, coll, LoadBalanceMetric.ESTIMATED_TIME, SPEEDS, file_overhead=overhead)
    assert again.loads == pytest.approx(res.metrics.loads, rel=1e-9)
    calc = load_calculator_for(LoadBalanceMetric.ESTIMATED_TIME, coll, SPEEDS, file_overhead=overhead)
    for a in res.client_assignments:
        assert calc(a) == pytest.approx(expected[a.client_name], rel=1e-6)
    cost = CostModel.build(coll, list(SPEEDS), LoadBalanceMetric.ESTIMATED_TIME, SPEEDS, file_overhead=overhead)
    assert cost.u == pytest.approx([overhead] * len(coll.groups))


async def test_overhead_without_speeds_and_for_other_metrics() -> None:
    coll = channel([(1, 2**20)] * 4)
    names = ["a", "b"]
    res = await distributor().distribute(coll, names, metric="estimated_time", file_overhead=0.0)
    assert all(x == pytest.approx(2 * 2**20 / (2 * 2**20)) for x in res.metrics.loads.values())
    counted = await distributor().distribute(coll, names, metric="file_count", file_overhead=0.0)
    assert counted.metrics.loads == {"a": 2.0, "b": 2.0}
    only = load_calculator_for(LoadBalanceMetric.ESTIMATED_TIME, coll, file_overhead=0.25)
    assert only(ClientAssignment("a", list(coll.groups))) == pytest.approx(4 * 0.25 + 4 * 2**20 / (2 * 2**20))


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf])
async def test_invalid_overhead_is_refused(bad: float) -> None:
    with pytest.raises(UsageError, match="file_overhead"):
        await plan(file_overhead=bad)
    with pytest.raises(ValueError, match="file_overhead"):
        load_calculator_for(LoadBalanceMetric.ESTIMATED_TIME, photos_and_videos(), file_overhead=bad)


class _Scan:
    """The parts of a ScanResult that plan_scan reads."""

    def __init__(self, collection: MessageCollection) -> None:
        self.collection = collection
        self.scanned_by: dict[int, str] = {}
        self.first_id, self.last_id = 1, len(collection.messages)
        self.channel = ChannelRef(1, "test", "test", "@test")
        self.parts: tuple[object, ...] = ()  # one chat
        self.chat_name = self.channel.key


@pytest.mark.parametrize(
    ("metric", "speeds", "used"),
    [("estimated_time", SPEEDS, True), ("file_count", SPEEDS, False), ("estimated_time", None, False)],
)
async def test_plan_scan_passes_learned_overhead_only_with_learned_speeds(
    metric: str, speeds: dict[str, float] | None, used: bool
) -> None:
    s = settings(load_balance_metric=metric, task_distribution_mode="load_balanced")
    scan: Any = _Scan(photos_and_videos())
    res = await plan_scan(scan, list(SPEEDS), s, speeds, overhead=0.0)
    default = await plan_scan(scan, list(SPEEDS), s, speeds)
    if used:
        assert res.metrics.loads == pytest.approx(
            {a.client_name: a.estimated_size / SPEEDS[a.client_name] for a in res.client_assignments}, rel=1e-6
        )
        assert byte_share(res, "fast") > 0.8
    else:
        assert res.metrics.loads == default.metrics.loads
