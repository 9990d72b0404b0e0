"""`parse_channel`: every way a user names a channel, and one clear line for everything else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tgfetch.errors import ConfigError, UsageError
from tgfetch.telegram.peers import MAX_CHANNEL_ID, ChannelSpec, parse_channel

ID = 1886952950
HASH = "AdUvzFkcRpOIBAgM"


@pytest.mark.parametrize("text", [
    "@tgfetch_sim", "tgfetch_sim", "  tgfetch_sim  ", "t.me/tgfetch_sim", "https://t.me/tgfetch_sim",
    "http://www.t.me/tgfetch_sim", "telegram.me/tgfetch_sim", "https://telegram.dog/tgfetch_sim",
    "T.ME/tgfetch_sim", "t.me/s/tgfetch_sim", "t.me/tgfetch_sim/42", "t.me/tgfetch_sim/7/42?single",
    "https://t.me/tgfetch_sim#frag", "tgfetch_sim.t.me", "https://tgfetch_sim.t.me/42", "tg://resolve?domain=tgfetch_sim",
    "tg:resolve?domain=tgfetch_sim&post=5",
])
def test_usernames_and_public_links(text: str) -> None:
    spec = parse_channel(text)
    assert (spec.kind, spec.username, spec.text) == ("username", "tgfetch_sim", text)


@pytest.mark.parametrize(("text", "channel_id"), [
    (f"t.me/c/{ID}", ID), (f"https://t.me/c/{ID}/5", ID), (f"t.me/c/{ID}/3/5?thread=3", ID),
    ("t.me/c/123456789/5", 123456789), ("t.me/c/42", 42), (f"-100{ID}", ID), ("-100123456789", 123456789),
    ("-1001", 1), ("-1000000000001", 1), ("-1012345678901", 12345678901), (str(ID), ID), ("+77", 77),
    (str(MAX_CHANNEL_ID), MAX_CHANNEL_ID), (f"tg://privatepost?channel={ID}&post=4", ID), ("007", 7),
])
def test_channel_ids_of_any_length(text: str, channel_id: int) -> None:
    assert parse_channel(text) == ChannelSpec("id", text, channel_id=channel_id)


@pytest.mark.parametrize("text", [
    f"t.me/+{HASH}", f"https://t.me/+{HASH}", f"t.me/joinchat/{HASH}", f"https://telegram.me/joinchat/{HASH}/",
    f"tg://join?invite={HASH}",
])
def test_invite_links(text: str) -> None:
    assert parse_channel(text) == ChannelSpec("invite", text, invite_hash=HASH)


@pytest.mark.parametrize(("text", "phrase"), [
    ("-123456", "is a basic group (chat id 123456)"),
    ("-999999999999", "is a basic group"),
    ("99999999999999999999999999", "out of range: a channel id is a number from 1 to 997852516352"),
    (str(MAX_CHANNEL_ID + 1), "out of range"),
    ("0", "out of range"),
    ("-1000", "out of range"),
    ("-0", "out of range"),
    ("t.me/c/0", "out of range"),
    ("-" + "9" * 14, "out of range"),
    ("9" * 5000, "out of range"),
    ("t.me/c/abc", "t.me/c/ takes the channel's numeric id"),
    ("t.me/c/", "t.me/c/ takes the channel's numeric id"),
    ("t.me/c/123/abc", "may only hold message numbers"),
    ("t.me/tgfetch_sim/x", "may only hold message numbers"),
    ("t.me/+4915112345678", "is a phone number link (a user)"),
    ("tg://resolve?phone=4915112345678", "is a phone number link (a user)"),
    ("t.me/+", "is not an invite link"),
    ("t.me/joinchat/", "is not an invite link"),
    ("t.me/+ab$cd", "is not an invite link"),
    ("https://t.me/addstickers/Animals", "is not a link to a channel"),
    ("t.me/share/url?url=x", "is not a link to a channel"),
    ("www.t.me", "names no channel"),
    ("a.t.me", "is not a link to a channel"),
    ("tgfetch_sim.telegram.me", "is not a link to a channel"),
    ("tg://settings", "is not a link to a channel"),
    ("not a channel!", "is not a channel: give @username"),
    ("@abc", "is not a channel"),
    ("١٢٣", "is not a channel"),  # Arabic-Indic digits are no Telegram id
    ("   ", "is empty"),
])
def test_refused_with_one_line_naming_the_value(text: str, phrase: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_channel(text)
    message = str(info.value)
    assert info.value.exit_code == 2
    assert phrase in message, message
    assert message.startswith(f"CHANNEL={text!r} ")
    assert "\n" not in message and "invalid literal" not in message


@given(st.integers(1, MAX_CHANNEL_ID))
def test_every_channel_id_in_every_id_form(channel_id: int) -> None:
    for text in (f"t.me/c/{channel_id}/1", f"-100{channel_id}", str(channel_id),
                 str(-(1_000_000_000_000 + channel_id))):
        assert parse_channel(text).channel_id == channel_id, text


@given(st.integers(1, 999_999_999_999).filter(lambda n: not str(n).startswith("100")))
def test_every_basic_group_id_is_refused(chat_id: int) -> None:
    with pytest.raises(ConfigError, match="basic group"):
        parse_channel(f"-{chat_id}")


@settings(max_examples=400)
@given(st.one_of(
    st.text(),
    st.text(alphabet="tme./:+@-_cjoinhaps?=#0123456789abcdefgwxyz "),
    st.builds(lambda a, b: a + b, st.sampled_from(["t.me/", "https://t.me/c/", "t.me/+", "-100", "tg://", "@", ""]),
              st.text(alphabet="0123456789abcXYZ_-/+?=#.", max_size=40)),
))
def test_random_text_is_a_spec_or_one_usage_line(text: str) -> None:
    try:
        spec = parse_channel(text)
    except UsageError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("CHANNEL=")
        return
    assert spec.kind in ("username", "id", "invite")
    assert spec.kind != "id" or 1 <= spec.channel_id <= MAX_CHANNEL_ID
