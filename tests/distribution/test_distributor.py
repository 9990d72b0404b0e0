"""TaskDistributor: the seed's extension API, auto, comparison, speeds, scanners."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from distribution_helpers import RoundRobin, channel, distributor, message_ids, photo, random_channel
from rich.table import Table

from tgfetch.distribution import (
    TaskDistributionStrategy,
    TaskDistributor,
    comparison_table,
    format_comparison,
)
from tgfetch.errors import DistributionError, UsageError
from tgfetch.model import ClientAssignment, DistributionMode, MessageCollection


class CustomDistributionStrategy(RoundRobin):
    """The seed's example: round-robin by group."""

    def get_strategy_info(self) -> dict[str, Any]:
        return {"name": "CustomDistribution", "description": "自定义分配策略"}


class DropsEverything(CustomDistributionStrategy):
    async def distribute_tasks(self, message_collection: Any, client_names: Any) -> Any:
        return {client_names[0]: list(message_collection.groups[1:])}


class SplitsAlbums(CustomDistributionStrategy):
    async def distribute_tasks(self, message_collection: Any, client_names: Any) -> Any:
        msgs = message_collection.messages
        from tgfetch.model import MessageGroup

        half = 2
        return {client_names[0]: [MessageGroup.of(msgs[:half])], client_names[1]: [MessageGroup.of(msgs[half:])]}


def custom_load_calculator(assignment: ClientAssignment) -> float:
    return assignment.total_files * 0.7 + assignment.estimated_size / (1024 * 1024) * 0.3


async def test_custom_strategy_used_when_mode_is_custom() -> None:
    d = distributor(task_distribution_mode="custom")
    d.register_strategy(DistributionMode.CUSTOM, CustomDistributionStrategy)
    res = await d.distribute(random_channel(1, 30), ["a", "b"])
    assert res.strategy == "custom"
    assert res.info["strategy_info"]["name"] == "CustomDistribution"
    assert [len(a.message_groups) for a in res.client_assignments] == [15, 15]


async def test_custom_mode_without_registration_lists_names() -> None:
    with pytest.raises(UsageError, match="valid modes: range_based"):
        await distributor(task_distribution_mode="custom").distribute(channel([(1, 1)]), ["a"])


async def test_register_rejects_non_strategies() -> None:
    d = distributor()
    with pytest.raises(UsageError):
        d.register_strategy("x", dict)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        d.register_strategy(DistributionMode.AUTO, CustomDistributionStrategy)


@pytest.mark.parametrize("bad", [DropsEverything, SplitsAlbums])
async def test_invalid_custom_plan_is_rejected(bad: type[TaskDistributionStrategy]) -> None:
    d = distributor()
    d.register_strategy(DistributionMode.CUSTOM, bad)
    coll = channel([(3, 10), (1, 10), (3, 10)])
    with pytest.raises(DistributionError, match="invalid plan"):
        await d.distribute(coll, ["a", "b"], mode="custom")


async def test_custom_strategy_returning_garbage() -> None:
    class ReturnsNone(CustomDistributionStrategy):
        async def distribute_tasks(self, message_collection: Any, client_names: Any) -> Any:
            return None

    d = distributor()
    d.register_strategy("none", ReturnsNone)
    with pytest.raises(DistributionError, match="returned NoneType"):
        await d.distribute(channel([(1, 1)]), ["a"], mode="none")


async def test_custom_load_calculator_drives_balancing() -> None:
    # one 100 MiB photo against 40 tiny ones: by file count it would get 1/2 of the files
    coll = MessageCollection.from_messages([photo(1, 100 * 2**20)] + [photo(i, 1) for i in range(2, 42)])
    res = await distributor().distribute(coll, ["a", "b"], load_calculator=custom_load_calculator)
    big = next(a for a in res.client_assignments if 1 in a.message_ids)
    assert big.total_files == 1  # 0.7 + 30 against 40 * 0.7 = 28 on the other client
    assert res.metrics.loads[big.client_name] == pytest.approx(custom_load_calculator(big))
    assert res.metrics.gap == 0.0


async def test_seed_custom_strategy_constructs_without_args() -> None:
    strategy = CustomDistributionStrategy()
    assert strategy.metric is None and strategy.settings is None
    assert isinstance(await strategy.distribute_tasks(channel([(1, 1)]), ["a"]), list)


@pytest.mark.parametrize(
    ("spec", "speeds", "mode"),
    [
        ([(1, 10)] * 10, None, DistributionMode.RANGE_BASED),
        ([(3, 100_000)] * 4 + [(1, 100_000)] * 20, None, DistributionMode.MEDIA_GROUP_AWARE),
        ([(3, 100_000), (1, 10**9)] + [(1, 1000)] * 20, None, DistributionMode.LOAD_BALANCED),
        ([(1, 10)] * 10, {"a": 1e6, "b": 5e6}, DistributionMode.LOAD_BALANCED),
    ],
)
def test_recommend(spec: list[tuple[int, int]], speeds: Any, mode: DistributionMode) -> None:
    got, reason = distributor().recommend(channel(spec), ["a", "b"], client_speeds=speeds)
    assert got is mode and reason


async def test_auto_mode_logs_reason_and_picks_metric(caplog: pytest.LogCaptureFixture) -> None:
    coll = channel([(3, 100_000), (1, 10**9)] + [(1, 1000)] * 20)
    with caplog.at_level(logging.INFO, logger="tgfetch.distribution"):
        res = await distributor(task_distribution_mode="auto").distribute(coll, ["a", "b"])
    assert res.strategy == "load_balanced"
    assert res.metric.value == "estimated_size"
    assert "heavy-tailed" in caplog.text


async def test_client_speeds_give_fast_client_more_bytes() -> None:
    coll = channel([(1, 50 * 2**20)] * 40)
    speeds = {"slow": 1 * 2**20, "fast": 4 * 2**20}
    res = await distributor().distribute(
        coll, ["slow", "fast"], mode="load_balanced", metric="estimated_time", client_speeds=speeds
    )
    assert res.assignment("fast").total_files >= 3 * res.assignment("slow").total_files
    assert res.metrics.gap < 0.1


async def test_scanned_by_breaks_ties_for_free() -> None:
    coll = channel([(1, 10)] * 12)
    scanned = {m.message_id: ("a" if m.message_id <= 6 else "b") for m in coll.messages}
    res = await distributor().distribute(coll, ["a", "b"], scanned_by=scanned)
    assert res.assignment("a").message_ids == [1, 2, 3, 4, 5, 6]
    assert res.info["kept_with_scanner"] == 12
    assert res.metrics.imbalance == 0.0


async def test_compare_and_tables() -> None:
    d = distributor()
    d.register_strategy(DistributionMode.CUSTOM, CustomDistributionStrategy)
    results = await d.compare(random_channel(6, 100), ["a", "b", "c"])
    assert [r.strategy for r in results] == ["range_based", "media_group_aware", "load_balanced", "custom"]
    assert isinstance(comparison_table(results), Table)
    text = format_comparison(results)
    for col in ("balance", "imbalance", "gap", "albums split", "plan time", "custom"):
        assert col in text


async def test_strategy_comparison_setting(caplog: pytest.LogCaptureFixture) -> None:
    # The rows go to the caller (which prints them once); the table is logged at DEBUG only.
    with caplog.at_level(logging.DEBUG, logger="tgfetch.distribution"):
        res = await distributor(enable_strategy_comparison=True).distribute(random_channel(7, 60), ["a", "b"])
    assert [r["strategy"] for r in res.info["comparison"]] == ["range_based", "media_group_aware", "load_balanced"]
    tables = [r for r in caplog.records if "albums split" in r.getMessage()]
    assert [r.levelno for r in tables] == [logging.DEBUG]


async def test_default_settings_and_iterable_input() -> None:
    d = TaskDistributor()
    coll = random_channel(8, 40)
    res = await d.distribute(coll.messages, ["a", "b"])
    assert res.strategy == "media_group_aware"
    assert message_ids(res) == sorted(m.message_id for m in coll.messages)


async def test_validation_can_be_disabled() -> None:
    d = distributor(enable_distribution_validation=False)
    d.register_strategy(DistributionMode.CUSTOM, SplitsAlbums)
    res = await d.distribute(channel([(3, 10), (3, 10), (1, 1)]), ["a", "b"], mode="custom")
    assert res.metrics.albums_split == ["a1"]
