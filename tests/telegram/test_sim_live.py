"""Live channels of the simulator (`simulator.live`), through real Telethon clients on the loopback simulator.

Posts, albums member by member, edits and deletions change what every request answers and reach connected
clients as updates (updateNewChannelMessage, updateEditChannelMessage, updateDeleteChannelMessages; per-channel
pts, core.telegram.org/api/updates); a client that missed some catches up with updates.getChannelDifference.
What was there before never changes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from telegram_helpers import sim_clients
from telethon import errors, events, functions, types

from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.telegram.simulator.content import MEDIA_KINDS, generate_messages

SEED, MESSAGES = 7, 120
MORE = ("second_chan", ("third_chan", 60))


def make_sim(**kwargs: Any) -> SimulatedTelegram:
    """A 120-message main channel and two extra ones, files of a few KB."""
    return SimulatedTelegram(seed=SEED, messages=MESSAGES, size_scale=0.01, more_channels=MORE, **kwargs)


def input_channel(chat: Any) -> types.InputChannel:
    return types.InputChannel(chat.id, chat.access_hash)


async def resolve(client: Any, username: str) -> Any:
    res = await client(functions.contacts.ResolveUsernameRequest(username))
    return next(c for c in res.chats if c.id == res.peer.channel_id)


async def get_ids(client: Any, chan: Any, ids: list[int]) -> list[Any]:
    res = await client(functions.channels.GetMessagesRequest(chan, [types.InputMessageID(i) for i in ids]))
    return list(res.messages)


async def history(client: Any, chan: Any, offset_id: int = 0, limit: int = 100) -> Any:
    return await client(functions.messages.GetHistoryRequest(chan, offset_id, None, 0, limit, 0, 0, 0))


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `check()` holds (the clients' update loops run meanwhile)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out waiting for updates"
        await asyncio.sleep(0.01)


def file_id(message: Any) -> int | None:
    media = message.media
    found = getattr(media, "photo", None) or getattr(media, "document", None)
    return getattr(found, "id", None)


# -- content ---------------------------------------------------------------------------------------------------------


def test_posts_extend_the_channel_and_change_nothing_before() -> None:
    before = generate_messages(SEED, MESSAGES, 1, 0.01, None)
    sim = make_sim()
    assert list(sim.messages) == before and sim.last_id == MESSAGES and sim.live.pts() == 1
    ids = sim.post(30)
    assert ids == list(range(MESSAGES + 1, MESSAGES + 31)) and sim.last_id == MESSAGES + 30
    assert list(sim.messages[:MESSAGES]) == before  # nothing that was there changed
    assert generate_messages(SEED, MESSAGES, 1, 0.01, None) == before
    new = list(sim.messages[MESSAGES:])
    assert [m.id for m in new] == ids and all(m.kind != "deleted" and m.grouped_id is None for m in new)
    dates = [m.date for m in sim.messages]
    assert dates == sorted(dates) and new[0].date > before[-1].date
    assert sim.live.pts() == 31 and [e.pts for e in sim.live.events()] == list(range(2, 32))
    assert {m.kind for m in new} & set(MEDIA_KINDS)
    assert sim.message(ids[0]) == new[0] and sim.chat_messages(sim.channel_id)[-1] == new[-1]
    media = [m for m in new if m.is_media]
    assert sim.media_messages()[-len(media):] == media
    known = {m.doc_id for m in before if m.doc_id}
    assert all(m.doc_id not in known or m.caption.startswith("Repost of") for m in media)


def test_posts_are_deterministic_and_follow_kinds() -> None:
    a, b = make_sim(), make_sim()
    assert a.post(5, kinds=("photo", "video")) == b.post(5, kinds=("photo", "video"))
    assert list(a.messages) == list(b.messages)
    assert {m.kind for m in a.messages[MESSAGES:]} <= {"photo", "video"}
    assert {a.message(i).kind for i in a.post(4, kinds="audio")} == {"audio"}
    assert a.post(1, chat="second_chan") == [MESSAGES + 1]
    assert a.message(MESSAGES + 1, a.channels[1][1]).doc_id != a.message(MESSAGES + 1).doc_id
    assert a.file_sha256(MESSAGES + 1) == b.file_sha256(MESSAGES + 1)
    with pytest.raises(ValueError):
        a.post(kinds="deleted")
    with pytest.raises(ValueError):
        a.post(0)
    with pytest.raises(KeyError):
        a.post(chat="nobody_here")


def test_forum_and_comments_refuse_but_their_extra_channels_post() -> None:
    for sim in (make_sim(forum_topics=3), make_sim(comments=True)):
        last = sim.last_id
        with pytest.raises(ValueError):
            sim.post()
        assert sim.last_id == last == sim.messages[-1].id
        assert sim.post(2, chat="third_chan") == [61, 62]


# -- requests read the live channel ------------------------------------------------------------------------------------


async def test_post_is_answered_by_every_request() -> None:
    sim = make_sim()
    ids = sim.post(3, kinds=("photo", "document", "video"))
    async with sim_clients(sim, ("a",)) as clients:
        a = clients["a"]
        await a.connect()
        entity = await resolve(a, sim.channel_username)
        chan = input_channel(entity)
        top = await history(a, chan, limit=5)
        visible = [m.id for m in sim.messages if m.kind != "deleted"]
        assert [m.id for m in top.messages] == visible[::-1][:5] and top.messages[0].id == ids[-1]
        assert top.count == len(visible) and top.pts == 4
        older = await history(a, chan, offset_id=ids[-1], limit=2)
        assert [m.id for m in older.messages] == visible[::-1][1:3]
        got = await get_ids(a, chan, [*ids, ids[-1] + 1])
        assert [m.id for m in got] == [*ids, ids[-1] + 1] and isinstance(got[-1], types.MessageEmpty)
        assert [file_id(m) for m in got[:3]] == [sim.message(i).doc_id for i in ids]
        full = await a(functions.channels.GetFullChannelRequest(chan))
        assert full.full_chat.read_inbox_max_id == ids[-1] and full.full_chat.pts == 4
        for msg_id in ids:
            message = await a.get_messages(entity, ids=msg_id)
            data = await a.download_media(message, file=bytes)
            assert hashlib.sha256(data).hexdigest() == sim.file_sha256(msg_id)
        dialogs = {d.entity.id: d for d in await a.get_dialogs()}
        assert dialogs[sim.channel_id].dialog.top_message == ids[-1] and dialogs[sim.channel_id].dialog.pts == 4


async def test_album_member_by_member() -> None:
    sim = make_sim()
    async with sim_clients(sim, ("a",)) as clients:
        a = clients["a"]
        await a.connect()
        chan = input_channel(await resolve(a, sim.channel_username))
        poster = sim.post_album(4)
        first = poster.add()
        assert first == [MESSAGES + 1] and poster.remaining == 3
        with pytest.raises(RuntimeError):
            sim.post()  # the album's members keep consecutive ids
        got = await get_ids(a, chan, [MESSAGES + 1, MESSAGES + 2])
        assert got[0].grouped_id == poster.grouped_id and got[0].message and isinstance(got[1], types.MessageEmpty)
        assert poster.add(2) == [MESSAGES + 2, MESSAGES + 3]
        got = await get_ids(a, chan, list(range(MESSAGES + 1, MESSAGES + 5)))
        assert [m.grouped_id for m in got[:3]] == [poster.grouped_id] * 3 and isinstance(got[3], types.MessageEmpty)
        assert [m.message for m in got[1:3]] == ["", ""]
        assert (await history(a, chan, limit=1)).messages[0].id == MESSAGES + 3
        assert poster.add() == [MESSAGES + 4] and poster.remaining == 0
        with pytest.raises(ValueError):
            poster.add()
        members = [sim.message(i) for i in range(MESSAGES + 1, MESSAGES + 5)]
        assert len({m.doc_id for m in members}) == 4 and all(m.is_media for m in members)
        assert sim.post() == [MESSAGES + 5]
        for msg_id in (MESSAGES + 1, MESSAGES + 4):
            data = await a.download_media(await a.get_messages(await resolve(a, "tgfetch_sim"), ids=msg_id), bytes)
            assert hashlib.sha256(data).hexdigest() == sim.file_sha256(msg_id)
    with pytest.raises(ValueError):
        sim.post_album(11)


async def test_delete_and_edit() -> None:
    sim = make_sim()
    media = [m for m in sim.media_messages() if m.grouped_id is None][:3]
    text = next(m for m in sim.messages if m.kind == "text")
    async with sim_clients(sim, ("a",)) as clients:
        a = clients["a"]
        await a.connect()
        entity = await resolve(a, sim.channel_username)
        chan = input_channel(entity)
        count = (await history(a, chan, limit=1)).count
        assert sim.delete([media[0].id, 10**6, media[0].id]) == [media[0].id]  # unknown ids are skipped
        assert sim.delete(media[0].id) == [] and sim.live.pts() == 2
        got = await get_ids(a, chan, [media[0].id])
        assert isinstance(got[0], types.MessageEmpty) and sim.message(media[0].id).kind == "deleted"
        page = await history(a, chan)
        assert page.count == count - 1 and media[0].id not in [m.id for m in page.messages]
        old_sha = sim.file_sha256(media[1].id)
        edited = sim.edit(media[1].id, new_media=True)
        assert (edited.id, edited.kind, edited.date) == (media[1].id, media[1].kind, media[1].date)
        assert edited.doc_id != media[1].doc_id and sim.file_sha256(media[1].id) != old_sha
        message = await a.get_messages(entity, ids=media[1].id)
        assert message.edit_date == sim.live.edit_date(media[1].id) and message.edit_date > message.date
        assert file_id(message) == edited.doc_id
        data = await a.download_media(message, file=bytes)
        assert hashlib.sha256(data).hexdigest() == sim.file_sha256(media[1].id)
        retitled = sim.edit(text.id)
        assert retitled.caption == f"{text.caption} (edited)" and sim.live.pts() == 4
        assert (await a.get_messages(entity, ids=text.id)).message == retitled.caption
        same = sim.edit(media[2].id, caption="new words")
        assert (same.doc_id, same.caption) == (media[2].doc_id, "new words")
        with pytest.raises(ValueError):
            sim.edit(media[0].id)  # deleted
        with pytest.raises(ValueError):
            sim.edit(text.id, new_media=True)


# -- updates -----------------------------------------------------------------------------------------------------------


class Seen:
    """What one client's event handlers saw."""

    def __init__(self, client: Any, chats: Any) -> None:
        self.new: list[Any] = []
        self.edited: list[Any] = []
        self.deleted: list[int] = []
        self.pts: list[int] = []
        client.add_event_handler(self._new, events.NewMessage(chats=chats))
        client.add_event_handler(self._edited, events.MessageEdited(chats=chats))
        client.add_event_handler(self._deleted, events.MessageDeleted(chats=chats))
        client.add_event_handler(self._raw, events.Raw(types.UpdateNewChannelMessage))

    async def _new(self, event: Any) -> None:
        self.new.append(event.message)

    async def _edited(self, event: Any) -> None:
        self.edited.append(event.message)

    async def _deleted(self, event: Any) -> None:
        self.deleted += event.deleted_ids

    async def _raw(self, update: Any) -> None:
        self.pts.append(update.pts)

    def ids(self) -> list[int]:
        return sorted(m.id for m in self.new)


async def test_new_message_handlers_see_posts_edits_and_deletions() -> None:
    sim = make_sim()
    async with sim_clients(sim, ("a", "b")) as clients:
        second = sim.client("a")  # another client of account a: it gets the updates too
        try:
            for client in (*clients.values(), second):
                await client.connect()
            chans = {n: await resolve(c, sim.channel_username) for n, c in clients.items()}
            seen = {n: Seen(c, chans[n]) for n, c in clients.items()}
            seen_second = Seen(second, await resolve(second, sim.channel_username))
            ids = sim.post(3, kinds=("photo", "document"))
            await until(lambda: all(s.ids() == ids for s in (*seen.values(), seen_second)))
            assert sorted(seen["a"].pts) == [2, 3, 4]
            message = next(m for m in seen["b"].new if m.id == ids[0])
            assert file_id(message) == sim.message(ids[0]).doc_id and message.post
            data = await clients["b"].download_media(message, file=bytes)
            assert hashlib.sha256(data).hexdigest() == sim.file_sha256(ids[0])
            sim.edit(ids[1], new_media=True)
            sim.delete([ids[2]])
            await until(lambda: all(s.edited and s.deleted for s in seen.values()))
            assert [m.id for m in seen["a"].edited] == [ids[1]] and file_id(seen["a"].edited[0]) == sim.message(
                ids[1]).doc_id
            assert seen["b"].deleted == [ids[2]]
            poster = sim.post_album(3)
            poster.add(2)
            poster.add()
            await until(lambda: len(seen["a"].new) == 6)
            album = sorted(seen["a"].new, key=lambda m: m.id)[3:]
            assert [m.grouped_id for m in album] == [poster.grouped_id] * 3 and album[0].message
        finally:
            await second.disconnect()


async def test_what_each_update_looks_like() -> None:
    sim = make_sim()
    async with sim_clients(sim, ("a",)) as clients:
        a = clients["a"]
        await a.connect()
        session = a._sender.session  # the FakeSender's server-side session: record what the server pushes
        pushed: list[Any] = []
        push = session.updates
        assert push is not None
        session.updates = lambda updates: (pushed.append(updates), push(updates))
        extra = await resolve(a, "third_chan")
        [post] = sim.post(kinds="document", chat="third_chan")
        poster = sim.post_album(2, chat="third_chan")
        poster.add(2)
        edited = sim.edit(post, new_media=True, chat="third_chan")
        edit_date = sim.live.edit_date(post, "third_chan")
        sim.delete([post, *poster.ids], chat="third_chan")
        assert [type(u) for u in pushed] == [types.Updates] * 4
        assert all(u.seq == 0 and u.users == [] and [(c.id, c.access_hash) for c in u.chats] == [
            (extra.id, extra.access_hash)] for u in pushed)  # the channel, with this account's own hash
        new, album, edit, deletion = (u.updates for u in pushed)
        assert [(type(x), x.message.id, x.pts, x.pts_count) for x in new + album] == [
            (types.UpdateNewChannelMessage, post, 2, 1), (types.UpdateNewChannelMessage, poster.ids[0], 3, 1),
            (types.UpdateNewChannelMessage, poster.ids[1], 4, 1)]  # one album batch: one container
        assert album[0].message.grouped_id == album[1].message.grouped_id == poster.grouped_id
        [changed] = edit
        assert isinstance(changed, types.UpdateEditChannelMessage) and (changed.pts, changed.pts_count) == (5, 1)
        assert changed.message.edit_date == edit_date and file_id(changed.message) == edited.doc_id
        [gone] = deletion
        assert isinstance(gone, types.UpdateDeleteChannelMessages) and gone.channel_id == extra.id
        assert (gone.messages, gone.pts, gone.pts_count) == ([post, *poster.ids], 8, 3)
        assert sim.live.pts("third_chan") == 8 and new[0].message.date == pushed[0].date  # the event's date
        assert sim.message(post, extra.id).kind == "deleted" and sim.live.edit_date(post, "third_chan") is None


async def test_only_members_get_the_main_channels_updates() -> None:
    sim = make_sim()
    async with sim_clients(sim, ("a", "b")) as clients:
        for client in clients.values():
            await client.connect()
        main = {n: Seen(c, await resolve(c, sim.channel_username)) for n, c in clients.items()}
        extra = {n: Seen(c, await resolve(c, "third_chan")) for n, c in clients.items()}
        sim.leave("b")
        sim.post(2, kinds="text")
        ids = sim.post(1, chat="third_chan", kinds="photo")
        await until(lambda: all(s.ids() == ids for s in extra.values()) and len(main["a"].new) == 2)
        await asyncio.sleep(0.05)
        assert main["b"].new == [] and main["b"].pts == [2]  # b's client got third_chan's update only


async def test_a_missed_post_is_fetched_with_channel_difference() -> None:
    sim = make_sim()
    async with sim_clients(sim, ("a",)) as clients:
        a = clients["a"]
        await a.connect()
        seen = Seen(a, await resolve(a, "second_chan"))
        first = sim.post(chat="second_chan", kinds="text")  # NewMessage skips service messages: choose kinds
        await until(lambda: seen.ids() == first)
        await a.disconnect()
        missed = sim.post(2, chat="second_chan", kinds=("photo", "text"))  # nobody listens: pushes are lost
        sim.edit(first[0], caption="changed meanwhile", chat="second_chan")
        await a.connect()
        last = sim.post(chat="second_chan", kinds="video")
        await until(lambda: seen.ids() == first + missed + last)  # the pts gap made Telethon ask the difference
        assert sim.rpc_counts("a")["GetChannelDifferenceRequest"] >= 1


async def test_catch_up_fetches_what_was_missed() -> None:
    sim = make_sim()
    async with sim_clients(sim, ("a",)) as clients:
        a = clients["a"]
        await a.connect()
        seen = Seen(a, await resolve(a, sim.channel_username))
        first = sim.post(kinds="audio")
        await until(lambda: seen.ids() == first)
        await a.disconnect()
        missed = sim.post(3, kinds=("document", "text"))
        await a.connect()
        await a.catch_up()  # updates.getDifference -> updateChannelTooLong -> updates.getChannelDifference
        await until(lambda: seen.ids() == first + missed)
        counts = sim.rpc_counts("a")
        assert counts["GetDifferenceRequest"] >= 1 and counts["GetChannelDifferenceRequest"] >= 1


async def test_channel_difference_answers() -> None:
    sim = make_sim()
    kind = functions.updates.GetChannelDifferenceRequest
    async with sim_clients(sim, ("a", "b")) as clients:
        a, b = clients["a"], clients["b"]
        await a.connect()
        await b.connect()
        chan = input_channel(await resolve(a, "third_chan"))
        empty = await a(kind(chan, types.ChannelMessagesFilterEmpty(), 1, 100))
        assert isinstance(empty, types.updates.ChannelDifferenceEmpty) and empty.pts == 1 and empty.final
        ids = sim.post(3, chat="third_chan")
        sim.edit(5, caption="old post, edited", chat="third_chan")
        sim.delete([ids[1]], chat="third_chan")
        diff = await a(kind(chan, types.ChannelMessagesFilterEmpty(), 1, 100))
        assert isinstance(diff, types.updates.ChannelDifference) and diff.final and diff.pts == 6
        assert [m.id for m in diff.new_messages] == [ids[0], ids[2]] and [c.id for c in diff.chats] == [chan.channel_id]
        edit, deletion = diff.other_updates
        assert isinstance(edit, types.UpdateEditChannelMessage) and (edit.message.id, edit.pts) == (5, 5)
        assert edit.message.edit_date is not None
        assert isinstance(deletion, types.UpdateDeleteChannelMessages) and deletion.messages == [ids[1]]
        part = await a(kind(chan, types.ChannelMessagesFilterEmpty(), 1, 2))
        assert not part.final and part.pts == 3 and [m.id for m in part.new_messages] == [ids[0]]
        rest = await a(kind(chan, types.ChannelMessagesFilterEmpty(), part.pts, 100))
        assert rest.final and rest.pts == 6 and [m.id for m in rest.new_messages] == [ids[2]]
        same = await a(kind(chan, types.ChannelMessagesFilterEmpty(), 6, 100))
        assert isinstance(same, types.updates.ChannelDifferenceEmpty) and same.pts == 6
        with pytest.raises(errors.PersistentTimestampEmptyError):
            await a(kind(chan, types.ChannelMessagesFilterEmpty(), 0, 100))
        with pytest.raises(errors.PersistentTimestampInvalidError):
            await a(kind(chan, types.ChannelMessagesFilterEmpty(), 7, 100))
        with pytest.raises(errors.ChannelInvalidError):
            await b(kind(chan, types.ChannelMessagesFilterEmpty(), 1, 100))  # a's access hash


# -- what was there before -------------------------------------------------------------------------------------------


async def _answers(sim: SimulatedTelegram, ids: range, *, wrappers: bool = True) -> tuple[bytes, str]:
    """TL bytes of the main channel's answers about `ids` (or only of the messages in them), and a files digest."""
    async with sim_clients(sim, ("m",)) as clients:
        m = clients["m"]
        await m.connect()
        res = await m(functions.contacts.ResolveUsernameRequest(sim.channel_username))
        chan = input_channel(res.chats[0])
        out: list[Any] = []
        for start in range(ids.start, ids.stop, 200):
            got = await m(functions.channels.GetMessagesRequest(
                chan, [types.InputMessageID(i) for i in range(start, min(ids.stop, start + 200))]))
            out += [got] if wrappers else got.messages
        page = await history(m, chan, offset_id=ids.stop)
        out += [res, page, await m(functions.channels.GetFullChannelRequest(chan))] if wrappers else page.messages
        msg = await m.get_messages(res.chats[0], ids=sim.media_messages()[0].id)
        data = await m.download_media(msg, file=bytes)
    files = "".join(sim.file_sha256(x.id) for x in sim.media_messages() if x.id in ids)
    return b"".join(bytes(x) for x in out) + hashlib.sha256(data).digest(), files


async def test_the_main_channel_is_unchanged_by_other_channels_live_changes() -> None:
    plain, busy = make_sim(), make_sim()
    busy.post(4, chat="second_chan")
    busy.post_album(3, chat="second_chan").add(3)
    busy.edit(7, new_media=True, chat="third_chan")
    busy.delete([1, 2, 3], chat="third_chan")
    ids = range(1, MESSAGES + 3)
    assert await _answers(busy, ids) == await _answers(plain, ids)


async def test_existing_messages_are_unchanged_by_posts() -> None:
    plain, busy = make_sim(), make_sim()
    busy.post(5)
    busy.post_album(2).add(2)
    busy.post(3, chat="third_chan")
    ids = range(1, MESSAGES + 1)
    assert await _answers(busy, ids, wrappers=False) == await _answers(plain, ids, wrappers=False)
    assert list(busy.messages[:MESSAGES]) == list(plain.messages)
    assert busy.total_media_bytes() > plain.total_media_bytes()
