"""Message links (issue 14): every documented form parsed, anything else one ConfigError line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tgfetch.errors import ConfigError
from tgfetch.telegram.links import MAX_MESSAGE_ID, MessageLink, parse_message_link


@pytest.mark.parametrize(("text", "kind", "chat", "message", "topic", "thread", "comment", "single"), [
    ("t.me/durov/123", "username", "durov", 123, None, None, None, False),
    ("https://t.me/durov/123", "username", "durov", 123, None, None, None, False),
    ("@durov/5", "username", "durov", 5, None, None, None, False),
    ("https://t.me/c/1234567890/55?single", "id", 1234567890, 55, None, None, None, True),
    ("t.me/c/123456789/55", "id", 123456789, 55, None, None, None, False),
    ("t.me/c/123456789/7/99", "id", 123456789, 99, 7, None, None, False),
    ("t.me/forumname/7/99", "username", "forumname", 99, 7, None, None, False),
    ("t.me/name_1/5?comment=77", "username", "name_1", 5, None, None, 77, False),
    ("t.me/name_1/5?thread=3", "username", "name_1", 5, None, 3, None, False),
    ("t.me/name_1/5?t=30", "username", "name_1", 5, None, None, None, False),
    ("t.me/name_1/5?single&t=3#frag", "username", "name_1", 5, None, None, None, True),
    (f"t.me/name_1/{MAX_MESSAGE_ID}", "username", "name_1", MAX_MESSAGE_ID, None, None, None, False),
])
def test_message_link_forms(text: str, kind: str, chat: object, message: int, topic: int | None,
                            thread: int | None, comment: int | None, single: bool) -> None:
    link = parse_message_link(text)
    assert link.chat.kind == kind
    assert (link.chat.username if kind == "username" else link.chat.channel_id) == chat
    assert (link.message_id, link.topic_id, link.thread_id, link.comment_id, link.single) == (
        message, topic, thread, comment, single)


@pytest.mark.parametrize(("text", "said"), [
    ("t.me/name_1", "names no message"),
    ("t.me/c/1234567890", "names no message"),
    ("t.me/name_1/0", "out of the message id range"),
    (f"t.me/name_1/{MAX_MESSAGE_ID + 1}", "out of the message id range"),
    ("t.me/name_1/1/2/3", "too many numbers"),
    ("t.me/name_1/5?x=1", "unknown part ?x="),
    ("t.me/name_1/5?comment=a", "not a message id"),
    ("t.me/name_1/5?comment=1&comment=2", "more than once"),
    ("t.me/name_1/5?single=yes", "?single with a value"),
    ("t.me/+abcdef/5", "invite link"),
    ("t.me/c/abc/5", "t.me/c/"),
])
def test_bad_links_are_one_line(text: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_message_link(text)
    assert said in str(err.value) and "\n" not in str(err.value)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60),
                 st.builds(lambda a, b, q: f"t.me/{a}/{b}?{q}", st.text(max_size=12), st.text(max_size=12),
                           st.text(max_size=20))))
def test_random_links_give_a_link_or_one_error(text: str) -> None:
    try:
        assert isinstance(parse_message_link(text), MessageLink)
    except ConfigError as exc:
        assert "\n" not in str(exc)
