"""Live channels: posts, albums member by member, edits and deletions while clients are connected, and their updates.

What it models
==============
A channel of the simulator (the plain main channel, or any of ``more_channels``) receives messages, edits and
deletions at any time, through ``sim.post``, ``sim.post_album``, ``sim.edit`` and ``sim.delete`` (or the same
methods of ``sim.live``, a `Live`). Every answer reads the channel as it is now: channels.getMessages,
messages.getHistory (newest first, the offsets of core.telegram.org/api/offsets and
core.telegram.org/method/messages.getHistory; ``count`` the visible messages), channels.getFullChannel
(``read_inbox_max_id`` the newest visible id, ``pts``), messages.channelMessages' ``pts``, the channel's dialog
(its top message, date and ``pts``: a post moves the channel up the list) and upload.getFile (new files are
indexed with `FileService.add`); so do ``sim.messages``, ``sim.last_id``, ``sim.chat_messages``,
``sim.media_messages``, ``sim.message`` and ``sim.file_sha256``. What was there never changes: a post only adds
ids after the last one, and without live changes every answer is byte for byte what it was.

Content
=======
A post gets the next id after the channel's last one and a date after its last date (the generated content's
date for that id, or one second after the channel's latest event if that is later). Its kind, caption, size,
name, DC and file id are drawn by `content.live_post` with the channel's rules (text 16, service 2, photo 31.2,
video 19.5, document 19.5, audio 7.8, about 1% reposts of an earlier document) from a random source derived
from (simulator seed, channel id, message id) only, and its bytes come from the simulator's byte source like
every other file. ``kinds=`` restricts the draw (e.g. ``kinds="photo"`` or ``kinds=("video", "document")``).
An album (core.telegram.org/api/files: grouped media, 2-10 members, one ``grouped_id``, the caption on the
first) is posted member by member through an `AlbumPoster` (``poster.add()``): while it is open the channel
takes no other post, so its members have consecutive ids. ``sim.edit(id, new_media=True)`` gives the message a
new file of its kind (new id, size, bytes) and an ``edit_date``; without ``new_media`` the caption changes
(`` (edited)`` appended unless ``caption=`` is given). ``sim.delete(ids)`` leaves ``messageEmpty`` for
getMessages and removes the ids from getHistory. The plain main channel and the extra channels are live; a forum
or a channel with comments refuses (ValueError).

Updates (core.telegram.org/api/updates)
=======================================
Each channel keeps a pts: 1 before any event (what every answer said before), then each event adds its
pts_count: a new message 1, an edit 1, a deletion the number of messages deleted. Every connected client (its
home connection, see `sender.FakeSender.push`) of every account that is a member (every account for an extra
channel; for the main one unless ``sim.leave`` made it leave) gets, as soon as the event happens::

    updates(updates=[updateNewChannelMessage(message, pts, pts_count=1)], users=[],
            chats=[channel with the account's own access_hash], date=<the event's date>, seq=0)

with ``updateEditChannelMessage(message, pts, pts_count=1)`` for an edit (the message as it is now, with
``edit_date``) and ``updateDeleteChannelMessages(channel_id, messages=[ids], pts, pts_count=len(ids))`` for a
deletion (core.telegram.org/constructor/updateNewChannelMessage, updateEditChannelMessage,
updateDeleteChannelMessages). Channel updates do not touch the common sequence: ``seq`` is 0. ``poster.add(n)``
carries its n members in one ``updates`` (pts p+1 .. p+n), as Telegram delivers an album sent at once. The
message in an update is built for that account (its file references). A client that was disconnected misses the
pushes; the next update then shows a pts gap and Telethon asks updates.getChannelDifference
(core.telegram.org/method/updates.getChannelDifference): pts <= 0 -> PERSISTENT_TIMESTAMP_EMPTY, a pts the
channel never reached -> PERSISTENT_TIMESTAMP_INVALID, the current pts -> updates.channelDifferenceEmpty(final,
pts, timeout=30); else updates.channelDifference(final, pts, timeout=30, new_messages=[the messages posted
after pts that still exist, as they are now], other_updates=[edits of older messages, deletions, with their own
pts], chats=[the channel]) over at most ``limit`` events (more left: ``final`` unset and ``pts`` where the slice
ends). updates.getDifference (Telethon's ``catch_up``) answers updates.difference with an
``updateChannelTooLong(channel_id, pts)`` per channel of the account that had events (so Telethon asks that
channel's difference from the pts it knows), updates.differenceEmpty while nothing happened. Old events are
never dropped, so channelDifferenceTooLong is never answered.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import itertools
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from telethon.tl import functions, types

from .accounts import Account
from .base import RpcFail, SimSession
from .content import (
    MAX_ALBUM,
    SimMessage,
    check_kinds,
    deleted_message,
    live_album,
    live_member,
    live_post,
    live_rng,
    post_date,
    replaced_media,
)
from .dialogs import DialogService
from .files import FileService
from .server import Handler, Server

NEW, EDIT, DELETE = "new", "edit", "delete"
DIFFERENCE_TIMEOUT = 30  # seconds: core.telegram.org/constructor/updates.channelDifference `timeout`
MAX_DIFFERENCE = 100_000  # core.telegram.org/method/updates.getChannelDifference: `limit` at most 100000
_SECOND = dt.timedelta(seconds=1)

Kinds = str | Sequence[str] | None
Chat = str | int | None


@dataclasses.dataclass(frozen=True)
class Event:
    """One event of a channel's update sequence: the pts after it, its pts_count, its kind, ids and date."""

    pts: int
    pts_count: int
    kind: str  # NEW, EDIT or DELETE
    ids: tuple[int, ...]
    date: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _same_file(a: SimMessage, b: SimMessage) -> bool:
    return (a.kind, a.size, a.dc_id, a.mime_type) == (b.kind, b.size, b.dc_id, b.mime_type)


class Feed:
    """One live channel: its server (messages, pts), its event log, its clock and its open album."""

    def __init__(self, server: Server, main: bool) -> None:
        self.server = server
        self.main = main  # the main chat: only member accounts get its updates
        self.events: list[Event] = []
        messages = server.messages()
        self.clock = messages[-1].date if messages else dt.datetime(2022, 6, 1, tzinfo=dt.UTC)
        self.album: AlbumPoster | None = None
        self.replaced: dict[int, int] = {}  # message id -> how often an edit replaced its media

    @property
    def channel_id(self) -> int:
        """The channel's id."""
        return self.server.builder.channel_id

    def next_id(self) -> int:
        """The id the next message gets: one after the channel's last id."""
        messages = self.server.messages()
        return messages[-1].id + 1 if messages else 1

    def tick(self, natural: dt.datetime) -> dt.datetime:
        """Return the date of the next event: `natural`, or one second after the latest event if that is later."""
        self.clock = max(natural, self.clock + _SECOND)
        return self.clock

    def alive(self, msg_id: int) -> bool:
        """Tell whether message `msg_id` exists (not deleted)."""
        found = self.server.find(msg_id)
        return found is not None and found.kind != "deleted"

    def top(self) -> SimMessage | None:
        """The newest message that exists (the dialog's top message)."""
        return next((m for m in reversed(self.server.messages()) if m.kind != "deleted"), None)

    def reposts(self) -> list[SimMessage]:
        """The documents a post may repost: the channel's non-photo media, in id order."""
        return [m for m in self.server.messages() if m.is_media and m.kind != "photo"]

    def record(self, kind: str, ids: Sequence[int], date: dt.datetime) -> Event:
        """Add an event to the channel's sequence: pts grows by its pts_count."""
        count = len(ids) if kind == DELETE else 1
        self.server.pts += count
        event = Event(self.server.pts, count, kind, tuple(ids), date)
        self.events.append(event)
        return event

    def updates(self, events: Iterable[Event], account: Account) -> list[Any]:
        """The TL updates of `events` as `account` sees them (the messages as they are now)."""
        out: list[Any] = []
        for e in events:
            if e.kind == NEW:
                out += [types.UpdateNewChannelMessage(self.server.message(account, i), e.pts, e.pts_count)
                        for i in e.ids]
            elif e.kind == EDIT:
                out.append(types.UpdateEditChannelMessage(self.server.message(account, e.ids[0]), e.pts, e.pts_count))
            else:
                out.append(types.UpdateDeleteChannelMessages(self.channel_id, list(e.ids), e.pts, e.pts_count))
        return out

    def difference(self, session: SimSession, dc_id: int, req: Any) -> Any:
        """Answer updates.getChannelDifference (see the module docstring)."""
        server, account = self.server, session.account
        server.check_channel(account, req.channel)
        if req.pts <= 0:
            raise RpcFail(400, "PERSISTENT_TIMESTAMP_EMPTY")
        if req.pts > server.pts:
            raise RpcFail(400, "PERSISTENT_TIMESTAMP_INVALID")
        if req.pts == server.pts:
            return types.updates.ChannelDifferenceEmpty(pts=server.pts, final=True, timeout=DIFFERENCE_TIMEOUT)
        pending = self.events[bisect.bisect_right([e.pts for e in self.events], req.pts):]
        batch = pending[: max(1, min(req.limit, MAX_DIFFERENCE))]
        fresh = {i for e in batch if e.kind == NEW for i in e.ids if self.alive(i)}
        others = [e for e in batch if e.kind == DELETE or (e.kind == EDIT and e.ids[0] not in fresh
                                                            and self.alive(e.ids[0]))]
        return types.updates.ChannelDifference(
            pts=batch[-1].pts, new_messages=[server.message(account, i) for i in sorted(fresh)],
            other_updates=self.updates(others, account), chats=[server.builder.channel(account)], users=[],
            final=len(batch) == len(pending), timeout=DIFFERENCE_TIMEOUT,
        )


class AlbumPoster:
    """Post an album member by member: one grouped_id, consecutive ids, the caption on the first member.

    While it is open (until its last member, or `close`) its channel takes no other post or album.
    """

    def __init__(self, live: Live, feed: Feed, size: int, album: tuple[int, bool, str]) -> None:
        self._live = live
        self.feed = feed
        self.size = size
        self.album = album
        self.first_id = feed.next_id()
        self.ids: list[int] = []

    @property
    def grouped_id(self) -> int:
        """The album's grouped_id (every member's)."""
        return self.album[0]

    @property
    def remaining(self) -> int:
        """How many members are still to be posted."""
        return self.size - len(self.ids) if self.feed.album is self else 0

    def add(self, count: int = 1) -> list[int]:
        """Post the next `count` members (in one ``updates``) and return their ids; the last one closes the album."""
        if not 1 <= count <= self.remaining:
            raise ValueError(f"the album has {self.remaining} members left to post, not {count}")
        ids = self._live.add_members(self, count)
        self.ids += ids
        if not self.remaining:
            self.close()
        return ids

    def close(self) -> None:
        """End the album now (no more members): the channel takes other posts again."""
        if self.feed.album is self:
            self.feed.album = None


class Live:
    """The live side of every plain channel of a simulator: posting, editing, deleting, and telling the clients.

    It is also the `server.Extension` that gives each channel's server its updates.getChannelDifference (and
    the main one updates.getDifference), which is how it learns every channel's `Server`.
    """

    def __init__(
        self, seed: int, main_id: int, dialogs: DialogService, scale: tuple[float, int | None],
        frozen: str | None = None,
    ) -> None:
        self.seed = seed
        self.main_id = main_id
        self.scale = scale  # (size_scale, max_file_size) of the simulator's files
        self._dialogs = dialogs
        self._frozen = frozen  # why the main chat takes no live change (a forum, comments), if it does not
        self._feeds: dict[int, Feed] = {}
        self._files: FileService | None = None
        self._sessions: list[weakref.ref[SimSession]] = []

    # -- wiring -----------------------------------------------------------------

    def handlers(self, server: Server) -> dict[type, Handler]:
        """Take `server`'s channel as live; return its getChannelDifference (and the main one's getDifference)."""
        feed = Feed(server, server.builder.channel_id == self.main_id)
        self._feeds[feed.channel_id] = feed
        self._files = server.files
        table: dict[type, Handler] = {functions.updates.GetChannelDifferenceRequest: feed.difference}
        if feed.main:
            table[functions.updates.GetDifferenceRequest] = self._account_difference
        return table

    def track(self, session: SimSession) -> None:
        """Remember a client's session: while its home connection is up, it gets the channels' updates."""
        self._sessions = [ref for ref in self._sessions if ref() is not None]
        self._sessions.append(weakref.ref(session))

    # -- reading ----------------------------------------------------------------

    def feed(self, chat: Chat = None) -> Feed:
        """Return the live channel named by `chat`: None the main one, an id, or a username (with or without @)."""
        if chat is None:
            chat = self.main_id
        name = chat.lower().lstrip("@") if isinstance(chat, str) else None
        for found in self._feeds.values():
            if chat == found.channel_id or name == found.server.builder.username.lower():
                return found
        raise KeyError(f"no chat {chat!r}")

    def server(self, chat: Chat = None) -> Server:
        """Return the server of a channel (see `feed`); its `messages()` are the channel as it is now."""
        return self.feed(chat).server

    def message(self, message_id: int, chat: Chat = None) -> SimMessage:
        """Return message `message_id` of a channel as it is now; KeyError if there is none."""
        found = self.server(chat).find(message_id)
        if found is None:
            raise KeyError(f"no message {message_id} in chat {chat if chat is not None else self.main_id}")
        return found

    def pts(self, chat: Chat = None) -> int:
        """The channel's pts now (1 before any event)."""
        return self.server(chat).pts

    def events(self, chat: Chat = None) -> list[Event]:
        """The channel's events so far, oldest first."""
        return list(self.feed(chat).events)

    def edit_date(self, message_id: int, chat: Chat = None) -> dt.datetime | None:
        """The date of the message's last edit; None if it was never edited."""
        return self.server(chat).edit_dates.get(message_id)

    # -- changing ---------------------------------------------------------------

    def post(self, count: int = 1, *, kinds: Kinds = None, chat: Chat = None) -> list[int]:
        """Post `count` single messages to a channel (each its own update); return their ids."""
        if count < 1:
            raise ValueError("count must be >= 1")
        chosen = check_kinds(kinds)
        feed = self._open(chat)
        return [self._post_one(feed, chosen) for _ in range(count)]

    def post_album(self, size: int, *, chat: Chat = None) -> AlbumPoster:
        """Open an album of `size` (2-10) members in a channel; its `add` posts them."""
        if not 2 <= size <= MAX_ALBUM:
            raise ValueError(f"an album has 2 to {MAX_ALBUM} members")
        feed = self._open(chat)
        rng = live_rng(self.seed, feed.channel_id, feed.next_id(), "album")
        feed.album = AlbumPoster(self, feed, size, live_album(rng, size))
        return feed.album

    def delete(self, ids: int | Iterable[int], chat: Chat = None) -> list[int]:
        """Delete messages of a channel (unknown or deleted ids are skipped); return the ids deleted, ascending."""
        feed = self._open(chat, album_ok=True)
        wanted = {ids} if isinstance(ids, int) else set(ids)
        gone = sorted(i for i in wanted if feed.alive(i))
        if not gone:
            return []
        for msg_id in gone:
            feed.server.put(deleted_message(self.message(msg_id, feed.channel_id)))
            feed.server.edit_dates.pop(msg_id, None)
        self._publish(feed, [feed.record(DELETE, gone, feed.tick(feed.clock))])
        return gone

    def edit(self, message_id: int, *, new_media: bool = False, caption: str | None = None,
             chat: Chat = None) -> SimMessage:
        """Edit a message: a new file of its kind with `new_media`, else its caption; return it as it is now."""
        feed = self._open(chat, album_ok=True)
        old = self.message(message_id, feed.channel_id)
        if old.kind in ("deleted", "service") or (new_media and not old.is_media):
            raise ValueError(f"message {message_id} ({old.kind}) cannot be edited like that")
        text = caption if caption is not None else old.caption if new_media else f"{old.caption} (edited)".strip()
        msg = dataclasses.replace(old, caption=text)
        if new_media:
            generation = feed.replaced[message_id] = feed.replaced.get(message_id, 0) + 1
            msg = self._unique(lambda salt: replaced_media(
                live_rng(self.seed, feed.channel_id, message_id, "edit", generation, salt), old, text, self.scale))
        feed.server.put(msg)
        self._index([msg])
        date = feed.server.edit_dates[message_id] = feed.tick(old.date + _SECOND)
        self._publish(feed, [feed.record(EDIT, [message_id], date)])
        return msg

    def add_members(self, poster: AlbumPoster, count: int) -> list[int]:
        """Post the next `count` members of `poster`'s album (see `AlbumPoster.add`)."""
        return self._added(poster.feed, [self._member_of(poster) for _ in range(count)])

    # -- internals --------------------------------------------------------------

    def _open(self, chat: Chat, album_ok: bool = False) -> Feed:
        feed = self.feed(chat)
        if feed.main and self._frozen:
            raise ValueError(f"live changes are modelled for plain channels; the main chat is {self._frozen}")
        if feed.album is not None and not album_ok:
            raise RuntimeError(f"an album is being posted in chat {feed.channel_id}: add its members or close it")
        return feed

    def _member_of(self, poster: AlbumPoster) -> SimMessage:
        feed = poster.feed
        msg_id = feed.next_id()
        first, date = msg_id == poster.first_id, feed.tick(post_date(msg_id))
        msg = self._unique(lambda salt: live_member(
            live_rng(self.seed, feed.channel_id, msg_id, salt), msg_id, date, poster.album, first, self.scale))
        feed.server.put(msg)
        return msg

    def _post_one(self, feed: Feed, kinds: tuple[str, ...] | None) -> int:
        msg_id = feed.next_id()
        date = feed.tick(post_date(msg_id))
        msg = self._unique(lambda salt: live_post(
            live_rng(self.seed, feed.channel_id, msg_id, salt), msg_id, date, kinds, self.scale, feed.reposts))
        feed.server.put(msg)
        self._added(feed, [msg])
        return msg_id

    def _added(self, feed: Feed, messages: list[SimMessage]) -> list[int]:
        self._index(messages)
        self._publish(feed, [feed.record(NEW, [m.id], m.date) for m in messages])
        return [m.id for m in messages]

    def _unique(self, make: Callable[[int], SimMessage]) -> SimMessage:
        """Return `make(salt)` for the first salt whose file id is new (or the same file, for a repost)."""
        for salt in itertools.count():
            msg = make(salt)
            known = self._files.docs.get(msg.doc_id) if self._files and msg.doc_id is not None else None
            if known is None or _same_file(known, msg):
                return msg
        raise AssertionError("unreachable")

    def _index(self, messages: list[SimMessage]) -> None:
        if self._files is not None:
            self._files.add(messages)

    def _member(self, feed: Feed, session: SimSession) -> bool:
        account = session.account
        return (session.authorized and not account.revoked and not account.deactivated
                and (account.member or not feed.main))

    def _publish(self, feed: Feed, events: list[Event]) -> None:
        """Update the channel's dialog; push the events to every connected client of every member account."""
        self._dialogs.update_channel(feed.channel_id, feed.top(), feed.server.pts)
        builder = feed.server.builder
        for ref in self._sessions:
            session = ref()
            push = session.updates if session is not None else None
            if session is None or push is None or not self._member(feed, session):
                continue
            account = session.account
            push(types.Updates(updates=feed.updates(events, account), users=[], chats=[builder.channel(account)],
                               date=events[-1].date, seq=0))

    def _account_difference(self, session: SimSession, dc_id: int, req: Any) -> Any:
        # core.telegram.org/method/updates.getDifference; core.telegram.org/constructor/updateChannelTooLong:
        # "there are new updates in the specified channel, the client must fetch them".
        account = session.account
        behind = [f for f in self._feeds.values() if f.events and self._member(f, session)]
        if not behind:
            return types.updates.DifferenceEmpty(date=_now(), seq=1)
        return types.updates.Difference(
            new_messages=[], new_encrypted_messages=[],
            other_updates=[types.UpdateChannelTooLong(f.channel_id, pts=f.server.pts) for f in behind],
            chats=[f.server.builder.channel(account) for f in behind], users=[],
            state=types.updates.State(pts=1, qts=0, date=_now(), seq=1, unread_count=0),
        )


class LiveChannels:
    """The live part of `SimulatedTelegram`'s API (a mixin): thin delegations to its `live` (a `Live`)."""

    live: Live

    @property
    def last_id(self) -> int:
        """The main chat's last message id now (posts raise it)."""
        return self.live.server().messages()[-1].id

    def post(self, count: int = 1, *, kinds: Kinds = None, chat: Chat = None) -> list[int]:
        """Post `count` single messages (kinds drawn from `kinds`, default any) to a channel; see `Live.post`."""
        return self.live.post(count, kinds=kinds, chat=chat)

    def post_album(self, size: int, *, chat: Chat = None) -> AlbumPoster:
        """Open an album of `size` members whose `add()` posts them one by one; see `Live.post_album`."""
        return self.live.post_album(size, chat=chat)

    def delete(self, ids: int | Iterable[int], chat: Chat = None) -> list[int]:
        """Delete messages (messageEmpty for getMessages, gone from getHistory); see `Live.delete`."""
        return self.live.delete(ids, chat)

    def edit(self, message_id: int, *, new_media: bool = False, caption: str | None = None,
             chat: Chat = None) -> SimMessage:
        """Edit a message (edit_date; a new file with `new_media`); see `Live.edit`."""
        return self.live.edit(message_id, new_media=new_media, caption=caption, chat=chat)
