"""Benchmark tgfetch's task distribution on synthetic channels.

Run: ``python bench/distribution.py`` (about two minutes) or ``--quick``.

Large part: one channel of 1,000,000 messages (70% single messages, 30% in albums
of 2-10; photos and heavy-tailed videos, a few text-only messages), 3/10/50/200
clients, by file_count and by estimated_size. For every strategy: planning CPU
time (the strategy's distribute_tasks, via time.process_time) and gap
(makespan / lower bound - 1), next to the PyPI package ``binpacking``
(``to_constant_bin_number``) and a plain range split.

Small part: jobs of at most 20 groups per client against proven optima from
OR-Tools CP-SAT (bench-only dependency). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tgfetch.config import Settings  # noqa: E402
from tgfetch.distribution import TaskDistributor  # noqa: E402
from tgfetch.distribution.costs import CostModel  # noqa: E402
from tgfetch.model import LoadBalanceMetric, MessageCollection, MessageInfo, TaskDistributionResult  # noqa: E402

STRATEGIES = ("range_based", "media_group_aware", "load_balanced")
METRICS = (LoadBalanceMetric.FILE_COUNT, LoadBalanceMetric.ESTIMATED_SIZE)
console = Console(width=140)


def rss_mib() -> float:
    """Return the peak resident set size of this process, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def group_sizes(rng: np.random.Generator, n_messages: int) -> np.ndarray:
    """Return group sizes: 70% of messages single, 30% in albums of 2-10."""
    p_album = 0.3 / (6 - 0.3 * 5)  # album groups so that 30% of messages are in albums
    draws = max(32, n_messages)
    sizes = np.where(rng.random(draws) < p_album, rng.integers(2, 11, draws), 1)
    ends = np.cumsum(sizes)
    cut = int(np.searchsorted(ends, n_messages))
    sizes = sizes[: cut + 1].copy()
    sizes[-1] -= int(ends[cut]) - n_messages
    return sizes[sizes > 0]


def file_sizes(rng: np.random.Generator, n: int, videos: bool = True, kib: bool = False) -> np.ndarray:
    """Return file sizes: photos ~150 KiB, videos lognormal heavy tail capped at 2 GiB."""
    photo = rng.lognormal(np.log(150e3), 0.5, n)
    video = np.minimum(2**31, rng.lognormal(np.log(8e6), 1.5, n))
    sizes = np.where(rng.random(n) < 0.6, photo, video) if videos else photo
    return (np.maximum(1, np.round(sizes / 1024)) * 1024 if kib else np.round(sizes)).astype(np.int64)


def make_channel(n_messages: int, seed: int, videos: bool = True, kib: bool = False) -> list[MessageInfo]:
    """Return a synthetic channel's messages."""
    rng = np.random.default_rng(seed)
    gsizes = group_sizes(rng, n_messages)
    n = int(gsizes.sum())
    album_of = np.repeat(np.where(gsizes > 1, np.arange(len(gsizes)) + 1, 0), gsizes).tolist()
    text = ((rng.random(n) < 0.08) & (np.asarray(album_of) == 0)).tolist()
    sizes = file_sizes(rng, n, videos, kib).tolist()
    return [
        MessageInfo(
            message_id=i + 1,
            media_group_id=album_of[i] or None,
            file_size=0 if text[i] else sizes[i],
            media_type=None if text[i] else "photo",
        )
        for i in range(n)
    ]


def settings() -> Settings:
    """Return benchmark settings: no .env, no escalation, validation on."""
    return Settings(_env_file=None, max_imbalance_ratio=1.0, auto_strategy_recommendation=False)  # type: ignore[call-arg]


@dataclass
class Row:
    metric: str
    clients: int
    method: str
    plan_cpu: float
    total_cpu: float
    gap: float
    albums_split: int


async def _strategy_row(
    dist: TaskDistributor, coll: MessageCollection, names: list[str], metric: LoadBalanceMetric, mode: str
) -> tuple[Row, TaskDistributionResult]:
    start = time.process_time()
    res = await dist.distribute(coll, names, mode=mode, metric=metric)
    total = time.process_time() - start
    m = res.metrics
    return Row(metric.value, len(names), mode, m.planning_seconds, total, m.gap, len(m.albums_split)), res


def _binpacking_row(coll: MessageCollection, names: list[str], metric: LoadBalanceMetric, lb: float) -> Row:
    import binpacking

    cost = CostModel.build(coll, names, metric)
    weights = cost.u.tolist()
    start = time.process_time()
    bins = binpacking.to_constant_bin_number(weights, len(names))
    cpu = time.process_time() - start
    makespan = max(sum(b) for b in bins)
    return Row(metric.value, len(names), "binpacking (LPT)", cpu, cpu, makespan / lb - 1, 0)


async def run_large(n_messages: int, client_counts: tuple[int, ...]) -> tuple[list[Row], dict[str, float]]:
    """Plan one big channel with every method; return rows and memory figures."""
    t = time.perf_counter()
    coll = MessageCollection.from_messages(make_channel(n_messages, seed=7))
    mem = {"after_collection_mib": rss_mib(), "build_seconds": time.perf_counter() - t}
    console.print(
        f"channel: {coll.total_messages:,} messages, {len(coll.groups):,} groups, "
        f"{len(coll.media_groups):,} albums, {coll.total_files:,} files, "
        f"{coll.total_size / 2**40:.2f} TiB (built in {mem['build_seconds']:.1f} s)"
    )
    dist = TaskDistributor(settings())
    rows: list[Row] = []
    for metric in METRICS:
        for m in client_counts:
            names = [f"client{i}" for i in range(m)]
            lb = 0.0
            for mode in STRATEGIES:
                row, res = await _strategy_row(dist, coll, names, metric, mode)
                rows.append(row)
                if mode != "range_based":
                    lb = res.metrics.lower_bound
            rows.append(_binpacking_row(coll, names, metric, lb))
    mem["peak_mib"] = rss_mib()
    return rows, mem


def large_table(rows: list[Row], n_messages: int) -> Table:
    """Render the large-channel rows."""
    table = Table(title=f"{n_messages:,} messages: planning CPU time and gap (makespan/LB - 1)")
    for col in ("metric", "clients", "method", "plan CPU", "distribute CPU", "gap", "albums split"):
        table.add_column(col, justify="left" if col in ("metric", "method") else "right")
    for r in rows:
        total = "-" if r.method.startswith("binpacking") else f"{r.total_cpu:.3f} s"
        table.add_row(
            r.metric, str(r.clients), r.method, f"{r.plan_cpu:.3f} s", total, f"{r.gap:.2e}", str(r.albums_split)
        )
    return table


def cp_sat_optimum(weights: list[int], m: int, hint_makespan: int, seconds: float) -> int | None:
    """Return the proven optimal makespan, or None when CP-SAT cannot prove it in time."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    x = [[model.NewBoolVar(f"x{g}_{c}") for c in range(m)] for g in range(len(weights))]
    lb = max(-(-sum(weights) // m), max(weights))
    span = model.NewIntVar(lb, hint_makespan, "makespan")
    loads = []
    for c in range(m):
        load = model.NewIntVar(0, hint_makespan, f"load{c}")
        model.Add(load == sum(w * x[g][c] for g, w in enumerate(weights)))
        model.Add(load <= span)
        loads.append(load)
    for g in range(len(weights)):
        model.AddExactlyOne(x[g])
    for c in range(m - 1):
        model.Add(loads[c] >= loads[c + 1])  # clients are interchangeable
    model.Minimize(span)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    status = solver.Solve(model)
    return int(solver.ObjectiveValue()) if status == cp_model.OPTIMAL else None


@dataclass
class SmallResult:
    family: str
    clients: int
    groups: int
    mode: str
    gap: float
    ms: float


def _small_instances(count: int) -> list[tuple[str, int, MessageCollection, LoadBalanceMetric, int]]:
    rng = np.random.default_rng(11)
    fams = (
        ("channel/files", True, LoadBalanceMetric.FILE_COUNT),
        ("channel/size", True, LoadBalanceMetric.ESTIMATED_SIZE),
        ("photos/size", False, LoadBalanceMetric.ESTIMATED_SIZE),
    )
    out = []
    for i in range(count):
        fam, videos, metric = fams[i % len(fams)]
        m = int(rng.choice([2, 3, 4, 5, 8, 10]))
        per = int(rng.integers(3, 21))
        msgs: list[MessageInfo] = []
        seed = 1000 + i
        while True:
            msgs = make_channel(int(m * per * 1.4), seed, videos=videos, kib=True)
            coll = MessageCollection.from_messages(msgs)
            if len(coll.groups) >= m * per:
                break
            seed += 10_000
        groups = coll.groups[: m * per]
        unit = 1024 if metric is LoadBalanceMetric.ESTIMATED_SIZE else 1
        out.append((fam, m, MessageCollection.of_groups(groups), metric, unit))
    return out


async def run_small(count: int, cp_seconds: float) -> tuple[list[SmallResult], int]:
    """Compare small plans with CP-SAT optima; return results and unproven count."""
    dist = TaskDistributor(settings())
    results: list[SmallResult] = []
    unproven = 0
    for fam, m, coll, metric, unit in _small_instances(count):
        names = [f"c{i}" for i in range(m)]
        cost = CostModel.build(coll, names, metric)
        weights = [int(round(w / unit)) for w in cost.u.tolist() if w > 0]
        plans = {
            mode: (await dist.distribute(coll, names, mode=mode, metric=metric)).metrics
            for mode in ("media_group_aware", "load_balanced")
        }
        best = min(int(round(p.makespan / unit)) for p in plans.values())
        opt = cp_sat_optimum(weights, m, best, cp_seconds) if len(weights) > m else max(weights, default=0)
        if opt is None:
            unproven += 1
            continue
        for mode, met in plans.items():
            gap = (met.makespan / unit) / opt - 1 if opt else 0.0
            results.append(SmallResult(fam, m, len(coll.groups), mode, gap, met.planning_seconds * 1000))
    return results, unproven


def small_table(results: list[SmallResult], unproven: int) -> Table:
    """Summarize small-job gaps against the optimum per strategy."""
    table = Table(
        title=f"small jobs (<= 20 groups per client) vs CP-SAT proven optimum "
        f"({unproven} instance(s) not proven, excluded)"
    )
    for col in ("strategy", "instances", "worst gap", "mean gap", "optimal", "max plan CPU", "mean plan CPU"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for mode in ("media_group_aware", "load_balanced"):
        rs = [r for r in results if r.mode == mode]
        if not rs:
            continue
        gaps = [r.gap for r in rs]
        table.add_row(
            mode,
            str(len(rs)),
            f"{max(gaps) * 100:.3f}%",
            f"{statistics.mean(gaps) * 100:.4f}%",
            f"{sum(g <= 1e-12 for g in gaps)}/{len(rs)}",
            f"{max(r.ms for r in rs):.2f} ms",
            f"{statistics.mean(r.ms for r in rs):.2f} ms",
        )
    return table


async def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100k messages, 12 small instances")
    parser.add_argument("--messages", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.messages or (100_000 if args.quick else 1_000_000)
    small_count = 12 if args.quick else 36
    rows, mem = await run_large(n, (3, 10, 50, 200))
    console.print(large_table(rows, n))
    console.print(
        f"memory: peak RSS {mem['peak_mib']:.0f} MiB "
        f"({mem['after_collection_mib']:.0f} MiB after building the collection)"
    )
    results, unproven = await run_small(small_count, 5.0 if args.quick else 20.0)
    console.print(small_table(results, unproven))


if __name__ == "__main__":
    asyncio.run(main())
