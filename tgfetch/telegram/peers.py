"""Every way a user can name a channel: parsed into a `ChannelSpec`, then found per account.

Accepted (core.telegram.org/api/links, core.telegram.org/api/bots/ids):

    @name, name                          a public username
    [https://][www.]t.me/name[/42]       also telegram.me, telegram.dog, name.t.me and t.me/s/name
    t.me/c/<id>[/<msg>]                  a private message link: the channel id, any number of digits
    -100<id>, -1001234567890             the id with the -100 prefix (bot API form)
    1234567890                           a channel id
    t.me/+HASH, t.me/joinchat/HASH       an invite link of a chat the account has joined
    tg://resolve?domain=name, tg://privatepost?channel=<id>, tg://join?invite=HASH

Refused with one line (exit 2): basic groups (-123456), users (phone links, usernames of
users), ids out of Telegram's ranges, and anything else. A channel named by id needs this
account's access hash (core.telegram.org/api/peers): the session's entity cache first, else
the account's dialogs, which list every chat it has joined.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from telethon import TelegramClient, utils
from telethon import errors as tl_errors
from telethon.tl import functions, types

from tgfetch.errors import ConfigError
from tgfetch.telegram.rpc import AccessDenied

__all__ = ["MAX_CHANNEL_ID", "ChannelSpec", "find_channel", "parse_channel"]

# core.telegram.org/api/bots/ids: MTProto channel ids are 1..997852516352, basic group (chat)
# ids 1..999999999999; bot API ids are -(1000000000000 + channel id) and -(chat id).
MAX_CHANNEL_ID = 997_852_516_352
MAX_CHAT_ID = 999_999_999_999
_BOT_API_CHANNEL = 1_000_000_000_000
DIALOGS_PAGE = 100  # core.telegram.org/method/messages.getDialogs: at most 100 dialogs per call

# core.telegram.org/api/links: t.me may also be telegram.me or telegram.dog; <username>.t.me is
# t.me/<username>/ unless the subdomain is one letter, www, or one of its reserved words. The
# same words (and bg, iv, msg) start t.me links that lead to no chat: stickers, proxies, shares...
_RESERVED = frozenset({
    "addemoji", "addlist", "addstickers", "addstyle", "addtheme", "auction", "auth", "boost", "call",
    "confirmphone", "contact", "giftcode", "invoice", "joinchat", "login", "m", "nft", "proxy",
    "setlanguage", "share", "socks", "web", "a", "k", "z", "bg", "iv", "msg", "www",
})
_LINK = re.compile(
    r"(?:https?://)?(?:www\.)?(?:(?P<sub>[a-z0-9_]+)\.)?(?P<host>t\.me|telegram\.me|telegram\.dog)(?P<rest>[/?#].*)?",
    re.IGNORECASE | re.DOTALL,
)
_TG = re.compile(r"tg:(?://)?(?P<action>[a-z]+)/?(?:\?(?P<query>.*))?", re.IGNORECASE | re.DOTALL)
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")  # 5-32 characters; 4 for collectible usernames
_DIGITS = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"[+-]?[0-9]+")
_INVITE = re.compile(r"[A-Za-z0-9_-]+")  # invite hashes are URL-safe base64
FORMS = "@username, t.me/username, t.me/c/<id>, -100<id>, a channel id or an invite link t.me/+HASH"
_NOT_A_CHANNEL = "tgfetch downloads channels and supergroups"

Kind = Literal["username", "id", "invite"]
Call = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True)
class ChannelSpec:
    """A channel as the user named it: by username, by id or by invite link."""

    kind: Kind
    text: str  # what the user gave, for messages
    username: str = ""
    channel_id: int = 0
    invite_hash: str = ""


def _bad(spec: str, why: str) -> ConfigError:
    return ConfigError(f"CHANNEL={spec!r} {why}")


def parse_channel(spec: str) -> ChannelSpec:
    """Parse a channel as a user may give it; raise ConfigError (one line) for anything else."""
    text = spec.strip()
    if not text:
        raise _bad(spec, f"is empty: give {FORMS}")
    if (link := _LINK.fullmatch(text)) is not None:
        return _from_link(spec, link)
    if (tg := _TG.fullmatch(text)) is not None:
        return _from_tg(spec, tg.group("action").lower(), tg.group("query") or "")
    if _NUMBER.fullmatch(text):
        return _from_number(spec, text)
    name = text.removeprefix("@")
    if _USERNAME.fullmatch(name):
        return ChannelSpec("username", spec, username=name)
    raise _bad(spec, f"is not a channel: give {FORMS}")


def _from_link(spec: str, link: re.Match[str]) -> ChannelSpec:
    rest = (link.group("rest") or "").split("#", 1)[0]  # the #fragment is always ignored
    path, _, _query = rest.partition("?")
    parts = [p for p in path.split("/") if p]
    sub = link.group("sub")
    if sub is not None:
        ok = link.group("host").lower() == "t.me" and sub.lower() not in _RESERVED and _USERNAME.fullmatch(sub)
        if not ok:
            raise _bad(spec, f"is not a link to a channel: give {FORMS}")
        parts = [sub, *parts]
    if not parts:
        raise _bad(spec, f"names no channel: give {FORMS}")
    head, tail = parts[0], parts[1:]
    keyword = head.lower()
    if keyword == "c":
        return _private_link(spec, tail)
    if keyword == "joinchat":
        return _invite(spec, tail[0] if tail else "")
    if head.startswith("+"):
        return _invite(spec, head[1:])
    if keyword == "s" and tail:
        head, tail = tail[0], tail[1:]
    if head.lower() in _RESERVED or not _USERNAME.fullmatch(head):
        raise _bad(spec, f"is not a link to a channel: give {FORMS}")
    _check_message_part(spec, tail)
    return ChannelSpec("username", spec, username=head)


def _private_link(spec: str, tail: list[str]) -> ChannelSpec:
    if not tail or not _DIGITS.fullmatch(tail[0]):
        raise _bad(spec, "is not a private channel link: t.me/c/ takes the channel's numeric id "
                         "(t.me/c/1234567890 or t.me/c/1234567890/42)")
    _check_message_part(spec, tail[1:])
    return _by_id(spec, tail[0])


def _check_message_part(spec: str, tail: list[str]) -> None:
    # t.me/<channel>/<id> and topic links t.me/<channel>/<topic>/<id>: numbers only; tgfetch ignores them.
    if not all(_DIGITS.fullmatch(p) for p in tail):
        raise _bad(spec, "is not a channel link: after the channel a link may only hold message numbers "
                         "(t.me/name/42)")


def _invite(spec: str, value: str) -> ChannelSpec:
    # core.telegram.org/api/links: t.me/+<phone_number> is a phone number link (a user), t.me/+<hash> an invite.
    if _DIGITS.fullmatch(value):
        raise _bad(spec, f"is a phone number link (a user), not a channel: {_NOT_A_CHANNEL}")
    if not _INVITE.fullmatch(value):
        raise _bad(spec, "is not an invite link: expected t.me/+HASH or t.me/joinchat/HASH "
                         "(letters, digits, - and _)")
    return ChannelSpec("invite", spec, invite_hash=value)


def _from_tg(spec: str, action: str, query: str) -> ChannelSpec:
    args = {k: v[0] for k, v in urllib.parse.parse_qs(query.split("#", 1)[0]).items()}
    if action == "resolve" and "phone" in args:
        raise _bad(spec, f"is a phone number link (a user), not a channel: {_NOT_A_CHANNEL}")
    if action == "resolve" and _USERNAME.fullmatch(args.get("domain", "")):
        return ChannelSpec("username", spec, username=args["domain"])
    if action == "join" and args.get("invite"):
        return _invite(spec, args["invite"])
    if action == "privatepost" and _DIGITS.fullmatch(args.get("channel", "")):
        return _by_id(spec, args["channel"])
    raise _bad(spec, f"is not a link to a channel: give {FORMS}")


def _from_number(spec: str, text: str) -> ChannelSpec:
    if text.startswith("-100") and len(text) > 4:
        # -100 then the channel id, of any length as in t.me/c/<id>. For the 10-digit ids of today this
        # is the bot API id; it shadows basic groups whose id starts with 100, which tgfetch refuses anyway.
        return _by_id(spec, text[4:])
    if not text.startswith("-"):
        return _by_id(spec, text.lstrip("+"))
    digits = text[1:]
    if len(digits) > 13:
        raise _out_of_range(spec)
    value = int(digits)
    if value == 0:
        raise _out_of_range(spec)
    if value <= MAX_CHAT_ID:
        raise _bad(spec, f"is a basic group (chat id {value}), not a channel: {_NOT_A_CHANNEL} "
                         "(their ids start with -100)")
    return _by_id(spec, str(value - _BOT_API_CHANNEL))  # a bot API id beyond the -100 prefix


def _by_id(spec: str, digits: str) -> ChannelSpec:
    # len() first: int() of thousands of digits is slow, and Python refuses more than 4300.
    if len(digits.lstrip("0")) > len(str(MAX_CHANNEL_ID)):
        raise _out_of_range(spec)
    value = int(digits)
    if not 1 <= value <= MAX_CHANNEL_ID:
        raise _out_of_range(spec)
    return ChannelSpec("id", spec, channel_id=value)


def _out_of_range(spec: str) -> ConfigError:
    return _bad(spec, f"is out of range: a channel id is a number from 1 to {MAX_CHANNEL_ID}")


# -- finding the channel with one account ------------------------------------------------------


async def find_channel(client: TelegramClient, call: Call, spec: ChannelSpec) -> Any:
    """Return the Channel named by `spec` as this account sees it (with its own access hash)."""
    if spec.kind == "username":
        return await _by_username(call, spec)
    if spec.kind == "invite":
        return await _by_invite(call, spec)
    return await _by_channel_id(client, call, spec)


def _usable(spec: ChannelSpec, chat: Any) -> Any:
    """Return `chat` if it is a channel or supergroup; refuse anything else with one line."""
    if isinstance(chat, types.Channel):
        return chat
    if chat is None:
        raise AccessDenied("Telegram returned no chat for it")
    if isinstance(chat, types.ChannelForbidden):
        raise AccessDenied("the account was banned from it, or it is private and the account left it")
    if isinstance(chat, types.Chat | types.ChatForbidden | types.ChatEmpty):
        raise _bad(spec.text, f"is a basic group, not a channel: {_NOT_A_CHANNEL}")
    raise AccessDenied(f"Telegram answered {type(chat).__name__} for it")


async def _by_username(call: Call, spec: ChannelSpec) -> Any:
    try:
        res = await call(functions.contacts.ResolveUsernameRequest(spec.username))
    except AccessDenied as exc:
        if "UsernameNotOccupied" in str(exc):
            raise AccessDenied(f"no chat has the username @{spec.username}") from None
        raise
    if isinstance(res.peer, types.PeerUser):
        raise _bad(spec.text, f"is a user, not a channel: {_NOT_A_CHANNEL}")
    chat_id = utils.get_peer_id(res.peer, add_mark=False)
    return _usable(spec, next((c for c in res.chats if c.id == chat_id), None))


async def _by_invite(call: Call, spec: ChannelSpec) -> Any:
    # core.telegram.org/method/messages.checkChatInvite: chatInviteAlready for a member,
    # chatInvite (a preview) otherwise, chatInvitePeek when the link lets one read without joining.
    try:
        invite = await call(functions.messages.CheckChatInviteRequest(spec.invite_hash))
    except (tl_errors.InviteHashInvalidError, tl_errors.InviteHashEmptyError):
        raise _bad(spec.text, "is not a valid invite link (INVITE_HASH_INVALID): check that it was copied "
                              "whole") from None
    except tl_errors.InviteHashExpiredError:
        raise AccessDenied("the invite link expired or was revoked (INVITE_HASH_EXPIRED); ask for a new one") from None
    if isinstance(invite, types.ChatInviteAlready | types.ChatInvitePeek):
        return _usable(spec, invite.chat)
    if not invite.channel:
        raise _bad(spec.text, f"leads to a basic group, not a channel: {_NOT_A_CHANNEL}")
    raise AccessDenied("not a member of the chat behind that invite link; join it first")


async def _by_channel_id(client: TelegramClient, call: Call, spec: ChannelSpec) -> Any:
    # core.telegram.org/api/peers: an InputChannel needs this account's access hash; it comes from
    # a constructor the account received before (the session keeps them) or from its dialogs.
    cached = await _cached_input_channel(client, spec.channel_id)
    if cached is not None:
        try:
            res = await call(functions.channels.GetChannelsRequest([cached]))
            return _usable(spec, res.chats[0])
        except AccessDenied:
            pass  # a stale access hash: the dialogs have the current one
    found = await _in_dialogs(call, spec.channel_id)
    if found is None:
        raise AccessDenied(f"channel {spec.channel_id} is not among this account's chats: join it, "
                           "or give its @username or an invite link")
    return _usable(spec, found)


async def _cached_input_channel(client: TelegramClient, channel_id: int) -> Any:
    try:
        peer = await utils.maybe_async(client.session.get_input_entity(types.PeerChannel(channel_id)))
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(peer, types.InputPeerChannel) and peer.access_hash:
        return types.InputChannel(peer.channel_id, peer.access_hash)
    return None


async def _in_dialogs(call: Call, channel_id: int) -> Any:
    """Page through the account's dialogs (core.telegram.org/api/offsets) for the channel; None if absent."""
    request = functions.messages.GetDialogsRequest(
        offset_date=None, offset_id=0, offset_peer=types.InputPeerEmpty(), limit=DIALOGS_PAGE, hash=0)
    seen = 0
    while True:
        page = await call(request)
        if isinstance(page, types.messages.DialogsNotModified):
            return None
        joined = {d.peer.channel_id for d in page.dialogs if isinstance(d.peer, types.PeerChannel)}
        if channel_id in joined:
            return next((c for c in page.chats if c.id == channel_id and not getattr(c, "min", False)), None)
        seen += len(page.dialogs)
        if not isinstance(page, types.messages.DialogsSlice) or not page.dialogs or seen >= page.count:
            return None
        nxt = _next_page(page)
        if nxt is None or (nxt.offset_date, nxt.offset_id) == (request.offset_date, request.offset_id):
            return None
        request = nxt


def _next_page(page: Any) -> Any:
    """Return the request for the dialogs after `page`: offsets from its last dialog's top message."""
    last = page.dialogs[-1]
    message = next((m for m in page.messages if m.id == last.top_message and m.peer_id == last.peer), None)
    entities = {utils.get_peer_id(e): e for e in [*page.chats, *page.users]}
    entity = entities.get(utils.get_peer_id(last.peer))
    if message is None or entity is None:
        return None
    return functions.messages.GetDialogsRequest(
        offset_date=message.date, offset_id=message.id, offset_peer=utils.get_input_peer(entity),
        limit=DIALOGS_PAGE, hash=0, exclude_pinned=True)
