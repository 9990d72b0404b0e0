"""ETA: today's estimate reproduced from a real scheduler; the pooled estimate's arithmetic."""

from __future__ import annotations

import itertools
import time
from pathlib import PurePosixPath

import pytest

from tgfetch.download.scheduler import Scheduler
from tgfetch.download.work import FileTask, GroupWork
from tgfetch.learning.eta import REVERT, EtaTracker, Remaining, estimate, horizon, legacy_eta
from tgfetch.learning.live import remaining_of
from tgfetch.learning.predictor import Predictor
from tgfetch.learning.samples import Sample
from tgfetch.model import MessageGroup, MessageInfo

_ids = itertools.count(1)
MB = 1_000_000


def work(*sizes: int) -> GroupWork:
    first = next(_ids) * 100
    gid = first if len(sizes) > 1 else None
    infos = [MessageInfo(first + i, gid, s, f"f{i}", None, "document", dc_id=2) for i, s in enumerate(sizes)]
    files = [FileTask(m, PurePosixPath(f"{m.message_id}.bin"), None, len(infos), "") for m in infos]
    return GroupWork(MessageGroup.of(infos), files, "")


def trained(speeds: dict[str, float], n: int = 60) -> Predictor:
    """A predictor that saw `n` 2 MB files of each account at its speed (cost = size / speed)."""
    p = Predictor()
    t = time.time() - 600
    for k in range(n):
        for name, speed in speeds.items():
            size = 2 * MB + 1000 * k
            p.observe(Sample(name, size, 2, 1.0, t, size / speed, 12.0, account_bytes=size))
            t += 0.1
    return p


def test_legacy_eta_is_the_schedulers_own_estimate() -> None:
    s = Scheduler({"a": [work(5 * MB), work(MB, MB)], "b": [work(3 * MB)]}, {"a": 2e6, "b": 1e6})
    pick = s.next("a")
    assert pick is not None
    pick.work.add_partial(MB // 2)
    s.update_estimates("b", speed=1.5e6, measured_s=2.0, waiting=3.0, overhead=0.02)
    want = max(c.est_remaining for c in s.alive)
    assert legacy_eta(remaining_of(s)) == pytest.approx(want)
    rem = {r.account: r for r in remaining_of(s)}
    assert rem["a"].inflight[0][0] == (5 * MB - MB // 2, 2) and rem["b"].wait == 3.0


def test_pooled_accounts_finish_together() -> None:
    p = trained({"a": 2e6, "b": 1e6})
    rem = [Remaining("a", [[(3 * MB, 2)]] * 10), Remaining("b", [[(3 * MB, 2)]] * 10)]
    eta = estimate(rem, p, hour=12.0)
    assert eta.seconds == pytest.approx(60 * MB / 3e6, rel=0.05)  # 60 MB at 2 + 1 MB/s
    assert eta.low <= eta.seconds <= eta.high
    assert legacy_eta([Remaining("a", [[(3 * MB, 2)]] * 10, speed=2e6),
                       Remaining("b", [[(3 * MB, 2)]] * 10, speed=1e6)]) == pytest.approx(30.0)


def test_a_waiting_account_joins_late_and_a_dead_one_not_at_all() -> None:
    p = trained({"a": 2e6, "b": 2e6})
    groups = [[(2 * MB, 2)]] * 10
    both = estimate([Remaining("a", groups), Remaining("b", groups)], p, hour=12.0).seconds
    late = estimate([Remaining("a", groups), Remaining("b", groups, wait=5.0)], p, hour=12.0).seconds
    dead = estimate([Remaining("a", groups), Remaining("b", groups, alive=False)], p, hour=12.0).seconds
    assert both == pytest.approx(10.0, rel=0.05)
    assert late == pytest.approx(12.5, rel=0.05)  # a alone for 5 s (10 MB), then both for the 30 MB left
    assert dead == pytest.approx(20.0, rel=0.05)


def test_a_big_group_in_flight_is_the_floor() -> None:
    p = trained({"a": 2e6, "b": 2e6})
    eta = estimate([Remaining("a", inflight=[[(40 * MB, 2)]]), Remaining("b", [[(MB, 2)]])], p, hour=12.0)
    assert eta.seconds == pytest.approx(20.0, rel=0.05)  # b cannot help with a's file


def test_tracker_learns_the_efficiency_from_progress() -> None:
    p = trained({"a": 2e6})
    tracker = EtaTracker(started=0.0)
    left = 100 * MB
    for k in range(60):  # the account fetches only 1 MB/s of its predicted 2 (for a minute: the prior fades)
        rem = [Remaining("a", [[(left, 2)]] if left else [], fetched=100 * MB - left, measured_s=k)]
        eta = tracker.update(float(k), rem, p, hour=12.0)
        left -= MB
    assert tracker.efficiency == pytest.approx(0.5, abs=0.1)
    pooled = (left + MB) / 2e6  # the last call's bytes left at the predicted 2 MB/s
    # the slowdown is expected to pass (`horizon`), but one this old (the whole run) not soon
    assert horizon(pooled, tracker.efficiency, 1.0, REVERT) < eta.seconds < pooled / tracker.efficiency
