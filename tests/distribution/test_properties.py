"""Property tests: no album split, every message once, load_balanced never worse than LPT."""

from __future__ import annotations

import asyncio

from distribution_helpers import distributor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tgfetch.distribution import algorithms
from tgfetch.distribution.costs import CostModel
from tgfetch.model import LoadBalanceMetric, MessageCollection, MessageInfo

METRICS = [m.value for m in LoadBalanceMetric]


@st.composite
def collections(draw: st.DrawFn) -> MessageCollection:
    """Random channels: singles, text messages and albums of 2-10 with skewed sizes."""
    shapes = draw(st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=60))
    sizes = st.integers(min_value=0, max_value=2**31)
    msgs: list[MessageInfo] = []
    mid = 1
    for files in shapes:
        album = mid if files > 1 else None
        for _ in range(max(files, 1)):
            media = "photo" if files else None
            msgs.append(MessageInfo(mid, album, draw(sizes) if media else 0, media_type=media))
            mid += 1
    return MessageCollection.from_messages(msgs)


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    coll=collections(),
    n_clients=st.integers(min_value=1, max_value=12),
    metric=st.sampled_from(METRICS),
    mode=st.sampled_from(["media_group_aware", "load_balanced", "range_based"]),
)
def test_plans_are_valid(coll: MessageCollection, n_clients: int, metric: str, mode: str) -> None:
    names = [f"c{i}" for i in range(n_clients)]
    res = _run(distributor(max_imbalance_ratio=1.0).distribute(coll, names, mode=mode, metric=metric))
    ids = sorted(m.message_id for a in res.client_assignments for g in a.message_groups for m in g.messages)
    assert ids == [m.message_id for m in coll.messages]
    if mode != "range_based":
        assert res.metrics.albums_split == []
        owner = {}
        for a in res.client_assignments:
            for g in a.message_groups:
                for m in g.messages:
                    if m.media_group_id is not None:
                        assert owner.setdefault(m.media_group_id, a.client_name) == a.client_name
    assert res.metrics.makespan >= res.metrics.lower_bound * (1 - 1e-9) or mode == "range_based"
    counts = [len(a.message_groups) for a in res.client_assignments]
    assert min(counts) > 0 or max(counts) <= 1


@settings(max_examples=120, deadline=None)
@given(
    coll=collections(),
    n_clients=st.integers(min_value=2, max_value=12),
    metric=st.sampled_from(METRICS),
)
def test_load_balanced_never_worse_than_lpt(coll: MessageCollection, n_clients: int, metric: str) -> None:
    names = [f"c{i}" for i in range(n_clients)]
    res = _run(distributor(max_imbalance_ratio=1.0).distribute(coll, names, mode="load_balanced", metric=metric))
    cost = CostModel.build(coll, names, LoadBalanceMetric(metric))
    weights = cost.u.tolist()
    lpt = algorithms.makespan(weights, algorithms.lpt(weights, n_clients), n_clients)
    assert res.metrics.makespan <= lpt * (1 + 1e-9) + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=80),
    m=st.integers(min_value=2, max_value=8),
)
def test_local_search_and_kk_keep_every_item(weights: list[int], m: int) -> None:
    w = [float(x) for x in weights]
    for start in (algorithms.lpt(w, m), algorithms.karmarkar_karp(w, m)):
        assert len(start) == len(w) and all(0 <= c < m for c in start)
        before = algorithms.makespan(w, start, m)
        improved = algorithms.local_search(w, list(start), m)
        assert algorithms.makespan(w, improved, m) <= before + 1e-9
