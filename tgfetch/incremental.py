"""Incremental runs (`NEW_ONLY`): scan only what is newer than what this job has settled, per chat.

After a run, each chat's state DB records how far the job has *settled* the chat's id range:
every message up to `settled_id` was scanned and its chosen files are on disk (a run with failed
files settles up to the first failure only). `settled_from` is where a new-only run starts again:
the first member of the last album at the settled edge (it may still be growing: its members arrive
over a second or more), else the id after `settled_id`.

A new-only run of a chat costs one getHistory call (the newest id) and ceil((N + k) / 200)
getMessages calls for N new messages and the k ≤ 10 members of that last album: at most
ceil(N/200) + 2 message calls. With nothing new it costs one call and downloads nothing.
Message links, topics and comments are not incremental (they are what they name).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence

from tgfetch.model import key_chat, key_id
from tgfetch.store import StateStore
from tgfetch.telegram.parts import Part
from tgfetch.telegram.scan import ScanResult

__all__ = ["SETTLED_FROM", "SETTLED_ID", "new_parts", "record_settled"]

log = logging.getLogger("tgfetch")

SETTLED_ID = "settled_id"
SETTLED_FROM = "settled_from"


def _incremental(part: Part) -> bool:
    return not part.is_comments and part.target.ids is None and part.target.topic is None


def new_parts(parts: Sequence[Part], stores: Mapping[int, StateStore], *, say: int = logging.INFO) -> list[Part]:
    """The parts with their id ranges moved past what earlier runs settled (parts without a settled edge kept);
    `say` is the log level of "nothing new" (watch polls quietly)."""
    out = []
    for part in parts:
        start = stores[part.number].get_meta(SETTLED_FROM) if _incremental(part) else None
        if start is None:
            out.append(part)
            continue
        first = max(int(start), part.target.first_id or 1)
        if first > part.top:
            log.log(say, "%s: nothing new since message %s", part.label, stores[part.number].get_meta(SETTLED_ID))
        out.append(dataclasses.replace(part, target=dataclasses.replace(part.target, first_id=first),
                                       new_only=True))
    return out


def record_settled(parts: Sequence[Part], scan: ScanResult, failures: Mapping[int, str],
                   stores: Mapping[int, StateStore]) -> None:
    """Remember, per chat scanned as an id range, how far this run settled it (see the module doc)."""
    scans = {s.chat: s for s in (scan.parts or (scan,))}
    for part in parts:
        s = scans.get(part.number)
        if s is None or not _incremental(part) or s.last_id < s.first_id:
            continue
        failed = [key_id(k) for k in failures if key_chat(k) == part.number]
        store = stores[part.number]
        earlier = int(store.get_meta(SETTLED_ID) or 0)
        if failed:
            settled = min(failed) - 1
            start = settled + 1
        else:
            settled = s.last_id
            # The group holding the newest message scanned: an album there may still be growing.
            last = max(s.collection.groups, key=lambda g: g.messages[-1].message_id, default=None)
            start = last.first_id if last is not None and last.is_media_group else settled + 1
        if s.first_id > earlier + 1 and earlier:
            continue  # a range that does not continue what was settled: the settled edge stays
        if settled >= earlier:
            store.set_meta(SETTLED_ID, str(settled))
            store.set_meta(SETTLED_FROM, str(start))
