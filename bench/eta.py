# A warm run's memory (2 Dec, late): FORGET_SETTLED 40 s (the efficiency's memory where the predictor knew
# every account at the start; cold runs keep FORGET 10 s) and REVERT 10 -> 20 s, swept by `--replay` on the six
# runs below (FORGET 10-1e9 s, REVERT 10-80 s, PRIOR_SECONDS 6-24 s; each seed's jobs apart, each better), then
# checked on a seventh run made after, warm runs, before / after:
#
#   warm runs                          10 %          25 %          50 %          75 %      in interval
#   6 runs (48)                     9.6 /  9.8    6.1 / 5.8     5.7 / 5.1     8.6 / 8.6       92 / 92 %
#   the new run (8)                 8.2 /  8.2    5.2 / 5.1     7.5 / 7.0     7.2 / 7.4       97 / 97 %
#   all 7 runs (56)                 9.4 /  9.6    5.9 / 5.7     5.9 / 5.4     8.4 / 8.4       92 / 93 %
#
# At half-way per profile (56 warm runs, after): drifting 6.3, daily 5.2, throttled 6.7, realistic 3.3 %.  The
# same FORGET in cold runs cost them 0.7-0.9 point at 50 / 75 %.  Still NOT met at 50 % (5.4 %).  The
# seventh run's seed-6 jobs were 10-11 % off at half-way whatever the constants: the drift of the remaining
# seconds (the now-cast oracle is 8 % off on the drifting seed-6 runs too) decides most of the figure.
#
# Tracker constants (2 Dec, evening): PRIOR_SECONDS 3 -> 12 s, WARMUP 2 -> 1 s, chosen by `--replay` on five
# full runs (40 warm runs) and checked on a sixth run made after (both settings replayed on its dump), warm:
#
#   warm runs                          10 %    25 %    50 %    75 %   in interval
#   5 runs (40), before / after       10.6 /  9.8  7.5 / 6.3  7.2 / 5.6  8.3 / 8.7    90 / 92 %
#   the new run (8), before / after    8.4 /  9.0  6.6 / 4.7  8.4 / 5.9  8.2 / 7.7    94 / 94 %
#   all 6 runs (48), after              9.6         6.1        5.7        8.6         92 %
#
# At half-way per profile (48 warm runs, after): drifting 6.4, daily 5.2, throttled 7.7, realistic 3.4 %.
# Cold runs (48) at half-way 17.1 -> 13.8 %.  The goal at 50 % (5 %) is still NOT met: 5.7 % over 48 runs.
#
# Oracles (2 Dec): how much of the error is the unknowable future?  `learnsim.Oracle` rebuilds, after
# each run, at every probe, ETAs from the simulator's TRUE speeds (each account's base x its `AccountShape`
# factor on the profile clock, contention 1; the DC mix as each account's byte-weighted harmonic-mean DC factor
# over the bytes left): "now-cast" = bytes left / the live accounts' pooled true rates at that moment, held to
# the end (a perfect estimator of the current speeds); "foresight" = the shortest time the true future rates
# (integrated, 0.05 s steps: `fetch_seconds`, shared with makespan.py's `profile_bound`) need for the bytes
# left: its error is the engine's own (tail, round trips, start-up); "f / eff" = foresight over the efficiency
# so far (bytes fetched / bytes the true rates could have fetched since the start), "f / eff 5 s" the same over
# the last 5 s.  Three full runs of this bench (24 warm runs; "f / eff 5 s" over the last two, 16), MAPE, warm:
#
#   warm runs, 24     10 %    25 %    50 %    75 %      at 50 %     drifting  daily  throttled  realistic
#   new               10.8     7.1     7.0     8.1                     9.0     6.2      6.6        6.1
#   today's           59.6    53.0    63.7    36.0                    60.5    72.3     68.0       53.9
#   now-cast           2.3     7.9     6.7     3.2                     5.5     2.1     15.2        4.0
#   foresight          5.5     4.5     2.3     2.2                     2.4     2.3      3.1        1.5
#   f / eff          425.1    39.1     9.4     5.7                     9.3    10.3      6.1       12.0
#   f / eff 5 s      471.7    29.9    14.6     4.5                    13.7     8.8     24.2       11.9
#
# Per run (all warm at 50 %: new / now-cast / foresight / f / eff): 6.7 / 9.5 / 1.9 / 10.4, 6.3 / 4.0 / 1.9 /
# 8.2, 7.9 / 6.5 / 3.2 / 9.7.  Cold runs at 50 % (24): new 17.2, now-cast 16.1, foresight 9.5 (throttled
# cold ~29 %: there the engine itself is ~30 % slower than the pooled bound).
# Conclusion: the floor is low: with perfect knowledge of the future speeds the remaining time is within ~2.3 %
# at half-way (the engine's own inefficiency; 2 % at 75 %), so 5 % is physically reachable.  But NOT by an
# estimator of the current speeds alone: the perfect now-cast scores 6.7 % at half-way, no better than ours
# (7.0 %), because of throttled spells that start or end after half-way (throttled 15.2 %; ours hedges them,
# 6.6 %).  On the three other profiles the now-cast reaches 2.1-5.5 % where ours is 6.1-9.0 %: there 2-4
# points are our estimator's fault (its view of the current speeds), the rest is drift.  Dividing by the
# measured efficiency makes things worse (9.4 / 14.6 %): it is dominated by the start-up seconds and lumpy
# progress, while the engine's real shortfall at half-way is only ~2 %.  So 5 % at 50 % needs both the
# now-cast's accuracy on drifting / daily / realistic and a hedge against throttle changes better than either.
#
# Measured (this machine, 2 cores; `python bench/eta.py --dump`, 376 s; 400-message channel, files capped at
# 16 MiB, three accounts, 19-34 s downloads; download engine of 2 Dec (tail: small files early, a bytes-in-flight
# window per account, cheaper rebalances); MAPE of the remaining time, new / today's (the scheduler's own
# estimate); "in interval": the truth inside the new estimate's interval at the four points):
#
#   runs              10 %: new / old     25 %: new / old     50 %: new / old     75 %: new / old   in interval
#   drifting cold      47.2% /   69.5%     16.2% /   69.6%     23.8% /   91.8%      9.8% /   18.5%       50%
#   drifting warm       8.5% /   60.2%      9.7% /   51.7%     11.3% /   52.7%     13.4% /   10.0%       75%
#   daily cold         24.3% /   58.1%      5.4% /   44.5%     10.5% /   44.8%     16.1% /   12.2%      100%
#   daily warm          4.0% /   67.8%      5.8% /   54.0%      7.8% /   41.0%      9.3% /   10.7%      100%
#   throttled cold     45.1% /  101.5%     13.7% /  114.7%     17.8% /  174.7%     17.3% /  318.0%       62%
#   throttled warm     35.5% /   46.4%      4.7% /   44.5%      8.4% /   68.9%      1.5% /   32.8%       75%
#   realistic cold     29.8% /   50.8%      8.6% /   46.1%     15.8% /   59.6%      3.8% /   33.2%       75%
#   realistic warm      3.2% /   41.8%      7.1% /   57.2%      7.3% /   36.6%     10.6% /   17.6%      100%
#   all cold           36.6% /   70.0%     11.0% /   68.7%     17.0% /   92.7%     11.7% /   95.5%       72%
#   all warm           12.8% /   54.1%      6.8% /   51.8%      8.7% /   49.8%      8.7% /   17.8%       88%
#
# Goal (issue 19): <= 10 % at 25 %, <= 5 % at 50 % (warm runs: one earlier run learned).  At 25 %: met in this
# run, 6.8 % (9.9 % over the 32 warm runs of four runs of this bench today, below).  At 50 %: NOT met, 8.7 %
# (realistic 7.3, daily 7.8, throttled 8.4, drifting 11.3; 6.8 % over the 32 warm runs).
# A run of 2 Dec after later rebalances could fetch (the accounts' estimated finishes now stay within ~0.5 s
# of each other all through a job), warm runs at 10 / 25 / 50 / 75 %: 7.9 / 9.2 / 6.6 / 8.6 % (old estimator
# 51.2 / 51.2 / 65.0 / 40.0 %), at half-way drifting 8.5, daily 7.2, throttled 5.0, realistic 5.7 %; in
# interval 91 %.  Still NOT met at 50 %.
#
# What changed (the tracker only): the efficiency measured lately (last ~FORGET s) is no longer assumed to
# last to the end: a departure from its prior (1) fades as exp(-t / tau), tau = REVERT (10 s) or the
# departure's age if longer (`eta.horizon`); only in a run whose predictor knew every account at its start
# (`eta.settled`: a warm run; in a cold one the efficiency also stands for the predictor's level, which does
# not fade, and the old rule stays).  The same tracker before this change (pooled seconds over the efficiency
# to the end), replayed on the same jobs (`--replay` of the dumps; exact, the jobs do not depend on it), warm
# runs at 10 / 25 / 50 / 75 %, new / before:
#
#   this run          12.8 / 13.9    6.8 / 10.1    8.7 /  9.9    8.7 /  8.7    in interval 88 / 91 %
#   3 earlier runs    11.8 / 10.4   10.9 / 12.8    6.1 /  8.8   10.2 / 11.1    (24 warm runs of 3 dumps today)
#   all 32 warm runs  12.1 / 11.3    9.9 / 12.1    6.8 /  9.1    9.9 / 10.5
#
# Cold runs are unchanged (the old rule).  So: half-way ~2.3 points better, 25 % ~2 better, 75 % ~0.6 better,
# 10 % ~0.8 worse (an early quick spell is taken as passing).  Applied to cold runs as well it cost 25 %
# (8.7 -> 12.1 % over 24 cold runs) for 50 % / 75 % (12.0 -> 10.6, 12.2 -> 10.5).
#
# Found: the ~10 % shortfall at half-way seen before is gone with today's engine: in today's first run the
# warm runs' mean signed error at half-way was -0.3 % (median -6 %), the errors are spread both ways (a
# throttle that ends, speeds that drift, lumpy first seconds: 1-4 MB/s while connecting, then bursts of 15-20
# MB/s, then ~9-10 MB/s).
# Even the best constant factor fitted in-sample (cheating) on today's first dump only reached 9.1 % warm at
# half-way (12.7 % at 25 %): no bias correction can reach the goal here.  Tried and dropped (replayed on the
# same dumps, or a full run for `estimate`): (1) a learned end-of-job bias, ratio true / estimated remaining
# by the share of bytes done, learned from the job's cold run (or all earlier runs of the bench), shrunk
# toward 1, applied to the warm run: warm 50 % 8.8-14.5 % (was 9.8), 10 % worse (13-29 %); (2) a structural
# tail term in `estimate` (the residual life E[d^2] / 2 E[d] of the files in flight, d each file's seconds
# alone on the account quickest at it, times 1 - 1/m): 0.1-0.35 s at half-way, no gain (warm 50 % 8.3 ->
# 8.5 %); (3) the prior efficiency from the cold run's final one (final efficiencies were 0.87-1.08: no
# gain); FORGET / PRIOR_SECONDS / REVERT sweeps (3-20 s, 3-10 s, 5-20 s: all 32 warm runs within a point at
# each checkpoint, 6.0-7.3 % at half-way: the constants stay); smoothing the predicted finish (EWMA or
# median over 0.5-3 s: no gain); blending with the job's observed bytes/s (worse); fading toward the whole
# run's efficiency instead of the prior (no gain).  Per-run figures still vary a lot between the four runs of
# this bench today (warm at half-way 8.3-9.9 % before the change, 4.3-8.7 % after): 2 seeds per
# profile; take them as the order of magnitude.  Note the jobs here read and write the machine's history
# (~/.local/share/tgfetch/history.sqlite: XDG_DATA_HOME is not set), so a run's plan depends on earlier ones.

"""ETA accuracy on non-stationary simulated accounts: the new estimate against today's, side by side.

For each drifting profile (`tgfetch.telegram.simulator.profiles`) and seed, two real simulated jobs
of the same channel run one after the other on one profile clock (a simulated day is 600 s, so a
~30 s job spans about 1.3 simulated hours): a first ("cold": nothing learned) and a second
("warm": the same `Predictor` goes on learning, today's estimator starts from the speeds the first
run saved in the state DB).  Every 0.2 s
a monitor reads the scheduler (`learning.live.remaining_of`) and takes both estimates; afterwards,
at 10/25/50/75 % of the download stage, the error of each is |estimated - true remaining| / true
remaining (MAPE over the runs), and how often the truth fell inside the new estimate's interval.
Beside them, reference estimates from the simulator's true speeds (`learnsim.Oracle`, after each run at
every probe): "now-cast", the bytes left over the live accounts' pooled true rates at that moment held to
the end (a perfect estimator of today's speeds); "foresight", the shortest time the true future rates
need for them (the engine's own inefficiency is its error); and "foresight / efficiency", foresight over
the efficiency achieved so far (bytes fetched / bytes the true rates could have fetched), from the start
or over the last RECENT s.

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
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from learnsim import (  # noqa: E402
    FRACTIONS,
    RECENT,
    Errors,
    Job,
    Probe,
    Snapshot,
    errors_of,
    run_profiled,
    state_db,
)

from tgfetch.learning.eta import Eta, EtaTracker  # noqa: E402
from tgfetch.learning.predictor import Predictor  # noqa: E402
from tgfetch.telegram.simulator.profiles import ProfileClock  # noqa: E402

PROFILES = ("drifting", "daily", "throttled", "realistic")


Rows = dict[str, list[tuple[float, Errors]]]
ESTIMATORS = (("new", "new"), ("old", "today's"), ("nowcast", "oracle now-cast"), ("foresight", "oracle foresight"),
              ("efficient", "foresight / efficiency"), ("recent", f"foresight / last {RECENT:.0f} s' eff."))


async def one_profile(profile: str, seed: int, job: Job, dump: list[dict[str, object]]) -> Rows:
    """(fraction, `Errors`) rows of the cold and the warm run; each run's probe to `dump`."""
    clock = ProfileClock(day_seconds=600.0, start_hour=6.0 + 4 * seed % 18)
    predictor = Predictor()
    root = Path(tempfile.mkdtemp(prefix="tgfetch-eta-"))
    out: Rows = {}
    try:
        rep, probe, _ = await run_profiled(job, profile, root / "cold", clock=clock, predictor=predictor)
        out["cold"] = list(probe.errors().items())
        rep2, probe2, _ = await run_profiled(job, profile, root / "warm", clock=clock, predictor=predictor,
                                             state=state_db(root / "cold"))
        out["warm"] = list(probe2.errors().items())
        dump += [dumped(profile, seed, k, p) for k, p in (("cold", probe), ("warm", probe2))]
        for name, r in (("cold", rep), ("warm", rep2)):
            print(f"   {profile:10} seed {seed} {name}: download {r.stage_seconds.get('download', 0):5.1f} s  "
                  + "  ".join(f"{int(f * 100)}%: new {e.new:5.1%} old {e.old:5.1%} oracles {e.nowcast:5.1%} "
                              f"{e.foresight:5.1%} {e.efficient:5.1%} {e.recent:5.1%}" for f, e in out[name]),
                  flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def dumped(profile: str, seed: int, kind: str, p: Probe) -> dict[str, object]:
    """A run's probe as JSON: enough to replay the `EtaTracker` on its raw estimates (``--replay``); the
    oracles' ETAs last."""
    snaps = [[s.at, s.old, s.raw.seconds, s.raw.low, s.raw.high, dict(s.raw.detail), s.left, s.known,
              *(s.oracle or ())] for s in p.snapshots if s.raw is not None]
    return {"profile": profile, "seed": seed, "kind": kind, "started": p.started, "ended": p.ended, "snaps": snaps,
            "fade": p.fade}


def replay(runs: list[dict[str, object]]) -> Rows:
    """The current `EtaTracker` over dumped runs' raw estimates (the same jobs, the tracker's code changed);
    the oracles as dumped (none in older dumps)."""
    rows: Rows = {}
    for run in runs:
        started, ended = float(run["started"]), float(run["ended"])  # type: ignore[arg-type]
        tracker, snaps = EtaTracker(started, fade=bool(run.get("fade", run["kind"] == "warm"))), []
        for at, old, sec, low, high, detail, left, known, *oracle in run["snaps"]:  # type: ignore[attr-defined]
            raw = Eta(sec, low, high, detail)
            snaps.append(Snapshot(at, tracker.correct(at, raw, left, known), old, raw, left, known,
                                  oracle=tuple(oracle) if oracle else None))
        rs = list(errors_of(snaps, started, ended).items())
        for key in (f"{run['profile']} {run['kind']}", f"all {run['kind']}", "all"):
            rows.setdefault(key, []).extend(rs)
    return rows


def table(rows: Rows) -> None:
    """MAPE per group of runs, one line per estimator (an oracle's over the runs that have it, "-" if none:
    older dumps), and how often the truth was inside the new interval."""
    print(f"{'runs':18} {'estimator':27}" + "".join(f"{f'{int(f * 100)} %':>9}" for f in FRACTIONS)
          + "  in interval")
    for name, rs in rows.items():
        for i, (key, label) in enumerate(ESTIMATORS):
            cells = [_mean([getattr(e, key) for g, e in rs if g == f]) for f in FRACTIONS]
            inside = f"{sum(e.inside for _, e in rs) / len(rs):13.0%}" if i == 0 else ""
            print(f"{name if i == 0 else '':18} {label:27}"
                  + "".join(f"{'-':>9}" if math.isnan(c) else f"{c:9.1%}" for c in cells) + inside)


def _mean(values: list[float]) -> float:
    """The mean of the known (not NaN) values; NaN if none."""
    known = [v for v in values if not math.isnan(v)]
    return statistics.mean(known) if known else math.nan


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
    print("mean absolute percentage error of the remaining time (new, today's, the oracles)")
    table(rows)


if __name__ == "__main__":
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="tgfetch-bench-")  # a history of its own, never the user's
    t0 = time.time()
    asyncio.run(main())
    print(f"bench time {time.time() - t0:.0f}s")
