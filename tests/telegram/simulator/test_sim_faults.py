"""Fault injection: grammar, FLOOD_WAIT, expiring references, drops, timeouts, revocation."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import pytest
from telethon import errors

from tgfetch.telegram.simulator import FaultPlan, SimulatedTelegram, parse_faults
from tgfetch.telegram.simulator.faults import FaultRule, RuleCounter


def _sim(faults: str) -> SimulatedTelegram:
    return SimulatedTelegram(seed=7, messages=300, size_scale=0.01, faults=faults)


def test_parse_examples() -> None:
    plan = parse_faults(
        "flood:GetFileRequest:rate=0.05:seconds=3, flood:*:at=10:burst=5:"
        "seconds=2@client2, expire:rate=0.1, drop:GetFile:at=3:hard, "
        "timeout:GetMessagesRequest:at=3, revoke:client2:after_bytes=5000000,"
        "deactivate@c3:after_s=2, expire:after_bytes=100@c1"
    )
    assert plan.rules[0] == FaultRule("flood", "GetFileRequest", rate=0.05, seconds=3)
    assert plan.rules[1] == FaultRule("flood", "*", "client2", at=10, burst=5, seconds=2)
    assert plan.rules[3] == FaultRule("drop", "GetFileRequest", at=3, hard=True)
    assert plan.rules[5] == FaultRule("revoke", account="client2", after_bytes=5000000)
    assert plan.rules[6] == FaultRule("deactivate", account="c3", after_s=2.0)
    assert parse_faults(None) == FaultPlan() and parse_faults("") == FaultPlan()
    assert parse_faults(plan) is plan


@pytest.mark.parametrize(
    "spec, needle",
    [
        ("explode:rate=0.1", "'explode'"),
        ("flood:GetFile", "exactly one trigger"),
        ("flood:*:rate=2", "rate must be in"),
        ("flood:*:rate=abc", "rate='abc'"),
        ("flood:*:at=1:every=2", "exactly one trigger"),
        ("flood:*:at=0", "at must be >= 1"),
        ("flood:*:at=1:colour=red", "'colour'"),
        ("flood:*:at=1:hard", "'hard' only applies"),
        ("revoke:after_s=3", "needs an account"),
        ("expire:GetFile:rate=0.1", "takes no target"),
        ("drop:*:rate=0.1:after_s=1", "after_s only applies"),
        ("timeout:*:at", "expected key=value"),
        ("flood:*:at=1@", "empty account"),
    ],
)
def test_bad_specs_name_the_bad_part(spec: str, needle: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_faults("flood:*:rate=0.1, " + spec)
    assert needle in str(info.value) and spec.split(":")[0] in str(info.value)
    with pytest.raises(ValueError):
        SimulatedTelegram(messages=10, faults=spec)


@pytest.mark.asyncio
async def test_flood_wait_is_auto_slept(connect: Any) -> None:
    sim = _sim("flood:GetHistoryRequest:at=1:seconds=1@a")
    async with connect(sim, "a", "b") as (a, b):
        chan = await a.get_entity(sim.channel_username)
        start = time.monotonic()
        assert (await a.get_messages(chan, limit=1))[0].id <= sim.last_id
        assert time.monotonic() - start >= 0.9
        await b.get_messages(await b.get_entity(sim.channel_username), limit=1)
    assert sim.rpc_counts("a")["GetHistoryRequest"] == 2
    assert sim.rpc_counts("b")["GetHistoryRequest"] == 1  # the rule is restricted to a


@pytest.mark.asyncio
async def test_flood_wait_above_threshold_raises(connect: Any) -> None:
    sim = _sim("flood:GetHistory:every=1:seconds=120")
    async with connect(sim, "a") as (a,):
        chan = await a.get_entity(sim.channel_username)
        with pytest.raises(errors.FloodWaitError) as info:
            await a.get_messages(chan, limit=1)
        assert info.value.seconds == 120


def test_rate_faults_are_reproducible() -> None:
    rule = parse_faults("drop:rate=0.3").rules[0]
    counters = [RuleCounter(1, 0, "a", rule), RuleCounter(1, 0, "a", rule)]
    runs = [[counter.fire() for _ in range(50)] for counter in counters]
    counter_b = RuleCounter(1, 0, "b", rule)
    other = [counter_b.fire() for _ in range(50)]
    assert runs[0] == runs[1] != other and 5 < sum(runs[0]) < 30


async def _document(client: Any, sim: SimulatedTelegram, min_size: int) -> tuple[Any, int]:
    target = next(m for m in sim.media_messages() if m.kind == "document" and m.dc_id == 2 and m.size >= min_size)
    chan = await client.get_entity(sim.channel_username)
    return (await client.get_messages(chan, ids=target.id)), target.id


@pytest.mark.asyncio
async def test_file_reference_expires_mid_file_and_refetch_cures(connect: Any) -> None:
    sim = _sim("expire:at=2")
    async with connect(sim, "a") as (a,):
        msg, msg_id = await _document(a, sim, 5 * 4096)
        got = bytearray()
        with pytest.raises(errors.FileReferenceExpiredError):
            async for chunk in a.iter_download(msg.media.document, request_size=4096):
                got += chunk
        assert len(got) == 2 * 4096  # offset 0 and the first mid-file part went through
        fresh = await a.get_messages(msg.chat_id, ids=msg_id)
        assert fresh.media.document.file_reference != msg.media.document.file_reference
        async for chunk in a.iter_download(fresh.media.document, offset=len(got), request_size=4096):
            got += chunk
    assert hashlib.sha256(got).hexdigest() == sim.file_sha256(msg_id)


@pytest.mark.asyncio
async def test_download_media_refetches_expired_documents_itself(connect: Any) -> None:
    sim = _sim("expire:after_bytes=4096")
    async with connect(sim, "a") as (a,):
        msg, msg_id = await _document(a, sim, 200 * 1024)  # > one 128 KiB part
        before = sim.rpc_counts("a")["GetMessagesRequest"]
        data = await a.download_media(msg, file=bytes)
        assert hashlib.sha256(data).hexdigest() == sim.file_sha256(msg_id)
        assert sim.rpc_counts("a")["GetMessagesRequest"] == before + 1  # Telethon's re-fetch


@pytest.mark.asyncio
async def test_drop_raises_connection_error_then_recovers(connect: Any) -> None:
    sim = _sim("drop:GetHistoryRequest:at=1")
    async with connect(sim, "a") as (a,):
        chan = await a.get_entity(sim.channel_username)
        with pytest.raises(ConnectionError):
            await a.get_messages(chan, limit=1)
        assert a.is_connected()
        assert (await a.get_messages(chan, limit=1))[0].id <= sim.last_id


@pytest.mark.asyncio
async def test_hard_drop_disconnects_until_connect(connect: Any) -> None:
    sim = _sim("drop:GetHistoryRequest:at=1:hard")
    async with connect(sim, "a") as (a,):
        chan = await a.get_entity(sim.channel_username)
        with pytest.raises(ConnectionError):
            await a.get_messages(chan, limit=1)
        assert not a.is_connected()
        with pytest.raises(ConnectionError):
            await a.get_messages(chan, limit=1)
        await a.connect()
        assert (await a.get_messages(chan, limit=1))[0].id <= sim.last_id


@pytest.mark.asyncio
async def test_timeout_never_answers(connect: Any) -> None:
    sim = _sim("timeout:GetHistoryRequest:at=1")
    async with connect(sim, "a") as (a,):
        chan = await a.get_entity(sim.channel_username)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(a.get_messages(chan, limit=1), 0.2)
        assert (await a.get_messages(chan, limit=1))[0].id <= sim.last_id


@pytest.mark.asyncio
async def test_revoke_and_deactivate(sim: SimulatedTelegram, connect: Any) -> None:
    async with connect(sim, "a", "b") as (a, b):
        chan = await a.get_entity(sim.channel_username)
        sim.revoke("a")
        with pytest.raises(errors.AuthKeyUnregisteredError):
            await a.get_messages(chan, limit=1)
        sim.deactivate("b")
        with pytest.raises(errors.UserDeactivatedError):
            await b.get_entity(sim.channel_username)
        assert await a.is_user_authorized()  # Telethon caches it: no RPC, still True
        assert await a.get_me() is None  # get_me swallows the 401


@pytest.mark.asyncio
async def test_scheduled_revoke_after_bytes(connect: Any) -> None:
    sim = _sim("revoke:a:after_bytes=4096, deactivate@b:after_rpcs=5")
    async with connect(sim, "a", "b") as (a, b):
        msg, _ = await _document(a, sim, 3 * 4096)
        with pytest.raises(errors.AuthKeyUnregisteredError):
            async for _chunk in a.iter_download(msg.media.document, request_size=4096):
                pass
        assert sim.bytes_served("a") == 4096
        await b.get_entity(sim.channel_username)  # rpc 5 (connect made 4)
        with pytest.raises(errors.UserDeactivatedError):
            await b.get_messages(await b.get_input_entity(sim.channel_username), limit=1)
