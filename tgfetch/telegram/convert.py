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


def _largest_photo(photo: types.Photo) -> tuple[types.PhotoSize | types.PhotoSizeProgressive, int] | None:
    """Return the photo's largest downloadable size and its bytes (None if it has only inline thumbnails)."""
    best: tuple[types.PhotoSize | types.PhotoSizeProgressive, int] | None = None
    for s in photo.sizes:
        if isinstance(s, types.PhotoSize):
            size = s.size
        elif isinstance(s, types.PhotoSizeProgressive):
            size = max(s.sizes) if s.sizes else 0
        else:
            continue  # stripped/cached/path sizes are inline thumbnails
        if best is None or size > best[1]:
            best = (s, size)
    return best


def _largest_photo_size(photo: types.Photo) -> tuple[str, int] | None:
    best = _largest_photo(photo)
    return None if best is None else (best[0].type, best[1])


def _document_fields(doc: types.Document) -> dict[str, Any]:
    """media_type, file_name, duration, width, height of a document, from its attributes.

    core.telegram.org/constructor/documentAttributeVideo (w, h, duration in seconds; `round_message`: a
    video note), /constructor/documentAttributeAudio (duration; `voice`), /constructor/documentAttributeFilename.
    """
    out: dict[str, Any] = {"media_type": "document", "file_name": None}
    for attr in doc.attributes:
        if isinstance(attr, types.DocumentAttributeFilename):
            out["file_name"] = attr.file_name
        elif isinstance(attr, types.DocumentAttributeVideo):
            out["media_type"] = "video_note" if attr.round_message else "video"
            out.update(duration=float(attr.duration), width=attr.w, height=attr.h)
        elif isinstance(attr, types.DocumentAttributeAudio):
            out["media_type"] = "voice" if attr.voice else "audio"
            out.setdefault("duration", float(attr.duration))  # a video's own duration wins
        elif isinstance(attr, types.DocumentAttributeAnimated) and out["media_type"] == "document":
            out["media_type"] = "animation"
        elif isinstance(attr, types.DocumentAttributeSticker):
            out["media_type"] = "sticker"
    return out


def _thread_fields(reply: Any) -> dict[str, Any]:
    """topic_id and reply_to from a message's reply header.

    core.telegram.org/api/forum: a forum topic's messages carry `forum_topic` and `reply_to_msg_id` = the
    topic (its creation message), or, answering a message of the topic, `reply_to_msg_id` = that message and
    `reply_to_top_id` = the topic; General's messages carry no header (topic None here: only a caller that
    knows the chat is a forum can call that topic 1). core.telegram.org/api/threads: elsewhere
    `reply_to_msg_id` is the message answered.
    """
    if not isinstance(reply, types.MessageReplyHeader):
        return {}  # none, or a story's header
    if not reply.forum_topic:
        return {"reply_to": reply.reply_to_msg_id}
    top = reply.reply_to_top_id
    return {"topic_id": top or reply.reply_to_msg_id, "reply_to": reply.reply_to_msg_id if top else None}


def to_message_info(msg: Any) -> MessageInfo | None:
    """Convert a Telethon message; None for deleted ids and service messages."""
    if msg is None or not isinstance(msg, types.Message):
        return None
    base: dict[str, Any] = {
        "message_id": msg.id,
        "media_group_id": msg.grouped_id,
        "date": msg.date,
        "caption": msg.message or "",
        "views": msg.views,
        "forwards": msg.forwards,
        **_thread_fields(msg.reply_to),
    }
    media = msg.media
    if isinstance(media, types.MessageMediaPhoto) and isinstance(media.photo, types.Photo):
        largest = _largest_photo(media.photo)
        if largest is not None:
            size, nbytes = largest
            return MessageInfo(
                **base, file_size=nbytes, mime_type="image/jpeg", media_type="photo",
                document_id=media.photo.id, dc_id=media.photo.dc_id, width=size.w, height=size.h,
            )
    if isinstance(media, types.MessageMediaDocument) and isinstance(media.document, types.Document):
        doc = media.document
        return MessageInfo(
            **base, **_document_fields(doc), file_size=doc.size, mime_type=doc.mime_type,
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
