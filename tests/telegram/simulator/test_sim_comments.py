"""Comments: the linked discussion group, getDiscussionMessage, getReplies and comment files, through Telethon."""

from __future__ import annotations

import collections
import hashlib
from typing import Any

import pytest
from telethon import errors, functions, types, utils
from telethon.tl.alltlobjects import LAYER
from thread_helpers import replies_request

from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.telegram.simulator.discussion import HOT_THREAD

# sha256 over the TL bytes of resolveUsername, channels.getMessages (ids 1-300), getHistory and
# getFullChannel answers to account "a" of SimulatedTelegram(seed, messages=300, size_scale=0.01), seeds
# 0..3, computed on the tree before forum topics and comments existed (Telethon layer 229).
PLAIN_ANSWERS_SHA256 = "d12ff13841f3c011277f2a49c56ad8decdc81dd918f91d7a603c5ec74edceaa1"
PLAIN_LAYER = 229


@pytest.fixture
def commented() -> SimulatedTelegram:
    """A 300-message channel with a linked discussion group, files scaled down to a few KB."""
    return SimulatedTelegram(seed=7, messages=300, size_scale=0.01, comments=True)


async def _comment(client: Any, chan: Any, post: int, msg_id: int) -> Any:
    """Return comment `msg_id` under `post`, as iter_messages(channel, reply_to=post) yields it."""
    async for msg in client.iter_messages(chan, reply_to=post, wait_time=0):
        if msg.id == msg_id:
            return msg
    raise AssertionError(f"comment {msg_id} not under post {post}")


def _posts(sim: SimulatedTelegram) -> list[int]:
    return [m.id for m in sim.messages if m.kind not in ("deleted", "service")]


async def _plain_answers(seed: int, connect: Any) -> bytes:
    sim = SimulatedTelegram(seed=seed, messages=300, size_scale=0.01, comments=False)
    async with connect(sim, "a") as (a,):
        out = [await a(functions.contacts.ResolveUsernameRequest(sim.channel_username))]
        channel = types.InputChannel(out[0].chats[0].id, out[0].chats[0].access_hash)
        for lo in (1, 151):
            ids = [types.InputMessageID(i) for i in range(lo, lo + 150)]
            out.append(await a(functions.channels.GetMessagesRequest(channel, ids)))
        out.append(await a(functions.messages.GetHistoryRequest(channel, 0, None, 0, 100, 0, 0, 0)))
        out.append(await a(functions.channels.GetFullChannelRequest(channel)))
    return b"".join(bytes(x) for x in out)


@pytest.mark.asyncio
async def test_plain_channel_answers_are_unchanged(connect: Any) -> None:
    if LAYER != PLAIN_LAYER:
        pytest.skip(f"the expected bytes are of TL layer {PLAIN_LAYER}, Telethon speaks {LAYER}")
    digest = hashlib.sha256()
    for seed in range(4):
        digest.update(await _plain_answers(seed, connect))
    assert digest.hexdigest() == PLAIN_ANSWERS_SHA256


def test_discussion_layout(commented: SimulatedTelegram) -> None:
    plain = SimulatedTelegram(seed=7, messages=300, size_scale=0.01)
    assert commented.messages == plain.messages and plain.discussion_id is None and plain.threads() == []
    group = commented.discussion_messages
    assert [m.id for m in group] == list(range(1, len(group) + 1))
    assert all(a.date <= b.date for a, b in zip(group, group[1:], strict=False))
    threads = commented.threads()
    assert [p for t in threads for p in t.post_ids] == _posts(commented)
    for thread in threads:
        assert len(thread.root_ids) == len(thread.post_ids)
        assert thread.root_ids == tuple(range(thread.root_id, thread.root_id + len(thread.root_ids)))
        for post, root in zip(thread.post_ids, thread.root_ids, strict=True):
            copy, original = commented.message(root, commented.discussion_id), commented.message(post)
            assert (copy.kind, copy.doc_id, copy.size, copy.caption) == (original.kind, original.doc_id,
                                                                        original.size, original.caption)
        assert all(c > thread.root_ids[-1] for c in thread.comment_ids)
    counts = sorted(len(t.comment_ids) for t in threads)
    assert counts[0] == 0 and counts[-1] >= HOT_THREAD
    again = SimulatedTelegram(seed=7, messages=300, size_scale=0.01, comments=True)
    assert again.discussion_messages == group and again.threads() == threads


def test_comment_albums(commented: SimulatedTelegram) -> None:
    comment_ids = {c for t in commented.threads() for c in t.comment_ids}
    thread_of = {c: t.root_id for t in commented.threads() for c in t.comment_ids}
    albums: dict[int, list[int]] = collections.defaultdict(list)
    kinds: collections.Counter[str] = collections.Counter()
    for m in commented.discussion_messages:
        if m.id in comment_ids:
            kinds[m.kind] += 1
            if m.grouped_id is not None:
                albums[m.grouped_id].append(m.id)
    assert {"text", "photo", "video", "document"} <= set(kinds)
    assert len(albums) >= 5
    for ids in albums.values():
        assert 2 <= len(ids) <= 10 and ids == list(range(ids[0], ids[0] + len(ids)))
        assert len({thread_of[i] for i in ids}) == 1


@pytest.mark.asyncio
async def test_full_channel_links_the_group_per_account(commented: SimulatedTelegram, connect: Any) -> None:
    group_id = commented.discussion_id
    assert group_id is not None and group_id != commented.channel_id
    async with connect(commented, "a", "b") as (a, b):
        hashes = []
        for client in (a, b):
            chan = await client.get_entity(commented.channel_username)
            assert chan.has_link
            full = await client(functions.channels.GetFullChannelRequest(chan))
            assert full.full_chat.linked_chat_id == group_id
            (group,) = [c for c in full.chats if c.id == group_id]
            assert group.megagroup and not group.broadcast
            hashes.append(group.access_hash)
            entity = await client.get_entity(types.PeerChannel(group_id))  # cached hash, channels.getChannels
            assert entity.id == group_id and entity.access_hash == group.access_hash
            back = await client(functions.channels.GetFullChannelRequest(entity))
            assert back.full_chat.linked_chat_id == commented.channel_id
        assert hashes[0] != hashes[1]
        foreign = types.InputChannel(group_id, hashes[0])
        with pytest.raises(errors.ChannelInvalidError):
            await b(functions.channels.GetMessagesRequest(foreign, [types.InputMessageID(1)]))
        with pytest.raises(errors.ChannelInvalidError):
            await b(functions.channels.GetChannelsRequest([foreign]))


@pytest.mark.asyncio
async def test_posts_carry_their_replies(commented: SimulatedTelegram, connect: Any) -> None:
    async with connect(commented, "a") as (a,):
        chan = await a.get_entity(commented.channel_username)
        msgs = await a.get_messages(chan, ids=[m.id for m in commented.messages])
    posts = set(_posts(commented))
    for msg in msgs:
        if msg is None or msg.id not in posts:
            assert msg is None or msg.replies is None
            continue
        thread = commented.thread(msg.id)
        assert msg.replies.comments and msg.replies.channel_id == commented.discussion_id
        assert msg.replies.replies == len(thread.comment_ids)
        assert msg.replies.max_id == (thread.comment_ids[-1] if thread.comment_ids else None)


@pytest.mark.asyncio
async def test_get_discussion_message(commented: SimulatedTelegram, connect: Any) -> None:
    album = next(t for t in commented.threads() if len(t.post_ids) > 1 and t.comment_ids)
    single = next(t for t in commented.threads() if len(t.post_ids) == 1 and t.comment_ids)
    silent = next(t for t in commented.threads() if not t.comment_ids)
    channel_peer = types.PeerChannel(commented.channel_id)
    async with connect(commented, "a") as (a,):
        chan = await a.get_input_entity(commented.channel_username)
        for thread, asked in ((album, album.post_ids[-1]), (single, single.post_id), (silent, silent.post_id)):
            answer = await a(functions.messages.GetDiscussionMessageRequest(peer=chan, msg_id=asked))
            assert [m.id for m in answer.messages] == list(reversed(thread.root_ids))
            for msg, post in zip(answer.messages, reversed(thread.post_ids), strict=True):
                assert msg.peer_id == types.PeerChannel(commented.discussion_id) and msg.from_id == channel_peer
                fwd = msg.fwd_from
                assert (fwd.channel_post, fwd.saved_from_msg_id, fwd.saved_from_peer) == (post, post, channel_peer)
            last = thread.comment_ids[-1] if thread.comment_ids else None
            assert (answer.max_id, answer.read_inbox_max_id, answer.unread_count) == (last, last, 0)
            assert {c.id for c in answer.chats} == {commented.discussion_id, commented.channel_id}
            root = next(m for m in answer.messages if m.id == thread.root_id)
            assert root.replies.replies == len(thread.comment_ids) and not root.replies.comments
        service = next(m.id for m in commented.messages if m.kind == "service")
        for bad in (service, commented.last_id + 5):
            with pytest.raises(errors.MsgIdInvalidError):
                await a(functions.messages.GetDiscussionMessageRequest(peer=chan, msg_id=bad))


@pytest.mark.asyncio
async def test_iter_messages_of_comments(commented: SimulatedTelegram, connect: Any) -> None:
    hot = max(commented.threads(), key=lambda t: len(t.comment_ids))
    album = next(t for t in commented.threads() if len(t.post_ids) > 1 and t.comment_ids)
    silent = next(t for t in commented.threads() if not t.comment_ids)
    group_peer = types.PeerChannel(commented.discussion_id)
    async with connect(commented, "a") as (a,):
        chan = await a.get_entity(commented.channel_username)
        await a(functions.channels.GetFullChannelRequest(chan))  # learns the group's access hash
        for thread, post in ((hot, hot.post_id), (album, album.post_ids[1]), (silent, silent.post_id)):
            got = [m async for m in a.iter_messages(chan, reply_to=post, wait_time=0)]
            assert [m.id for m in got] == list(reversed(thread.comment_ids))
            oldest_first = [m.id async for m in a.iter_messages(chan, reply_to=post, reverse=True, wait_time=0)]
            assert oldest_first == list(thread.comment_ids)
            via_group = [m.id async for m in a.iter_messages(group_peer, reply_to=thread.root_id, wait_time=0)]
            assert via_group == [m.id for m in got]
            for msg in got:
                assert msg.peer_id == group_peer and isinstance(msg.from_id, types.PeerUser)
                header = msg.reply_to
                if header.reply_to_top_id is None:
                    assert header.reply_to_msg_id == thread.root_id
                else:
                    assert header.reply_to_top_id == thread.root_id
                    assert header.reply_to_msg_id in thread.comment_ids and header.reply_to_msg_id < msg.id
        assert len(hot.comment_ids) > 200  # three getReplies pages of 100
    assert commented.rpc_counts("a")["GetRepliesRequest"] >= 3


@pytest.mark.asyncio
async def test_get_replies_paging_edges(commented: SimulatedTelegram, connect: Any) -> None:
    hot = max(commented.threads(), key=lambda t: len(t.comment_ids))
    ids = list(reversed(hot.comment_ids))
    n = len(ids)
    async with connect(commented, "a") as (a,):
        chan = await a.get_input_entity(commented.channel_username)

        async def page(**kwargs: Any) -> list[int]:
            result = await a(replies_request(chan, hot.post_id, **kwargs))
            assert result.count == n
            return [m.id for m in result.messages]

        walked: list[int] = []
        while batch := await page(offset_id=walked[-1] if walked else 0, limit=1):
            walked += batch
        assert walked == ids
        assert await page(limit=100) == ids[:100] and await page(offset_id=ids[99], limit=100) == ids[100:200]
        assert await page(offset_id=ids[-1], limit=100) == [] and await page(limit=1000) == ids[:100]
        assert await page(offset_id=ids[10], add_offset=-4, limit=4) == ids[7:11]
        assert await page(offset_id=ids[0] + 1, add_offset=-3, limit=3) == []
        assert await page(limit=100, max_id=ids[20], min_id=ids[30]) == ids[21:30]
        when = commented.message(ids[40], commented.discussion_id).date
        older = [i for i in ids if commented.message(i, commented.discussion_id).date < when]
        assert await page(offset_date=when, limit=3) == older[:3]
        group = await a(functions.channels.GetFullChannelRequest(chan))
        group_chat = next(c for c in group.chats if c.id == commented.discussion_id)
        result = await a(replies_request(utils.get_input_peer(group_chat), hot.root_id, limit=5))
        assert [m.id for m in result.messages] == ids[:5]
        with pytest.raises(errors.MsgIdInvalidError):
            await a(replies_request(utils.get_input_peer(group_chat), hot.comment_ids[0]))  # a comment is no root


@pytest.mark.asyncio
async def test_download_comment_files(commented: SimulatedTelegram, connect: Any) -> None:
    group_id = commented.discussion_id
    assert group_id is not None
    media = [m for m in commented.discussion_messages if m.is_media and m.id not in
             {r for t in commented.threads() for r in t.root_ids}]
    picked = {(m.kind, m.grouped_id is not None, m.dc_id == 2): m for m in media}
    assert {k[0] for k in picked} >= {"photo", "video", "document"} and {k[1] for k in picked} == {True, False}
    by_post = {c: t.post_id for t in commented.threads() for c in t.comment_ids}
    async with connect(commented, "a", "b") as (a, b):
        chan = await a.get_entity(commented.channel_username)
        for target in picked.values():
            msg = await _comment(a, chan, by_post[target.id], target.id)
            data = await a.download_media(msg, file=bytes)
            assert hashlib.sha256(data).hexdigest() == commented.file_sha256(target.id, chat_id=group_id)
        theirs = await _comment(b, await b.get_entity(commented.channel_username), by_post[target.id], target.id)
        mine, other = (m.media.photo if m.photo else m.media.document for m in (msg, theirs))
        assert mine.id == other.id and mine.file_reference != other.file_reference  # per-account references
    assert commented.bytes_served("a") == sum(m.size for m in picked.values())


@pytest.mark.asyncio
async def test_expired_comment_reference_refetched_from_group(commented: SimulatedTelegram, connect: Any) -> None:
    target = next(m for m in commented.discussion_messages if m.kind == "document" and m.size > 8192
                  and m.id not in {r for t in commented.threads() for r in t.root_ids})
    post = next(t.post_id for t in commented.threads() if target.id in t.comment_ids)
    async with connect(commented, "a") as (a,):
        chan = await a.get_entity(commented.channel_username)
        msg = await _comment(a, chan, post, target.id)
        # Telethon keeps the channel as the message's input_chat; the message lives in the group (peer_id).
        assert utils.get_peer_id(msg.input_chat) == utils.get_peer_id(chan)
        assert msg.chat_id == utils.get_peer_id(types.PeerChannel(commented.discussion_id))
        commented.account("a").rotate_reference(target.doc_id or 0)
        with pytest.raises(errors.FileReferenceExpiredError):
            await a.download_file(msg.media.document, bytes)
        fresh = await a.get_messages(msg.peer_id, ids=target.id)
        data = await a.download_media(fresh, file=bytes)
    assert hashlib.sha256(data).hexdigest() == commented.file_sha256(target.id, chat_id=commented.discussion_id)


@pytest.mark.asyncio
async def test_group_history_and_messages(commented: SimulatedTelegram, connect: Any) -> None:
    group_ids = [m.id for m in commented.discussion_messages]
    async with connect(commented, "a") as (a,):
        chan = await a.get_entity(commented.channel_username)
        await a(functions.channels.GetFullChannelRequest(chan))
        group = await a.get_entity(types.PeerChannel(commented.discussion_id))
        history = [m.id async for m in a.iter_messages(group, wait_time=0)]
        assert history == list(reversed(group_ids))
        msgs = await a.get_messages(group, ids=[1, 2, 3, group_ids[-1] + 1])
        assert [m and m.id for m in msgs] == [1, 2, 3, None]
        channel = types.InputChannel(group.id, group.access_hash)
        with pytest.raises(errors.LimitInvalidError):
            await a(functions.channels.GetMessagesRequest(channel, [types.InputMessageID(i) for i in range(1, 202)]))
