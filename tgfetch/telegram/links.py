"""Message links: which chat, which message, and which part of it a user pointed at.

Forms (core.telegram.org/api/links, "Message links"):

    t.me/<username>/<id>                 a message of a public chat
    t.me/c/<channel id>/<id>             a message of a private channel (the id without -100)
    t.me/<username>/<topic>/<id>         a message in a forum topic (also under t.me/c/<id>/)
    …?single                             this one album member only (else the whole album)
    …?thread=<id>                        the message inside a discussion thread or topic
    …?comment=<id>                       a comment (an id in the linked discussion group)
    …?t=<seconds>                        a media timestamp: ignored

The chat part is parsed by `peers.parse_channel`, so every chat form it takes works here too.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from tgfetch.errors import ConfigError
from tgfetch.telegram.peers import ChannelSpec, parse_channel

__all__ = ["MAX_MESSAGE_ID", "MessageLink", "parse_message_link"]

MAX_MESSAGE_ID = 2**31 - 1  # message ids are 32-bit (core.telegram.org/type/int)
_FORMS = "t.me/name/123, t.me/c/<id>/123 or t.me/c/<id>/<topic>/123 (with ?single, ?thread=N or ?comment=N)"
_KNOWN_QUERY = {"single", "thread", "comment", "t"}


@dataclass(frozen=True)
class MessageLink:
    """One message link: the chat, the message and what the link narrows it to."""

    chat: ChannelSpec
    message_id: int
    topic_id: int | None = None  # the forum topic the message is in
    thread_id: int | None = None  # ?thread=: the discussion thread (or topic) the message is in
    comment_id: int | None = None  # ?comment=: a comment of the linked discussion group
    single: bool = False  # ?single: this album member only


def _bad(text: str, why: str) -> ConfigError:
    return ConfigError(f"link {text!r} {why}: expected {_FORMS}")


def _message_id(text: str, value: str, what: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value.lstrip("0")) > 10:
        raise _bad(text, f"has {what} {value!r}, not a message id")
    number = int(value)
    if not 1 <= number <= MAX_MESSAGE_ID:
        raise _bad(text, f"has {what} {number}, out of the message id range 1..{MAX_MESSAGE_ID}")
    return number


def _split(text: str) -> tuple[str, list[str], dict[str, list[str]]]:
    """(the link without its message part, the numbers after the chat, the query)."""
    body = text.strip().split("#", 1)[0]
    body, _, query = body.partition("?")
    parts = body.rstrip("/").split("/")
    numbers: list[str] = []
    while parts and parts[-1].isdigit() and parts[-1].isascii():
        numbers.insert(0, parts.pop())
    # t.me/c/<id>/...: the channel id is the first number after c/, not a message.
    if len(parts) >= 1 and parts[-1].lower() == "c" and numbers:
        parts.append(numbers.pop(0))
    try:
        args = urllib.parse.parse_qs(query, keep_blank_values=True, max_num_fields=8)
    except ValueError:
        raise _bad(text, "has too many ?parts") from None
    return "/".join(parts), numbers, args


def parse_message_link(text: str) -> MessageLink:
    """Parse a message link; raise ConfigError (one line) for anything else."""
    chat_part, numbers, args = _split(text)
    if not numbers or len(numbers) > 2:
        raise _bad(text, "names no message" if not numbers else "has too many numbers")
    unknown = sorted(set(args) - _KNOWN_QUERY)
    if unknown:
        raise _bad(text, f"has the unknown part ?{unknown[0]}=")
    chat = parse_channel(chat_part)
    if chat.kind == "invite":
        raise _bad(text, "is an invite link, not a message link")
    ids = [_message_id(text, n, "message") for n in numbers]
    topic = ids[0] if len(ids) == 2 else None
    thread = _one(text, args, "thread")
    comment = _one(text, args, "comment")
    if "single" in args and args["single"] != [""]:
        raise _bad(text, "has ?single with a value (it takes none)")
    return MessageLink(chat, ids[-1], topic, thread, comment, single="single" in args)


def _one(text: str, args: dict[str, list[str]], key: str) -> int | None:
    values = args.get(key)
    if values is None:
        return None
    if len(values) != 1:
        raise _bad(text, f"gives ?{key}= more than once")
    return _message_id(text, values[0], f"?{key}=")
