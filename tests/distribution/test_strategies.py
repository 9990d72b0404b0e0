"""The built-in strategies: whole albums, every message once, balance, edge cases."""

from __future__ import annotations

import pytest
from distribution_helpers import channel, distributor, message_ids, random_channel, text

from tgfetch.errors import DistributionError, UsageError
from tgfetch.model import DistributionMode, LoadBalanceMetric, MessageCollection

MODES = ["range_based", "media_group_aware", "load_balanced"]


@pytest.mark.parametrize("mode", MODES)
async def test_every_message_once(mode: str) -> None:
    coll = random_channel(1, 300)
    res = await distributor().distribute(coll, ["a", "b", "c"], mode=mode)
    assert message_ids(res) == sorted(m.message_id for m in coll.messages)
    assert [a.client_name for a in res.client_assignments] == ["a", "b", "c"]
    assert res.strategy == mode


@pytest.mark.parametrize("mode", ["media_group_aware", "load_balanced"])
async def test_albums_stay_whole_and_balanced(mode: str) -> None:
    coll = channel([(5, 10), (3, 10), (7, 10), (2, 10), (4, 10), (6, 10)] + [(1, 10)] * 24)
    res = await distributor().distribute(coll, ["a", "b", "c"], mode=mode, metric="file_count")
    assert res.metrics.albums_split == []
    assert res.metrics.validation_errors == []
    assert sorted(res.metrics.loads.values()) == [17.0, 17.0, 17.0]
    assert res.metrics.gap == 0.0
    assert res.metrics.balance_ratio == 1.0


async def test_range_based_reports_split_albums() -> None:
    coll = channel([(4, 10), (4, 10)])
    res = await distributor().distribute(coll, ["a", "b", "c"], mode="range_based", metric="message_count")
    assert [a.total_messages for a in res.client_assignments] == [2, 3, 3]
    assert res.metrics.albums_split == ["a1", "a5"]
    assert any("a1" in e for e in res.metrics.validation_errors)


async def test_range_based_contiguous_ranges() -> None:
    coll = channel([(1, 10)] * 10)
    res = await distributor().distribute(coll, ["a", "b", "c"], mode="range_based")
    ranges = [a.message_ids for a in res.client_assignments]
    assert ranges == [[1, 2, 3], [4, 5, 6], [7, 8, 9, 10]]


async def test_message_count_counts_text_messages() -> None:
    coll = channel([(0, 0)] * 4 + [(1, 10)] * 2)
    res = await distributor().distribute(coll, ["a", "b"], mode="load_balanced", metric="message_count")
    assert sorted(res.metrics.loads.values()) == [3.0, 3.0]


async def test_text_messages_spread_when_free() -> None:
    coll = channel([(0, 0)] * 6 + [(1, 10)] * 2)
    res = await distributor().distribute(coll, ["a", "b"], metric="file_count")
    assert sorted(res.metrics.loads.values()) == [1.0, 1.0]
    assert [len(a.message_groups) for a in res.client_assignments] == [4, 4]


async def test_more_clients_than_groups() -> None:
    coll = channel([(3, 10), (1, 10)])
    res = await distributor().distribute(coll, ["a", "b", "c", "d"], mode="load_balanced")
    assert sorted(len(a.message_groups) for a in res.client_assignments) == [0, 0, 1, 1]
    assert res.metrics.validation_errors == []
    assert res.metrics.warnings and "idle" in res.metrics.warnings[0]


async def test_one_client_gets_everything() -> None:
    coll = random_channel(2, 50)
    res = await distributor().distribute(coll, ["only"])
    assert res.client_assignments[0].total_messages == coll.total_messages
    assert res.metrics.imbalance == 0.0


async def test_empty_collection_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="empty"):
        await distributor().distribute(MessageCollection.of_groups([]), ["a"])


async def test_duplicate_or_missing_clients_are_errors() -> None:
    coll = channel([(1, 1)])
    with pytest.raises(UsageError, match="twice"):
        await distributor().distribute(coll, ["a", "a"])
    with pytest.raises(UsageError, match="at least one"):
        await distributor().distribute(coll, [])


async def test_unknown_mode_lists_valid_names() -> None:
    with pytest.raises(UsageError) as err:
        await distributor().distribute(channel([(1, 1)]), ["a"], mode="fastest")
    for name in ("range_based", "media_group_aware", "load_balanced", "auto"):
        assert name in str(err.value)


async def test_unknown_metric_lists_valid_names() -> None:
    with pytest.raises(UsageError, match="file_size"):
        await distributor().distribute(channel([(1, 1)]), ["a"], metric="weight")


async def test_huge_album_warns_with_reason() -> None:
    coll = channel([(10, 10**9)] + [(1, 1000)] * 20)
    res = await distributor().distribute(coll, ["a", "b", "c"], metric="estimated_size")
    assert res.strategy == "load_balanced"
    assert res.info["escalated_from"] == ["media_group_aware"]
    (warning,) = res.metrics.warnings
    assert "a1" in warning and "fair share" in warning
    assert res.metrics.gap == 0.0


async def test_escalates_from_range_based() -> None:
    coll = channel([(0, 0)] * 10 + [(1, 10)] * 10)
    res = await distributor().distribute(coll, ["a", "b"], mode="range_based", metric="file_count")
    assert res.strategy == "media_group_aware"
    assert res.info["escalated_from"] == ["range_based"]
    assert res.metrics.imbalance == 0.0 and res.metrics.warnings == []


async def test_file_size_alias_and_mixed_metric() -> None:
    coll = random_channel(3, 80)
    d = distributor()
    res = await d.distribute(coll, ["a", "b"], metric="file_size")
    assert res.metric is LoadBalanceMetric.ESTIMATED_SIZE
    res = await d.distribute(coll, ["a", "b"], metric=LoadBalanceMetric.MIXED)
    assert res.metrics.gap < 0.05


async def test_large_job_bulk_path() -> None:
    coll = random_channel(4, 12_000)
    d = distributor()
    for metric in ("file_count", "estimated_size"):
        res = await d.distribute(coll, [f"c{i}" for i in range(7)], mode="media_group_aware", metric=metric)
        assert message_ids(res) == sorted(m.message_id for m in coll.messages)
        assert res.info["algorithm"] == "bulk_lpt"
        assert res.metrics.gap < 1e-3


async def test_prefer_large_groups_off_uses_id_order() -> None:
    coll = random_channel(5, 200)
    res = await distributor(prefer_large_groups_first=False).distribute(coll, ["a", "b", "c"])
    assert res.info["algorithm"] in ("list_scheduling+local_search", "karmarkar_karp+local_search")
    assert res.metrics.albums_split == []


async def test_validation_rejects_bad_plan_from_builtin_shape() -> None:
    assert DistributionMode.CUSTOM.value == "custom"
    with pytest.raises(DistributionError):
        from tgfetch.distribution.distributor import _normalize

        _normalize(object(), ["a"], "x")


def test_text_helper_has_no_media() -> None:
    assert not text(1).has_media
