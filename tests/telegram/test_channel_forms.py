"""Every way to name a channel, against the simulator: accepted, or refused with one line and the right exit code.

The real CLI runs in-process (`tgfetch plan --simulate --channel FORM`); where a test needs the
simulator itself (a short channel id, an account that left, counted requests) it calls
`scan_channel`/`open_accounts` with real Telethon clients of a `SimulatedTelegram`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from telegram_helpers import sim_clients

from tgfetch.cli import main
from tgfetch.config import load_settings
from tgfetch.errors import NetworkError, TelegramAccessError
from tgfetch.job import scan_channel
from tgfetch.telegram.clients import open_accounts
from tgfetch.telegram.simulator import SimulatedTelegram

SEED = 24  # passed as --sim-seed, so the CLI builds the same channel as `CLI_SIM`
CLI_SIM = SimulatedTelegram(seed=SEED, messages=1)  # only for its channel id and invite hash
ID, HASH, NAME = CLI_SIM.channel_id, CLI_SIM.invite_hash, CLI_SIM.channel_username
SHORT_ID = 123456789  # a 9-digit private id: "-100" + it is not a 13-digit bot API id


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    """`main` installs log handlers on stderr; put the previous ones back afterwards."""
    root = logging.getLogger()
    before = list(root.handlers)
    yield
    root.handlers[:] = before


def plan(capsys: pytest.CaptureFixture[str], channel: str, *extra: str) -> tuple[int, str, str]:
    """Run `tgfetch plan --simulate --channel CHANNEL` in-process; return the exit code, stdout, stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["plan", "--simulate", "--sim-seed", str(SEED), "--sim-messages", "60", "--sim-clients", "2",
              "--channel", channel, *extra])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def one_error_line(err: str) -> str:
    """Return stderr's only line, checking it is tgfetch's one-line error."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tgfetch: error:") and "internal error" not in lines[0], lines[0]
    return lines[0]


# -- accepted forms, through the CLI ---------------------------------------------------------------


@pytest.mark.parametrize("form", [
    f"t.me/c/{ID}", f"https://t.me/c/{ID}/72010", f"t.me/c/{ID}/5/72010?thread=5", f"-100{ID}", str(ID),
    f"tg://privatepost?channel={ID}&post=3",
    f"t.me/+{HASH}", f"https://t.me/joinchat/{HASH}", f"tg://join?invite={HASH}",
])
def test_channel_by_id_or_invite_link_plans(capsys: pytest.CaptureFixture[str], form: str) -> None:
    code, out, err = plan(capsys, form)
    assert code == 0, err
    assert "albums kept whole" in out and "tgfetch: error" not in err


def test_every_username_form_plans(capsys: pytest.CaptureFixture[str]) -> None:
    forms = [f"@{NAME}", NAME, f"t.me/{NAME}", f"https://t.me/{NAME}", f"telegram.me/{NAME}", f"t.me/s/{NAME}",
             f"https://t.me/{NAME}/72010", f"https://{NAME}.t.me", f"tg://resolve?domain={NAME}",
             f"https://telegram.dog/{NAME}"]
    for form in forms:
        code, out, err = plan(capsys, form)
        assert code == 0, (form, err)
        assert "albums kept whole" in out, form


# -- refused forms, through the CLI ----------------------------------------------------------------


@pytest.mark.parametrize(("form", "code", "phrase"), [
    ("-123456", 2, "is a basic group (chat id 123456), not a channel: tgfetch downloads channels and supergroups"),
    ("99999999999999999999999999", 2, "out of range: a channel id is a number from 1 to 997852516352"),
    ("-1000", 2, "out of range"),
    ("t.me/c/0/5", 2, "out of range"),
    ("t.me/c/abc", 2, "t.me/c/ takes the channel's numeric id"),
    ("t.me/+4915112345678", 2, "is a phone number link (a user), not a channel"),
    ("https://t.me/addstickers/Animals", 2, "is not a link to a channel"),
    (SimulatedTelegram.public_user, 2, "is a user, not a channel: tgfetch downloads channels and supergroups"),
    ("t.me/+AAAAwrongHash0000", 2, "is not a valid invite link (INVITE_HASH_INVALID)"),
    (f"t.me/c/{SHORT_ID}/5", 3, f"channel {SHORT_ID} is not among this account's chats"),
    (f"-100{SHORT_ID}", 3, f"channel {SHORT_ID} is not among this account's chats"),
    ("no_such_channel", 3, "no chat has the username @no_such_channel"),
])
def test_refused_forms_exit_with_one_line(capsys: pytest.CaptureFixture[str], form: str, code: int,
                                          phrase: str) -> None:
    got, out, err = plan(capsys, form)
    line = one_error_line(err)
    assert got == code, line
    assert phrase in line and repr(form) in line, line
    assert out == ""


# -- resolving against the simulator directly -----------------------------------------------------


async def test_short_private_id_resolves_through_the_dialogs_then_the_session_cache() -> None:
    sim = SimulatedTelegram(seed=3, messages=80, size_scale=0.01, channel_id=SHORT_ID)
    settings = load_settings(env_file=None)
    async with sim_clients(sim, ("c1", "c2")) as clients:
        res = await scan_channel(clients, f"t.me/c/{SHORT_ID}/5", None, None, settings)
        assert res.channel.channel_id == SHORT_ID and len(res.messages) > 0
        # 150 other chats, two thirds of them newer: the channel is the 101st dialog, on the second page.
        assert [sim.rpc_counts(n)["GetDialogsRequest"] for n in clients] == [2, 2]
        _, ref, _ = await open_accounts(clients, f"-100{SHORT_ID}", settings)
        assert ref.channel_id == SHORT_ID
        assert [sim.rpc_counts(n)["GetDialogsRequest"] for n in clients] == [2, 2]  # the session knew it


@pytest.mark.parametrize(("others", "pages"), [(0, 1), (99, 1), (150, 2), (450, 4)])
async def test_dialogs_are_paged_until_the_channel(others: int, pages: int) -> None:
    sim = SimulatedTelegram(seed=4, messages=40, size_scale=0.01, other_dialogs=others)
    async with sim_clients(sim, ("c1",)) as clients:
        _, ref, _ = await open_accounts(clients, str(sim.channel_id), load_settings(env_file=None))
    assert ref.channel_id == sim.channel_id and ref.username == sim.channel_username
    assert sim.rpc_counts("c1")["GetDialogsRequest"] == pages


async def test_account_that_left_is_named_and_every_dialog_page_was_read() -> None:
    sim = SimulatedTelegram(seed=5, messages=40, size_scale=0.01, other_dialogs=250)
    sim.leave("c2")
    async with sim_clients(sim, ("c1", "c2")) as clients:
        with pytest.raises(TelegramAccessError) as info:
            await open_accounts(clients, f"t.me/c/{sim.channel_id}", load_settings(env_file=None))
    assert info.value.exit_code == 3
    assert "account c2" in str(info.value) and "is not among this account's chats" in str(info.value)
    assert sim.rpc_counts("c2")["GetDialogsRequest"] == 3  # 250 dialogs: pages of 100, 100, 50


async def test_invite_link_of_a_chat_not_joined_says_join_it_first() -> None:
    sim = SimulatedTelegram(seed=6, messages=40, size_scale=0.01)
    sim.leave("c1")
    async with sim_clients(sim, ("c1", "c2")) as clients:
        with pytest.raises(TelegramAccessError) as info:
            await open_accounts(clients, f"https://t.me/+{sim.invite_hash}", load_settings(env_file=None))
    assert info.value.exit_code == 3
    assert "account c1" in str(info.value)
    assert "not a member of the chat behind that invite link; join it first" in str(info.value)


async def test_revoked_invite_link_is_expired_and_the_new_one_works() -> None:
    sim = SimulatedTelegram(seed=6, messages=40, size_scale=0.01)
    old = sim.invite_hash
    new = sim.revoke_invite()
    settings = load_settings(env_file=None)
    async with sim_clients(sim, ("c1",)) as clients:
        with pytest.raises(TelegramAccessError, match="INVITE_HASH_EXPIRED") as info:
            await open_accounts(clients, f"t.me/joinchat/{old}", settings)
        assert info.value.exit_code == 3 and "ask for a new one" in str(info.value)
        _, ref, _ = await open_accounts(clients, f"t.me/+{new}", settings)
    assert new != old and ref.channel_id == sim.channel_id


# -- network failures: exit 4 after the retries, authorization stays exit 3 -------------------------


@pytest.mark.parametrize(("faults", "form", "phrase"), [
    ("timeout:ResolveUsernameRequest:rate=1", NAME, f"cannot resolve channel '{NAME}': no answer within 0.2s"),
    ("drop:ResolveUsernameRequest:rate=1:hard", NAME, f"cannot resolve channel '{NAME}': the connection dropped"),
    ("timeout:GetDialogsRequest:rate=1", str(ID), f"cannot resolve channel '{ID}': no answer within 0.2s"),
    ("drop:CheckChatInviteRequest:rate=1", f"t.me/+{HASH}", "the connection dropped"),
    ("timeout:GetConfigRequest:rate=1", NAME, "cannot reach Telegram (DC 2 at "),
    ("drop:GetConfigRequest:rate=1:hard", NAME, "cannot reach Telegram (DC 2 at "),
    ("timeout:GetHistoryRequest:rate=1", NAME, f"cannot read @{NAME}: no answer within 0.2s"),
])
def test_unreachable_telegram_is_exit_4(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                        faults: str, form: str, phrase: str) -> None:
    monkeypatch.setenv("RPC_TIMEOUT", "0.2")
    monkeypatch.setenv("GROUPING_TIMEOUT", "0.2")
    monkeypatch.setenv("GROUPING_MAX_RETRIES", "1")
    code, out, err = plan(capsys, form, "--sim-faults", faults)
    line = one_error_line(err)
    assert code == 4, line
    assert "account client" in line and phrase in line and "(2 attempts;" in line, line


async def test_resolve_is_retried_before_exit_4_and_names_the_account() -> None:
    sim = SimulatedTelegram(seed=8, messages=40, size_scale=0.01, faults="timeout:ResolveUsernameRequest:rate=1@c2")
    settings = load_settings(env_file=None, rpc_timeout=0.2, grouping_max_retries=2)
    async with sim_clients(sim, ("c1", "c2")) as clients:
        with pytest.raises(NetworkError) as info:
            await open_accounts(clients, sim.channel_username, settings)
    assert info.value.exit_code == 4
    assert "account c2" in str(info.value) and "(3 attempts;" in str(info.value)
    assert sim.rpc_counts("c2")["ResolveUsernameRequest"] == 3
    assert sim.rpc_counts("c1")["ResolveUsernameRequest"] == 1


async def test_a_connection_that_fails_once_is_retried() -> None:
    sim = SimulatedTelegram(seed=9, messages=40, size_scale=0.01, faults="drop:GetConfigRequest:at=1:hard")
    async with sim_clients(sim, ("c1", "c2")) as clients:
        res = await scan_channel(clients, sim.channel_username, None, None, load_settings(env_file=None))
    assert len(res.messages) > 0
    assert all(sim.rpc_counts(n)["GetConfigRequest"] >= 2 for n in ("c1", "c2"))


async def test_revoked_session_stays_exit_3_while_another_times_out() -> None:
    sim = SimulatedTelegram(seed=10, messages=40, size_scale=0.01, faults="timeout:GetConfigRequest:rate=1@c1")
    sim.revoke("c2")
    settings = load_settings(env_file=None, rpc_timeout=0.2, grouping_max_retries=1)
    async with sim_clients(sim, ("c2",)) as clients:
        with pytest.raises(TelegramAccessError) as info:
            await open_accounts(clients, sim.channel_username, settings)
    assert info.value.exit_code == 3 and "account c2" in str(info.value)
    async with sim_clients(sim, ("c1",)) as clients:
        with pytest.raises(NetworkError) as net:
            await open_accounts(clients, sim.channel_username, settings)
    assert net.value.exit_code == 4 and "account c1: cannot reach Telegram" in str(net.value)
