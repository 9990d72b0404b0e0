"""Channel content and resolution, through real Telethon calls."""

from __future__ import annotations

import collections
import hashlib
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest
from telethon import errors, functions, types

from tgfetch.telegram import simulator
from tgfetch.telegram.simulator import SimulatedTelegram
from tgfetch.telegram.simulator.content import HOSTILE_NAMES


@pytest.mark.asyncio
async def test_entities_are_per_account(sim: SimulatedTelegram, connect: Any) -> None:
    async with connect(sim, "a", "b") as (a, b):
        chan_a = await a.get_entity(sim.channel_username)
        chan_b = await b.get_entity(sim.channel_username)
        assert chan_a.id == chan_b.id == sim.channel_id
        assert chan_a.access_hash != chan_b.access_hash
        with pytest.raises(errors.ChannelInvalidError):
            await b.get_messages(chan_a, limit=1)
        with pytest.raises(errors.ChannelInvalidError):
            await b(
                functions.channels.GetMessagesRequest(
                    types.InputChannel(chan_a.id, chan_a.access_hash), [types.InputMessageID(1)]
                )
            )
        with pytest.raises(ValueError):  # Telethon's own "No user has ..." wrapper
            await a.get_entity("no_such_channel_here")
    assert sim.rpc_counts("a")["ResolveUsernameRequest"] == 2


@pytest.mark.asyncio
async def test_same_client_name_is_same_account(sim: SimulatedTelegram, connect: Any) -> None:
    async with connect(sim, "a", "a") as (first, second):
        one = await first.get_entity(sim.channel_username)
        two = await second.get_entity(sim.channel_username)
        assert one.access_hash == two.access_hash
    assert sim.accounts() == ["a"]
    assert sim.rpc_counts("a")["ResolveUsernameRequest"] == 2


@pytest.mark.asyncio
async def test_latest_message_and_full_channel(sim: SimulatedTelegram, connect: Any) -> None:
    async with connect(sim, "a") as (a,):
        chan = await a.get_entity(sim.channel_username)
        newest = await a.get_messages(chan, limit=1)
        visible = [m.id for m in sim.messages if m.kind != "deleted"]
        assert newest[0].id == visible[-1]
        assert newest.total == len(visible)
        page = await a.get_messages(chan, limit=5, offset_id=visible[-1])
        assert [m.id for m in page] == visible[-6:-1][::-1]
        full = await a(functions.channels.GetFullChannelRequest(chan))
        assert full.full_chat.id == sim.channel_id


@pytest.mark.asyncio
async def test_messages_match_across_accounts(sim: SimulatedTelegram, connect: Any) -> None:
    ids = list(range(sim.first_id, sim.first_id + 120))
    async with connect(sim, "a", "b") as (a, b):
        seen = []
        for client in (a, b):
            chan = await client.get_entity(sim.channel_username)
            msgs = await client.get_messages(chan, ids=ids)
            seen.append([_summary(m) for m in msgs])
    assert seen[0] == seen[1]
    for summary, expected in zip(seen[0], sim.messages[:120], strict=True):
        if expected.kind == "deleted":
            assert summary is None
        else:
            assert summary[0] == expected.id and summary[1] == expected.grouped_id


def _summary(msg: Any) -> Any:
    if msg is None:
        return None
    size = msg.file.size if msg.file else None
    return (msg.id, msg.grouped_id, msg.message, size, msg.file and msg.file.name)


@pytest.mark.asyncio
async def test_get_messages_200_ids_ok_201_fails(sim: SimulatedTelegram, connect: Any) -> None:
    async with connect(sim, "a") as (a,):
        chan = await a.get_input_entity(sim.channel_username)
        channel = types.InputChannel(chan.channel_id, chan.access_hash)
        ids = [types.InputMessageID(i) for i in range(1, 202)]
        result = await a(functions.channels.GetMessagesRequest(channel, ids[:200]))
        assert len(result.messages) == 200
        assert {type(m).__name__ for m in result.messages} >= {"Message", "MessageEmpty"}
        missing = await a(functions.channels.GetMessagesRequest(channel, [types.InputMessageID(sim.last_id + 5)]))
        assert isinstance(missing.messages[0], types.MessageEmpty)
        with pytest.raises(errors.LimitInvalidError):
            await a(functions.channels.GetMessagesRequest(channel, ids))


def test_content_shape() -> None:
    sim = SimulatedTelegram(seed=3, messages=1000)
    kinds = collections.Counter(m.kind for m in sim.messages)
    assert set(kinds) == {"text", "service", "deleted", "photo", "video", "document", "audio"}
    assert [m.id for m in sim.messages] == list(range(1, 1001))
    assert sim.last_id == 1000
    albums: dict[int, list[int]] = collections.defaultdict(list)
    for m in sim.messages:
        if m.grouped_id is not None:
            albums[m.grouped_id].append(m.id)
    for ids in albums.values():
        assert 2 <= len(ids) <= 10 and ids == list(range(ids[0], ids[0] + len(ids)))
    media = sim.media_messages()
    in_albums = sum(1 for m in media if m.grouped_id is not None)
    assert 0.15 < in_albums / len(media) < 0.45
    assert any(m.file_name in HOSTILE_NAMES for m in media)
    assert {m.dc_id for m in media} == {1, 2, 3, 4, 5}
    assert sim.total_media_bytes() < sim.total_media_bytes_per_message()  # reposts
    assert sim.total_media_bytes() < 20 * 1024**3


def test_scaling_and_caps() -> None:
    big = SimulatedTelegram(seed=1, messages=200)
    small = SimulatedTelegram(seed=1, messages=200, size_scale=0.01, max_file_size=5000)
    assert [m.id for m in big.media_messages()] == [m.id for m in small.media_messages()]
    assert max(m.size for m in small.media_messages()) <= 5000


def test_same_seed_same_channel() -> None:
    one = SimulatedTelegram(seed=11, messages=200, size_scale=0.01)
    two = SimulatedTelegram(seed=11, messages=200, size_scale=0.01)
    other = SimulatedTelegram(seed=12, messages=200, size_scale=0.01)
    assert one.messages == two.messages
    assert one.messages != other.messages
    for m in one.media_messages()[:20]:
        assert one.file_sha256(m.id) == two.file_sha256(m.id)
        assert one.read_file(m.id, 0, 4096) == two.read_file(m.id, 0, 4096)
    digests = {one.file_sha256(m.id) for m in one.media_messages()}
    assert len(digests) == len({m.doc_id for m in one.media_messages()})


def test_same_seed_same_channel_across_processes() -> None:
    code = (
        "from tgfetch.telegram.simulator import SimulatedTelegram as S\n"
        "s = S(seed=5, messages=150, size_scale=0.01)\n"
        "print(repr([(m.id, m.kind, m.size, m.file_name, m.grouped_id, m.doc_id) "
        "for m in s.messages]))\n"
        "print([s.file_sha256(m.id) for m in s.media_messages()[:5]])\n"
    )
    root = str(pathlib.Path(simulator.__file__).resolve().parents[3])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONHASHSEED="random", PYTHONPATH=path)
    outs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
        for _ in range(2)
    ]
    assert outs[0] == outs[1]
    local = SimulatedTelegram(seed=5, messages=150, size_scale=0.01)
    assert repr([(m.id, m.kind, m.size, m.file_name, m.grouped_id, m.doc_id) for m in local.messages]) in outs[0]


def test_read_file_is_consistent() -> None:
    sim = SimulatedTelegram(seed=2, messages=100, size_scale=0.05)
    msg = max(sim.media_messages(), key=lambda m: m.size)
    whole = sim.read_file(msg.id, 0, msg.size + 10)
    assert len(whole) == msg.size
    assert hashlib.sha256(whole).hexdigest() == sim.file_sha256(msg.id)
    assert sim.read_file(msg.id, 100, 5000) == whole[100:5100]
    with pytest.raises(KeyError):
        sim.read_file(next(m.id for m in sim.messages if m.kind == "text"), 0, 10)
