"""Login through Telethon's own send_code_request / sign_in, with and without 2FA."""

from __future__ import annotations

import pytest
from telethon import errors

from tgfetch.telegram.simulator import SimulatedTelegram

PHONE = "+999 555 0100"


@pytest.mark.asyncio
async def test_code_login() -> None:
    sim = SimulatedTelegram(seed=1, messages=20, size_scale=0.01, login_code="24680")
    client = sim.unauthorized_client("fresh")
    await client.connect()
    try:
        assert not await client.is_user_authorized()
        with pytest.raises(errors.AuthKeyUnregisteredError):
            await client.get_entity(sim.channel_username)
        await client.send_code_request(PHONE)
        with pytest.raises(errors.PhoneCodeInvalidError):
            await client.sign_in(PHONE, code="00000")
        me = await client.sign_in(PHONE, code="24680")
        assert me.first_name == "fresh"
        assert await client.is_user_authorized()
        chan = await client.get_entity(sim.channel_username)
        assert chan.id == sim.channel_id
    finally:
        await client.disconnect()
    authorized = sim.client("fresh")  # same account: same access hash
    await authorized.connect()
    try:
        again = await authorized.get_entity(sim.channel_username)
        assert again.access_hash == chan.access_hash
    finally:
        await authorized.disconnect()
    assert sim.rpc_counts("fresh")["SignInRequest"] == 2


@pytest.mark.asyncio
async def test_two_factor_login() -> None:
    sim = SimulatedTelegram(seed=1, messages=20, size_scale=0.01, password="hunter2")
    client = sim.unauthorized_client("guarded")
    await client.connect()
    try:
        await client.send_code_request(PHONE)
        with pytest.raises(errors.SessionPasswordNeededError):
            await client.sign_in(PHONE, code="12345")
        with pytest.raises(errors.PasswordHashInvalidError):
            await client.sign_in(password="wrong")
        me = await client.sign_in(password="hunter2")
        assert me.first_name == "guarded"
        assert (await client.get_me()).id == me.id
    finally:
        await client.disconnect()
