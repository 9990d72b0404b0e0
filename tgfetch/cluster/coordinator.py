"""Coordinator core: store the job's meta, enqueue the plan idempotently, watch until done.

    meta.state:  (absent) ──► planning ──enqueue_plan──► running ──all done/dead──► done

Restartable: a second run re-reads the enqueue cursor, adds nothing twice and keeps watching.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from tgfetch.aio import wait_event
from tgfetch.cluster.queue import ClusterQueue
from tgfetch.cluster.records import DeadLetter, GroupPayload, Progress, Remaining
from tgfetch.retry import REDIS_OUTAGE_RETRY

__all__ = ["WATCHING", "CoordinatorSummary", "plan_totals", "run_coordinator"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress, Remaining], None]
WATCHING = "watching"  # the job's meta state while a coordinator follows the channel (`--watch`)


@dataclass(frozen=True)
class CoordinatorSummary:
    """How a coordinator run ended."""

    job: str
    enqueued_now: int
    total: int
    done: int
    failed: int
    finished: bool
    progress: Progress
    dead: list[DeadLetter] = field(default_factory=list)
    elapsed_s: float = 0.0


def plan_totals(plan: Mapping[str, Sequence[GroupPayload]]) -> dict[str, int]:
    """Return the plan's totals as meta fields."""
    groups = [g for gs in plan.values() for g in gs]
    return {
        "total_groups": len(groups),
        "total_files": sum(g.files for g in groups),
        "total_bytes": sum(g.bytes for g in groups),
        "total_accounts": len(plan),
    }


async def _start(queue: ClusterQueue, plan: Mapping[str, Sequence[GroupPayload]], meta: Mapping[str, str | int],
                 watching: bool = False) -> int:
    """Store meta and enqueue; return the number of groups newly added.  `watching`: then the job's state
    is `watching` (set only once the plan is enqueued: a coordinator killed before plans again)."""
    current = await queue.meta()
    fields: dict[str, str | int | float] = {**meta}
    if plan:  # a restarted coordinator passes no plan: keep the stored totals
        fields |= plan_totals(plan)
    if "state" not in current:
        fields |= {"state": "planning", "created_at": time.time()}
    await queue.set_meta(fields)
    added = await queue.enqueue_plan(plan, final=True)
    log.info("job %s: %d groups enqueued now (%s planned)", queue.keys.job, added, fields.get("total_groups", "?"))
    if watching:
        await queue.set_meta({"state": WATCHING})
    return added


async def run_coordinator(
    queue: ClusterQueue,
    plan: Mapping[str, Sequence[GroupPayload]],
    *,
    meta: Mapping[str, str | int] | None = None,
    stop: asyncio.Event | None = None,
    poll_s: float = 1.0,
    on_progress: ProgressCallback | None = None,
    watching: bool = False,
) -> CoordinatorSummary:
    """Enqueue the plan (idempotently), then sweep and poll until every group is done or stop is set
    (`watching`: the job is never done, new posts come; see `_start`)."""
    started = time.monotonic()
    stop = stop or asyncio.Event()
    added = await _start(queue, plan, meta or {}, watching)
    dead: list[DeadLetter] = []
    swept, finished, outages = 0.0, False, 0
    while not stop.is_set():
        try:
            if time.monotonic() - swept >= queue.lease_s / 2:
                dead += await queue.sweep()
                swept = time.monotonic()
            if on_progress is not None:
                on_progress(await queue.progress(), await queue.remaining())
            if await queue.is_done():
                await queue.set_meta({"state": "done", "finished_at": time.time()})
                finished = True
                break
            outages = 0
        except RedisError as exc:
            log.warning("coordinator: Redis unavailable (%s); retrying", exc)
            await REDIS_OUTAGE_RETRY.sleep(outages, stop)
            outages += 1
            continue
        await wait_event(stop, poll_s)
    rem = await queue.remaining()
    return CoordinatorSummary(queue.keys.job, added, rem.total, rem.done, rem.failed, finished, await queue.progress(),
                              dead, time.monotonic() - started)
