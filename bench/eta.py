# Measured (this machine, 2 cores; `python bench/eta.py`, 386 s; 400-message channel, files capped at 16 MiB,
# three accounts, 19-35 s downloads; MAPE of the remaining time, new / today's; "in interval": the truth inside
# the new estimate's 10-90 % interval at the four points):
#
#   runs              10 %: new / old     25 %: new / old     50 %: new / old     75 %: new / old   in interval
#   drifting cold      56.4% /  172.2%     10.8% /   67.4%     22.7% /   90.5%     18.6% /  137.7%       62%
#   drifting warm       8.8% /   59.0%     11.8% /   47.6%      2.9% /   61.6%      7.0% /   61.9%       50%
#   daily cold         28.6% /   60.8%      0.8% /   55.7%      4.9% /   79.5%      7.8% /  121.1%      100%
#   daily warm         24.7% /   53.3%     12.3% /   41.4%      3.7% /   52.9%     13.8% /   89.5%       88%
#   throttled cold     72.9% /   77.0%     81.6% /   90.5%    121.3% /  126.0%    265.3% /  278.6%        0%
#   throttled warm     34.0% /   31.3%     11.1% /   31.1%     15.9% /   48.3%     14.2% /  136.8%       62%
#   realistic cold     11.8% /   70.1%      4.1% /   55.2%      9.4% /   79.4%      8.9% /  143.5%      100%
#   realistic warm     22.0% /   56.4%     16.9% /   50.2%      4.4% /   71.6%      8.7% /   85.0%       62%
#   all cold           42.4% /   95.0%     24.3% /   67.2%     39.6% /   93.9%     75.1% /  170.2%       66%
#   all warm           22.3% /   50.0%     13.0% /   42.6%      6.7% /   58.6%     11.0% /   93.3%       66%
#
# Goal (issue 19): <= 5 % at 50 %, <= 10 % at 25 %.  Warm runs (one earlier run learned): 6.7 % at 50 % (drifting
# 2.9 %, daily 3.7 %, realistic 4.4 %, throttled 15.9 %), 13.0 % at 25 %: met at 50 % except on throttled, not at
# 25 %.  Cold runs are far off on throttled: an account throttled before anything is learned looks slow for the
# rest of the job (its work is stolen, its groups in flight stay).  Today's estimator (max over accounts of queue /
# cumulative speed) is 50-130 % off at half-way on every profile.  Per-run figures vary a lot (a throttle at the
# wrong moment): take these as the order of magnitude, from 2 seeds per profile; an earlier run of this bench
# (same code but the floor's fallback to the scheduler's live speed) gave 6.3 % / 12.1 % warm at 50 % / 25 %.

"""ETA accuracy on non-stationary simulated accounts: the new estimate against today's, side by side.

For each drifting profile (`tgfetch.telegram.simulator.profiles`) and seed, two real simulated jobs
of the same channel run one after the other on one profile clock (a simulated day is 600 s, so a
~30 s job spans about 1.3 simulated hours): a first ("cold": nothing learned) and a second
("warm": the same `Predictor` goes on learning, today's estimator starts from the speeds the first
run saved in the state DB).  Every 0.2 s
a monitor reads the scheduler (`learning.live.remaining_of`) and takes both estimates; afterwards,
at 10/25/50/75 % of the download stage, the error of each is |estimated - true remaining| / true
remaining (MAPE over the runs), and how often the truth fell inside the new estimate's interval.

    python bench/eta.py                 # 4 profiles x 2 seeds x (cold, warm): about 9 minutes
    python bench/eta.py --quick         # drifting only, one seed
    python bench/eta.py --profiles daily,throttled --seeds 3,4
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from learnsim import FRACTIONS, Job, run_profiled, state_db  # noqa: E402

from tgfetch.learning.predictor import Predictor  # noqa: E402
from tgfetch.telegram.simulator.profiles import ProfileClock  # noqa: E402

PROFILES = ("drifting", "daily", "throttled", "realistic")


async def one_profile(profile: str, seed: int, job: Job) -> dict[str, list[tuple[float, float, float, bool]]]:
    """(fraction, new APE, old APE, inside) rows of the cold and the warm run."""
    clock = ProfileClock(day_seconds=600.0, start_hour=6.0 + 4 * seed % 18)
    predictor = Predictor()
    root = Path(tempfile.mkdtemp(prefix="tgfetch-eta-"))
    out: dict[str, list[tuple[float, float, float, bool]]] = {}
    try:
        rep, probe, _ = await run_profiled(job, profile, root / "cold", clock=clock, predictor=predictor)
        out["cold"] = [(f, *e) for f, e in probe.errors().items()]
        rep2, probe2, _ = await run_profiled(job, profile, root / "warm", clock=clock, predictor=predictor,
                                             state=state_db(root / "cold"))
        out["warm"] = [(f, *e) for f, e in probe2.errors().items()]
        for name, r in (("cold", rep), ("warm", rep2)):
            print(f"   {profile:10} seed {seed} {name}: download {r.stage_seconds.get('download', 0):5.1f} s  "
                  + "  ".join(f"{int(f * 100)}%: new {n:5.1%} old {o:5.1%}" for f, n, o, _ in out[name]),
                  flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def table(rows: dict[str, list[tuple[float, float, float, bool]]]) -> None:
    print(f"{'runs':28} " + " ".join(f"{f'{int(f * 100)} %: new / old':>22}" for f in FRACTIONS) + "  in interval")
    for name, rs in rows.items():
        cells = []
        for f in FRACTIONS:
            at = [r for r in rs if r[0] == f]
            cells.append(f"{statistics.mean(r[1] for r in at):9.1%} / {statistics.mean(r[2] for r in at):7.1%}")
        inside = sum(r[3] for r in rs) / len(rs)
        print(f"{name:28} " + " ".join(f"{c:>22}" for c in cells) + f"  {inside:10.0%}")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--profiles", default=",".join(PROFILES))
    ap.add_argument("--seeds", default="5,6")
    ap.add_argument("--messages", type=int, default=400)
    a = ap.parse_args()
    profiles = ["drifting"] if a.quick else a.profiles.split(",")
    seeds = [5] if a.quick else [int(s) for s in a.seeds.split(",")]
    job = Job(messages=a.messages, size_scale=0.12)
    rows: dict[str, list[tuple[float, float, float, bool]]] = {}
    for profile in profiles:
        for seed in seeds:
            got = await one_profile(profile, seed, Job(seed=seed, messages=job.messages, size_scale=job.size_scale))
            for kind, rs in got.items():
                rows.setdefault(f"{profile} {kind}", []).extend(rs)
                rows.setdefault(f"all {kind}", []).extend(rs)
                rows.setdefault("all", []).extend(rs)
    print("mean absolute percentage error of the remaining time (new / today's)")
    table(rows)


if __name__ == "__main__":
    t0 = time.time()
    asyncio.run(main())
    print(f"bench time {time.time() - t0:.0f}s")
