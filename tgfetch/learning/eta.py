"""When will the job finish?  The new estimate (pooled, from per-file predictions) and today's.

Today's (`legacy_eta`, the scheduler's ``max(ClientState.est_remaining)``): per account, its
queued and in-flight bytes over its measured speed, plus its files times its per-file overhead,
plus the FLOOD_WAIT it sits in; the job ends when the slowest of them does.

The new one (`estimate`) counts on what the scheduler does: idle accounts steal, so the accounts
finish together and the work is *pooled*.  Per live account i, ``T_i`` = the seconds it alone
would take for every file left: the sum of the `Predictor`'s costs of the files (`ewma`: a
file's seconds of the account's time), at the account's concurrency now (its files in flight: at a
job's start, the predictor's memory is the end of the last job, when few files were left).
Account i works from its wait ``w_i`` on, so the job ends at the T with::

    sum_i max(0, T - w_i) / T_i = 1

but never before the *floor*: an account's groups in flight are done on it, or (the end game
takes over or backs up a slow account's group) by the account quickest at them alone; the
largest group left is fetched alone by the account quickest at it.  (Counting groups in flight as
stuck on their account put a throttled account's group 2-5x over the true end in bench/eta.py.)
The predictions are made at the simulated or local hour halfway to the estimated end (twice: the
time-of-day term sees the hours the job will run in).  `EtaTracker` then corrects the level by the
efficiency measured lately, expected to fade back to its prior (`horizon`), and gives the interval (see there).
`estimate`'s own interval puts each account's ``T_i`` at the 10 % and 90 % of its recent prediction
errors over blocks of `BAND_BLOCK` files (errors of single files partly cancel in a sum; drift does not).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tgfetch.learning.predictor import Predictor
from tgfetch.learning.samples import HOME_DC

__all__ = ["BAND_BLOCK", "Eta", "EtaTracker", "Remaining", "estimate", "horizon", "informed", "legacy_eta",
           "settled"]

Array = npt.NDArray[np.float64]
Group = Sequence[tuple[int, int]]  # (bytes left, dc) of each file of one group
BAND_BLOCK = 10
HOUR_PASSES = 2
# The prior efficiency weighs as much as this many seconds of measured progress.  Chosen with WARMUP by
# replaying the tracker on five full runs of bench/eta.py (40 warm runs; PRIOR_SECONDS 3 / 6 / 12 / 20 / 30 s,
# WARMUP 1 / 2 s): 12 s and 1 s took the error at half-way from 7.2 to 5.6 % (better in each of the three sets
# of runs: 7.0 -> 5.9, 6.6 -> 4.3, 8.7 -> 6.1), at 25 % from 7.5 to 6.3 %.  Checked on a sixth, new run
# (8 warm runs, both settings replayed on it): 8.4 -> 5.9 % at half-way, 6.6 -> 4.7 % at 25 %, 8.2 -> 7.7 %
# at 75 %, 8.4 -> 9.0 % at 10 %.  (The efficiency of a few seconds is lumpy: trusting it sooner but less pays.)
PRIOR_SECONDS = 12.0
FORGET = 10.0  # seconds: the efficiency weighs a second of progress this long ago 1/e as much as the last
# ... where it also stands for the predictor's level (a cold run, ``fade`` False: the level is learned as the
# run goes, so the last seconds tell most); where the history taught the predictor every account (a warm run:
# the efficiency is only the departure from a known level), FORGET_SETTLED, with REVERT 20 s (were 10 and 10
# s): replayed on the six runs' dumps swept (48 warm runs) the error at half-way went from 5.7 to 5.1 %, at
# 25 % from 6.1 to 5.8 %; on a seventh run made after (8 warm runs, out of sample) from 7.5 to 7.0 % and 5.2
# to 5.1 %; over all 56, 10 / 25 / 50 / 75 %: 9.4 / 5.9 / 5.9 / 8.4 -> 9.6 / 5.7 / 5.4 / 8.4 %.  (The
# longer memory in cold runs too put them 0.7-0.9 point worse at 50 and 75 %: it is kept to warm runs.)
FORGET_SETTLED = 40.0
REVERT = 20.0  # seconds: a departure of the efficiency from its prior fades as exp(-t / tau), tau = this or
# the departure's age (one that lasted longer is expected to last as long again)
MIN_BAND, MAX_BAND = 0.2, 1.0  # the interval's least and most half-width (log: exp(0.2) = +22 %, -18 %)
SPREAD_WINDOW = 0.5  # the interval's half-width: the spread of the finish times predicted over this share
SPREAD_WEIGHT = 1.0  # of the run (their 90 % quantile from now's, relative to the seconds left, x this)
WARMUP = 1.0  # seconds from the start before the efficiency is measured (every request of every slot is
# in flight at once then, and the first bytes are still to come; the engine limits the parts in flight after
# its accounts' first second of transfer, `account.WINDOW_WARMUP`)


@dataclass(frozen=True)
class Remaining:
    """What one account has left: unstarted groups (may still move) and groups in flight (stay, but
    for the end game's take-overs and backups)."""

    account: str
    groups: Sequence[Group] = ()
    inflight: Sequence[Group] = ()  # its first file's bytes left already net of what was fetched
    copies: Sequence[Group] = ()  # backup copies it races for (another account owns them)
    wait: float = 0.0  # seconds of FLOOD_WAIT still to sit out
    alive: bool = True  # a dead account's (or released) groups still count, its capacity does not
    speed: float = 0.0  # today's estimate: the scheduler's measured bytes/s (0: unknown)
    overhead: float = 0.0  # today's estimate: seconds per file
    measured_s: float = 0.0  # seconds of transfer behind `speed` (0: a default or a learned speed)
    fetched: int = 0  # bytes the account fetched so far in this run (live, in-flight files included)

    @property
    def bytes(self) -> int:
        """Bytes left, unstarted and in flight."""
        return sum(b for g in (*self.groups, *self.inflight) for b, _ in g)

    @property
    def files(self) -> int:
        """Files left, unstarted and in flight."""
        return sum(len(g) for g in (*self.groups, *self.inflight))


@dataclass(frozen=True)
class Eta:
    """Seconds from now until the job is done, with an interval (about 10 % to 90 %)."""

    seconds: float
    low: float
    high: float
    # per account: T_i (seconds alone for everything left); 'pooled', 'pooled_low', 'pooled_high', 'floor'
    detail: Mapping[str, float] = field(default_factory=dict)

    def finish_at(self, now: float) -> tuple[float, float, float]:
        """(estimate, low, high) as times: `now` plus each."""
        return now + self.seconds, now + self.low, now + self.high


def legacy_eta(remaining: Sequence[Remaining]) -> float:
    """Today's estimate: max over live accounts of wait + bytes / speed + files x overhead (backup copies
    it races for included, as ``ClientState.est_remaining`` counts them)."""
    out = 0.0
    for r in remaining:
        if r.alive:
            nbytes = r.bytes + sum(b for g in r.copies for b, _ in g)
            files = r.files + sum(len(g) for g in r.copies)
            out = max(out, r.wait + nbytes / max(r.speed, 1.0) + files * r.overhead)
    return out


def estimate(remaining: Sequence[Remaining], predictor: Predictor, *, hour: float,
             hours_per_second: float = 1 / 3600) -> Eta:
    """The pooled estimate (module docstring) at local (or simulated) `hour`."""
    live = [r for r in remaining if r.alive]
    groups = [g for r in remaining for g in (*r.groups, *r.inflight) if g]
    if not live or not groups:
        return Eta(0.0, 0.0, 0.0)
    size = np.asarray([b for g in groups for b, _ in g], dtype=np.float64)
    dc = np.asarray([d or HOME_DC for g in groups for _, d in g], dtype=np.float64)
    t = 0.0
    alone: dict[str, float] = {}
    for _ in range(HOUR_PASSES):
        at = (hour + hours_per_second * t / 2) % 24
        alone = {r.account: _alone(predictor, r, size, dc, at) for r in live}
        t = _pooled(live, alone, 1.0)
    floor = _floor(remaining, predictor, at)
    bands = {r.account: predictor.band(r.account, BAND_BLOCK) for r in live}
    lo = _pooled(live, {a: v * math.exp(bands[a][0]) for a, v in alone.items()}, 1.0)
    hi = _pooled(live, {a: v * math.exp(bands[a][1]) for a, v in alone.items()}, 1.0)
    detail = {**alone, "pooled": t, "pooled_low": lo, "pooled_high": hi, "floor": floor}
    return Eta(max(t, floor), max(lo, floor), max(hi, floor), detail)


def _alone(predictor: Predictor, r: Remaining, size: Array, dc: Array, hour: float) -> float:
    """Seconds account `r` alone would take for every file."""
    return float(_costs(predictor, r, size, dc, _concurrency(predictor, r), hour).sum())


def _concurrency(predictor: Predictor, r: Remaining) -> float:
    """The files account `r` has in flight now (one per group it fetches, backup copies included); before
    any, as its last files saw it (at a job's start: the end of the last job)."""
    now = len(r.inflight) + len(r.copies)
    return float(now) if now else predictor.concurrency(r.account)


def _costs(predictor: Predictor, r: Remaining, size: Array, dc: Array, c: float, hour: float) -> Array:
    """The predictor's cost of each file on account `r`; before it knows anything of the account, the
    scheduler's live measurement (today's formula) where there is one."""
    if predictor.source(r.account) == "prior" and r.measured_s > 0 and r.speed > 0:
        return np.asarray(size / r.speed + r.overhead, dtype=np.float64)
    return predictor.cost_array(r.account, size, dc, c, hour)


def settled(predictor: Predictor, accounts: Sequence[str]) -> bool:
    """True when the predictor learned files of every account (before a run: `EtaTracker`'s ``fade``)."""
    return all(predictor.source(a) != "prior" for a in accounts)


def informed(remaining: Sequence[Remaining], predictor: Predictor) -> bool:
    """True when every live account's speed was measured (by the predictor or the scheduler)."""
    return all(predictor.source(r.account) != "prior" or r.measured_s > 0 for r in remaining if r.alive)


def _pooled(live: Sequence[Remaining], alone: Mapping[str, float], work: float) -> float:
    """The T at which the accounts, each from its wait on, have done `work` (1 = everything)."""
    done, rate, t = 0.0, 0.0, 0.0
    for wait, r in sorted((max(x.wait, 0.0), 1.0 / max(alone[x.account], 1e-9)) for x in live):
        if rate > 0 and done + rate * (wait - t) >= work:
            return t + (work - done) / rate
        done, t, rate = done + rate * (wait - t), wait, rate + r
    return t + (work - done) / rate


def _floor(remaining: Sequence[Remaining], predictor: Predictor, hour: float) -> float:
    """The least the job can take: an account's groups in flight end on it, unless the end game hands
    them to another account (a take-over or a backup: then each takes at least the time of the account
    quickest at it alone); the largest group left is fetched alone by the account quickest at it."""
    floor = 0.0
    live = [r for r in remaining if r.alive]
    unstarted = [g for r in live for g in r.groups] + [g for r in remaining if not r.alive
                                                     for g in (*r.groups, *r.inflight)]
    if unstarted:
        floor = _quickest(predictor, live, max(unstarted, key=lambda g: sum(b for b, _ in g)), hour)
    own = {r.account: r.wait + sum(_group_cost(predictor, r, g, _concurrency(predictor, r), hour) for g in r.inflight)
           for r in live}
    for r in sorted(live, key=lambda x: -own[x.account]):
        if own[r.account] <= floor:
            break  # the others' groups in flight end sooner still: no need to cost them elsewhere (once a tick)
        others = [x for x in live if x is not r]
        moved = max(_quickest(predictor, others, g, hour) for g in r.inflight) if others and r.inflight \
            else own[r.account]
        floor = max(floor, min(own[r.account], moved))
    return floor


def _quickest(predictor: Predictor, accounts: Sequence[Remaining], g: Group, hour: float) -> float:
    """Seconds until group `g` could be done by the account quickest at it, alone (from its wait on)."""
    return min(r.wait + _group_cost(predictor, r, g, 1.0, hour) for r in accounts)


def _group_cost(predictor: Predictor, r: Remaining, g: Group, c: float, hour: float) -> float:
    size = np.asarray([b for b, _ in g], dtype=np.float64)
    dc = np.asarray([d or HOME_DC for _, d in g], dtype=np.float64)
    return float(_costs(predictor, r, size, dc, c, hour).sum())


def horizon(work: float, efficiency: float, prior: float = 1.0, revert: float = REVERT) -> float:
    """Seconds to do `work` (seconds at efficiency 1) when the efficiency, `efficiency` now, fades back to
    `prior` as ``exp(-t / revert)``: the T with ``prior T + (efficiency - prior) revert (1 - exp(-T / revert))
    = work`` (Newton's method; the left side grows with T, its slope between the two efficiencies)."""
    if work <= 0:
        return 0.0
    e, p = max(efficiency, 1e-3), max(prior, 1e-3)
    lo, hi = work / max(e, p), work / min(e, p)  # the answer lies between the two constant efficiencies
    t = min(max(work / p, lo), hi)
    for _ in range(30):
        fade = math.exp(-t / revert)
        step = (p * t + (e - p) * revert * (1 - fade) - work) / (p + (e - p) * fade)
        t = min(max(t - step, lo), hi)
        if abs(step) < 1e-6 * max(t, 1.0):
            break
    return t


@dataclass
class _Point:
    at: float
    nbytes: int
    rate: float  # the pooled bytes/s the model predicted then (0: it knew nothing yet)


class EtaTracker:
    """`estimate`, corrected by how fast the job really goes, with an interval that is never empty.

    The *efficiency*: the pooled estimate assumes every account busy at the predicted speed until
    the end; but speeds drift, slots wait on round trips and message fetches, and the predictor's
    level is off until it has learned this run's files.  Every call notes the bytes left and the
    pooled rate predicted (bytes left over the pooled seconds); the efficiency is the bytes actually
    fetched since `WARMUP` s after the start (counted once every live account's speed is known) over
    the bytes the predicted rates would have fetched meanwhile, each second weighed
    ``exp(-age / FORGET)`` (the predictor keeps learning and speeds drift: older rates are stale; in a
    run that starts `settled`, ``FORGET_SETTLED``: there the efficiency is a departure from a known
    level, and a longer memory averages out lumpy progress), and shrunk toward `prior` (1, or what
    earlier runs achieved) with the weight of `PRIOR_SECONDS`.  The
    estimate is the pooled one at that efficiency, fading back to the prior as ``exp(-t / tau)``
    (`horizon`; ``tau``: `REVERT`, or how long the efficiency has been on this side of the prior if
    longer; with ``fade`` False, as in a run whose predictor knew nothing of some account at its start
    (`settled`), the efficiency also stands for the predictor's level, which does not fade: it stays),
    but never under `estimate`'s floor.  (A throttle or a burst ends, and the predictor learns the
    speeds meanwhile: in bench/eta.py, the same efficiency to the end put warm runs 9.1 % off at
    half-way, the fading one 6.8 %, over 32 runs.)

    The interval, ``seconds x exp(+-rel)``: ``rel`` is how far the finish times predicted over the
    last `SPREAD_WINDOW` of the run lie from the one predicted now (their 90 % quantile, relative to
    the seconds left, times `SPREAD_WEIGHT`), at least `MIN_BAND`: never a point, even before the
    predictor has an error band.  (`estimate`'s own interval, from the per-file errors, came out far
    too low on the low side and too tight on the high side in bench/eta.py; this one held the truth
    about 80 % of the time at half its width.)
    """

    def __init__(self, started: float, prior: float = 1.0, *, fade: bool = True) -> None:
        self.started = started
        self.prior = prior
        self.fade = fade  # see the class docstring (`settled`)
        self.efficiency = prior
        self._first: _Point | None = None  # the first and the last point measured (after the warm-up,
        self._last: _Point | None = None  # every live account's speed known)
        self._done = self._expected = 0.0  # bytes fetched and predicted since, older seconds forgotten
        self._since, self._above = started, True  # when the efficiency last crossed the prior; above it
        self._finishes: collections.deque[tuple[float, float]] = collections.deque()  # (when, finish then)

    def update(self, now: float, remaining: Sequence[Remaining], predictor: Predictor, *, hour: float,
               hours_per_second: float = 1 / 3600) -> Eta:
        """The estimate now (see the class docstring)."""
        raw = estimate(remaining, predictor, hour=hour, hours_per_second=hours_per_second)
        return self.correct(now, raw, sum(r.bytes for r in remaining), informed(remaining, predictor))

    def correct(self, now: float, raw: Eta, left: int, known: bool) -> Eta:
        """`raw` (`estimate` now, with `left` bytes left; `known`: `informed`) corrected."""
        pooled = raw.detail.get("pooled", raw.seconds)
        if pooled > 0 and known and now >= self.started + WARMUP:
            self.efficiency = self._measure(_Point(now, left, left / pooled))
        floor = raw.detail.get("floor", 0.0)
        e = max(self.efficiency, 1e-3)
        if (e >= self.prior) != self._above:  # a new departure from the prior starts
            self._above, self._since = e >= self.prior, now
        work = horizon(pooled, e, self.prior, max(REVERT, now - self._since)) if self.fade else pooled / e
        seconds = max(work, floor)
        rel = self._spread(now, seconds)
        return Eta(seconds, seconds * math.exp(-rel), seconds * math.exp(rel),
                   {**raw.detail, "floor": floor, "efficiency": e, "band": rel})

    def _measure(self, p: _Point) -> float:
        """The efficiency with point `p` (see the class docstring)."""
        last, self._last = self._last, p
        if last is None or self._first is None:
            self._first = p
            return self.prior
        forget = math.exp(-(p.at - last.at) / (FORGET_SETTLED if self.fade else FORGET))
        self._done = self._done * forget + (last.nbytes - p.nbytes)
        self._expected = self._expected * forget + last.rate * (p.at - last.at)
        seconds = p.at - self._first.at
        if self._expected <= 0 or seconds <= 0:
            return self.prior
        return (self._done / self._expected * seconds + self.prior * PRIOR_SECONDS) / (seconds + PRIOR_SECONDS)

    def _spread(self, now: float, seconds: float) -> float:
        """The interval's half-width (log): how far the recent predicted finish times lie from now's."""
        self._finishes.append((now, now + seconds))
        while self._finishes[0][0] < now - SPREAD_WINDOW * (now - self.started):
            self._finishes.popleft()
        if len(self._finishes) < 3 or seconds <= 0:
            return MIN_BAND
        off = np.abs(np.asarray([f for _, f in self._finishes]) - (now + seconds))
        return min(max(MIN_BAND, SPREAD_WEIGHT * float(np.quantile(off, 0.9)) / seconds), MAX_BAND)
