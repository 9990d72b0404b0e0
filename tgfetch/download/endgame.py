"""The end-game: which started group of a slower client an idle client takes over or backs up.

Pure choices over `ClientState`s (the scheduler applies them, once the idle client's speed
is known).  A group in flight is done on its owner when the owner's other groups in flight,
sharing its bandwidth, let it (`ClientState.finish_of`, from the owner's measured speed and
the bytes left); the idle client would have it after what it already has to do plus its own
time for the group, counted `BACKUP_MARGIN` times over (a measured speed is an estimate, and a
move throws away the owner's requests in flight).  When that is sooner:

- a group no file of which is finished yet moves whole (a take-over: the new owner
  continues the `.part` files, nothing is fetched twice, an album stays on one account);
- otherwise a backup copy of the whole group starts (the first copy with every file wins).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from tgfetch.download.load import ClientState
from tgfetch.download.work import GroupWork, PickKind

__all__ = ["BACKUP_MARGIN", "MIN_REFETCH_GAIN", "Race", "candidates", "holds", "least_gain", "movable",
           "race_choice"]

BACKUP_MARGIN = 1.2  # a take-over or backup counts the taker's time for the group this many times
MIN_REFETCH_GAIN = 0.1  # seconds a move must save when the taker has to fetch the group's messages first


@dataclass(frozen=True)
class Race:
    """A take-over (`PickKind.MIGRATE`) or backup (`PickKind.BACKUP`) of `owner`'s group `work`."""

    kind: PickKind
    work: GroupWork
    owner: ClientState
    gain: float  # seconds sooner the group is expected to be done


def holds(w: GroupWork, known: Callable[[GroupWork], bool] | None) -> bool:
    """Whether the taker already has the group's messages (no getMessages call needed)."""
    return known is None or known(w)


def least_gain(me: ClientState, held: bool) -> float:
    """Seconds a move to `me` must save: nothing when it holds the group's messages, else
    enough to pay for the getMessages call (and never worth it for a few milliseconds)."""
    return 0.0 if held else max(MIN_REFETCH_GAIN, 2 * me.overhead)


def movable(owner: ClientState, w: GroupWork) -> bool:
    """`owner`'s group in flight can move whole: it works on it alone and no file of it is
    finished (moving it then would split an album)."""
    return (w.owner == owner.name and w.copies == {owner.name} and w.winner is None and bool(w.remaining)
            and not w.done_ids and not w.finishing)


def candidates(me: ClientState, alive: Iterable[ClientState]) -> Iterator[tuple[ClientState, GroupWork]]:
    """Groups other live clients work on alone, unfinished and unclaimed (and not just taken
    from `me`: its slot is still stopping, and it was taken because `me` is slower)."""
    for c in alive:
        if c is not me:
            for w in c.inflight:
                if len(w.copies) == 1 and w.remaining and w.winner is None and w not in me.leaving:
                    yield c, w


def race_choice(me: ClientState, groups: Iterable[tuple[ClientState, GroupWork]],
                known: Callable[[GroupWork], bool] | None, *, migrate: bool, backup: bool) -> Race | None:
    """The take-over or backup by `me` that has a group done the most before its owner would.

    `groups`: other clients' groups in flight that no one races for yet (`candidates`).  A
    take-over needs only what is left of the group; a backup fetches all of it again."""
    busy = me.est_remaining
    best: Race | None = None
    for owner, w in groups:
        if migrate and movable(owner, w):
            kind, mine = PickKind.MIGRATE, busy + BACKUP_MARGIN * me.group_time(w)
        elif backup:
            whole = me.time_for(sum(f.info.file_size for f in w.files), len(w.files))
            kind, mine = PickKind.BACKUP, busy + BACKUP_MARGIN * whole
        else:
            continue
        gain = owner.finish_of(w) - mine
        if gain > least_gain(me, holds(w, known)) and (best is None or gain > best.gain):
            best = Race(kind, w, owner, gain)
    return best
