"""Several channels in one simulated Telegram (`more_channels`), through real Telethon clients.

Each extra channel answers what the plain main channel answers (resolveUsername, getChannels,
getFullChannel, getMessages, getHistory, getFile, the dialogs), with its own id, content, files and
per-account access hashes; the main channel answers byte for byte as without extra channels.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest
from telegram_helpers import sim_clients
from telethon import errors, functions, types, utils

from tgfetch.telegram.peers import find_channel, parse_channel
from tgfetch.telegram.simulator import ExtraChannel, SimMessage, SimulatedTelegram
from tgfetch.telegram.simulator.chats import Shape, build_chats
from tgfetch.telegram.simulator.content import generate_messages

SEED, MESSAGES = 7, 120
MORE = ("second_chan", ("third_chan", 60), ExtraChannel("fourth_chan", 40, first_id=1000, seed=99))


def make_sim(**kwargs: Any) -> SimulatedTelegram:
    """The main 120-message channel and three extra ones (120, 60 and 40 messages), files of a few KB."""
    return SimulatedTelegram(seed=SEED, messages=MESSAGES, size_scale=0.01, more_channels=MORE, **kwargs)


@pytest.fixture
def sim() -> SimulatedTelegram:
    return make_sim()


def extras(sim: SimulatedTelegram) -> list[tuple[str, int]]:
    return sim.channels[1:]


def input_channel(chat: Any) -> types.InputChannel:
    return types.InputChannel(chat.id, chat.access_hash)


async def resolve(client: Any, username: str) -> Any:
    res = await client(functions.contacts.ResolveUsernameRequest(username))
    return next(c for c in res.chats if c.id == res.peer.channel_id)


def same_content(tl: Any, sim_msg: SimMessage) -> bool:
    """Tell whether a TL message is the simulated one: id, kind, caption, album, file id and size."""
    if sim_msg.kind == "deleted":
        return isinstance(tl, types.MessageEmpty) and tl.id == sim_msg.id
    if sim_msg.kind == "service":
        return isinstance(tl, types.MessageService) and tl.id == sim_msg.id
    media = tl.media
    file = getattr(media, "photo", None) or getattr(media, "document", None)
    size = getattr(file, "size", None) if not isinstance(file, types.Photo) else sim_msg.size
    return (tl.id, tl.message, tl.grouped_id, getattr(file, "id", None), size if file else 0) == (
        sim_msg.id, sim_msg.caption, sim_msg.grouped_id, sim_msg.doc_id, sim_msg.size)


# -- ids, names, content ---------------------------------------------------------------------------


def test_channels_ids_and_content() -> None:
    sim = make_sim(comments=True)
    names = [n for n, _ in sim.channels]
    ids = [i for _, i in sim.channels]
    assert names == ["tgfetch_sim", "second_chan", "third_chan", "fourth_chan"]
    assert ids[0] == sim.channel_id and len(set(ids)) == 4 and sim.discussion_id not in ids
    assert all(1 <= i <= 997_852_516_352 for i in ids)
    assert [len(sim.chat_messages(n)) for n in names] == [120, 120, 60, 40]
    fourth = sim.chat_messages("@Fourth_Chan")
    assert list(fourth) == generate_messages(99, 40, 1000, 0.01, None)
    assert sim.chat_messages(ids[3]) == fourth and sim.chat_messages(sim.channel_id) == sim.messages
    assert sim.chat_messages(sim.discussion_id or 0) == sim.discussion_messages
    assert sim.message(1005, ids[3]) == fourth[5]
    with pytest.raises(KeyError):
        sim.message(5, ids[3])
    with pytest.raises(KeyError):
        sim.chat_messages("no_such_chan")
    docs = [{m.doc_id for m in sim.media_messages(i)} for i in ids]
    assert all(docs) and sum(map(len, docs)) == len(set().union(*docs))  # no document in two channels


def test_main_channel_content_is_unchanged() -> None:
    plain, sim = SimulatedTelegram(seed=SEED, messages=MESSAGES, size_scale=0.01), make_sim()
    assert plain.messages == sim.messages and plain.channels == sim.channels[:1]
    assert plain.channel_id == sim.channel_id and plain.invite_hash == sim.invite_hash
    photo = next(m for m in plain.media_messages() if m.kind == "photo")
    assert plain.file_sha256(photo.id) == sim.file_sha256(photo.id)


@pytest.mark.parametrize(("more", "phrase"), [
    (["tgfetch_sim"], "taken"), (["TGFETCH_SIM_USER"], "taken"), (["dup_chan", "Dup_Chan"], "taken"),
    (["1chan"], "no channel username"), (["abc"], "no channel username"), (["bad-name"], "no channel username"),
    ([ExtraChannel("zero_chan", 0)], "must be >= 1"),
    ([ExtraChannel("same_id", channel_id=SimulatedTelegram(seed=SEED, messages=1).channel_id)], "channel_id"),
    ([ExtraChannel("big_id", channel_id=997_852_516_353)], "channel_id"),
])
def test_bad_extra_channels_are_refused(more: list[Any], phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        SimulatedTelegram(seed=SEED, messages=1, more_channels=more)


def test_shared_documents_only_on_purpose() -> None:
    # The same content seed is the same files (a document posted in both channels keeps its id)...
    sim = SimulatedTelegram(seed=SEED, messages=MESSAGES, size_scale=0.01,
                            more_channels=[ExtraChannel("copy_chan", seed=SEED)])
    copy_id = sim.channels[1][1]
    assert [m.doc_id for m in sim.media_messages(copy_id)] == [m.doc_id for m in sim.media_messages()]
    doc = sim.media_messages()[0]
    assert sim.file_sha256(doc.id, copy_id) == sim.file_sha256(doc.id)
    # ...and an id another chat uses for a different file is refused.
    shape = Shape(SEED, 30, 0.01, None)
    other = next(m for m in generate_messages(5, 30, 1, 0.01, None) if m.is_media)
    with pytest.raises(ValueError, match="another chat's different file"):
        build_chats(shape, [ExtraChannel("clash_chan", seed=5)], (), (), [dataclasses.replace(other, size=3)])


# -- through Telethon ------------------------------------------------------------------------------


async def test_resolve_by_username_and_by_id(sim: SimulatedTelegram) -> None:
    for username, channel_id in sim.channels:
        async with sim_clients(sim, ("r1",)) as clients:
            client = clients["r1"]
            await client.connect()
            chat = await resolve(client, username.upper())
            assert (chat.id, chat.username, chat.broadcast) == (channel_id, username, True)
        for form in (f"-100{channel_id}", f"t.me/c/{channel_id}/5", str(channel_id)):
            name = f"fresh{channel_id}{len(form)}"
            async with sim_clients(sim, (name,)) as clients:
                client = clients[name]
                await client.connect()  # a fresh account: no session cache, the dialogs have the channel
                found = await find_channel(client, client, parse_channel(form))
            assert (found.id, found.username) == (channel_id, username)
            # Dialogs are ordered by their last message: fourth_chan (ids from 1000) is newer than the 150 other
            # chats, the others are not, so they are on the second page, like the main channel.
            assert sim.rpc_counts(name)["GetDialogsRequest"] == (1 if username == "fourth_chan" else 2)


async def test_dialogs_list_every_channel_once_across_ties() -> None:
    # second_chan has as many messages as the main channel: the same top message date and id, told apart
    # by offset_peer (core.telegram.org/api/offsets). Page one dialog at a time, as peers._next_page does.
    sim = make_sim(other_dialogs=4)
    seen: list[int] = []
    async with sim_clients(sim, ("d1",)) as clients:
        client = clients["d1"]
        await client.connect()
        req = functions.messages.GetDialogsRequest(None, 0, types.InputPeerEmpty(), 1, 0)
        for _ in range(20):
            page = await client(req)
            if not page.dialogs:
                break
            dialog, message = page.dialogs[0], page.messages[0]
            seen.append(getattr(dialog.peer, "channel_id", 0) or getattr(dialog.peer, "user_id", 0)
                        or dialog.peer.chat_id)
            entity = (page.chats or page.users)[0]
            req = functions.messages.GetDialogsRequest(message.date, message.id, utils.get_input_peer(entity), 1, 0)
    assert len(seen) == 4 + 4 and len(set(seen)) == 8
    assert {i for _, i in sim.channels} <= set(seen)


async def test_messages_and_history_are_the_channels_own(sim: SimulatedTelegram) -> None:
    async with sim_clients(sim, ("a",)) as clients:
        a = clients["a"]
        await a.connect()
        for username, channel_id in extras(sim):
            expected = sim.chat_messages(channel_id)
            chan = input_channel(await resolve(a, username))
            ids = [types.InputMessageID(m.id) for m in expected] + [types.InputMessageID(expected[-1].id + 1)]
            got = (await a(functions.channels.GetMessagesRequest(chan, ids[:200]))).messages
            assert len(got) == len(ids) and isinstance(got[-1], types.MessageEmpty)
            deleted = [t.id for t, s in zip(got, expected, strict=False) if s.kind == "deleted"]
            assert deleted and all(isinstance(got[ids.index(types.InputMessageID(i))], types.MessageEmpty)
                                   for i in deleted)
            assert all(same_content(t, s) for t, s in zip(got, expected, strict=False))
            with pytest.raises(errors.LimitInvalidError):
                await a(functions.channels.GetMessagesRequest(chan, [types.InputMessageID(1)] * 201))
            history = [m async for m in a.iter_messages(chan, wait_time=0)]
            visible = [m for m in reversed(expected) if m.kind != "deleted"]
            assert [m.id for m in history] == [m.id for m in visible]
            assert all(same_content(t, s) for t, s in zip(history, visible, strict=True))
            full = await a(functions.channels.GetFullChannelRequest(chan))
            assert full.full_chat.id == channel_id and full.full_chat.read_inbox_max_id == visible[0].id
            with pytest.raises(errors.ChannelForumMissingError):
                await a(functions.messages.GetForumTopicsRequest(chan, None, 0, 0, 10))
            with pytest.raises(errors.MsgIdInvalidError):
                await a(functions.messages.GetRepliesRequest(chan, visible[0].id, 0, None, 0, 10, 0, 0, 0))


@pytest.mark.parametrize("kind", ["photo", "document", "video"])
async def test_files_of_extra_channels_download_byte_identical(sim: SimulatedTelegram, kind: str) -> None:
    async with sim_clients(sim, ("a",)) as clients:
        a = clients["a"]
        await a.connect()
        for username, channel_id in extras(sim):
            target = next(m for m in sim.media_messages(channel_id) if m.kind == kind)
            chan = await a.get_entity(username)
            msg = await a.get_messages(chan, ids=target.id)
            data = await a.download_media(msg, file=bytes)
            assert len(data) == target.size
            assert hashlib.sha256(data).hexdigest() == sim.file_sha256(target.id, channel_id)
            assert data[:4096] == sim.read_file(target.id, 0, 4096, chat_id=channel_id)


async def test_file_reference_rules_apply_to_extra_channels(sim: SimulatedTelegram) -> None:
    _, channel_id = sim.channels[2]
    target = next(m for m in sim.media_messages(channel_id) if m.kind == "document" and m.dc_id == 2)
    async with sim_clients(sim, ("a", "b")) as clients:
        for client in clients.values():
            await client.connect()
        chan_a = await resolve(clients["a"], sim.channels[2][0])
        doc = (await clients["a"].get_messages(chan_a, ids=target.id)).media.document
        loc = types.InputDocumentFileLocation(doc.id, doc.access_hash, doc.file_reference, "")
        ok = await clients["a"](functions.upload.GetFileRequest(loc, offset=0, limit=4096))
        assert ok.bytes == sim.read_file(target.id, 0, 4096, chat_id=channel_id)
        with pytest.raises(errors.FileReferenceExpiredError):  # another account's reference
            await clients["b"](functions.upload.GetFileRequest(loc, offset=0, limit=4096))


async def test_expire_faults_apply_to_extra_channels() -> None:
    sim = make_sim(faults="expire:at=1@a")
    _, channel_id = sim.channels[1]
    target = next(m for m in sim.media_messages(channel_id) if m.kind == "document" and m.size > 8192
                  and m.dc_id == 2)
    async with sim_clients(sim, ("a",)) as clients:
        a = clients["a"]
        await a.connect()
        doc = (await a.get_messages(await a.get_entity(sim.channels[1][0]), ids=target.id)).media.document
        loc = types.InputDocumentFileLocation(doc.id, doc.access_hash, doc.file_reference, "")
        with pytest.raises(errors.FileReferenceExpiredError):
            await a(functions.upload.GetFileRequest(loc, offset=4096, limit=4096))


async def test_access_hashes_are_per_account_and_per_channel(sim: SimulatedTelegram) -> None:
    async with sim_clients(sim, ("a", "b")) as clients:
        a, b = clients["a"], clients["b"]
        for client in (a, b):
            await client.connect()
        hashes = {}
        for username, channel_id in sim.channels:
            chat_a, chat_b = await resolve(a, username), await resolve(b, username)
            assert chat_a.access_hash != chat_b.access_hash
            hashes[channel_id] = chat_a.access_hash
            with pytest.raises(errors.ChannelInvalidError):  # a's hash used by b
                await b(functions.channels.GetChannelsRequest([input_channel(chat_a)]))
            with pytest.raises(errors.ChannelInvalidError):
                await b(functions.messages.GetHistoryRequest(
                    types.InputPeerChannel(channel_id, chat_a.access_hash), 0, None, 0, 1, 0, 0, 0))
        assert len(set(hashes.values())) == len(hashes)
        main_hash, (_, extra_id) = hashes[sim.channel_id], sim.channels[1]
        with pytest.raises(errors.ChannelInvalidError):  # the main channel's hash does not open another channel
            await a(functions.channels.GetFullChannelRequest(types.InputChannel(extra_id, main_hash)))
        everything = [types.InputChannel(i, h) for i, h in hashes.items()]
        got = await a(functions.channels.GetChannelsRequest([everything[2], *everything, everything[0]]))
        ids = [everything[2].channel_id, *(c.channel_id for c in everything if c is not everything[2])]
        assert [c.id for c in got.chats] == ids


async def test_group_and_extra_channels_in_one_getchannels() -> None:
    sim = make_sim(comments=True)
    async with sim_clients(sim, ("a",)) as clients:
        a = clients["a"]
        await a.connect()
        full = await a(functions.channels.GetFullChannelRequest(input_channel(await resolve(a, sim.channel_username))))
        group = next(c for c in full.chats if c.id == sim.discussion_id)
        extra = await resolve(a, "third_chan")
        got = await a(functions.channels.GetChannelsRequest([input_channel(extra), input_channel(group)]))
        assert [c.id for c in got.chats] == [extra.id, sim.discussion_id]


async def test_forum_and_extra_channels() -> None:
    sim = make_sim(forum_topics=3)
    async with sim_clients(sim, ("a",)) as clients:
        a = clients["a"]
        await a.connect()
        forum = input_channel(await resolve(a, sim.channel_username))
        topics = await a(functions.messages.GetForumTopicsRequest(forum, None, 0, 0, 10))
        assert sorted(t.id for t in topics.topics) == sorted(t.id for t in sim.topics())
        extra = input_channel(await resolve(a, "second_chan"))
        with pytest.raises(errors.ChannelForumMissingError):
            await a(functions.messages.GetForumTopicsRequest(extra, None, 0, 0, 10))
        history = await a(functions.messages.GetHistoryRequest(extra, 0, None, 0, 5, 0, 0, 0))
        assert [m.id for m in history.messages] == [m.id for m in sim.chat_messages("second_chan")
                                                    if m.kind != "deleted"][::-1][:5]


async def _main_answers(sim: SimulatedTelegram) -> tuple[bytes, dict[str, int]]:
    """TL bytes of the main channel's answers to one account, and that account's call counts."""
    async with sim_clients(sim, ("m",)) as clients:
        m = clients["m"]
        await m.connect()
        res = await m(functions.contacts.ResolveUsernameRequest(sim.channel_username))
        chan = input_channel(res.chats[0])
        out = [res, await m(functions.channels.GetChannelsRequest([chan]))]
        ids = [types.InputMessageID(i) for i in range(1, 122)]
        out.append(await m(functions.channels.GetMessagesRequest(chan, ids)))
        out.append(await m(functions.messages.GetHistoryRequest(chan, 0, None, 0, 100, 0, 0, 0)))
        out.append(await m(functions.messages.GetHistoryRequest(chan, 50, None, 3, 20, 0, 0, 0)))
        out.append(await m(functions.channels.GetFullChannelRequest(chan)))
        msg = await m.get_messages(res.chats[0], ids=sim.media_messages()[0].id)
        data = await m.download_media(msg, file=bytes)
    counts = dict(sim.rpc_counts("m"))
    return b"".join(bytes(x) for x in out) + hashlib.sha256(data).digest(), counts


async def test_main_channel_answers_are_unchanged() -> None:
    plain = SimulatedTelegram(seed=SEED, messages=MESSAGES, size_scale=0.01)
    assert await _main_answers(plain) == await _main_answers(make_sim())
