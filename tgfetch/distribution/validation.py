"""Check a plan (each message once, albums whole, no idle client) and measure it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tgfetch.distribution.base import LoadCalculator
from tgfetch.distribution.costs import CostModel, GroupVectors, lower_bound, speed_betas
from tgfetch.model import (
    ClientAssignment,
    DistributionMetrics,
    LoadBalanceMetric,
    MessageCollection,
    MessageGroup,
)

__all__ = ["PlanCheck", "check_plan", "measure_plan"]

_INTEGRAL = {LoadBalanceMetric.MESSAGE_COUNT, LoadBalanceMetric.FILE_COUNT, LoadBalanceMetric.ESTIMATED_SIZE}
_SHOW = 5


@dataclass
class PlanCheck:
    """What is wrong with a plan; album splits are listed apart (range_based may split)."""

    errors: list[str] = field(default_factory=list)
    albums_split: list[str] = field(default_factory=list)

    def split_messages(self) -> list[str]:
        """Return one line per split album."""
        return [f"album {gid} is split across clients" for gid in self.albums_split]


def _ids(groups: Sequence[MessageGroup]) -> np.ndarray:
    return np.sort(np.fromiter(map(id, groups), dtype=np.int64, count=len(groups)))


def _shown(ids: Sequence[int]) -> str:
    ids = sorted(ids)
    more = f" and {len(ids) - _SHOW} more" if len(ids) > _SHOW else ""
    return ", ".join(map(str, ids[:_SHOW])) + more


def _message_errors(assigned: list[MessageGroup], collection: MessageCollection) -> list[str]:
    """Compare, message by message, the groups not taken whole from the collection."""
    whole = {id(g): g for g in collection.groups}
    seen = Counter(id(g) for g in assigned if id(g) in whole)
    errors = [f"group {whole[k].group_id} is assigned {n} times" for k, n in seen.items() if n > 1]
    got = Counter(m.message_id for g in assigned if id(g) not in whole for m in g.messages)
    if not got and not errors and len(seen) == len(whole):
        return []
    want = {m.message_id for g in collection.groups if id(g) not in seen for m in g.messages}
    covered = {m.message_id for k in seen for m in whole[k].messages} if got else set()
    dup = [i for i, k in got.items() if k > 1 or i in covered]
    missing = [i for i in want if i not in got]
    unknown = [i for i in got if i not in want and i not in covered]
    errors = errors[:_SHOW]
    if dup:
        errors.append(f"messages assigned more than once: {_shown(dup)}")
    if missing:
        errors.append(f"messages assigned to no client: {_shown(missing)}")
    if unknown:
        errors.append(f"messages not in the collection: {_shown(unknown)}")
    return errors


def _albums_split(assignments: Sequence[ClientAssignment], collection: MessageCollection) -> list[str]:
    """Return the ids of albums whose messages sit with more than one client."""
    whole = {id(g) for g in collection.groups}
    owners: dict[str, set[str]] = {}
    for a in assignments:
        for g in a.message_groups:
            if id(g) not in whole:
                for m in g.messages:
                    if m.media_group_id is not None:
                        owners.setdefault(f"a{m.media_group_id}", set()).add(a.client_name)
    if not owners:
        return []
    for a in assignments:
        for g in a.message_groups:
            if g.is_media_group and g.group_id in owners:
                owners[g.group_id].add(a.client_name)
    return sorted(gid for gid, who in owners.items() if len(who) > 1)


def check_plan(
    assignments: Sequence[ClientAssignment],
    collection: MessageCollection,
    client_names: Sequence[str],
    full: bool = True,
) -> PlanCheck:
    """Return the problems of a plan; only album splits unless `full`."""
    check = PlanCheck(albums_split=_albums_split(assignments, collection))
    if not full:
        return check
    names = [a.client_name for a in assignments]
    if Counter(names) != Counter(client_names):
        check.errors.append(f"plan covers clients {sorted(names)}, expected {sorted(client_names)}")
    assigned = [g for a in assignments for g in a.message_groups]
    ga, gc = _ids(assigned), _ids(collection.groups)
    if not (len(ga) == len(gc) and np.array_equal(ga, gc)):
        check.errors.extend(_message_errors(assigned, collection))
    sizes = [len(a.message_groups) for a in assignments]
    if sizes and min(sizes) == 0 and max(sizes) >= 2:
        idle = [a.client_name for a in assignments if not a.message_groups]
        check.errors.append(f"client(s) {', '.join(idle)} got nothing while another holds {max(sizes)} groups")
    return check


def _loads_and_lb(
    assignments: Sequence[ClientAssignment],
    collection: MessageCollection,
    metric: LoadBalanceMetric,
    client_speeds: Mapping[str, float] | None,
    file_overhead: float | None = None,
) -> tuple[list[float], float]:
    names = [a.client_name for a in assignments]
    beta = speed_betas(names, client_speeds) if metric is LoadBalanceMetric.ESTIMATED_TIME else None
    loads, us, vs = [], [], []
    for c, a in enumerate(assignments):
        vec = GroupVectors(a.message_groups)
        u, v, b = CostModel.metric_vectors(metric, collection, vec, names, client_speeds, file_overhead)
        loads.append(float(u.sum()) + (float(b[c]) * float(v.sum()) if b is not None else 0.0))
        us.append(u)
        vs.append(v)
    u_all, v_all = np.concatenate(us), np.concatenate(vs)
    return loads, lower_bound(u_all, v_all, beta, len(names), metric in _INTEGRAL)


def measure_plan(
    assignments: Sequence[ClientAssignment],
    collection: MessageCollection,
    metric: LoadBalanceMetric,
    client_speeds: Mapping[str, float] | None = None,
    load_calculator: LoadCalculator | None = None,
    *,
    file_overhead: float | None = None,
) -> DistributionMetrics:
    """Recompute every client's load from its groups and judge the plan.

    `file_overhead` is the seconds per file of ``estimated_time`` (None:
    ``FILE_OVERHEAD_SECONDS``), the same the plan was optimised with.
    """
    if load_calculator is not None:
        loads = [float(load_calculator(a)) for a in assignments]
        per_group = [
            float(load_calculator(ClientAssignment(a.client_name, [g]))) for a in assignments for g in a.message_groups
        ]
        lb = lower_bound(np.asarray(per_group), np.zeros(len(per_group)), None, len(assignments), False)
    else:
        loads, lb = _loads_and_lb(assignments, collection, metric, client_speeds, file_overhead)
    hi, lo = (max(loads), min(loads)) if loads else (0.0, 0.0)
    return DistributionMetrics(
        makespan=hi,
        lower_bound=lb,
        gap=hi / lb - 1.0 if lb > 0 else 0.0,
        balance_ratio=lo / hi if hi > 0 else 1.0,
        imbalance=(hi - lo) / hi if hi > 0 else 0.0,
        loads={a.client_name: load for a, load in zip(assignments, loads, strict=True)},
    )
