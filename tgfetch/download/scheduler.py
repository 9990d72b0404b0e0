"""Who downloads what next: own queue, rebalancing, released work, steals, take-overs, backups.

Pure bookkeeping: no I/O, no asyncio; the engine reads it and changes it only
through its methods, and hears of changes through `on_change`.  Each client's queue starts from the plan, largest
group first (until the speeds are measured, the largest group it already holds
the messages of).  Once they are, queued groups are rebalanced: back to the
clients that scanned them, then moved where they finish soonest (`rebalance`).
An idle client takes released groups (from a dead or long flood-waited client)
first, then steals the largest unstarted group of the client with the most
estimated remaining time that it can finish sooner than that client would; a
group is never split by a steal.  Then it takes over a slower client's group in
flight that it would have done sooner, or backs up one that has a file done already
(the first copy with every file wins): `endgame`.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tgfetch.download import endgame
from tgfetch.download.endgame import BACKUP_MARGIN, MIN_REFETCH_GAIN, holds, least_gain
from tgfetch.download.load import DEFAULT_OVERHEAD, DEFAULT_SPEED, ClientState
from tgfetch.download.work import GroupWork, Pick, PickKind

__all__ = ["BACKUP_MARGIN", "DEFAULT_OVERHEAD", "DEFAULT_SPEED", "FETCH_BATCH", "ClientState", "Scheduler"]

FETCH_BATCH = 200  # message ids per getMessages call
STEAL_LOOKAHEAD = 256  # queued groups of each victim looked at for one needing no re-fetch
WARMUP_SECONDS = 1.0  # transfer time each client needs before its measured speed is trusted to rebalance
ON_TRACK = 0.05  # a plan whose clients' estimated finishes are this close (share of the latest) is kept
MAX_REBALANCE_MOVES = 100_000  # bound on the groups one rebalance moves (each move shortens the longest queue)
# Seconds one rebalance may hold the event loop (every transfer of every account waits meanwhile); what
# is left is moved at the next tick.  The first, which sets the run's shape, may take longer.
REBALANCE_BUDGET = 0.02
FIRST_REBALANCE_BUDGET = 0.25
# Seconds a later rebalance's move must take off the later of the two finishes: the speeds drift and
# are noisy, and a smaller gain soon reverses (a group moved back and forth at every tick).
REBALANCE_MARGIN = 0.2


class Scheduler:
    """Hands out groups to clients' download slots; tracks stealing and failover."""

    def __init__(
        self,
        plan: Mapping[str, Iterable[GroupWork]],
        speeds: Mapping[str, float] | None = None,
        *,
        stealing: bool = True,
        backups: bool = True,
    ) -> None:
        speeds = speeds or {}
        self.clients = {n: ClientState(n, speed=speeds.get(n, DEFAULT_SPEED), learned=n in speeds) for n in plan}
        for name, works in plan.items():
            c = self.clients[name]
            c.set_queue(works)
            for w in c.queue:
                w.owner = name
        self.released: list[GroupWork] = []
        self.stealing = stealing
        self.backups = backups
        self.rebalanced = False
        self.rebalance_cut = False  # the last rebalance ran out of time: the next tick goes on
        self._listeners: list[Callable[[], None]] = []
        # The round's estimated finish from the learned predictions (an `Eta`: seconds, low, high), kept
        # current by `tgfetch.predictions`; None: the views use the accounts' `est_remaining`.
        self.forecast: Any = None

    @property
    def finished(self) -> bool:
        """True when no group is queued, released or in flight."""
        return not self.released and all(not c.queue and not c.inflight for c in self.clients.values())

    @property
    def alive(self) -> list[ClientState]:
        """Clients that can still download."""
        return [c for c in self.clients.values() if c.dead is None]

    @property
    def active(self) -> list[ClientState]:
        """Clients that can download now (alive, not handed off for a long FLOOD_WAIT)."""
        return [c for c in self.alive if not c.paused]

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever work may have become available (to wake idle slots)."""
        self._listeners.append(listener)

    def notify(self) -> None:
        """Tell the listeners that something changed."""
        for listener in self._listeners:
            listener()

    def update_estimates(self, name: str, *, speed: float, measured_s: float, waiting: float,
                         overhead: float | None, latency: float = 0.0) -> None:
        """The engine's current measurements of one client (overhead None, latency 0: keep the old one)."""
        c = self.clients[name]
        c.speed, c.measured_s, c.waiting = speed, measured_s, waiting
        if overhead is not None:
            c.overhead = overhead
        c.latency = latency or c.latency

    def next(self, name: str, known: Callable[[GroupWork], bool] | None = None, *,
             smallest: bool | None = None, own_only: bool = False) -> Pick | None:
        """The next group for one of `name`'s slots, or None for now.

        `known(group)` tells whether `name` can start the group without re-fetching
        its messages; steals prefer such groups.  `smallest` takes the client's own
        queue from its small end (None: as `ClientState.small_end_turn` says).
        `own_only`: only from its own queue (a spare slot).
        """
        me = self.clients[name]
        if me.dead is not None or me.paused or (own_only and not me.queue):
            return None
        if me.queue:
            small = me.small_end_turn() if smallest is None else smallest
            own = self._start(me, me.take(self._own_index(me, known, small)), PickKind.OWN)
            if small:
                me.small_end.add(own.work)
            return own
        if self.released:
            self.released.sort(key=lambda w: -w.bytes_left)
            return self._start(me, self.released.pop(0), PickKind.RELEASED)
        if self.stealing and (pick := self._steal(me, known)) is not None:
            return pick
        return self._race(me, known)

    def _own_index(self, me: ClientState, known: Callable[[GroupWork], bool] | None, smallest: bool) -> int:
        """Where in its queue a slot of `me` takes its next group: the largest (or smallest)
        one.  Until the speeds are measured and the work rebalanced, the largest (smallest)
        one `me` holds the messages of, so that no getMessages call is spent on a group
        the rebalance may give to the account that scanned it; and a single file before an
        album: if `me` turns out slow, a single can still move whole to a faster account,
        an album only until its first file is done (it then stays with `me`)."""
        end = -1 if smallest else 0
        if not self.stealing or self.rebalanced or known is None:
            return end
        order = reversed(me.queue) if smallest else iter(me.queue)
        held = [(k, w) for k, w in enumerate(itertools.islice(order, STEAL_LOOKAHEAD)) if known(w)]
        singles = (k for k, w in held if len(w.files) == 1) if len(self.alive) > 1 else iter(())
        k = next(singles, held[0][0] if held else None)
        if k is None:
            return end
        return -k - 1 if smallest else k

    def warm(self) -> bool:
        """True when every client that has work was measured for WARMUP_SECONDS."""
        active = self.active
        return len(active) > 1 and all(c.measured_s >= WARMUP_SECONDS or not (c.queue or c.inflight)
                                       for c in active)

    def rebalance(self, known_by: Callable[[str, GroupWork], bool]) -> int:
        """Move queued groups to where the measured speeds say they finish soonest; return how many.

        The steals idle clients would make later are made now, into the takers' queues:
        the least loaded client repeatedly takes what `_steal` would give it, so an
        account fetches the messages of everything it took in the same few getMessages
        calls as its own (200 ids each), rather than one call per late steal.  The first
        rebalance (once `warm`) first gives every group back to the account holding its
        messages and, after balancing, lets an account with only a few groups to fetch
        hand them to one whose call has room for them, unless the plan is on track (then
        it is kept); later ones (as the speeds drift) move groups the taker holds first
        (no call), others where the move pays for a call (`_worth_a_call`), each only when
        the later finish comes REBALANCE_MARGIN sooner.  `known_by(name, group)`: `name`
        holds the group's messages.
        """
        if not self.stealing:
            return 0
        first = not self.rebalanced
        self.rebalanced = True
        moves = _Moves(self.active, known_by)
        deadline = time.perf_counter() + (FIRST_REBALANCE_BUDGET if first else REBALANCE_BUDGET)
        if first and not moves.on_track():
            moves.to_holders()
            self._balance(moves, deadline, fetch=True, prefer_held=False)
            moves.consolidate()
        if first:
            self.rebalance_cut = not self._balance(moves, deadline, fetch=False)
        else:
            self.rebalance_cut = not self._balance(moves, deadline, fetch=True, margin=REBALANCE_MARGIN)
        for name in moves.changed:
            c = self.clients[name]
            c.set_queue(list(c.queue))
            for w in c.queue:
                w.owner = name
        if moves.count:
            self.notify()
        return moves.count

    def _balance(self, moves: _Moves, deadline: float, *, fetch: bool, prefer_held: bool = True,
                 margin: float = 0.0) -> bool:
        """The least loaded client takes what a steal would give it (gaining more than `margin`
        seconds; `fetch`, `prefer_held`: as `_steal_choice`), until none would help (True) or the
        time is up (False: the next rebalance goes on)."""
        while moves.count < MAX_REBALANCE_MOVES:
            if time.perf_counter() > deadline:
                return False
            for me in sorted(moves.active, key=lambda c: c.est_remaining):
                choice = self._steal_choice(me, functools.partial(moves.known_by, me.name), fetch=fetch,
                                            prefer_held=prefer_held, margin=margin)
                if choice is not None:
                    victim, indexes = choice
                    moves.move(victim, me, victim.take(indexes[0]))
                    break
            else:
                return True
        return True

    def _race(self, me: ClientState, known: Callable[[GroupWork], bool] | None) -> Pick | None:
        """Take over (or back up) another client's group in flight that `me` would have done sooner
        (not before `me`'s speed is known: learned by an earlier run, or measured by this one)."""
        if not (me.learned or me.measured_s >= WARMUP_SECONDS):
            return None
        race = endgame.race_choice(me, endgame.candidates(me, self.alive), known,
                                   migrate=self.stealing, backup=self.backups)
        if race is None:
            return None
        if race.kind is PickKind.MIGRATE:
            return self._take_over(me, race.work, race.owner)
        race.work.copies.add(me.name)
        me.inflight.append(race.work)
        me.backups += 1
        return Pick(race.work, PickKind.BACKUP, race.owner.name)

    def _take_over(self, me: ClientState, w: GroupWork, owner: ClientState) -> Pick:
        """`me` continues `owner`'s group from its `.part` files (the album stays with one account)."""
        owner.inflight.remove(w)
        owner.small_end.discard(w)
        owner.leaving.append(w)
        w.copies.discard(owner.name)
        me.stolen_in += 1
        me.takeovers += 1
        owner.stolen_out += 1
        return self._start(me, w, PickKind.MIGRATE, owner.name)

    def _start(self, me: ClientState, w: GroupWork, kind: PickKind, victim: str | None = None) -> Pick:
        w.assign(me.name)
        me.inflight.append(w)
        return Pick(w, kind, victim)

    def _steal(self, me: ClientState, known: Callable[[GroupWork], bool] | None) -> Pick | None:
        """Start the group `_steal_choice` picks; the rest of its batch joins `me`'s queue."""
        choice = self._steal_choice(me, known)
        if choice is None:
            return None
        victim, indexes = choice
        first, *rest = _take_batch(victim, me, indexes)
        if rest:
            me.set_queue([*me.queue, *rest])
            for w in rest:
                w.owner = me.name
        return self._start(me, first, PickKind.STEAL, victim.name)

    def _steal_choice(self, me: ClientState, known: Callable[[GroupWork], bool] | None, *, fetch: bool = True,
                      prefer_held: bool = True, margin: float = 0.0) -> tuple[ClientState, list[int]] | None:
        """Unstarted groups (queue indexes) of one victim that `me` can finish before the
        victim would finish its queue.

        Victims are looked at from the most loaded down.  A group `me` already holds the
        messages of (it scanned them, or fetched them with an earlier steal) costs no
        getMessages call, so the first such group worth stealing from any victim wins.
        Only when there is none (and `fetch` allows a call) is a batch taken: the largest
        group worth stealing of the most loaded victim it can help, with the victim's next
        ones that fit in the same call (`_batch`), if together they save the run enough
        to pay for the call.  Without `prefer_held` (the first rebalance, just after every
        group went back to the account holding its messages) that batch is taken at once.  With a
        `margin`, only a move that has the later of the two finishes that many seconds sooner.
        """
        victims = sorted((c for c in self.alive if c is not me and c.queue), key=lambda c: -c.est_remaining)
        mine = me.est_remaining
        fallback: tuple[ClientState, list[int]] | None = None
        for victim in victims:
            horizon = victim.est_remaining
            if mine >= horizon:
                break  # the others are even less loaded
            tried = False
            for i, w in enumerate(itertools.islice(victim.queue, STEAL_LOOKAHEAD)):
                size, n = w.bytes_left, len(w.remaining)
                if margin and victim.time_for(size, n) <= margin:
                    break  # largest first: no later group of this victim gains the margin
                gain = horizon - mine - me.time_for(size, n)
                if gain <= margin:
                    continue
                if prefer_held and holds(w, known):
                    return victim, [i]
                if fetch and fallback is None and not tried:
                    tried = True
                    fallback = _worth_a_call(me, victim, i, gain)
                    if fallback is not None and not prefer_held:
                        return fallback
                if not prefer_held:
                    break
        return fallback

    def group_left(self, name: str, w: GroupWork) -> None:
        """`name` stops working on `w` (finished, lost a race, or handed it back)."""
        me = self.clients[name]
        if w in me.leaving:  # the slot a take-over stopped: the group is another's now
            me.leaving.remove(w)
        else:
            if w in me.inflight:
                me.inflight.remove(w)
            me.small_end.discard(w)
            w.copies.discard(name)
            if w.remaining and not w.copies and w not in self.released:
                w.winner = None  # whoever takes it over downloads the rest
                self.released.append(w)
        self.notify()

    def release(self, name: str, reason: str, *, dead: bool) -> int:
        """Hand `name`'s unstarted groups to the others; return how many."""
        me = self.clients[name]
        if dead:
            me.dead = reason
        else:
            me.paused = True
        moved = len(me.queue)
        self.released.extend(me.queue)
        me.set_queue([])
        me.handoffs += moved
        self.notify()
        return moved

    def resume(self, name: str) -> None:
        """A paused client may take work again."""
        self.clients[name].paused = False
        self.notify()


def _take_batch(victim: ClientState, me: ClientState, indexes: list[int]) -> list[GroupWork]:
    """Take the groups at `indexes` (ascending) out of `victim`'s queue, in that order."""
    taken = [victim.take(i) for i in reversed(indexes)][::-1]
    victim.stolen_out += len(taken)
    me.stolen_in += len(taken)
    return taken


def _worth_a_call(me: ClientState, victim: ClientState, start: int, gain: float
                  ) -> tuple[ClientState, list[int]] | None:
    """The batch `me` would take from `victim` from queue index `start` on, if it saves the
    run enough to pay for its getMessages call (one group alone may: then it is the batch)."""
    w = victim.queue[start]
    least = least_gain(me, False)
    if min(gain, victim.time_for(w.bytes_left, len(w.remaining))) > least:
        return victim, [start]
    batch, saved = _batch(me, victim, start)
    return (victim, batch) if saved > least else None


def _batch(me: ClientState, victim: ClientState, start: int) -> tuple[list[int], float]:
    """Queue indexes of `victim`, from `start` on, that `me` can take with one getMessages
    call (FETCH_BATCH ids), each taken while `me` would still finish it before the victim
    finishes what it has left; and the seconds the later of the two finishes sooner."""
    mine, horizon = me.est_remaining, victim.est_remaining
    before = horizon
    indexes: list[int] = []
    ids = 0
    for i, w in enumerate(itertools.islice(victim.queue, STEAL_LOOKAHEAD)):
        n = len(w.remaining)
        if i < start or ids + n > FETCH_BATCH:
            continue
        t_me = me.time_for(w.bytes_left, n)
        if mine + t_me >= horizon:
            continue
        indexes.append(i)
        mine, horizon, ids = mine + t_me, horizon - victim.time_for(w.bytes_left, n), ids + n
    return indexes, before - max(mine, horizon)


@dataclass
class _Moves:
    """Groups one rebalance moves between queues (each counted as a steal)."""

    active: list[ClientState]
    known_by: Callable[[str, GroupWork], bool]
    changed: set[str] = field(default_factory=set)
    count: int = 0

    def move(self, src: ClientState, dst: ClientState, w: GroupWork) -> None:
        """`w`, already taken out of `src`'s queue, goes to `dst`'s."""
        dst.add(w)
        src.stolen_out += 1
        dst.stolen_in += 1
        self.changed |= {src.name, dst.name}
        self.count += 1

    def on_track(self) -> bool:
        """True when the clients' estimated finishes are within ON_TRACK of each other."""
        ends = [c.est_remaining for c in self.active]
        return not ends or max(ends) - min(ends) <= ON_TRACK * max(ends)

    def _foreign(self, c: ClientState) -> list[GroupWork]:
        return [w for w in c.queue if not self.known_by(c.name, w)]

    def _give(self, c: ClientState, gone: list[tuple[GroupWork, ClientState]]) -> None:
        ids = {id(w) for w, _ in gone}
        c.set_queue([w for w in c.queue if id(w) not in ids])
        for w, d in gone:
            self.move(c, d, w)

    def to_holders(self) -> None:
        """Each queued group its owner would have to fetch the messages of goes to a client
        that holds them (the one that scanned it), if any: the balancing that follows moves
        the largest groups, the fewest messages per second of work, so that slow accounts
        fetch nothing and fast ones little."""
        for c in self.active:
            gone = []
            for w in self._foreign(c):
                holders = [h for h in self.active if h is not c and self.known_by(h.name, w)]
                if holders:
                    gone.append((w, min(holders, key=lambda h: h.est_remaining)))
            if gone:
                self._give(c, gone)

    def consolidate(self) -> None:
        """An account left with a few groups to fetch (an album split between two scan
        batches, say) gives them to one whose getMessages calls have room for them, when
        that delays no one by more than a call would cost."""
        foreign = {c.name: self._foreign(c) for c in self.active}
        ids = {n: sum(len(w.remaining) for w in ws) for n, ws in foreign.items()}
        horizon = max((c.est_remaining for c in self.active), default=0.0)
        for c in sorted(self.active, key=lambda c: ids[c.name]):
            n = ids[c.name]
            if n == 0:
                continue
            nbytes = sum(w.bytes_left for w in foreign[c.name])
            for d in sorted(self.active, key=lambda d: d.est_remaining):
                room = -ids[d.name] % FETCH_BATCH
                if d is c or ids[d.name] == 0 or room < n:
                    continue
                if d.est_remaining + d.time_for(nbytes, n) > horizon + MIN_REFETCH_GAIN:
                    continue
                self._give(c, [(w, d) for w in foreign[c.name]])
                foreign[d.name] += foreign.pop(c.name)
                ids[d.name] += n
                ids[c.name] = 0
                break
