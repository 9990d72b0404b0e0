"""Telethon Message objects → MessageInfo records and download locations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telethon.tl import types

from tgfetch.model import MessageInfo

__all__ = ["FileLocation", "to_location", "to_message_info"]


@dataclass(frozen=True, slots=True)
class FileLocation:
    """Where one message's file lives, for one account (references are per account)."""

    message_id: int
    location: Any  # InputDocumentFileLocation | InputPhotoFileLocation
    dc_id: int
    size: int
    document_id: int


def _largest_photo_size(photo: types.Photo) -> tuple[str, int] | None:
    best: tuple[str, int] | None = None
    for s in photo.sizes:
        if isinstance(s, types.PhotoSize):
            size = s.size
        elif isinstance(s, types.PhotoSizeProgressive):
            size = max(s.sizes) if s.sizes else 0
        else:
            continue  # stripped/cached/path sizes are inline thumbnails
        if best is None or size > best[1]:
            best = (s.type, size)
    return best


def _document_kind(doc: types.Document) -> tuple[str, str | None]:
    name: str | None = None
    kind = "document"
    for attr in doc.attributes:
        if isinstance(attr, types.DocumentAttributeFilename):
            name = attr.file_name
        elif isinstance(attr, types.DocumentAttributeVideo):
            kind = "video"
        elif isinstance(attr, types.DocumentAttributeAudio):
            kind = "voice" if attr.voice else "audio"
        elif isinstance(attr, types.DocumentAttributeAnimated) and kind == "document":
            kind = "animation"
        elif isinstance(attr, types.DocumentAttributeSticker):
            kind = "sticker"
    return kind, name


def to_message_info(msg: Any) -> MessageInfo | None:
    """Convert a Telethon message; None for deleted ids and service messages."""
    if msg is None or not isinstance(msg, types.Message):
        return None
    base: dict[str, Any] = {
        "message_id": msg.id,
        "media_group_id": msg.grouped_id,
        "date": msg.date,
        "caption": msg.message or "",
    }
    media = msg.media
    if isinstance(media, types.MessageMediaPhoto) and isinstance(media.photo, types.Photo):
        largest = _largest_photo_size(media.photo)
        if largest is not None:
            return MessageInfo(
                **base, file_size=largest[1], mime_type="image/jpeg", media_type="photo",
                document_id=media.photo.id, dc_id=media.photo.dc_id,
            )
    if isinstance(media, types.MessageMediaDocument) and isinstance(media.document, types.Document):
        doc = media.document
        kind, name = _document_kind(doc)
        return MessageInfo(
            **base, file_size=doc.size, file_name=name, mime_type=doc.mime_type, media_type=kind,
            document_id=doc.id, dc_id=doc.dc_id,
        )
    return MessageInfo(**base)


def to_location(msg: Any) -> FileLocation | None:
    """Build the download location of a message's file (largest photo size)."""
    if msg is None or not isinstance(msg, types.Message):
        return None
    media = msg.media
    if isinstance(media, types.MessageMediaPhoto) and isinstance(media.photo, types.Photo):
        photo = media.photo
        largest = _largest_photo_size(photo)
        if largest is None:
            return None
        loc = types.InputPhotoFileLocation(
            id=photo.id, access_hash=photo.access_hash, file_reference=photo.file_reference,
            thumb_size=largest[0],
        )
        return FileLocation(msg.id, loc, photo.dc_id, largest[1], photo.id)
    if isinstance(media, types.MessageMediaDocument) and isinstance(media.document, types.Document):
        doc = media.document
        loc = types.InputDocumentFileLocation(
            id=doc.id, access_hash=doc.access_hash, file_reference=doc.file_reference, thumb_size="",
        )
        return FileLocation(msg.id, loc, doc.dc_id, doc.size, doc.id)
    return None
