"""Message threads: a forum's topics and the comments under a channel's posts.

core.telegram.org/api/forum: a forum is a supergroup whose messages live in topics;
`messages.getForumTopics` lists them (newest activity first, paged by the last topic's top message:
offset_date, offset_id, offset_topic), the General topic has id 1, any other topic's id is the id of the
service message that created it. core.telegram.org/api/threads: `messages.getReplies(peer, msg_id)` pages
one thread newest first (core.telegram.org/api/offsets), a topic (msg_id = topic id) or the comments of a
channel post (msg_id = the post; the comments are messages of the discussion group,
core.telegram.org/api/discussion, whose id is `channelFull.linked_chat_id`).

Every call goes through `Account.call` (counted, FLOOD_WAIT handled, errors translated by `rpc.classify`);
each function takes the chat explicitly, so one account can read any chat it has an InputChannel of.
Paging stops on a page shorter than the limit or once the answer's `count` is reached, so a thread of n
messages costs ceil(n / 100) getReplies calls (one more only when n is a non-zero multiple of 100 and the
server's count is missing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from telethon import errors as tl_errors
from telethon.tl import functions, types

from tgfetch.errors import UsageError
from tgfetch.telegram.account import Account

__all__ = [
    "PAGE",
    "TopicInfo",
    "comment_count",
    "discussion_group",
    "list_topics",
    "post_comments",
    "topic_messages",
]

PAGE = 100  # core.telegram.org/api/offsets: limit is "typically between 1 and 100"


@dataclass(frozen=True)
class TopicInfo:
    """One forum topic as listed by messages.getForumTopics, with its message count."""

    id: int  # topic id (1 = General)
    title: str
    messages: int  # messages in the topic (getReplies' count; a topic's creation message included)
    top_message: int  # newest message id
    closed: bool
    hidden: bool


def _no_thread(exc: tl_errors.BadRequestError) -> bool:
    """Tell whether getReplies refused a msg_id that opens no thread (no such post or topic).

    Telethon gives MSG_ID_INVALID its own class (whose `message` is then the generic BAD_REQUEST);
    TOPIC_ID_INVALID arrives as a plain BadRequestError carrying the name.
    """
    return isinstance(exc, tl_errors.MsgIdInvalidError) or exc.message == "TOPIC_ID_INVALID"


def _input_peer(peer: types.InputChannel) -> types.InputPeerChannel:
    return types.InputPeerChannel(peer.channel_id, peer.access_hash)


async def list_topics(acc: Account, peer: types.InputChannel) -> list[TopicInfo]:
    """Return every topic of the forum `peer`, General first, then by id; UsageError if it is no forum.

    Costs ceil(topics / 100) getForumTopics calls and one getReplies(limit=1) per topic.
    """
    out = []
    for topic in await _forum_topics(acc, peer):
        out.append(TopicInfo(
            id=topic.id, title=topic.title, messages=await _thread_count(acc, peer, topic.id),
            top_message=topic.top_message, closed=bool(topic.closed), hidden=bool(topic.hidden),
        ))
    return out


async def _forum_topics(acc: Account, peer: types.InputChannel) -> list[types.ForumTopic]:
    """Page messages.getForumTopics until its count is reached or a page brings nothing new."""
    found: dict[int, types.ForumTopic] = {}
    offset: tuple[dt.datetime | None, int, int] = (None, 0, 0)
    while True:
        request = functions.messages.GetForumTopicsRequest(
            peer=_input_peer(peer), offset_date=offset[0], offset_id=offset[1], offset_topic=offset[2], limit=PAGE,
        )
        try:
            res = await acc.call(request)
        except tl_errors.ChannelForumMissingError:
            raise UsageError(f"chat {peer.channel_id} is not a forum: it has no topics") from None
        page = [t for t in res.topics if isinstance(t, types.ForumTopic)]
        fresh = [t for t in page if t.id not in found]
        found.update((t.id, t) for t in page)
        # The server may answer fewer than `limit` (core.telegram.org/method/messages.getForumTopics):
        # only the count, or a page without a new topic, ends the list.
        if not fresh or len(found) >= res.count:
            return sorted(found.values(), key=lambda t: t.id)
        last = page[-1]
        dates = {m.id: m.date for m in res.messages if isinstance(m, types.Message | types.MessageService)}
        offset = (dates.get(last.top_message, last.date), last.top_message, last.id)


async def _thread_count(acc: Account, peer: types.InputChannel, msg_id: int) -> int:
    """Return the number of messages of thread `msg_id` (one getReplies with limit=1)."""
    res = await acc.call(_replies_request(peer, msg_id, offset_id=0, limit=1, min_id=0))
    return int(getattr(res, "count", len(res.messages)))


def _replies_request(peer: types.InputChannel, msg_id: int, *, offset_id: int, limit: int, min_id: int) -> Any:
    return functions.messages.GetRepliesRequest(
        peer=_input_peer(peer), msg_id=msg_id, offset_id=offset_id, offset_date=None, add_offset=0, limit=limit,
        max_id=0, min_id=min_id, hash=0,
    )


async def topic_messages(
    acc: Account, peer: types.InputChannel, topic_id: int, *, min_id: int = 0, max_id: int = 0
) -> list[Any]:
    """Return every message of topic `topic_id` (its creation message included), ascending ids.

    `min_id`/`max_id` (inclusive, 0: no bound) restrict the ids; an unknown topic is a UsageError.
    """
    try:
        return await _thread(acc, peer, topic_id, min_id=min_id, max_id=max_id)
    except tl_errors.BadRequestError as exc:
        if not _no_thread(exc):
            raise
        raise UsageError(f"topic {topic_id} is not a topic of chat {peer.channel_id}") from None


async def post_comments(acc: Account, peer: types.InputChannel, post_id: int) -> list[Any]:
    """Return the comments under channel post `post_id` (messages of the discussion group), ascending ids.

    A post without a comment thread gives [].
    """
    try:
        return await _thread(acc, peer, post_id)
    except tl_errors.BadRequestError as exc:
        if not _no_thread(exc):
            raise
        return []


async def _thread(
    acc: Account, peer: types.InputChannel, msg_id: int, *, min_id: int = 0, max_id: int = 0
) -> list[Any]:
    """Page messages.getReplies of thread `msg_id` newest first; return the ids in [min_id, max_id] ascending.

    A max_id starts the paging below it (offset_id = max_id + 1: the server applies its own max_id after the
    page is cut, core.telegram.org/api/offsets); min_id goes to the server, which drops older messages.
    """
    got: dict[int, Any] = {}
    offset_id, seen = (max_id + 1 if max_id else 0), 0
    while True:
        res = await acc.call(_replies_request(peer, msg_id, offset_id=offset_id, limit=PAGE, min_id=max(0, min_id - 1)))
        ids = [m.id for m in res.messages]
        seen += len(ids)
        for msg in res.messages:
            if not isinstance(msg, types.MessageEmpty) and min_id <= msg.id and (not max_id or msg.id <= max_id):
                got[msg.id] = msg
        if len(ids) < PAGE or seen >= getattr(res, "count", seen + 1) or min(ids) <= min_id:
            return [got[i] for i in sorted(got)]
        offset_id = min(ids)


async def discussion_group(acc: Account, peer: types.InputChannel) -> types.InputChannel | None:
    """Return channel `peer`'s discussion group with this account's access hash; None if it has none.

    One channels.getFullChannel: `full_chat.linked_chat_id` and that chat's entity in `chats`. A group's
    own linked chat (its broadcast channel) is no discussion group: None.
    """
    res = await acc.call(functions.channels.GetFullChannelRequest(peer))
    linked = getattr(res.full_chat, "linked_chat_id", None)
    if not linked:
        return None
    for chat in res.chats:
        if chat.id == linked and getattr(chat, "megagroup", False) and getattr(chat, "access_hash", None) is not None:
            return types.InputChannel(chat.id, chat.access_hash)
    return None


def comment_count(msg: Any) -> int:
    """Return the number of comments under a channel post (0 without a comment section)."""
    replies = getattr(msg, "replies", None)
    if replies is None or not replies.comments:
        return 0
    return int(replies.replies or 0)
