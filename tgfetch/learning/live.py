"""The running job's work left, read from the download scheduler, as `eta.Remaining` records.

Duck-typed (no import of `tgfetch.download`, so the download stage may import this package): a
scheduler has ``clients`` (name -> state with ``queue``, ``inflight``, ``dead``, ``waiting``,
``speed``, ``overhead``, ``measured_s``) and ``released``; a group has ``remaining`` (files with ``info.file_size``,
``info.dc_id`` and ``info.key``), ``resumed`` (key -> bytes already in a `.part`) and ``partial``
(bytes its owner fetched of its unfinished files: counted off its first file left, the one in flight).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tgfetch.learning.eta import Group, Remaining
from tgfetch.learning.samples import HOME_DC

__all__ = ["RELEASED", "group_left", "remaining_of"]

RELEASED = "(released)"  # the pseudo-account of groups handed back by a dead or flood-waited account


def group_left(work: Any, *, in_flight: bool = False) -> Group:
    """(bytes left, dc) of each file the group still needs; in flight: its first file net of `partial`."""
    out = []
    partial = int(getattr(work, "partial", 0)) if in_flight else 0
    for f in work.remaining:
        left = max(0, int(f.info.file_size) - int(work.resumed.get(f.info.key, 0)) - partial)
        partial = 0
        out.append((left, int(f.info.dc_id or HOME_DC)))
    return out


def remaining_of(scheduler: Any, stats: Mapping[str, Any] | None = None) -> list[Remaining]:
    """Every account's work left (dead accounts' with ``alive=False``), and the released groups;
    `stats` (name -> ``ClientStats``): the bytes each account fetched so far (``bytes``)."""
    out = []
    for name, c in scheduler.clients.items():
        fetched = int(stats[name].bytes) if stats is not None and name in stats else 0
        out.append(Remaining(
            account=name, groups=[group_left(w) for w in c.queue],
            inflight=[group_left(w, in_flight=True) for w in c.inflight if w.owner == name],
            copies=[group_left(w) for w in c.inflight if w.owner != name],
            wait=float(c.waiting), alive=c.dead is None, speed=float(c.speed), overhead=float(c.overhead),
            measured_s=float(c.measured_s), fetched=fetched))
    if scheduler.released:
        out.append(Remaining(RELEASED, groups=[group_left(w) for w in scheduler.released], alive=False))
    return out
