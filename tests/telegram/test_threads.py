"""Forum topics and channel comments (`tgfetch.telegram.threads`) against the simulator, through Telethon.

Expected values come from the simulator's own layouts (`SimulatedTelegram.topics()`, `.threads()`), call
costs from `Account.rpc_counts()`. No Account is `resolve`d (it has no channel of its own): the functions
take the chat explicitly.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from telegram_helpers import sim_clients
from telethon import functions, types

from tgfetch.errors import UsageError
from tgfetch.telegram.account import Account
from tgfetch.telegram.rpc import AccessDenied
from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.telegram.simulator.discussion import HOT_THREAD
from tgfetch.telegram.threads import (
    PAGE,
    TopicInfo,
    comment_count,
    discussion_group,
    list_topics,
    post_comments,
    topic_messages,
)

REPLIES, TOPICS, FULL = "GetRepliesRequest", "GetForumTopicsRequest", "GetFullChannelRequest"


def forum_sim(topics: int = 5, messages: int = 300) -> SimulatedTelegram:
    return SimulatedTelegram(seed=7, messages=messages, size_scale=0.001, forum_topics=topics)


def commented_sim() -> SimulatedTelegram:
    return SimulatedTelegram(seed=7, messages=300, size_scale=0.001, comments=True)


@asynccontextmanager
async def accounts(sim: SimulatedTelegram, *names: str) -> AsyncIterator[list[tuple[Account, types.InputChannel]]]:
    """Connected Accounts (never `resolve`d: no acc.channel) with their own InputChannel of the sim's chat."""
    async with sim_clients(sim, names or ("a",)) as clients:
        out = []
        for name, client in clients.items():
            await client.connect()
            acc = Account(name, client)
            found = await acc.call(functions.contacts.ResolveUsernameRequest(sim.channel_username))
            acc.calls.clear()
            out.append((acc, types.InputChannel(found.chats[0].id, found.chats[0].access_hash)))
        yield out


def calls(acc: Account, method: str) -> int:
    """Calls of `method` since the last reset, then reset."""
    n = acc.rpc_counts().get(method, 0)
    acc.calls.clear()
    return n


def pages(n: int) -> int:
    """getReplies calls for a thread of n messages: ceil(n / 100), one for an empty thread."""
    return max(1, math.ceil(n / PAGE))


# -- topics -----------------------------------------------------------------------------------------------


async def test_list_topics_matches_the_layout() -> None:
    sim = forum_sim()
    expected = [TopicInfo(t.id, t.title, len(t.message_ids), t.top_message, False, False) for t in sim.topics()]
    async with accounts(sim) as [(acc, peer)]:
        assert await list_topics(acc, peer) == expected
        assert acc.rpc_counts() == {TOPICS: 1, REPLIES: len(expected)}
    assert expected[0].id == 1 and expected[0].title == "General" and len(expected) == 6
    assert expected[-1].messages == 1  # the last created topic holds only its creation message


async def test_list_topics_pages_past_one_hundred_topics() -> None:
    sim = forum_sim(topics=150, messages=1000)
    async with accounts(sim) as [(acc, peer)]:
        topics = await list_topics(acc, peer)
        assert acc.rpc_counts() == {TOPICS: 2, REPLIES: 151}
    assert [(t.id, t.title, t.messages, t.top_message) for t in topics] == [
        (t.id, t.title, len(t.message_ids), t.top_message) for t in sim.topics()
    ]


async def test_list_topics_of_a_chat_without_topics() -> None:
    sim = SimulatedTelegram(seed=7, messages=50)
    async with accounts(sim) as [(acc, peer)]:
        with pytest.raises(UsageError, match=rf"chat {sim.channel_id} is not a forum: it has no topics"):
            await list_topics(acc, peer)
        assert acc.rpc_counts() == {TOPICS: 1}


async def test_topic_messages_are_each_topics_members() -> None:
    sim = forum_sim(topics=3, messages=1000)
    sizes = [len(t.message_ids) for t in sim.topics()]
    assert max(sizes) > 2 * PAGE  # the paging is exercised
    async with accounts(sim) as [(acc, peer)]:
        for topic in sim.topics():
            msgs = await topic_messages(acc, peer, topic.id)
            assert [m.id for m in msgs] == list(topic.message_ids)
            assert calls(acc, REPLIES) == pages(len(topic.message_ids))
            if topic.id != 1:
                assert isinstance(msgs[0], types.MessageService)
                assert isinstance(msgs[0].action, types.MessageActionTopicCreate)
                assert msgs[0].action.title == topic.title
            assert all(isinstance(m.peer_id, types.PeerChannel) and m.peer_id.channel_id == sim.channel_id
                       for m in msgs)


async def test_topic_messages_in_an_id_range() -> None:
    sim = forum_sim(topics=3, messages=1000)
    topic = max(sim.topics(), key=lambda t: len(t.message_ids))
    ids = list(topic.message_ids)
    lo, hi = ids[len(ids) // 5], ids[4 * len(ids) // 5]
    cases = [
        (lo, hi), (lo, 0), (0, hi), (lo + 1, hi - 1), (hi, hi), (lo, lo), (ids[-1] + 1, 0), (0, ids[0] - 1),
        (hi, lo), (0, ids[-1] + 10_000),
    ]
    async with accounts(sim) as [(acc, peer)]:
        for min_id, max_id in cases:
            msgs = await topic_messages(acc, peer, topic.id, min_id=min_id, max_id=max_id)
            want = [i for i in ids if i >= min_id and (not max_id or i <= max_id)]
            assert [m.id for m in msgs] == want, (min_id, max_id)
            assert calls(acc, REPLIES) == pages(len(want)), (min_id, max_id)


async def test_unknown_topic_is_a_usage_error() -> None:
    sim = forum_sim()
    topic_ids = {t.id for t in sim.topics()}
    plain_message = next(m.id for m in sim.messages if m.id not in topic_ids and m.kind != "deleted")
    async with accounts(sim) as [(acc, peer)]:
        for bad in (plain_message, sim.last_id + 50):
            with pytest.raises(UsageError, match=rf"topic {bad} is not a topic of chat {sim.channel_id}"):
                await topic_messages(acc, peer, bad)
    plain = SimulatedTelegram(seed=7, messages=50)
    async with accounts(plain) as [(acc, peer)]:
        with pytest.raises(UsageError, match="topic 1 is not a topic"):
            await topic_messages(acc, peer, 1)


# -- comments ---------------------------------------------------------------------------------------------


async def test_discussion_group_with_each_accounts_hash() -> None:
    sim = commented_sim()
    root = sim.threads()[0].root_id
    async with accounts(sim, "a", "b") as [(a, peer_a), (b, peer_b)]:
        group_a, group_b = await discussion_group(a, peer_a), await discussion_group(b, peer_b)
        assert calls(a, FULL) == 1 and calls(b, FULL) == 1
        assert group_a is not None and group_b is not None
        assert group_a.channel_id == group_b.channel_id == sim.discussion_id
        assert group_a.access_hash != group_b.access_hash
        for acc, group in ((a, group_a), (b, group_b)):
            res = await acc.call(functions.channels.GetMessagesRequest(group, [types.InputMessageID(root)]))
            assert [m.id for m in res.messages] == [root]
            assert res.messages[0].fwd_from.channel_post == sim.threads()[0].post_id
        with pytest.raises(AccessDenied):
            await a.call(functions.channels.GetMessagesRequest(group_b, [types.InputMessageID(root)]))
        assert await discussion_group(a, group_a) is None  # the group's linked chat is the channel, no group


@pytest.mark.parametrize("make", [lambda: SimulatedTelegram(seed=7, messages=50), forum_sim])
async def test_no_discussion_group(make: Any) -> None:
    async with accounts(make()) as [(acc, peer)]:
        assert await discussion_group(acc, peer) is None
        assert acc.rpc_counts() == {FULL: 1}


async def test_hot_thread_comments_are_paged() -> None:
    sim = commented_sim()
    hot = max(sim.threads(), key=lambda t: len(t.comment_ids))
    assert len(hot.comment_ids) >= HOT_THREAD > 2 * PAGE
    async with accounts(sim) as [(acc, peer)]:
        comments = await post_comments(acc, peer, hot.post_id)
        assert calls(acc, REPLIES) == pages(len(hot.comment_ids))
    assert [m.id for m in comments] == list(hot.comment_ids)
    for msg in comments:
        assert msg.peer_id.channel_id == sim.discussion_id
        assert (msg.reply_to.reply_to_top_id or msg.reply_to.reply_to_msg_id) == hot.root_id


async def test_every_post_comments_and_counts() -> None:
    sim = commented_sim()
    async with accounts(sim) as [(acc, peer)]:
        posts = await acc.call(functions.channels.GetMessagesRequest(
            peer, [types.InputMessageID(m.id) for m in sim.messages[:200]]))
        posts = [m for m in posts.messages if not isinstance(m, types.MessageEmpty)]
        acc.calls.clear()
        commented = [m for m in posts if comment_count(m)]
        for msg in commented:
            thread = sim.thread(msg.id)
            assert comment_count(msg) == len(thread.comment_ids) > 0
            assert [c.id for c in await post_comments(acc, peer, msg.id)] == list(thread.comment_ids)
        assert calls(acc, REPLIES) == sum(pages(comment_count(m)) for m in commented)
    silent = [m for m in posts if not comment_count(m)]
    assert commented and silent
    for msg in silent:  # no comment yet, or no thread at all (service messages)
        thread = sim.thread(msg.id) if isinstance(msg, types.Message) else None
        assert thread is None or thread.comment_ids == ()


async def test_posts_without_comments_give_nothing() -> None:
    sim = commented_sim()
    empty = next(t for t in sim.threads() if not t.comment_ids)
    service = next(m.id for m in sim.messages if m.kind == "service")
    async with accounts(sim) as [(acc, peer)]:
        assert await post_comments(acc, peer, empty.post_id) == []
        assert await post_comments(acc, peer, service) == []  # MSG_ID_INVALID: no thread
        assert await post_comments(acc, peer, sim.last_id + 10) == []
        assert acc.rpc_counts() == {REPLIES: 3}
    plain = SimulatedTelegram(seed=7, messages=50)
    async with accounts(plain) as [(acc, peer)]:
        assert await post_comments(acc, peer, 5) == []


def test_comment_count_of_any_message() -> None:
    post = types.MessageReplies(comments=True, replies=7, replies_pts=8, channel_id=5)
    root = types.MessageReplies(comments=False, replies=7, replies_pts=8)
    assert comment_count(types.Message(id=1, peer_id=types.PeerChannel(1), date=None, message="", replies=post)) == 7
    assert comment_count(types.Message(id=1, peer_id=types.PeerChannel(1), date=None, message="", replies=root)) == 0
    assert comment_count(types.Message(id=1, peer_id=types.PeerChannel(1), date=None, message="")) == 0
    assert comment_count(types.MessageEmpty(id=3, peer_id=types.PeerChannel(1))) == 0
