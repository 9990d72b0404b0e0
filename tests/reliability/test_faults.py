"""Fault matrix on the simulator: every injected Telegram fault ends with every file intact.

Complements tests/download/test_download_e2e.py (FLOOD_WAIT 5% on getFile, FILE_REFERENCE_EXPIRED
mid-file for documents and photos, soft drops on getFile, one account revoked mid-file, FILE_MIGRATE
with one account) with the methods and shapes it does not cover.  Each test counts the faults the
simulator really injected (`fired` replays each rule's seeded trigger over the calls it saw).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest
from reliability_helpers import (
    NAMES,
    expired,
    files_under,
    fired,
    run_job,
    settings_for,
    sha256_of,
    verify_report,
)

from tgfetch.download.fetch import fetch_file
from tgfetch.download.files import PartFile
from tgfetch.download.layout import STATE_FILE
from tgfetch.download.stats import ClientStats
from tgfetch.download.work import FileTask
from tgfetch.errors import TelegramAccessError
from tgfetch.model import MessageInfo
from tgfetch.telegram.clients import open_accounts
from tgfetch.telegram.simulator import SimulatedTelegram

HOME_DC = 2


def sim(faults: str, messages: int = 200, scale: float = 0.01, **kw: object) -> SimulatedTelegram:
    return SimulatedTelegram(seed=41, messages=messages, first_id=5000, size_scale=scale, faults=faults,
                             **kw)  # type: ignore[arg-type]


def calls(s: SimulatedTelegram, method: str) -> int:
    return sum(s.rpc_counts(n)[method] for n in NAMES)


# ------------------------------------------------------------------ FLOOD_WAIT


async def test_flood_wait_5pct_on_scan_and_refetch(tmp_path: Path) -> None:
    s = sim("flood:GetMessagesRequest:rate=0.05:seconds=1")
    report = await run_job(s, tmp_path / "dl", settings=settings_for(tmp_path / "dl", grouping_batch_size=4))
    n = verify_report(s, report)
    assert fired(s) >= 2, "scan and re-fetch batches must have met FLOOD_WAIT"
    assert calls(s, "GetMessagesRequest") >= 50
    print(f"\nflood 5% GetMessages: {fired(s)} floods, {calls(s, 'GetMessagesRequest')} calls, {n} files")


async def test_flood_wait_5pct_on_every_method(tmp_path: Path) -> None:
    s = sim("flood:*:rate=0.05:seconds=1")
    report = await run_job(s, tmp_path / "dl", settings=settings_for(tmp_path / "dl", grouping_batch_size=20))
    n = verify_report(s, report)
    assert fired(s) >= 5
    print(f"\nflood 5% every method: {fired(s)} floods, {n} files")


async def test_flood_wait_bursts_longer_than_telethons_retries(tmp_path: Path) -> None:
    # 8 and 6 consecutive floods: Telethon alone gives up after 6 attempts; Account.call keeps waiting.
    s = sim("flood:*:at=4:burst=8:seconds=0, flood:GetFileRequest:at=20:burst=6:seconds=1,"
            " flood:GetMessagesRequest:at=2:burst=7:seconds=0")
    report = await run_job(s, tmp_path / "dl", settings=settings_for(tmp_path / "dl", grouping_batch_size=20))
    n = verify_report(s, report)
    assert fired(s) >= 3 * (8 + 6 + 7) - 3
    print(f"\nflood bursts: {fired(s)} floods, {n} files")


async def test_flood_wait_longer_than_handoff_moves_the_work(tmp_path: Path) -> None:
    s = sim("flood:GetFileRequest:at=3:seconds=600@client2")
    t0 = time.monotonic()
    report = await run_job(s, tmp_path / "dl", bandwidth=20e6,
                           settings=settings_for(tmp_path / "dl", flood_wait_handoff_seconds=2))
    n = verify_report(s, report)
    assert time.monotonic() - t0 < 60, "the job must not wait out a 600 s FLOOD_WAIT"
    assert fired(s) == 1 and report.clients["client2"]["handoffs"] >= 1, report.clients["client2"]
    print(f"\nflood 600s on one account: handed off, {n} files")


async def test_flood_burst_at_connect_is_a_clear_access_error(tmp_path: Path) -> None:
    s = sim("flood:*:at=1:burst=6:seconds=0", messages=30)
    with pytest.raises(TelegramAccessError):
        await run_job(s, tmp_path / "dl")


async def test_long_flood_wait_at_connect_is_a_clear_access_error(tmp_path: Path) -> None:
    s = sim("flood:GetStateRequest:at=1:seconds=120", messages=30)
    with pytest.raises(TelegramAccessError):
        await run_job(s, tmp_path / "dl")


# ------------------------------------------------------------ file references


async def test_reference_that_keeps_expiring_fails_the_file_instead_of_looping(tmp_path: Path) -> None:
    # Ordinary expiries (rate=0.3, after_bytes) are proven in tests/download/test_download_e2e.py.
    s = sim("expire:every=1", messages=40, scale=0.3, max_file_size=3 << 20)
    big = [m.id for m in s.media_messages() if m.size > 1 << 20]  # more than one 1 MiB getFile part
    assert big
    report = await asyncio.wait_for(run_job(s, tmp_path / "dl", names=("solo",), bandwidth=50e6), 8)
    assert set(big) <= set(report.failures), report.failures


# ------------------------------------------------------------ dropped connections


async def test_soft_drops_on_every_method(tmp_path: Path) -> None:
    s = sim("drop:*:rate=0.04")
    report = await run_job(s, tmp_path / "dl", settings=settings_for(tmp_path / "dl", grouping_batch_size=20))
    n = verify_report(s, report)
    assert fired(s) >= 5
    print(f"\nsoft drops 4% every method: {fired(s)} drops, {n} files")


async def test_hard_drops_mid_scan_reconnect(tmp_path: Path) -> None:
    # 'hard': the client stays disconnected until connect(); Account.reconnect() brings it back.
    s = sim("drop:GetMessagesRequest:at=2:hard, drop:GetMessagesRequest:every=7:hard")
    report = await run_job(s, tmp_path / "dl", settings=settings_for(tmp_path / "dl", grouping_batch_size=5))
    n = verify_report(s, report)
    assert fired(s) >= 6
    print(f"\nhard drops mid-scan: {fired(s)} drops, {n} files")


async def test_hard_drops_mid_file_reconnect(tmp_path: Path) -> None:
    s = sim("drop:GetFileRequest:rate=0.04:hard", messages=120, scale=0.05)
    job = run_job(s, tmp_path / "dl", settings=settings_for(tmp_path / "dl", max_file_retries=2))
    report = await asyncio.wait_for(job, 10)
    verify_report(s, report)


async def test_drop_while_opening_the_channel_is_retried(tmp_path: Path) -> None:
    s = sim("drop:ResolveUsernameRequest:at=1@client2, drop:GetHistoryRequest:at=1", messages=40)
    report = await run_job(s, tmp_path / "dl")
    verify_report(s, report)


# ------------------------------------------------------------------ FILE_MIGRATE


async def test_file_migrate_when_the_known_dc_is_stale(tmp_path: Path) -> None:
    # A location that names the wrong DC gets FILE_MIGRATE_X; Telethon switches to an exported sender.
    s = sim("", messages=120, scale=0.05)
    client = s.client("solo")
    try:
        accounts, _, _ = await open_accounts({"solo": client}, s.channel_username, settings_for(tmp_path))
        acc = accounts["solo"]
        away = [m for m in s.media_messages() if m.dc_id != HOME_DC][:5]
        assert away
        await acc.fetch([m.id for m in away])
        for m in away:
            acc.locations[m.id] = dataclasses.replace(acc.locations[m.id], dc_id=HOME_DC)
            info = MessageInfo(m.id, file_size=m.size, media_type=m.kind)
            part = PartFile(tmp_path / f"{m.id}.bin")
            await fetch_file(acc, FileTask(info, Path(f"{m.id}.bin"), None, 1, ""), part, ClientStats("solo"),
                             max_retries=2)
            part.finish()
            assert sha256_of(tmp_path / f"{m.id}.bin") == s.file_sha256(m.id)
    finally:
        await client.disconnect()
    print(f"\nFILE_MIGRATE: {len(away)} files fetched through a stale DC")


# --------------------------------------------------------------- lost accounts


async def test_one_account_deactivated_mid_run(tmp_path: Path) -> None:
    s = sim("deactivate@client3:after_s=1", scale=0.05)
    report = await run_job(s, tmp_path / "dl", bandwidth=3e6)
    n = verify_report(s, report)
    assert s.account("client3").deactivated
    assert report.clients["client3"]["state"].startswith("dead"), report.clients["client3"]
    print(f"\ndeactivated mid-run: {n} files by the other two")


async def test_all_accounts_revoked_exit_3_state_kept_rerun_finishes(tmp_path: Path) -> None:
    probe = sim("", scale=0.05)
    share = probe.total_media_bytes() // 8
    faults = ",".join(f"revoke:{n}:after_bytes={share}" for n in NAMES)
    s = sim(faults, scale=0.05)
    dest = tmp_path / "dl"
    with pytest.raises(TelegramAccessError) as err:
        await run_job(s, dest, bandwidth=10e6)
    assert err.value.exit_code == 3
    assert "rerun" in str(err.value)
    assert all(s.account(n).revoked for n in NAMES)
    # State kept: done files are complete; partial files wait as .part for the rerun.
    root = dest / s.channel_username
    kept = [p for p in files_under(root) if not p.name.endswith((".part", ".json")) and STATE_FILE not in p.name]
    assert kept, "the work done before the loss must be kept"
    good = sim("", scale=0.05)
    again = await run_job(good, dest)
    n = verify_report(good, again)
    skipped = sum(1 for f in again.files if f.skipped)
    assert skipped >= len(kept) - 1
    assert sum(good.bytes_served(x) for x in NAMES) < good.total_media_bytes()
    print(f"\nall revoked: exit 3, {skipped} files kept, rerun finished {n} files")


async def test_all_accounts_revoked_during_scan_exit_3(tmp_path: Path) -> None:
    s = sim(",".join(f"revoke:{n}:after_rpcs=6" for n in NAMES))
    with pytest.raises(TelegramAccessError) as err:
        await run_job(s, tmp_path / "dl", settings=settings_for(tmp_path / "dl", grouping_batch_size=5))
    assert err.value.exit_code == 3


# -------------------------------------------------------------------- timeouts


async def test_scan_timeout_is_retried(tmp_path: Path) -> None:
    s = sim("timeout:GetMessagesRequest:at=2")
    report = await run_job(s, tmp_path / "dl", settings=settings_for(tmp_path / "dl", grouping_timeout=0.5,
                                                                      grouping_batch_size=20))
    n = verify_report(s, report)
    assert fired(s) == 3
    print(f"\nscan timeouts: {fired(s)} hung calls, {n} files")


async def test_getfile_timeout_is_retried(tmp_path: Path) -> None:
    s = sim("timeout:GetFileRequest:at=3, timeout:GetFileRequest:every=40", scale=0.03)
    report = await run_job(s, tmp_path / "dl", settings=settings_for(tmp_path / "dl", rpc_timeout=1))
    n = verify_report(s, report)
    assert fired(s) >= 3
    print(f"\ngetFile timeouts: {fired(s)} hung calls, {n} files")


# ------------------------------------------------------------------------ storm


async def test_storm_of_every_fault_at_once(tmp_path: Path) -> None:
    s = sim("flood:*:rate=0.03:seconds=1, expire:rate=0.1, drop:*:rate=0.02,"
            " drop:GetMessagesRequest:at=3:hard, timeout:GetFileRequest:every=60, revoke:client2:after_rpcs=40",
            messages=250, scale=0.03)
    report = await run_job(s, tmp_path / "dl", settings=settings_for(tmp_path / "dl", grouping_batch_size=25,
                                                                      grouping_timeout=1, rpc_timeout=1))
    n = verify_report(s, report)
    assert s.account("client2").revoked
    print(f"\nstorm: {fired(s)} flood/drop/timeout + {expired(s)} expired references + 1 revoke, {n} files")
