"""A discussion group linked to the channel: every post copied in as a thread root, comments under it.

core.telegram.org/api/discussion and core.telegram.org/api/threads: a broadcast channel's
`channelFull.linked_chat_id` is its discussion supergroup; every post is forwarded into the group
automatically (`fwd_from.channel_post` = `saved_from_msg_id` = the post, `saved_from_peer` = the channel)
and that copy is the root of the post's comment thread; the post carries
`messageReplies(comments=True, replies=<n>, channel_id=<group>)`; comments are messages of the group with
`reply_to_msg_id` = the root, or `reply_to_msg_id` = a comment and `reply_to_top_id` = the root when they
answer a comment.

Layout (seeded): every visible post but service messages has a thread; 35 % of the posts have no comment,
the others 1 + Exp(mean 3) (at most 60), and the post in the middle of the channel 230 (with their albums,
more than two pages of 100 messages); a comment is text (55 %), one photo, video or document (30 %) or an
album of 2-10 (15 %), 20 s + Exp(mean 10 min) after the thread's previous one, by a seeded member; 20 %
answer one of the thread's ten latest comments. The group's ids run from 1 in date order (a post's copies at the post's
date). An album post's copies form an album in the group, the copy of its first member is the root, and
every member of the album post carries the thread's `replies` and opens the thread.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

from telethon.tl import types

from .accounts import Account
from .content import MediaFactory, SimMessage, derive_int
from .threads import MEMBERS, album_units, member_id, member_users, senders
from .tlbuild import Builder

HOT_THREAD = 230  # comments under the post in the middle of the channel
_MAX_COMMENTS = 60
_REPLY_SHARE = 0.2
_CREATED = dt.datetime(2022, 6, 1, tzinfo=dt.UTC)
_COPY = "copy"


@dataclasses.dataclass(frozen=True)
class Thread:
    """One post's comment section: the post's ids, their copies in the group, the comments (ascending)."""

    post_ids: tuple[int, ...]  # several for an album post
    root_ids: tuple[int, ...]  # the copies, in the group; root_ids[0] is the thread's root
    comment_ids: tuple[int, ...]  # what getReplies pages (album comments count one per member)

    @property
    def post_id(self) -> int:
        """The channel post (an album post's first member)."""
        return self.post_ids[0]

    @property
    def root_id(self) -> int:
        """The group message the comments reply to."""
        return self.root_ids[0]


@dataclasses.dataclass(frozen=True)
class GroupMessage:
    """One message of the group: its content, and the post it copies or the comment it is."""

    sim: SimMessage  # id in the group
    root: int  # the thread's root
    post_id: int | None = None  # a copy: the channel post it was forwarded from
    author: int | None = None  # a comment: the member who wrote it
    reply_to: int | None = None  # a comment answering another comment


@dataclasses.dataclass(frozen=True)
class _Event:
    date: dt.datetime
    post: int  # index of the post (unit) in the channel
    order: int  # 0: the post's copy; 1, 2...: its comments
    kinds: tuple[str, ...]  # (_COPY,), ("text",), or the media kinds of a comment (several: an album)


class DiscussionLayout:
    """The group's messages and the threads of the channel's posts."""

    def __init__(self, group_id: int, entries: Sequence[GroupMessage], threads: Sequence[Thread]) -> None:
        self.group_id = group_id
        self.entries = tuple(entries)
        self.messages = tuple(e.sim for e in entries)
        self.threads = tuple(threads)
        self.ids = [e.sim.id for e in entries]
        self.dates = [e.sim.date for e in entries]
        self._by_id = {e.sim.id: e for e in entries}
        self._by_post = {p: t for t in threads for p in t.post_ids}
        self._by_root = {r: t for t in threads for r in t.root_ids}

    def entry(self, msg_id: int) -> GroupMessage | None:
        """Return the group message `msg_id`, if any."""
        return self._by_id.get(msg_id)

    def by_post(self, post_id: int) -> Thread | None:
        """Return the thread a channel post (any member of an album post) opens, if any."""
        return self._by_post.get(post_id)

    def by_root(self, root_id: int) -> Thread | None:
        """Return the thread whose copies in the group include `root_id`, if any."""
        return self._by_root.get(root_id)

    def dates_of(self, ids: Sequence[int]) -> list[dt.datetime]:
        """Return the dates of group messages `ids`."""
        return [self._by_id[i].sim.date for i in ids]


def layout_discussion(
    seed: int, group_id: int, messages: Sequence[SimMessage], size_scale: float, max_file_size: int | None
) -> DiscussionLayout:
    """Build the group of the channel `messages` (same arguments, same group)."""
    posts = [u for u in album_units(messages) if u[0].kind not in ("deleted", "service")]
    events = _plan(random.Random(derive_int("comments_plan", seed)), posts)
    factory = MediaFactory(random.Random(derive_int("comments_content", seed)), size_scale, max_file_size)
    entries: list[GroupMessage] = []
    recent: dict[int, list[int]] = collections.defaultdict(list)
    roots: dict[int, int] = {}
    for event in events:
        first = len(entries) + 1
        if event.kinds == (_COPY,):
            made = _copies(seed, posts[event.post], first)
            roots[event.post] = first
        else:
            made = _comment(factory, event, first, roots[event.post], recent[event.post])
            recent[event.post] += [m.sim.id for m in made]
        entries += made
    root_ids: dict[int, list[int]] = collections.defaultdict(list)
    comment_ids: dict[int, list[int]] = collections.defaultdict(list)
    for entry in entries:
        (root_ids if entry.post_id is not None else comment_ids)[entry.root].append(entry.sim.id)
    threads = [
        Thread(tuple(m.id for m in unit), tuple(root_ids[roots[i]]), tuple(comment_ids[roots[i]]))
        for i, unit in enumerate(posts)
    ]
    return DiscussionLayout(group_id, entries, threads)


def _plan(rng: random.Random, posts: list[list[SimMessage]]) -> list[_Event]:
    """Return the group's events in date order: each post's copy, then its comments."""
    events: list[_Event] = []
    for i, unit in enumerate(posts):
        date = unit[0].date
        events.append(_Event(date, i, 0, (_COPY,)))
        count = HOT_THREAD if i == len(posts) // 2 else _comment_count(rng)
        for j in range(count):
            date += dt.timedelta(seconds=20 + int(rng.expovariate(1 / 600)))
            events.append(_Event(date, i, j + 1, _comment_kinds(rng)))
    return sorted(events, key=lambda e: (e.date, e.post, e.order))


def _comment_count(rng: random.Random) -> int:
    return 0 if rng.random() < 0.35 else min(_MAX_COMMENTS, 1 + int(rng.expovariate(1 / 3)))


def _comment_kinds(rng: random.Random) -> tuple[str, ...]:
    roll = rng.random()
    if roll < 0.55:
        return ("text",)
    if roll < 0.85:
        return (rng.choices(("photo", "video", "document"), weights=(45, 25, 30))[0],)
    length = min(10, 2 + int(rng.expovariate(1 / 2.2)))
    if rng.random() < 0.25:
        return ("document",) * length
    return tuple("photo" if rng.random() < 0.65 else "video" for _ in range(length))


def _copies(seed: int, unit: list[SimMessage], first: int) -> list[GroupMessage]:
    """Return the copies of one post (an album: one album, dated like its first member) from id `first`."""
    grouped = unit[0].grouped_id
    if grouped is not None:
        grouped = (1 << 62) | derive_int("copy_album", seed, grouped, bits=61)
    return [
        GroupMessage(dataclasses.replace(m, id=first + k, grouped_id=grouped, date=unit[0].date), root=first,
                     post_id=m.id)
        for k, m in enumerate(unit)
    ]


def _comment(factory: MediaFactory, event: _Event, first: int, root: int, recent: list[int]) -> list[GroupMessage]:
    """Return one comment (an album: its members) from id `first`."""
    rng = factory.rng
    author = member_id(rng.randrange(MEMBERS))
    replied = rng.choice(recent[-10:]) if recent and rng.random() < _REPLY_SHARE else None
    if event.kinds == ("text",):
        sims = [factory.text(first, f"Comment {first}: {rng.getrandbits(32):08x}", event.date)]
    else:
        album = len(event.kinds) > 1
        grouped = ((1 << 62) | rng.getrandbits(61)) if album else None
        if album:
            caption = f"Album of {len(event.kinds)} in the comments"
        else:
            caption = f"Comment {first}" if rng.random() < 0.5 else ""
        sims = [
            factory.media(first + k, kind, grouped, caption if k == 0 else "", event.date)
            for k, kind in enumerate(event.kinds)
        ]
    return [GroupMessage(s, root=root, author=author, reply_to=replied) for s in sims]


class CommentedBuilder(Builder):
    """Build the channel's TL objects with a linked group: posts carry their thread's `replies`."""

    def __init__(self, seed: int, channel_id: int, username: str, title: str, layout: DiscussionLayout) -> None:
        super().__init__(seed, channel_id, username, title)
        self.layout = layout

    def channel(self, account: Account) -> types.Channel:
        """Return the channel (with `has_link`: it has a discussion group) with this account's access hash."""
        chan = super().channel(account)
        chan.has_link = True
        return chan

    def message(self, msg: SimMessage | None, msg_id: int, account: Account) -> Any:
        """Return the TL message; a post gets messageReplies(comments=True, channel_id=<group>)."""
        tl = super().message(msg, msg_id, account)
        thread = self.layout.by_post(msg_id)
        if isinstance(tl, types.Message) and thread is not None:
            tl.replies = replies(thread, channel_id=self.layout.group_id)
        return tl


def replies(thread: Thread, channel_id: int | None = None) -> types.MessageReplies:
    """Return a thread's messageReplies: on the post (comments, the group's id) or on the root (neither)."""
    last = thread.comment_ids[-1] if thread.comment_ids else None
    return types.MessageReplies(
        comments=channel_id is not None, replies=len(thread.comment_ids), replies_pts=1 + len(thread.comment_ids),
        channel_id=channel_id, max_id=last, read_max_id=last,
    )


class GroupBuilder:
    """Build the discussion group's TL objects: the supergroup, its messages, their senders."""

    def __init__(self, seed: int, layout: DiscussionLayout, channel_id: int, title: str) -> None:
        self.seed = seed
        self.layout = layout
        self.channel_peer = types.PeerChannel(channel_id)
        self.title = f"{title} (comments)"
        self._base = Builder(seed, layout.group_id, "", self.title)
        self.peer = self._base.peer

    def access_hash(self, account: Account) -> int:
        """Return `account`'s access hash of the group."""
        return derive_int("group_hash", self.seed, account.name)

    def entity(self, account: Account) -> types.Channel:
        """Return the group (a supergroup linked to the channel) with `account`'s access hash."""
        return types.Channel(
            id=self.layout.group_id, title=self.title, photo=types.ChatPhotoEmpty(), date=_CREATED, megagroup=True,
            has_link=True, access_hash=self.access_hash(account), participants_count=321,
        )

    def message(self, account: Account, msg_id: int) -> Any:
        """Return group message `msg_id` as `account` sees it (MessageEmpty if there is none)."""
        entry = self.layout.entry(msg_id)
        tl = self._base.message(entry.sim if entry else None, msg_id, account)
        if entry is None:
            return tl
        tl.post, tl.views, tl.forwards = None, None, None
        if entry.post_id is None:
            tl.from_id = types.PeerUser(entry.author or member_id(0))
            if entry.reply_to is None:
                tl.reply_to = types.MessageReplyHeader(reply_to_msg_id=entry.root)
            else:
                tl.reply_to = types.MessageReplyHeader(reply_to_msg_id=entry.reply_to, reply_to_top_id=entry.root)
            return tl
        channel = self.channel_peer
        tl.from_id = channel
        tl.fwd_from = types.MessageFwdHeader(
            date=entry.sim.date, from_id=channel, channel_post=entry.post_id, saved_from_peer=channel,
            saved_from_msg_id=entry.post_id,
        )
        thread = self.layout.by_root(msg_id)
        if thread is not None and msg_id == thread.root_id:
            tl.replies = replies(thread)
        return tl

    def users(self, account: Account, messages: Sequence[Any]) -> list[types.User]:
        """Return the members who sent `messages`."""
        return member_users(self.seed, account, senders(messages))
