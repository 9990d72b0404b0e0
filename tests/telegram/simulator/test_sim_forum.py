"""Forum topics: the layout, messages.getForumTopics, messages.getReplies, through real Telethon calls."""

from __future__ import annotations

import collections
import hashlib
from typing import Any

import pytest
from telethon import errors, functions, types
from thread_helpers import replies_request

from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.telegram.simulator.forum import GENERAL_ID, ICON_COLORS, TOPIC_KIND

# sha256 of repr([[(id, kind, size, file_name, grouped_id, doc_id) for each message] for seeds 0..3]) of
# SimulatedTelegram(seed, messages=1000), computed on the tree before forum topics and comments existed.
PLAIN_CONTENT_SHA256 = "672ed254cfd3c1205cc80025d31f16ef489823bf87fd0e0a320d3a2d9bdf602a"
TOPICS = 5


@pytest.fixture
def forum() -> SimulatedTelegram:
    """A 300-message forum with General and five topics, files scaled down to a few KB."""
    return SimulatedTelegram(seed=7, messages=300, size_scale=0.01, forum_topics=TOPICS)


def _topics(peer: Any, **kwargs: Any) -> Any:
    args = {"offset_date": None, "offset_id": 0, "offset_topic": 0, "limit": 100}
    return functions.messages.GetForumTopicsRequest(peer=peer, **(args | kwargs))


OFF = [{}, {"forum_topics": 0}, {"comments": False}, {"forum_topics": 0, "comments": False}]


@pytest.mark.parametrize("options", OFF)
def test_plain_channel_content_is_unchanged(options: dict[str, Any]) -> None:
    sims = [SimulatedTelegram(seed=s, messages=1000, **options) for s in range(4)]
    rows = [[(m.id, m.kind, m.size, m.file_name, m.grouped_id, m.doc_id) for m in sim.messages] for sim in sims]
    assert hashlib.sha256(repr(rows).encode()).hexdigest() == PLAIN_CONTENT_SHA256


def test_forum_layout(forum: SimulatedTelegram) -> None:
    topics = forum.topics()
    assert [t.id for t in topics][0] == GENERAL_ID and len(topics) == TOPICS + 1
    assert [t.title for t in topics][0] == "General" and len({t.title for t in topics}) == len(topics)
    visible = {m.id for m in forum.messages if m.kind != "deleted"}
    owners = collections.Counter(i for t in topics for i in t.message_ids)
    assert set(owners) == visible and set(owners.values()) == {1}  # every visible message in exactly one topic
    for topic in topics[1:]:
        creation = forum.message(topic.id)
        assert creation.kind == TOPIC_KIND and creation.caption == topic.title and not creation.is_media
        assert topic.message_ids[0] == topic.id and topic.icon_color in ICON_COLORS
    assert topics[-1].message_ids == (topics[-1].id,)  # the last created topic is empty
    assert all(len(t.message_ids) > 1 for t in topics[:-1])
    topic_of = {i: t.id for t in topics for i in t.message_ids}
    albums: dict[int, set[int]] = collections.defaultdict(set)
    for m in forum.messages:
        if m.grouped_id is not None:
            albums[m.grouped_id].add(topic_of[m.id])
    assert albums and all(len(owner) == 1 for owner in albums.values())  # albums stay inside one topic
    again = SimulatedTelegram(seed=7, messages=300, size_scale=0.01, forum_topics=TOPICS)
    assert again.topics() == topics and again.messages == forum.messages


def test_forum_keeps_the_channel_files_elsewhere() -> None:
    plain = SimulatedTelegram(seed=7, messages=300, size_scale=0.01)
    forum = SimulatedTelegram(seed=7, messages=300, size_scale=0.01, forum_topics=TOPICS)
    created = {t.id for t in forum.topics()[1:]}
    assert [m for m in plain.messages if m.id not in created] == [m for m in forum.messages if m.id not in created]


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="forum_topics"):
        SimulatedTelegram(messages=50, forum_topics=-1)
    with pytest.raises(ValueError, match="exclude"):
        SimulatedTelegram(messages=50, forum_topics=2, comments=True)
    with pytest.raises(ValueError, match="single messages"):
        SimulatedTelegram(messages=3, forum_topics=5)
    with pytest.raises(KeyError):
        SimulatedTelegram(messages=50).topic(1)
    assert SimulatedTelegram(messages=50).topics() == []


@pytest.mark.asyncio
async def test_forum_entity_and_reply_headers(forum: SimulatedTelegram, connect: Any) -> None:
    topic_of = {i: t.id for t in forum.topics() for i in t.message_ids}
    async with connect(forum, "a") as (a,):
        chat = await a.get_entity(forum.channel_username)
        assert chat.megagroup and chat.forum and not chat.broadcast
        msgs = await a.get_messages(chat, ids=[m.id for m in forum.messages])
    for msg, sim_msg in zip(msgs, forum.messages, strict=True):
        if sim_msg.kind == "deleted":
            assert msg is None
            continue
        topic = topic_of[msg.id]
        assert isinstance(msg.from_id, types.PeerUser) and not msg.post
        if sim_msg.kind == TOPIC_KIND:
            assert isinstance(msg.action, types.MessageActionTopicCreate) and msg.reply_to is None
            created = forum.topic(msg.id)
            assert (msg.action.title, msg.action.icon_color) == (created.title, created.icon_color)
        elif topic == GENERAL_ID:
            assert msg.reply_to is None
        else:
            header = msg.reply_to
            assert header.forum_topic and (header.reply_to_top_id or header.reply_to_msg_id) == topic
            if header.reply_to_top_id is not None:  # a reply inside the topic, to one of its messages
                assert topic_of[header.reply_to_msg_id] == topic and header.reply_to_msg_id < msg.id
    headers = [m.reply_to for m in msgs if m is not None and m.reply_to is not None]
    assert any(h.reply_to_top_id for h in headers) and any(not h.reply_to_top_id for h in headers)


@pytest.mark.asyncio
async def test_iter_messages_of_each_topic(forum: SimulatedTelegram, connect: Any) -> None:
    async with connect(forum, "a") as (a,):
        chat = await a.get_entity(forum.channel_username)
        for topic in forum.topics():
            newest_first = [m.id async for m in a.iter_messages(chat, reply_to=topic.id, wait_time=0)]
            assert newest_first == list(reversed(topic.message_ids))
            oldest_first = [m.id async for m in a.iter_messages(chat, reply_to=topic.id, reverse=True, wait_time=0)]
            assert oldest_first == list(topic.message_ids)
        empty = forum.topics()[-1]
        only = [m async for m in a.iter_messages(chat, reply_to=empty.id, wait_time=0)]
        assert [m.id for m in only] == [empty.id] and isinstance(only[0].action, types.MessageActionTopicCreate)
        assert (await a.get_messages(chat, reply_to=empty.id, limit=0)).total == 1


@pytest.mark.asyncio
async def test_get_replies_paging_edges(forum: SimulatedTelegram, connect: Any) -> None:
    topic = max(forum.topics()[1:], key=lambda t: len(t.message_ids))
    ids = list(reversed(topic.message_ids))  # newest first, as getReplies answers
    n = len(ids)
    async with connect(forum, "a") as (a,):
        chat = await a.get_input_entity(forum.channel_username)

        async def page(**kwargs: Any) -> list[int]:
            result = await a(replies_request(chat, topic.id, **kwargs))
            assert result.count == n and [t.id for t in result.topics] == [topic.id]
            return [m.id for m in result.messages]

        walked, offset = [], 0
        while batch := await page(offset_id=offset, limit=1):  # limit 1, each page after the last id seen
            assert len(batch) == 1
            walked += batch
            offset = batch[-1]
        assert walked == ids
        assert await page(limit=n) == ids and await page(offset_id=ids[-1], limit=n) == []  # exact boundary
        half = n // 2
        assert await page(limit=half) + await page(offset_id=ids[half - 1], limit=n - half) == ids
        # offsetFromID counts up to offset_id inclusive: add_offset=-k, limit=k gives k-1 newer and offset_id
        assert await page(offset_id=ids[5], add_offset=-3, limit=3) == ids[3:6]
        assert await page(offset_id=ids[5] + 1, add_offset=-3, limit=3) == ids[2:5]  # Telethon's reverse step
        assert await page(offset_id=ids[5], add_offset=-3, limit=5) == ids[3:8]
        assert await page(offset_id=ids[0] + 1, add_offset=-5, limit=5) == []  # nothing newer than the newest
        assert await page(limit=n, max_id=ids[3], min_id=ids[8]) == ids[4:8]
        assert await page(limit=0) == [] and len(await page(limit=500)) == min(n, 100)
        result = await a(replies_request(chat, topic.id, offset_date=forum.message(ids[3]).date, limit=2))
        assert [m.id for m in result.messages] == ids[4:6]  # offset_date: strictly older messages
        other = next(m.id for m in forum.messages if m.kind != "deleted" and m.id not in {t.id for t in forum.topics()})
        with pytest.raises(errors.BadRequestError, match="TOPIC_ID_INVALID"):
            await a(replies_request(chat, other))


@pytest.mark.asyncio
async def test_get_forum_topics_pages(forum: SimulatedTelegram, connect: Any) -> None:
    topics = {t.id: t for t in forum.topics()}
    by_top = sorted(topics.values(), key=lambda t: forum.message(t.top_message).date, reverse=True)
    async with connect(forum, "a") as (a,):
        chat = await a.get_input_entity(forum.channel_username)
        whole = await a(_topics(chat))
        assert whole.count == len(topics) and [t.id for t in whole.topics] == [t.id for t in by_top]
        assert {m.id for m in whole.messages} == {t.top_message for t in by_top}
        assert {u.id for u in whole.users} >= {t.from_id.user_id for t in whole.topics}
        for got in whole.topics:
            want = topics[got.id]
            assert (got.title, got.top_message, got.icon_color) == (want.title, want.top_message, want.icon_color)
            assert got.unread_count == got.unread_mentions_count == got.unread_reactions_count == 0
        seen: list[int] = []
        after: dict[str, Any] = {}
        while (result := await a(_topics(chat, limit=1, **after))).topics:  # limit 1, the documented offsets
            (got,) = result.topics
            seen.append(got.id)
            top = next(m for m in result.messages if m.id == got.top_message)
            after = {"offset_date": top.date, "offset_id": top.id, "offset_topic": got.id}
            assert result.count == len(topics)
        assert seen == [t.id for t in by_top]
        last = by_top[-1]
        tail = await a(_topics(chat, offset_date=forum.message(last.top_message).date, offset_id=last.top_message,
                               offset_topic=last.id, limit=len(topics)))
        assert tail.topics == [] and tail.count == len(topics)  # exact boundary: nothing after the last
        found = await a(_topics(chat, q=by_top[0].title.upper()))
        assert [t.id for t in found.topics] == [by_top[0].id] and found.count == 1


@pytest.mark.asyncio
async def test_forum_is_per_account_and_serves_files(forum: SimulatedTelegram, connect: Any) -> None:
    topic = forum.topics()[1]
    media = next(forum.message(i) for i in topic.message_ids if forum.message(i).is_media)
    async with connect(forum, "a", "b") as (a, b):
        chat_a = await a.get_input_entity(forum.channel_username)
        chat_b = await b.get_input_entity(forum.channel_username)
        assert chat_a.access_hash != chat_b.access_hash
        with pytest.raises(errors.ChannelInvalidError):
            await b(_topics(chat_a))
        with pytest.raises(errors.ChannelInvalidError):
            await b(replies_request(chat_a, topic.id))
        seen = [[t.id for t in (await c(_topics(p))).topics] for c, p in ((a, chat_a), (b, chat_b))]
        assert seen[0] == seen[1]
        msg = await a.get_messages(chat_a, ids=media.id)
        data = await a.download_media(msg, file=bytes)
    assert hashlib.sha256(data).hexdigest() == forum.file_sha256(media.id)


@pytest.mark.asyncio
async def test_plain_channel_has_no_topics_nor_threads(sim: SimulatedTelegram, connect: Any) -> None:
    post = next(m.id for m in sim.messages if m.kind == "photo")
    async with connect(sim, "a") as (a,):
        chan = await a.get_input_entity(sim.channel_username)
        with pytest.raises(errors.ChannelForumMissingError):
            await a(_topics(chan))
        with pytest.raises(errors.MsgIdInvalidError):
            await a(replies_request(chan, post))
        with pytest.raises(errors.MsgIdInvalidError):
            await a(functions.messages.GetDiscussionMessageRequest(peer=chan, msg_id=post))
        assert (await a.get_messages(chan, ids=post)).replies is None
