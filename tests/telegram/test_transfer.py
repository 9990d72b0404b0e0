"""upload.getFile as tgfetch sends it, against the simulator's exact offset/limit rules.

Real Telethon clients, loopback only: 1 MiB parts in byte order, one exported sender per DC,
resume from any `.part` size, expired references mid-file, and the FLOOD_PREMIUM_WAIT speed limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from telethon import errors, functions, types

from tgfetch.config import load_settings
from tgfetch.download.fetch import fetch_file
from tgfetch.download.files import PartFile
from tgfetch.download.layout import ALIGN, resume_offset
from tgfetch.download.stats import ClientStats
from tgfetch.download.work import FileTask
from tgfetch.job import download_channel
from tgfetch.model import MessageInfo
from tgfetch.telegram import transfer
from tgfetch.telegram.account import Account
from tgfetch.telegram.convert import FileLocation
from tgfetch.telegram.rpc import SpeedLimit, classify
from tgfetch.telegram.simulator import SimMessage, SimulatedTelegram, parse_faults
from tgfetch.telegram.simulator import files as sim_files
from tgfetch.telegram.transfer import PART, QueueLimits, part_at, part_count, parts_in_flight

MiB = 1 << 20
HOME_DC = 2


def channel(faults: str | None = None, **kwargs: Any) -> SimulatedTelegram:
    """120 messages, files up to 6 MiB, on DCs 1-5."""
    return SimulatedTelegram(seed=4, messages=120, size_scale=0.5, max_file_size=6 * MiB, faults=faults, **kwargs)


def big_file(sim: SimulatedTelegram, *, home: bool = True, min_size: int = 3 * MiB) -> SimMessage:
    """A file of several parts, not a multiple of 1 MiB."""
    return next(m for m in sim.media_messages()
                if m.size >= min_size and m.size % MiB and (m.dc_id == HOME_DC) == home)


@asynccontextmanager
async def account(sim: SimulatedTelegram, name: str = "a") -> AsyncIterator[Account]:
    """A connected Account with the channel resolved."""
    client = sim.client(name)
    await client.connect()
    try:
        acc = Account(name, client)
        await acc.resolve(sim.channel_username)
        yield acc
    finally:
        await client.disconnect()


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, bool]]:
    """Every upload.getFile (offset, limit, precise) the simulator is asked, in arrival order."""
    seen: list[tuple[int, int, bool]] = []
    check = sim_files.check_range

    def spy(offset: int, limit: int, precise: bool = False) -> None:
        seen.append((offset, limit, precise))
        check(offset, limit, precise)
    monkeypatch.setattr(sim_files, "check_range", spy)
    return seen


def task_of(m: SimMessage) -> FileTask:
    info = MessageInfo(m.id, file_size=m.size, document_id=m.doc_id, dc_id=m.dc_id, media_type=m.kind)
    return FileTask(info, PurePosixPath(str(m.id)), None, 1, "")


async def fetch_into(acc: Account, m: SimMessage, final: Path, stats: ClientStats | None = None) -> str:
    """fetch_file one message into `final` (through its .part); return the file's sha256."""
    await acc.fetch([m.id])
    part = PartFile(final)
    await fetch_file(acc, task_of(m), part, stats or ClientStats(acc.name), max_retries=3)
    return part.finish()


# ----------------------------------------------------------------- the rules


def test_parts_follow_telegrams_rules() -> None:
    assert part_at(0) == (0, PART, False)
    assert part_at(5 * MiB) == (5 * MiB, PART, False)
    assert part_at(MiB + 12 * 1024) == (MiB + 12 * 1024, MiB - 12 * 1024, True)  # to the chunk's end
    with pytest.raises(ValueError):
        part_at(100)
    for offset in (0, 4096, MiB - 4096, 3 * MiB + 8192):
        at, limit, precise = part_at(offset)
        sim_files.check_range(at, limit, precise)  # what Telegram accepts
    assert part_count(0, 1) == 1 and part_count(0, MiB) == 1 and part_count(0, MiB + 1) == 2
    assert part_count(MiB // 2, 3 * MiB) == 3 and part_count(3 * MiB, 3 * MiB) == 0
    assert [parts_in_flight(n) for n in (1, MiB, MiB + 1, 5 * MiB, 100 * MiB)] == [1, 1, 2, 5, transfer.MAX_PARTS]


@pytest.mark.parametrize(("offset", "limit", "precise", "error"), [
    (0, 4096, False, None),
    (3 * MiB, MiB, False, None),
    (MiB - 4096, 4096, False, None),
    (0, 12 * 1024, True, None),  # precise: 1 KiB steps, any limit up to 1 MiB
    (MiB + 1024, MiB - 1024, True, None),
    (1024, 4096, False, errors.OffsetInvalidError),  # 4 KiB offsets without precise
    (512, 1024, True, errors.OffsetInvalidError),  # 1 KiB offsets with it
    (0, 1000, True, errors.LimitInvalidError),
    (0, 5000, False, errors.LimitInvalidError),
    (0, 12 * 1024, False, errors.LimitInvalidError),  # 1 MiB must be divisible by the limit
    (0, 2 * MiB, False, errors.LimitInvalidError),
    (0, MiB + 1024, True, errors.LimitInvalidError),  # never above 1 MiB
    (0, 0, False, errors.LimitInvalidError),
    (MiB - 4096, 8192, False, errors.LimitInvalidError),  # across the 1 MiB boundary
    (MiB - 1024, 2048, True, errors.LimitInvalidError),
])
async def test_simulator_applies_the_offset_and_limit_rules(
        offset: int, limit: int, precise: bool, error: type[Exception] | None) -> None:
    sim = channel()
    m = big_file(sim)
    async with account(sim) as acc:
        await acc.fetch([m.id])
        loc = acc.locations[m.id].location
        req = functions.upload.GetFileRequest(loc, offset, limit, precise=precise or None)
        if error is None:
            res = await acc.client(req)
            assert res.bytes == sim.read_file(m.id, offset, limit)
        else:
            with pytest.raises(error):
                await acc.client(req)


# ----------------------------------------------------------------- tgfetch's parts


async def test_parts_are_1_mib_aligned_and_in_byte_order(tmp_path: Path, requests: list[Any]) -> None:
    sim = channel()
    m = big_file(sim)
    async with account(sim) as acc:
        sha = await fetch_into(acc, m, tmp_path / "f")
    assert sha == sim.file_sha256(m.id)
    n = math.ceil(m.size / MiB)
    assert requests == [(i * MiB, MiB, False) for i in range(n)]
    assert sim.rpc_counts("a")["GetFileRequest"] == acc.calls["GetFileRequest"] == n
    assert sim.bytes_served("a") == m.size


async def test_every_file_size_takes_ceil_size_over_1_mib_calls(tmp_path: Path) -> None:
    sim = channel(latency=0.002)
    files = [m for m in sim.media_messages() if m.dc_id == HOME_DC][:25]
    async with account(sim) as acc:
        for m in files:
            before = acc.calls["GetFileRequest"]
            assert await fetch_into(acc, m, tmp_path / str(m.id)) == sim.file_sha256(m.id)
            assert acc.calls["GetFileRequest"] - before == max(1, math.ceil(m.size / MiB)), m.size
    assert len({m.size for m in files}) > 20


async def test_one_exported_sender_per_dc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = channel()
    foreign = [m for m in sim.media_messages() if m.dc_id != HOME_DC][:20]
    dcs = {m.dc_id for m in foreign}
    async with account(sim) as acc:
        borrow = acc.client._borrow_exported_sender
        borrows: list[int] = []

        async def counted(dc_id: int) -> Any:
            borrows.append(dc_id)
            return await borrow(dc_id)
        monkeypatch.setattr(acc.client, "_borrow_exported_sender", counted)
        for m in foreign:
            assert await fetch_into(acc, m, tmp_path / str(m.id)) == sim.file_sha256(m.id)
        assert sorted(borrows) == sorted(dcs) and acc.files.borrowed == len(dcs) > 1
    assert sim.rpc_counts("a")["ExportAuthorizationRequest"] == len(dcs)


async def test_a_new_sender_is_borrowed_after_a_reconnect(tmp_path: Path) -> None:
    sim = channel()
    m = big_file(sim, home=False)
    async with account(sim) as acc:
        assert await fetch_into(acc, m, tmp_path / "1") == sim.file_sha256(m.id)
        await acc.client.disconnect()  # Telethon closes and forgets its exported senders
        await acc.client.connect()
        assert await fetch_into(acc, m, tmp_path / "2") == sim.file_sha256(m.id)
    assert acc.files.borrowed == 2


async def test_file_migrate_moves_to_the_files_dc(tmp_path: Path) -> None:
    sim = channel()
    m = big_file(sim, home=False, min_size=1)
    async with account(sim) as acc:
        await acc.fetch([m.id])
        loc = acc.locations[m.id]
        wrong = FileLocation(loc.message_id, loc.location, HOME_DC, loc.size, loc.document_id)
        data = b"".join([c async for c in acc.iter_file(wrong, 0)])
    assert hashlib.sha256(data).hexdigest() == sim.file_sha256(m.id)


# ----------------------------------------------------------------- resume and references


@pytest.mark.parametrize("cut", [1, 4095, 4096, MiB + 5000, 2 * MiB + 512 * 1024, 3 * MiB])
async def test_resume_from_a_part_of_any_size_is_byte_exact(tmp_path: Path, requests: list[Any], cut: int) -> None:
    sim = channel()
    m = big_file(sim)
    final = tmp_path / "f"
    Path(f"{final}.part").write_bytes(sim.read_file(m.id, 0, cut))
    start = resume_offset(cut, m.size)
    assert start == cut - cut % ALIGN
    async with account(sim) as acc:
        assert await fetch_into(acc, m, final) == sim.file_sha256(m.id)
    assert len(requests) == part_count(start, m.size)
    first = requests[0]
    assert first == (start, PART - start % PART, bool(start % PART))  # precise only inside a chunk
    assert all(r == (o, PART, False) for r, o in zip(requests[1:], range(start - start % PART + PART, m.size, PART),
                                                     strict=True))
    assert sim.bytes_served("a") == m.size - start


async def test_expired_reference_mid_file_still_completes(tmp_path: Path) -> None:
    sim = channel("expire:after_bytes=1500000, expire:at=5")
    files = [m for m in sim.media_messages() if m.size > 2 * MiB][:4]
    stats = ClientStats("a")
    async with account(sim) as acc:
        for m in files:
            assert await fetch_into(acc, m, tmp_path / str(m.id), stats) == sim.file_sha256(m.id)
    assert stats.refetch_calls >= len(files)
    assert stats.errors == 0


# ----------------------------------------------------------------- speed limits


def test_premium_wait_and_slow_mode_are_speed_limits() -> None:
    req = functions.upload.GetFileRequest(types.InputDocumentFileLocation(1, 2, b"", ""), 0, PART)
    for exc in (errors.FloodPremiumWaitError(req, capture="3"), errors.SlowModeWaitError(req, capture="3")):
        problem = classify(exc)
        assert isinstance(problem, SpeedLimit) and problem.seconds == 3
    assert parse_faults("premium:every=4:seconds=2@c1").rules[0].seconds == 2
    with pytest.raises(ValueError, match="takes no target"):
        parse_faults("premium:GetFile:rate=1")


async def _timed_fetch(sim: SimulatedTelegram, m: SimMessage, dest: Path) -> tuple[Account, ClientStats]:
    stats = ClientStats("a")
    async with account(sim) as acc:
        assert await fetch_into(acc, m, dest, stats) == sim.file_sha256(m.id)
        other = next(o for o in sim.media_messages() if o.size > MiB and o.doc_id != m.doc_id)
        assert await fetch_into(acc, other, dest.with_name("other"), stats) == sim.file_sha256(other.id)
    return acc, stats


async def test_premium_wait_slows_the_account_and_never_fails_a_file(tmp_path: Path) -> None:
    fast = channel(bandwidth=16 * MiB)
    m = big_file(fast, min_size=4 * MiB)
    plain, _ = await _timed_fetch(fast, m, tmp_path / "plain")
    slow = channel("premium:at=2:seconds=1", bandwidth=16 * MiB)
    limited, stats = await _timed_fetch(slow, m, tmp_path / "limited")
    assert stats.errors == 0  # no failure, no retry: the call was repeated after the wait
    assert limited.speed_limits == 1 and limited.speed_limit_seconds == pytest.approx(1.0, abs=0.05)
    assert limited.flood_waits == 0 and limited.flood_wait_left == 0  # not a FLOOD_WAIT, no hand-off
    assert limited.calls["GetFileRequest"] == plain.calls["GetFileRequest"] + 1
    assert limited.net_busy >= 1.0 > plain.net_busy  # the wait counts as transfer time...
    assert limited.throughput < 0.75 * plain.throughput  # ...so the measured speed drops
    assert limited.speed_estimate(1.0) < 0.75 * plain.speed_estimate(1.0)  # what the scheduler sees


async def test_download_queue_limits_come_from_the_app_config() -> None:
    sim = channel()
    async with account(sim) as acc:
        limits = await acc.download_limits()
        assert limits == QueueLimits(small=5, large=2)
        assert await acc.download_limits() is limits  # asked once
    assert acc.calls["GetAppConfigRequest"] == 1
    assert (limits.for_size(20 * MiB - 1), limits.for_size(20 * MiB)) == (5, 2)
    config = types.help.AppConfig(0, types.JsonObject([
        types.JsonObjectValue("small_queue_max_active_operations_count", types.JsonNumber(7.0))]))
    assert transfer.queue_limits(config) == QueueLimits(small=7, large=2)


async def test_download_limits_are_asked_in_the_background_and_again_after_a_cancelled_ask() -> None:
    sim = channel()
    async with account(sim) as acc:
        first = acc.download_limits()  # the job starts it as the scan starts, and awaits it later
        assert acc.download_limits() is first and not first.done()
        first.cancel()
        await asyncio.sleep(0)
        assert await acc.download_limits() == QueueLimits(small=5, large=2)  # asked again
        assert acc.download_limits().done()


async def test_queue_turns_hold_the_streams_to_the_limit_and_a_large_file_waits_for_its_dc_first() -> None:
    """`Queues.use(limits, n)`: at most n files stream at once (the engine's spare slots wait in
    `Queues.turn` with their next file ready); a file of LARGE_FILE bytes or more first waits for its
    DC's large queue, holding no stream meanwhile."""
    sim = channel()
    async with account(sim) as acc:
        acc.queues.use(QueueLimits(small=2, large=1), 2)
        inside: list[str] = []
        gates = {name: asyncio.Event() for name in ("s1", "big1", "big2", "s2")}

        async def stream(name: str, size: int) -> None:
            async with acc.queues.turn(FileLocation(0, None, 4, size, 0)):
                inside.append(name)
                await gates[name].wait()
                inside.remove(name)

        tasks = [asyncio.create_task(stream(n, transfer.LARGE_FILE if n.startswith("big") else MiB)) for n in gates]
        await asyncio.sleep(0.01)
        assert inside == ["s1", "big1"]  # two streams; big2 waits for DC 4's large queue, s2 for a stream
        gates["big1"].set()
        await asyncio.sleep(0.01)
        assert sorted(inside) == ["s1", "s2"]  # the freed stream went to who waited for one: s2
        gates["s1"].set()
        await asyncio.sleep(0.01)
        assert sorted(inside) == ["big2", "s2"]  # big2, past DC 4's large queue, had the next
        gates["big2"].set()
        gates["s2"].set()
        await asyncio.gather(*tasks)


@pytest.mark.parametrize("concurrency", [None, 8])
async def test_files_in_flight_follow_the_server_queues_unless_set(tmp_path: Path, concurrency: int | None) -> None:
    """Unset, an account downloads as many files at once as the app config's small queue allows (5), and files
    of 20 MiB and more at most 2 at once per DC; MAX_CONCURRENT_DOWNLOADS_PER_CLIENT overrides both. The
    simulated server counts the files it is answering getFile for at each moment."""
    sim = SimulatedTelegram(seed=5, messages=60, first_id=1, size_scale=3.0, max_file_size=40 * MiB)
    assert sum(1 for m in sim.media_messages() if m.size >= transfer.LARGE_FILE) >= 8
    clients = {"a": sim.client("a", bandwidth=256 * MiB)}
    settings = load_settings(env_file=None, download_dir=tmp_path, log_level="WARNING",
                             max_concurrent_downloads_per_client=concurrency)
    try:
        report = await download_channel(clients, sim.channel_username, sim.first_id, None, tmp_path, settings)
    finally:
        await clients["a"].disconnect()
    assert report.ok and len(report.files) == len(sim.media_messages())
    served = sim.account("a")
    if concurrency is None:
        assert served.peak_files == 5 and 1 <= served.peak_large_files <= 2
        assert report.api_calls["a"]["GetAppConfigRequest"] == 1
    else:
        assert 5 < served.peak_files <= 8 and served.peak_large_files > 2
        assert "GetAppConfigRequest" not in report.api_calls["a"]


async def test_premium_waits_move_work_to_the_other_account(tmp_path: Path) -> None:
    """One of two equal accounts is speed-limited on every 2nd getFile: the job still downloads every
    file byte-exact, records no failure, and the limited account ends up with less of the bytes."""
    sim = SimulatedTelegram(seed=13, messages=80, first_id=1000, size_scale=0.3, max_file_size=4 * MiB,
                            faults="premium:every=2:seconds=1@c2")
    clients = {n: sim.client(n, bandwidth=8 * MiB) for n in ("c1", "c2")}
    try:
        report = await download_channel(clients, sim.channel_username, sim.first_id, None, tmp_path,
                                        load_settings(env_file=None, download_dir=tmp_path, log_level="WARNING"))
    finally:
        for c in clients.values():
            await c.disconnect()
    assert report.ok and report.failures == {}
    got: dict[str, int] = {"c1": 0, "c2": 0}
    for rec in report.downloaded:
        assert rec.sha256 == sim.file_sha256(rec.message_id)
        got[rec.client] += rec.size if rec.linked_from is None else 0
    assert got["c2"] < 0.7 * got["c1"], got


async def test_a_sender_closed_with_parts_in_flight_is_a_retry_not_a_cancellation(tmp_path: Path) -> None:
    """A connection that closes cancels the requests in flight on it (Telethon's sender cancels their
    futures): the file must retry and complete, not end its task as if it had been cancelled."""
    sim = channel(bandwidth=4 * MiB)
    m = big_file(sim, home=False, min_size=4 * MiB)
    stats = ClientStats("a")
    async with account(sim) as acc:
        fetch = asyncio.create_task(fetch_into(acc, m, tmp_path / "f", stats))
        while not acc.files.borrowed or not acc.net_bytes:
            await asyncio.sleep(0.01)
        (sender,) = acc.files._senders.values()
        await sender.disconnect()  # the DC's connection closes with parts in flight
        assert await asyncio.wait_for(fetch, 30) == sim.file_sha256(m.id)
    assert stats.errors >= 1  # the closed connection cost a retry


async def test_parts_given_up_are_counted_as_still_coming_until_drained(tmp_path: Path) -> None:
    """A stopped file (a take-over, a lost race) leaves its parts on the way: Telegram sends them anyway,
    ahead of the account's next requests, so the scheduler counts them as a wait until they drained."""
    sim = channel(bandwidth=2 * MiB)
    m = big_file(sim, min_size=4 * MiB)
    async with account(sim) as acc:
        fetch = asyncio.create_task(fetch_into(acc, m, tmp_path / "f"))
        while acc.net_bytes < MiB:
            await asyncio.sleep(0.01)
        fetch.cancel()
        await asyncio.gather(fetch, return_exceptions=True)
        given_up = acc.abandoned_bytes
        assert MiB <= given_up <= m.size - MiB  # the parts in flight beyond the first
        await asyncio.sleep(0.5)
        assert acc.abandoned_bytes < given_up - 0.5 * acc.throughput * 0.5  # drained at the measured speed
