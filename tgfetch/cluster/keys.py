"""Redis key names of one cluster job, and the names used inside them.

Every key of a job starts with ``tgfetch:{<job>}:``; the braces are a Redis
Cluster hash tag, so all keys of a job share one slot and one Lua script may
touch several of them::

    tgfetch:{job}:q:<account>   stream   pre-assigned groups of <account>; group "workers"
    tgfetch:{job}:enqueued      set      group ids ever enqueued (idempotent enqueue)
    tgfetch:{job}:cursor        hash     plan (plan id), position, total: the enqueue cursor
    tgfetch:{job}:backlog       hash     <account>:groups|files|bytes not yet delivered
    tgfetch:{job}:done          set      group ids completed
    tgfetch:{job}:failed        set      group ids dead-lettered and not completed since
    tgfetch:{job}:dead          stream   dead letters (stream, id, g, p, deliveries, reason)
    tgfetch:{job}:progress      hash     <machine>:<account>:files|bytes|groups|steals
    tgfetch:{job}:accounts      hash     <account> -> JSON {machine, speed_bps, registered_at, last_seen}
    tgfetch:{job}:meta          hash     channel, first_id, last_id, strategy, totals, state

A stream entry holds ``g`` (group id), ``p`` (the JSON payload), ``f`` (files) and
``b`` (bytes); f and b are repeated outside the JSON so Lua never decodes JSON.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from tgfetch.errors import UsageError

__all__ = ["GROUP", "RELEASED", "JobKeys", "consumer_name", "job_name", "split_consumer", "validate_name"]

GROUP = "workers"
"""The one consumer group of every queue stream."""

RELEASED = "released"
"""Consumer that holds released entries (idle for years: anyone may claim them at once)."""

_NAME = re.compile(r"^[A-Za-z0-9_.@+\-]{1,64}$")
_JOB = re.compile(r"^[A-Za-z0-9_.@+\-]{1,128}$")


def validate_name(kind: str, name: str) -> str:
    """Return an account or machine name, refusing characters used as separators."""
    if not _NAME.match(name):
        raise UsageError(f"invalid {kind} name {name!r}: use 1-64 of A-Z a-z 0-9 _ . @ + -")
    return name


def consumer_name(machine: str, account: str) -> str:
    """Return the consumer name ``machine:account``."""
    return f"{validate_name('machine', machine)}:{validate_name('account', account)}"


def split_consumer(consumer: str) -> tuple[str, str]:
    """Split ``machine:account`` into (machine, account)."""
    machine, sep, account = consumer.partition(":")
    if not sep:
        raise ValueError(f"not a machine:account consumer name: {consumer!r}")
    return machine, account


def job_name(channel: int | str, first_id: int, last_id: int, extra: str = "") -> str:
    """Return a job name from the channel and a hash of the id range (and any extra text)."""
    chan = str(channel).lstrip("@")
    digest = hashlib.sha256(f"{chan}|{first_id}|{last_id}|{extra}".encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", chan)[:80] or "channel"
    return f"{safe}-{digest}"


@dataclass(frozen=True, slots=True)
class JobKeys:
    """The key names of one job."""

    job: str

    def __post_init__(self) -> None:
        if not _JOB.match(self.job):
            raise UsageError(f"invalid job name {self.job!r}: use 1-128 of A-Z a-z 0-9 _ . @ + -")

    @property
    def prefix(self) -> str:
        """Common prefix of every key of the job."""
        return f"tgfetch:{{{self.job}}}:"

    def queue(self, account: str) -> str:
        """Stream of the groups planned for ``account``."""
        return f"{self.prefix}q:{account}"

    def account_of(self, stream: str) -> str:
        """Return the account whose queue stream this is."""
        head = f"{self.prefix}q:"
        if not stream.startswith(head):
            raise ValueError(f"not a queue stream of job {self.job}: {stream!r}")
        return stream[len(head) :]

    @property
    def enqueued(self) -> str:
        """Set of group ids ever enqueued."""
        return self.prefix + "enqueued"

    @property
    def cursor(self) -> str:
        """Hash: the coordinator's enqueue cursor."""
        return self.prefix + "cursor"

    @property
    def backlog(self) -> str:
        """Hash: undelivered groups/files/bytes per account."""
        return self.prefix + "backlog"

    @property
    def done(self) -> str:
        """Set of completed group ids."""
        return self.prefix + "done"

    @property
    def failed(self) -> str:
        """Set of dead-lettered group ids not completed since."""
        return self.prefix + "failed"

    @property
    def dead(self) -> str:
        """Dead-letter stream."""
        return self.prefix + "dead"

    @property
    def progress(self) -> str:
        """Hash: per consumer counters."""
        return self.prefix + "progress"

    @property
    def accounts(self) -> str:
        """Hash: registered accounts."""
        return self.prefix + "accounts"

    @property
    def meta(self) -> str:
        """Hash: job description and state."""
        return self.prefix + "meta"
