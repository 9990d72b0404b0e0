"""Build real Telethon TL objects for the simulated channel, as one account sees it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from telethon.tl import types

from .accounts import Account
from .content import PHOTO_SIZES, SimMessage, derive_int, media_shape, post_forwards, post_views

THUMB_TYPES = ("s", "m")
_THUMB_CAP = {"s": 1_500, "m": 18_000}
_CREATED = dt.datetime(2022, 6, 1, tzinfo=dt.UTC)


def thumb_size(kind: str, full: int) -> int:
    """Return the byte size of a photo's small thumbnail `kind` ('s' or 'm')."""
    return max(1, min(_THUMB_CAP[kind], full // (12 if kind == "s" else 3)))


def thumb_key(doc_id: int, kind: str) -> int:
    """Return the byte-source key of a photo thumbnail."""
    return derive_int("thumb", doc_id, kind, bits=64)


def doc_access_hash(seed: int, doc_id: int) -> int:
    """Return the access hash of a document or photo."""
    return derive_int("doc_hash", seed, doc_id)


class Builder:
    """Turn SimMessages into TL objects (Message, Document, Photo, Channel, User)."""

    megagroup = False  # a broadcast channel; a subclass may host a supergroup

    def __init__(self, seed: int, channel_id: int, username: str, title: str) -> None:
        self.seed = seed
        self.channel_id = channel_id
        self.username = username
        self.title = title
        self.peer = types.PeerChannel(channel_id)

    def access_hash(self, account: Account) -> int:
        """Return `account`'s access hash of the channel (core.telegram.org/api/peers: one per account)."""
        return account.channel_access_hash

    def channel(self, account: Account) -> types.Channel:
        """Return the channel with this account's access hash."""
        return types.Channel(
            id=self.channel_id,
            title=self.title,
            photo=types.ChatPhotoEmpty(),
            date=_CREATED,
            broadcast=True,
            access_hash=self.access_hash(account),
            username=self.username,
            participants_count=1234,
        )

    def related_users(self, account: Account, messages: Sequence[Any]) -> list[types.User]:
        """Return the users an answer carrying `messages` lists (channel posts have no sender: none)."""
        return []

    def user(self, account: Account) -> types.User:
        """Return the account's own user object."""
        return types.User(
            id=account.user_id,
            is_self=True,
            access_hash=account.user_access_hash,
            first_name=account.name,
            phone=account.phone,
            username=account.username,
            premium=account.premium,
        )

    def public_user(self, account: Account, username: str) -> types.User:
        """Return a user with a public username, as `account` sees it."""
        return types.User(
            id=1_000 + derive_int("public_user", self.seed, bits=20),
            access_hash=derive_int("public_user_hash", self.seed, account.name),
            first_name="Simulated user",
            username=username,
        )

    def message(self, msg: SimMessage | None, msg_id: int, account: Account) -> Any:
        """Return Message / MessageService / MessageEmpty for `msg_id`."""
        if msg is None or msg.kind == "deleted":
            return types.MessageEmpty(id=msg_id, peer_id=self.peer)
        if msg.kind == "service":
            return types.MessageService(
                id=msg.id,
                peer_id=self.peer,
                date=msg.date,
                post=True,
                action=types.MessageActionChatEditTitle(title=f"{self.title} #{msg.id}"),
            )
        media: Any = None
        if msg.kind == "photo":
            media = types.MessageMediaPhoto(photo=self.photo(msg, account))
        elif msg.is_media:
            media = types.MessageMediaDocument(document=self.document(msg, account))
        return types.Message(
            id=msg.id,
            peer_id=self.peer,
            date=msg.date,
            message=msg.caption,
            post=True,
            media=media,
            grouped_id=msg.grouped_id,
            views=post_views(msg.id),
            forwards=post_forwards(msg.id),
        )

    def document(self, msg: SimMessage, account: Account) -> types.Document:
        """Return the Document of a video/document/audio message."""
        assert msg.doc_id is not None and msg.mime_type is not None
        attrs: list[Any] = []
        duration, w, h = media_shape(msg)
        if msg.kind == "video":
            attrs.append(types.DocumentAttributeVideo(duration=duration, w=w, h=h, supports_streaming=True))
        elif msg.kind == "audio":
            attrs.append(types.DocumentAttributeAudio(duration=int(duration or 0), title=f"Track {msg.id}",
                                                      performer="Sim"))
        if msg.file_name is not None:
            attrs.append(types.DocumentAttributeFilename(file_name=msg.file_name))
        return types.Document(
            id=msg.doc_id,
            access_hash=doc_access_hash(self.seed, msg.doc_id),
            file_reference=account.file_reference(msg.doc_id),
            date=msg.date,
            mime_type=msg.mime_type,
            size=msg.size,
            dc_id=msg.dc_id,
            attributes=attrs,
        )

    def photo(self, msg: SimMessage, account: Account) -> types.Photo:
        """Return the Photo of a photo message; the largest size holds the file."""
        assert msg.doc_id is not None
        full = msg.size
        (s, sw, sh), (m, mw, mh), (y, yw, yh) = PHOTO_SIZES
        sizes: list[Any] = [
            types.PhotoSize(type=s, w=sw, h=sh, size=thumb_size(s, full)),
            types.PhotoSize(type=m, w=mw, h=mh, size=thumb_size(m, full)),
        ]
        if msg.id % 2:
            steps = sorted({max(1, full // 8), max(1, full // 3), max(1, full // 2), full})
            sizes.append(types.PhotoSizeProgressive(type=y, w=yw, h=yh, sizes=steps))
        else:
            sizes.append(types.PhotoSize(type=y, w=yw, h=yh, size=full))
        return types.Photo(
            id=msg.doc_id,
            access_hash=doc_access_hash(self.seed, msg.doc_id),
            file_reference=account.file_reference(msg.doc_id),
            date=msg.date,
            sizes=sizes,
            dc_id=msg.dc_id,
        )
