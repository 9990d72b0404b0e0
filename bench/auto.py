# Measured (`python bench/auto.py`, 3 s):
#   mean reward (ideal / makespan) of each fixed choice over 20 runs:
#      media_group_aware/estimated_time 0.612, load_balanced/estimated_time 0.612,
#      media_group_aware/file_count 0.377, range_based/message_count 0.371,
#      media_group_aware/file_size 0.353, load_balanced/file_size 0.353
#   Thompson sampling : regret over 20 runs 2.15 (sd 0.38), 0.107 per run; mean reward 0.507;
#                       last 10 runs on a best arm 64 %
#   uniform random    : regret over 20 runs 3.40 (sd 0.64), 0.170 per run; mean reward 0.444; 36 %
# Six arms and 20 runs: the bandit tries each about twice; the arms' rewards move run to run with the
# drifting speeds, so it keeps exploring a little.  (Static plans, stale speeds: rewards are low.)

"""`auto` by Thompson sampling: regret over 20 runs against the best fixed (strategy, metric) in hindsight.

A cheap model of runs, built from the planner's own figures: a simulated channel (2000 messages)
and three accounts on the `realistic` speed profile; run j happens 1.5 simulated hours after run j-1,
the accounts' true speeds are their profile rates then, and a plan balancing estimated time uses
the speeds the previous run measured (the first run: none).  Each candidate plans the channel for
real (`TaskDistributor.distribute`); its makespan is the static one under the true speeds (per
account: bytes / speed + files x 0.05 s, the slowest account), times a run-to-run noise
(lognormal, sigma 0.02); its reward is the ideal bound (total / summed speeds, or the largest group
on the fastest account) over that makespan.  Stealing in a real run closes much of the gaps
between plans, so these rewards spread wider than real makespans do; the bandit's task is the
same.  Regret = sum over the runs of (the reward the best fixed candidate got in that run - the
reward of the candidate chosen), mean over 20 bandit seeds; beside it, a uniformly random choice.

    python bench/auto.py
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tgfetch.config import load_settings  # noqa: E402
from tgfetch.distribution import TaskDistributor  # noqa: E402
from tgfetch.learning.bandit import Arm, choose  # noqa: E402
from tgfetch.model import MessageCollection  # noqa: E402
from tgfetch.telegram.simulator import SimulatedTelegram  # noqa: E402
from tgfetch.telegram.simulator.content import to_message_info  # noqa: E402
from tgfetch.telegram.simulator.profiles import AccountShape, profile_named  # noqa: E402

ARMS = [Arm("media_group_aware", "file_count"), Arm("media_group_aware", "file_size"),
        Arm("media_group_aware", "estimated_time"), Arm("load_balanced", "file_size"),
        Arm("load_balanced", "estimated_time"), Arm("range_based", "message_count")]
NAMES = ("client1", "client2", "client3")
BASES = {"client1": 6e6, "client2": 3e6, "client3": 1.5e6}
RUNS = 20
OVERHEAD = 0.05


async def reward_table(seed: int = 11) -> list[dict[Arm, float]]:
    """The noiseless reward of every arm in every run."""
    sim = SimulatedTelegram(seed=seed, messages=2000, size_scale=0.1)
    infos = [i for i in (to_message_info(m) for m in sim.messages) if i is not None]
    coll = MessageCollection.from_messages(infos)
    shapes = {n: AccountShape(profile_named("realistic"), seed, n) for n in NAMES}
    planner = TaskDistributor(load_settings(env_file=None, log_level="ERROR", enable_distribution_validation=False))
    groups = [g.total_size for g in coll.groups]
    out: list[dict[Arm, float]] = []
    learned: dict[str, float] | None = None
    for j in range(RUNS):
        true = {n: BASES[n] * shapes[n].factor(2, 9.0 + 1.5 * j) for n in NAMES}
        ideal = max(sum(groups) / sum(true.values()), max(groups) / max(true.values()))
        row = {}
        for arm in ARMS:
            plan = await planner.distribute(coll, list(NAMES), mode=arm.strategy, metric=arm.metric,
                                            client_speeds=learned)
            makespan = max(a.estimated_size / true[a.client_name] + a.total_files * OVERHEAD
                           for a in plan.client_assignments)
            row[arm] = ideal / makespan
        out.append(row)
        learned = true
    return out


def play(table: list[dict[Arm, float]], seed: int, bandit: bool) -> tuple[float, float, float]:
    """(regret against the best fixed arm in hindsight, total reward, share of the last 10 runs on an arm
    within 0.01 of the best mean) of one sequence of runs."""
    rng = random.Random(seed)
    noisy = [{a: min(1.0, r * math.exp(rng.gauss(0, 0.02))) for a, r in row.items()} for row in table]
    history: list[tuple[Arm, float]] = []
    got = 0.0
    for row in noisy:
        arm = choose(ARMS, history, seed=seed, key="bench").arm if bandit else rng.choice(ARMS)
        history.append((arm, row[arm]))
        got += row[arm]
    best = max(sum(row[a] for row in noisy) for a in ARMS)
    top = max(sum(row[a] for row in table) for a in ARMS) / len(table)
    good = {a for a in ARMS if sum(row[a] for row in table) / len(table) >= top - 0.01}
    late = sum(a in good for a, _ in history[-10:]) / 10
    return best - got, got, late


async def main() -> None:
    table = await reward_table()
    means = {a: statistics.mean(row[a] for row in table) for a in ARMS}
    print(f"mean reward (ideal / makespan) of each fixed choice over {RUNS} runs:")
    for a, m in sorted(means.items(), key=lambda kv: -kv[1]):
        print(f"   {str(a):34} {m:.3f}")
    for name, bandit in (("Thompson sampling", True), ("uniform random", False)):
        rs = [play(table, s, bandit) for s in range(20)]
        regret = [r for r, _, _ in rs]
        print(f"{name:18}: regret over {RUNS} runs {statistics.mean(regret):.2f} (sd {statistics.stdev(regret):.2f}), "
              f"{statistics.mean(regret) / RUNS:.3f} per run; "
              f"mean reward {statistics.mean(g for _, g, _ in rs) / RUNS:.3f}; "
              f"last 10 runs on a best arm {statistics.mean(x for _, _, x in rs):.0%}")


if __name__ == "__main__":
    t0 = time.time()
    asyncio.run(main())
    print(f"bench time {time.time() - t0:.0f}s")
