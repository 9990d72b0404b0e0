"""Multi-machine mode on Redis Streams (DESIGN §6).

Keys of a job (see ``keys``); every key starts with ``tgfetch:{<job>}:``::

    q:<account>  stream  planned groups of an account, consumer group "workers",
                         consumers "<machine>:<account>" (own account or thieves)
    enqueued     set     group ids ever enqueued     cursor   hash  enqueue cursor (plan id, position)
    backlog      hash    undelivered work per account   done  set   completed group ids
    failed       set     dead-lettered, not completed    dead  stream dead letters
    progress     hash    <machine>:<account>:files|bytes|groups|steals
    accounts     hash    <account> -> {machine, speed_bps, registered_at, last_seen}
    meta         hash    channel, first_id, last_id, strategy, totals, state

Modules: ``keys`` (names), ``records`` (payloads, figures), ``scripts`` (Lua), ``queue``
(ClusterQueue), ``lease`` (LeaseKeeper), ``worker`` and ``coordinator`` (cores),
``security`` (URL checks), ``redis_server`` (a real redis-server for tests and benchmarks).
"""

from __future__ import annotations

from tgfetch.cluster.coordinator import CoordinatorSummary, plan_totals, run_coordinator
from tgfetch.cluster.keys import GROUP, RELEASED, JobKeys, consumer_name, job_name
from tgfetch.cluster.lease import LeaseKeeper
from tgfetch.cluster.queue import ClusterQueue
from tgfetch.cluster.records import (
    AccountInfo,
    ConsumerProgress,
    Counters,
    DeadLetter,
    Delivery,
    GroupPayload,
    Progress,
    Remaining,
)
from tgfetch.cluster.security import check_redis_url, connect, redact_url
from tgfetch.cluster.worker import AccountDead, AccountStats, WorkerSummary, run_worker_loop

__all__ = [
    "GROUP",
    "RELEASED",
    "AccountDead",
    "AccountInfo",
    "AccountStats",
    "ClusterQueue",
    "ConsumerProgress",
    "CoordinatorSummary",
    "Counters",
    "DeadLetter",
    "Delivery",
    "GroupPayload",
    "JobKeys",
    "LeaseKeeper",
    "Progress",
    "Remaining",
    "WorkerSummary",
    "check_redis_url",
    "connect",
    "consumer_name",
    "job_name",
    "plan_totals",
    "redact_url",
    "run_coordinator",
    "run_worker_loop",
]
