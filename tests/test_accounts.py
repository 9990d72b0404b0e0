"""Issue 15: `tgfetch accounts [--check]` — one row per account, against the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tgfetch.accounts import account_rows, exit_code
from tgfetch.cli import main
from tgfetch.config import load_settings
from tgfetch.store import StateStore
from tgfetch.telegram.simulator import SimulatedTelegram

NAMES = ("alice", "bob", "carol")


async def test_rows_say_who_each_account_is_and_what_it_learned(tmp_path: Path) -> None:
    sim = SimulatedTelegram(seed=3, messages=30, more_channels=["second_chat"])
    sim.account("bob").premium, sim.account("bob").username = True, "bob_the_builder"
    sim.leave("carol")  # carol left the main channel: by id, it is not among her chats
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    for name, mode in (("alice", 0o600), ("bob", 0o644)):
        (sessions / f"{name}.session").write_bytes(b"")
        (sessions / f"{name}.session").chmod(mode)
    dest = tmp_path / "dl"
    (dest / "somechat").mkdir(parents=True)
    with StateStore.open(dest / "somechat" / ".tgfetch.sqlite", channel_id=7, channel_key="@somechat",
                         template="{message_id}") as store:
        store.save_speed("alice", 3 * 2**20, 0.25, 1)
    settings = load_settings(env_file=None, tg_sessions="alice,bob", tg_session_dir=sessions, download_dir=dest,
                             channel=f"-100{sim.channel_id},second_chat",
                             proxy="socks5://user:pw@10.1.2.3:1080", tg_proxies="bob=direct")
    clients = {n: sim.client(n) for n in NAMES}
    try:
        rows = {r.name: r for r in await account_rows(clients, settings, check=True)}
    finally:
        for c in clients.values():
            await c.disconnect()
    assert [rows[n].user_id for n in NAMES] == [sim.account(n).user_id for n in NAMES]
    assert (rows["bob"].premium, rows["bob"].username, rows["alice"].premium) == (True, "bob_the_builder", False)
    assert rows["alice"].mode == "0600" and rows["bob"].mode.startswith("0644 (others can read it")
    assert rows["alice"].proxy == "socks5 10.1.2.3:1080" and rows["bob"].proxy == ""  # never the password
    assert (rows["alice"].speed_bps, rows["alice"].file_rtt_s, rows["bob"].speed_bps) == (3 * 2**20, 0.25, None)
    assert all(r.dc == 2 and r.state == "ok" for r in rows.values())
    main_chat = f"-100{sim.channel_id}"
    assert rows["alice"].chats == {main_chat: "ok", "second_chat": "ok"}
    assert rows["carol"].chats is not None and rows["carol"].chats[main_chat].startswith("cannot")
    assert rows["carol"].chats["second_chat"] == "ok"
    assert exit_code(list(rows.values()), check=True) == 0


async def test_check_exits_3_when_no_account_sees_a_chat() -> None:
    sim = SimulatedTelegram(seed=3, messages=30)
    for n in NAMES:
        sim.leave(n)
    settings = load_settings(env_file=None, channel=f"-100{sim.channel_id}")
    clients = {n: sim.client(n) for n in NAMES}
    try:
        rows = await account_rows(clients, settings, check=True, simulated=True)
    finally:
        for c in clients.values():
            await c.disconnect()
    assert exit_code(rows, check=True) == 3 and exit_code(rows, check=False) == 0


def test_accounts_command_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                               tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["accounts", "--simulate", "--sim-clients", "2", "--check", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert exit_.value.code == 0 and [r["name"] for r in rows] == ["client1", "client2"]
    assert all(r["session"] == "simulated" and r["chats"] == {"tgfetch_sim": "ok"} for r in rows)
