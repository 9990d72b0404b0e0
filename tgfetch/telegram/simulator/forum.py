"""A forum supergroup: the channel's messages spread over topics; messages.getForumTopics and getReplies.

core.telegram.org/api/forum: a forum is a supergroup (`megagroup`) with `forum` set. Its General topic has
id 1 and its messages carry no `reply_to`; any other topic's id is the id of the service message
(`messageActionTopicCreate(title, icon_color)`) that created it, and its messages carry
`messageReplyHeader(forum_topic=True, reply_to_msg_id=<topic id>)`, or, when they reply to a message of
the topic, `reply_to_msg_id=<that message>, reply_to_top_id=<topic id>` (core.telegram.org/api/threads).

Layout (seeded, drawn from the plain channel's messages, so ids, albums and files stay where they were):
`forum_topics` single messages in the first half of the history become the topics' creation messages
(their files are gone); every later message, an album as a whole, lands in General (30 %) or in one of the
topics created before it, with a seeded author among `threads.MEMBERS` users; the last created topic
stays empty (only its creation message) when there are two or more; 20 % of the messages of a topic reply
to one of its ten latest messages. `messages.getReplies(peer, msg_id=<topic id>)` answers a topic newest
first, its creation message last; `msg_id=1` answers General.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from telethon.tl import functions, types

from .accounts import Account
from .base import RpcFail, SimSession
from .content import SimMessage, derive_int
from .threads import (
    MAX_PAGE,
    MEMBERS,
    album_units,
    date_set,
    member_id,
    member_users,
    newest_first,
    senders,
)
from .tlbuild import Builder

if TYPE_CHECKING:
    from .server import Handler, Server

TOPIC_KIND = "topic"  # SimMessage.kind of a topic's creation message
GENERAL_ID = 1
# core.telegram.org/method/messages.createForumTopic: icon_color is one of these six RGB colors.
ICON_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)
_TITLES = ("Announcements", "Lectures", "Homework", "Off-topic", "Media", "Книги", "写真", "Releases 🎉")
_GENERAL_SHARE = 0.3
_REPLY_SHARE = 0.2


@dataclasses.dataclass(frozen=True)
class Topic:
    """One forum topic: id, title, icon color, creation date and creator, its messages in id order."""

    id: int
    title: str
    icon_color: int
    date: dt.datetime
    creator: int
    message_ids: tuple[int, ...]  # what getReplies pages: a topic's creation message first; no deleted ids

    @property
    def top_message(self) -> int:
        """The id of the topic's newest message (core.telegram.org/constructor/forumTopic)."""
        return self.message_ids[-1] if self.message_ids else self.id


@dataclasses.dataclass(frozen=True)
class _Placement:
    topic_of: dict[int, int] = dataclasses.field(default_factory=dict)
    reply_of: dict[int, int] = dataclasses.field(default_factory=dict)
    author_of: dict[int, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ForumLayout:
    """The forum's messages (creation messages included), its topics and who wrote what where."""

    messages: tuple[SimMessage, ...]
    topics: tuple[Topic, ...]  # General first, then in id order
    placement: _Placement

    def topic(self, topic_id: int) -> Topic | None:
        """Return the topic with this id, if any."""
        return next((t for t in self.topics if t.id == topic_id), None)

    def author(self, msg_id: int) -> int:
        """Return the user id of the member who sent `msg_id`."""
        return self.placement.author_of.get(msg_id, member_id(0))

    def reply_header(self, msg_id: int) -> types.MessageReplyHeader | None:
        """Return the reply_to header of a message (None in General and for creation messages)."""
        topic = self.placement.topic_of.get(msg_id, GENERAL_ID)
        if topic in (GENERAL_ID, msg_id):
            return None
        replied = self.placement.reply_of.get(msg_id)
        if replied is None:
            return types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=topic)
        return types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=replied, reply_to_top_id=topic)


def layout_forum(seed: int, messages: Sequence[SimMessage], count: int) -> ForumLayout:
    """Spread `messages` over General and `count` topics (same arguments, same forum)."""
    rng = random.Random(derive_int("forum", seed, count))
    units = album_units(messages)
    created = _creation_ids(rng, units, count)
    content = {m.id: m for m in messages}
    for k, msg_id in enumerate(created):
        title = _TITLES[k % len(_TITLES)] + (f" {k // len(_TITLES) + 1}" if k >= len(_TITLES) else "")
        content[msg_id] = dataclasses.replace(
            content[msg_id], kind=TOPIC_KIND, grouped_id=None, size=0, file_name=None, mime_type=None,
            caption=title, doc_id=None, dc_id=2,
        )
    placement = _place(rng, units, created)
    by_topic: dict[int, list[int]] = collections.defaultdict(list)
    for msg_id in sorted(placement.topic_of):
        by_topic[placement.topic_of[msg_id]].append(msg_id)
    general = Topic(GENERAL_ID, "General", ICON_COLORS[0], messages[0].date, member_id(0), tuple(by_topic[GENERAL_ID]))
    topics = [general] + [
        Topic(t, content[t].caption, ICON_COLORS[k % len(ICON_COLORS)], content[t].date, placement.author_of[t],
              tuple(by_topic[t]))
        for k, t in enumerate(created)
    ]
    return ForumLayout(tuple(content[m.id] for m in messages), tuple(topics), placement)


def _creation_ids(rng: random.Random, units: list[list[SimMessage]], count: int) -> list[int]:
    singles = [u[0].id for u in units[1:] if len(u) == 1 and u[0].kind != "deleted" and u[0].id != GENERAL_ID]
    if len(singles) < count:
        raise ValueError(f"forum_topics={count} needs as many single messages after the first, not {len(singles)}")
    return sorted(rng.sample(singles[: max(count, len(singles) // 2)], count))


def _place(rng: random.Random, units: list[list[SimMessage]], created: list[int]) -> _Placement:
    """Put every visible unit in General or an open topic, with an author and maybe a reply."""
    out = _Placement()
    silent = created[-1] if len(created) >= 2 else None
    creations = set(created)
    opened: list[int] = []
    recent: dict[int, list[int]] = collections.defaultdict(list)
    for unit in units:
        first = unit[0]
        if first.kind == "deleted":
            continue
        author = member_id(rng.randrange(MEMBERS))
        if first.id in creations:
            out.topic_of[first.id], out.author_of[first.id] = first.id, author
            if first.id != silent:
                opened.append(first.id)
            continue
        topic = GENERAL_ID if not opened or rng.random() < _GENERAL_SHARE else rng.choice(opened)
        replied = None
        if topic != GENERAL_ID and recent[topic] and rng.random() < _REPLY_SHARE:
            replied = rng.choice(recent[topic][-10:])
        for msg in unit:
            out.topic_of[msg.id], out.author_of[msg.id] = topic, author
            if replied is not None:
                out.reply_of[msg.id] = replied
        recent[topic] += [m.id for m in unit]
    return out


class ForumBuilder(Builder):
    """Build the forum's TL objects: a supergroup with `forum`, member senders, topic reply headers."""

    megagroup = True

    def __init__(self, seed: int, channel_id: int, username: str, title: str, layout: ForumLayout) -> None:
        super().__init__(seed, channel_id, username, title)
        self.layout = layout

    def channel(self, account: Account) -> types.Channel:
        """Return the forum supergroup with this account's access hash."""
        chan = super().channel(account)
        chan.broadcast, chan.megagroup, chan.forum = None, True, True
        return chan

    def message(self, msg: SimMessage | None, msg_id: int, account: Account) -> Any:
        """Return the TL message: a topic's creation service message, or a member's message in its topic."""
        if msg is not None and msg.kind == TOPIC_KIND:
            topic = self.layout.topic(msg.id)
            assert topic is not None
            action = types.MessageActionTopicCreate(title=topic.title, icon_color=topic.icon_color)
            return types.MessageService(
                id=msg.id, peer_id=self.peer, date=msg.date, from_id=types.PeerUser(topic.creator), action=action
            )
        tl = super().message(msg, msg_id, account)
        if isinstance(tl, types.MessageEmpty):
            return tl
        tl.post = None
        tl.from_id = types.PeerUser(self.layout.author(msg_id))
        tl.reply_to = self.layout.reply_header(msg_id)
        if isinstance(tl, types.Message):
            tl.views = tl.forwards = None  # core.telegram.org/constructor/message: views are channel posts'
        return tl

    def related_users(self, account: Account, messages: Sequence[Any]) -> list[types.User]:
        """Return the members who sent `messages`."""
        return member_users(self.seed, account, senders(messages))


class ForumService:
    """Answer messages.getForumTopics and messages.getReplies for the forum's topics."""

    def __init__(self, layout: ForumLayout, builder: ForumBuilder) -> None:
        self.layout = layout
        self.builder = builder
        self._dates = {m.id: m.date for m in layout.messages}
        self._server: Server | None = None

    def handlers(self, server: Server) -> dict[type, Handler]:
        """Return the request-type -> handler table of the forum."""
        self._server = server
        return {
            functions.messages.GetForumTopicsRequest: self._get_topics,
            functions.messages.GetRepliesRequest: self._replies,
        }

    def _check(self, account: Account, peer: Any) -> Server:
        assert self._server is not None
        self._server.check_channel(account, peer)
        return self._server

    def _key(self, topic: Topic) -> tuple[dt.datetime, int, int]:
        return self._dates[topic.top_message], topic.top_message, topic.id

    def _get_topics(self, session: SimSession, dc_id: int, req: Any) -> Any:
        # core.telegram.org/method/messages.getForumTopics: topics by their last message's date, newest
        # first; the next page starts after the topic given by offset_date (its last message's date; 0 or
        # a future date: from the start), offset_id (its last message) and offset_topic (its id); q
        # searches titles; the server may answer fewer than `limit`.
        # core.telegram.org/constructor/messages.forumTopics: messages are the topics' top messages.
        account = session.account
        server = self._check(account, req.peer)
        ordered = sorted(self.layout.topics, key=self._key, reverse=True)
        found = [t for t in ordered if not req.q or req.q.lower() in t.title.lower()]
        start = 0
        if date_set(req.offset_date):
            after = (req.offset_date, req.offset_id, req.offset_topic)
            start = next((i for i, t in enumerate(found) if self._key(t) < after), len(found))
        page = found[start : start + max(0, min(req.limit, MAX_PAGE))]
        msgs = [server.message(account, t.top_message) for t in page]
        users = member_users(self.builder.seed, account, [*senders(msgs), *(t.creator for t in page)])
        return types.messages.ForumTopics(
            count=len(found), topics=[self.forum_topic(t) for t in page], messages=msgs,
            chats=[self.builder.channel(account)], users=users, pts=1,
        )

    def forum_topic(self, topic: Topic) -> types.ForumTopic:
        """Return the TL forumTopic of `topic` (everything read, default notifications)."""
        return types.ForumTopic(
            id=topic.id, date=topic.date, peer=self.builder.peer, title=topic.title, icon_color=topic.icon_color,
            top_message=topic.top_message, read_inbox_max_id=topic.top_message,
            read_outbox_max_id=topic.top_message, unread_count=0, unread_mentions_count=0,
            unread_reactions_count=0, unread_poll_votes_count=0, from_id=types.PeerUser(topic.creator),
            notify_settings=types.PeerNotifySettings(),
        )

    def _replies(self, session: SimSession, dc_id: int, req: Any) -> Any:
        # core.telegram.org/method/messages.getReplies: one topic's messages, paged like the history
        # (core.telegram.org/api/offsets); an id that is no topic -> TOPIC_ID_INVALID.
        account = session.account
        server = self._check(account, req.peer)
        topic = self.layout.topic(req.msg_id)
        if topic is None:
            raise RpcFail(400, "TOPIC_ID_INVALID")
        ids = topic.message_ids
        page = newest_first(ids, [self._dates[i] for i in ids], req)
        msgs = [server.message(account, i) for i in page]
        return types.messages.ChannelMessages(
            pts=1, count=len(ids), messages=msgs, topics=[self.forum_topic(topic)],
            chats=[self.builder.channel(account)], users=self.builder.related_users(account, msgs),
        )
