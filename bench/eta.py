# Measured (this machine, 2 cores, another benchmark beside; `python bench/eta.py`, 538 s; 400-message channel,
# files capped at 16 MiB, three accounts, 19-32 s downloads; MAPE of the remaining time, new / today's; "in
# interval": the truth inside the new estimate's interval at the four points):
#
#   runs              10 %: new / old     25 %: new / old     50 %: new / old     75 %: new / old   in interval
#   drifting cold      29.1% /   48.1%      6.6% /   43.3%     17.9% /   57.9%     11.5% /   12.9%       75%
#   drifting warm      22.5% /   48.9%      8.8% /   57.2%      8.4% /   34.7%      2.0% /   19.4%       88%
#   daily cold         30.9% /   53.6%      6.3% /   54.7%     15.8% /   63.5%     15.9% /   10.4%       75%
#   daily warm          8.4% /   40.7%     11.5% /   37.4%      7.6% /   42.7%      4.1% /   26.9%      100%
#   throttled cold     28.9% /   37.7%      6.2% /   40.1%     16.0% /   38.7%     14.3% /   28.6%       75%
#   throttled warm      6.0% /   66.4%      6.7% /   80.1%     18.3% /  144.5%     41.9% /  108.9%       62%
#   realistic cold     32.4% /  103.8%      4.7% /   62.4%      4.8% /   63.1%     10.8% /  108.1%       75%
#   realistic warm      6.7% /   30.7%      9.5% /   39.3%      2.5% /   36.1%      2.9% /   19.2%      100%
#   all cold           30.3% /   60.8%      5.9% /   50.1%     13.6% /   55.8%     13.1% /   40.0%       75%
#   all warm           10.9% /   46.7%      9.1% /   53.5%      9.2% /   64.5%     12.7% /   43.6%       88%
#
# Goal (issue 19): <= 10 % at 25 %, <= 5 % at 50 % (warm runs: one earlier run learned).  At 25 %: met, 9.1 %
# (drifting 8.8, daily 11.5, throttled 6.7, realistic 9.5).  At 50 %: NOT met, 9.2 % (realistic 2.5, daily 7.6,
# drifting 8.4, throttled 18.3: a throttle spell that starts or ends after half-way cannot be seen coming).
# The estimate still comes out ~10 % short at half-way in most runs, cold and warm: the job's own rate slows
# toward the end (fewer files than slots), and neither the efficiency nor the job's observed bytes/s see it.
#
# The estimator before this change (groups in flight counted as stuck on their account, the predictor's
# remembered concurrency, the whole-run efficiency, the predictor's error band as the interval), on the same
# jobs (a second full run of this bench with its raw estimates dumped, `--dump`, the old tracker replayed on
# them; the old `estimate`'s pooled time and floor were computed alongside in that run, its interval scaled):
#
#   warm  old 15.0 / 13.1 / 13.4 / 31.9 %, in interval 44 %;   new 9.3 / 9.7 / 11.2 / 13.1 %, 91 %
#   cold  old 38.7 / 14.9 / 21.7 / 46.4 %, in interval 69 %;   new 31.2 / 9.5 / 12.4 / 13.1 %, 81 %
#
# (The figures measured before, 13.0 % / 6.7 % warm at 25 % / 50 %, were on older download code: the jobs changed
# under this bench since, `old` included, and the old estimator gives 13.1 % / 13.4 % on today's jobs.)  The old
# interval was often a point (a predictor without an error band) or absurdly low on the low side and too tight
# on the high side; the new one never is a point (at least +22 % / -18 %).  Per-run figures vary a lot (a
# throttle at the wrong moment; 2 seeds per profile): take them as the order of magnitude.  Today's estimator
# (max over accounts of queue / cumulative speed) is 35-145 % off at half-way.

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
    python bench/eta.py --dump runs.json     # also keep every probe's raw `estimate` ...
    python bench/eta.py --replay runs.json   # ... and score the current `EtaTracker` on it in a second

The replay is exact for changes to the tracker alone (the jobs do not depend on it); a change to
`estimate` (or the predictor) needs new runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from learnsim import FRACTIONS, Job, Probe, Snapshot, errors_of, run_profiled, state_db  # noqa: E402

from tgfetch.learning.eta import Eta, EtaTracker  # noqa: E402
from tgfetch.learning.predictor import Predictor  # noqa: E402
from tgfetch.telegram.simulator.profiles import ProfileClock  # noqa: E402

PROFILES = ("drifting", "daily", "throttled", "realistic")


Rows = dict[str, list[tuple[float, float, float, bool]]]


async def one_profile(profile: str, seed: int, job: Job, dump: list[dict[str, object]]) -> Rows:
    """(fraction, new APE, old APE, inside) rows of the cold and the warm run; each run's probe to `dump`."""
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
        dump += [dumped(profile, seed, k, p) for k, p in (("cold", probe), ("warm", probe2))]
        for name, r in (("cold", rep), ("warm", rep2)):
            print(f"   {profile:10} seed {seed} {name}: download {r.stage_seconds.get('download', 0):5.1f} s  "
                  + "  ".join(f"{int(f * 100)}%: new {n:5.1%} old {o:5.1%}" for f, n, o, _ in out[name]),
                  flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def dumped(profile: str, seed: int, kind: str, p: Probe) -> dict[str, object]:
    """A run's probe as JSON: enough to replay the `EtaTracker` on its raw estimates (``--replay``)."""
    snaps = [[s.at, s.old, s.raw.seconds, s.raw.low, s.raw.high, dict(s.raw.detail), s.left, s.known]
             for s in p.snapshots if s.raw is not None]
    return {"profile": profile, "seed": seed, "kind": kind, "started": p.started, "ended": p.ended, "snaps": snaps}


def replay(runs: list[dict[str, object]]) -> Rows:
    """The current `EtaTracker` over dumped runs' raw estimates (the same jobs, the tracker's code changed)."""
    rows: Rows = {}
    for run in runs:
        started, ended = float(run["started"]), float(run["ended"])  # type: ignore[arg-type]
        tracker, snaps = EtaTracker(started), []
        for at, old, sec, low, high, detail, left, known in run["snaps"]:  # type: ignore[attr-defined]
            raw = Eta(sec, low, high, detail)
            snaps.append(Snapshot(at, tracker.correct(at, raw, left, known), old, raw, left, known))
        rs = [(f, *e) for f, e in errors_of(snaps, started, ended).items()]
        for key in (f"{run['profile']} {run['kind']}", f"all {run['kind']}", "all"):
            rows.setdefault(key, []).extend(rs)
    return rows


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
    ap.add_argument("--dump", type=Path, help="write every run's probe (raw estimates) to this JSON file")
    ap.add_argument("--replay", type=Path, help="no jobs: replay the EtaTracker on a --dump file")
    a = ap.parse_args()
    if a.replay:
        table(replay(json.loads(a.replay.read_text())))
        return
    profiles = ["drifting"] if a.quick else a.profiles.split(",")
    seeds = [5] if a.quick else [int(s) for s in a.seeds.split(",")]
    job = Job(messages=a.messages, size_scale=0.12)
    rows: Rows = {}
    dump: list[dict[str, object]] = []
    for profile in profiles:
        for seed in seeds:
            got = await one_profile(profile, seed, Job(seed=seed, messages=job.messages, size_scale=job.size_scale),
                                    dump)
            if a.dump:
                a.dump.write_text(json.dumps(dump))
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
