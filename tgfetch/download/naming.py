"""File names and paths for downloaded media; names from Telegram are hostile input.

Every path component is valid on Linux and Windows, at most 255 UTF-8 bytes,
and a path built here can never leave the output directory.  The file
component itself is kept to `MAX_FILE_NAME_BYTES` so that the engine's
`.part` and `.json` siblings still fit in 255 bytes.
"""

from __future__ import annotations

import functools
import mimetypes
import re
import string
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tgfetch.model import MessageInfo

__all__ = [
    "DEFAULT_TEMPLATE",
    "MAX_COMPONENT_BYTES",
    "MAX_FILE_NAME_BYTES",
    "guess_extension",
    "relative_path",
    "safe_join",
    "sanitize_component",
]

DEFAULT_TEMPLATE = "{message_id}_{file_name}"
MAX_COMPONENT_BYTES = 255
# Room for the longest suffix the engine appends (".part", ".json").
MAX_FILE_NAME_BYTES = MAX_COMPONENT_BYTES - 5

_FORBIDDEN = frozenset('/\\:*?"<>|')
_BIDI = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)] + ["\u200e", "\u200f", "\u061c"]
)
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"]
    + [f"{p}{d}" for p in ("COM", "LPT") for d in "123456789\u00b9\u00b2\u00b3"]
)
_MAX_EXT_BYTES = 16
_EXT_RE = re.compile(r"\.[A-Za-z0-9]{1,10}")
_FIELDS = ("message_id", "date", "album_id", "index", "file_name", "ext", "media_type")

_MIME_EXT: dict[str, str] = {
    "application/octet-stream": "",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/mp4": ".m4a",
    "audio/x-m4a": ".m4a",
    "audio/m4a": ".m4a",
    "audio/aac": ".aac",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "application/ogg": ".ogg",
    "application/x-tgsticker": ".tgs",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/x-zip-compressed": ".zip",
    "application/x-rar-compressed": ".rar",
    "application/vnd.rar": ".rar",
    "application/x-7z-compressed": ".7z",
    "application/gzip": ".gz",
    "text/plain": ".txt",
}

_MEDIA_EXT: dict[str, str] = {
    "photo": ".jpg",
    "video": ".mp4",
    "animation": ".mp4",
    "gif": ".mp4",
    "video_note": ".mp4",
    "round": ".mp4",
    "voice": ".ogg",
    "audio": ".mp3",
    "sticker": ".webp",
}


# --------------------------------------------------------------------------- sanitizing


def _is_bad_char(c: str) -> bool:
    """Tell whether a character must be replaced in a file name."""
    o = ord(c)
    return c in _FORBIDDEN or o < 0x20 or 0x7F <= o <= 0x9F or 0xD800 <= o <= 0xDFFF


def _clean_chars(text: str) -> str:
    """Drop bidi controls, NFC-normalize and replace forbidden characters by '_'."""
    text = "".join("_" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text if c not in _BIDI)
    text = unicodedata.normalize("NFC", text)
    return "".join("_" if _is_bad_char(c) else c for c in text)


def _strip(text: str) -> str:
    """Remove leading whitespace and trailing whitespace and dots."""
    text = text.lstrip()
    while text and (text[-1] == "." or text[-1].isspace()):
        text = text[:-1]
    return text


def _cut(text: str, max_bytes: int) -> str:
    """Cut text to at most max_bytes UTF-8 bytes on a character boundary."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[: max(max_bytes, 0)].decode("utf-8", errors="ignore")


def _nbytes(text: str) -> int:
    """Return the UTF-8 length of text."""
    return len(text.encode("utf-8"))


def _split_ext(name: str) -> tuple[str, str]:
    """Split a short, sane extension off a name ('a.tar.gz' -> ('a.tar', '.gz'))."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not ext or _nbytes(ext) + 1 > _MAX_EXT_BYTES:
        return name, ""
    if not all(c.isalnum() for c in ext):
        return name, ""
    return stem, "." + ext


def _truncate(name: str, max_bytes: int) -> str:
    """Shorten name to max_bytes, keeping its extension when possible."""
    if _nbytes(name) <= max_bytes:
        return name
    stem, ext = _split_ext(name)
    if ext and _nbytes(ext) < max_bytes:
        short = _strip(_cut(stem, max_bytes - _nbytes(ext)))
        if short:
            return short + ext
    return _strip(_cut(name, max_bytes))


def _is_reserved(name: str) -> bool:
    """Tell whether Windows reserves this name (with any extension)."""
    return name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED


def _sanitize(name: str, max_bytes: int) -> str:
    """Return a valid component, or '' when nothing usable is left."""
    text = _truncate(_strip(_clean_chars(name)), max_bytes)
    if text and _is_reserved(text):
        text = _truncate("_" + text, max_bytes)
    return "" if text in {".", ".."} else text


def sanitize_component(name: str, *, max_bytes: int = 255, fallback: str = "file") -> str:
    """Turn any string into one path component valid on Linux and Windows."""
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
    return _sanitize(name, max_bytes) or _sanitize(fallback, max_bytes) or "_"


# --------------------------------------------------------------------------- extensions


def guess_extension(mime_type: str | None, media_type: str | None) -> str:
    """Return a file extension with its dot (or '') for a MIME and media type."""
    if media_type == "photo":
        return ".jpg"
    mime = (mime_type or "").split(";", 1)[0].strip().lower()
    if mime in _MIME_EXT:
        return _MIME_EXT[mime]
    if mime:
        guessed = mimetypes.guess_extension(mime, strict=False)
        if guessed and _EXT_RE.fullmatch(guessed):
            return guessed
    return _MEDIA_EXT.get((media_type or "").lower(), "")


# --------------------------------------------------------------------------- templates


@dataclass
class _Seg:
    """A piece of one path component: literal text or a rendered field."""

    text: str
    kind: str  # "lit", "id", "prefix", "file_name", or another field name


def _format_date(info: MessageInfo) -> str:
    """Render the message date as YYYY-MM-DD_HH-MM-SS, or 'nodate'."""
    d = info.date
    if d is None:
        return "nodate"
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}_{d.hour:02d}-{d.minute:02d}-{d.second:02d}"


def _file_name_and_ext(info: MessageInfo) -> tuple[str, str]:
    """Return the sanitized file name and its extension (from the name or the MIME)."""
    name = _sanitize(info.file_name or "", MAX_FILE_NAME_BYTES)
    ext = _split_ext(name)[1] if name else ""
    if not ext:
        ext = _clean_chars(guess_extension(info.mime_type, info.media_type))
    if not name:
        kind = _clean_chars(info.media_type or "") or "file"
        name = _sanitize(f"{kind}_{info.message_id}{ext}", MAX_FILE_NAME_BYTES)
    return name, ext


def _field_values(info: MessageInfo, album_index: int | None) -> dict[str, object]:
    """Return every template field's raw value for one message."""
    name, ext = _file_name_and_ext(info)
    gid = info.media_group_id
    return {
        "message_id": info.message_id,
        "date": _format_date(info),
        "album_id": "single" if gid is None else str(gid),
        "index": album_index if album_index is not None else 0,
        "file_name": name,
        "ext": ext,
        "media_type": info.media_type or "",
    }


_HUGE_WIDTH = re.compile(r"\d{4,}")  # a width or precision of 1000+ is ignored, not allocated


def _render_id(message_id: int, spec: str) -> str:
    """Render the id plainly, or zero-padded when the spec asks for that."""
    plain = str(message_id)
    if _HUGE_WIDTH.search(spec):
        return plain
    try:
        padded = format(message_id, spec)
    except (ValueError, TypeError):
        return plain
    return padded if padded.lstrip("0") == plain else plain


def _render_field(value: object, conversion: str | None, spec: str) -> str:
    """Apply a field's conversion and format spec; ignore ones that do not apply."""
    if conversion == "r":
        value = repr(value)
    elif conversion == "a":
        value = ascii(value)
    if _HUGE_WIDTH.search(spec):
        return str(value)
    try:
        return format(value, spec)
    except (ValueError, TypeError):
        return str(value)


_Part = tuple[str, str | None, str, str | None]


def _parse(template: str) -> list[_Part]:
    """Parse a template, checking that it uses {message_id} and only known fields."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"bad file name template {template!r}: {exc}") from None
    names = {f for _, f, _, _ in parts if f is not None}
    unknown = names - set(_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) in file name template: {', '.join(sorted(unknown))}")
    if "message_id" not in names:
        raise ValueError("the file name template must contain {message_id}")
    return [(lit, f, spec or "", conv) for lit, f, spec, conv in parts]


def _segments(parts: list[_Part], message_id: int, values: dict[str, object]) -> list[list[_Seg]]:
    """Render parsed template parts into components, each a list of cleaned segments."""
    comps: list[list[_Seg]] = [[]]
    for literal, field, spec, conv in parts:
        for i, piece in enumerate(re.split(r"[/\\]", literal)):
            if i:
                comps.append([])
            comps[-1].append(_Seg(_clean_chars(piece), "lit"))
        if field == "message_id":
            comps[-1].append(_Seg(_render_id(message_id, spec), "id"))
        elif field is not None:
            comps[-1].append(_Seg(_clean_chars(_render_field(values[field], conv, spec)), field))
    return [c for c in comps if _sanitize("".join(s.text for s in c), MAX_COMPONENT_BYTES)]


# Segments are shortened in this order when a component is too long.
_SHRINK_ORDER = ("file_name", "media_type", "date", "album_id", "index", "ext", "lit")


def _shrink(seg: _Seg, excess: int) -> int:
    """Shorten one segment by up to excess bytes (a file name keeps its extension)."""
    before = _nbytes(seg.text)
    stem, ext = _split_ext(seg.text) if seg.kind == "file_name" else (seg.text, "")
    seg.text = _cut(stem, max(_nbytes(stem) - excess, 0)) + ext
    return before - _nbytes(seg.text)


def _fit(segs: list[_Seg], budget: int) -> None:
    """Shorten the segments (never the message id) until they fit in budget bytes."""
    excess = sum(_nbytes(s.text) for s in segs) - budget
    for kind in _SHRINK_ORDER:
        for seg in reversed(segs):
            if excess <= 0:
                return
            if seg.kind == kind:
                excess -= _shrink(seg, excess)


def _join(segs: list[_Seg]) -> str:
    """Join segments, putting '_' between the message id and an adjacent digit."""
    out = ""
    for i, seg in enumerate(segs):
        if seg.kind == "id" and out[-1:].isdigit():
            out += "_"
        out += seg.text
        if seg.kind == "id" and "".join(s.text for s in segs[i + 1 :])[:1].isdigit():
            out += "_"
    return out


def _component(segs: list[_Seg], max_bytes: int) -> str:
    """Build one sanitized component from its segments."""
    _fit(segs, max_bytes - 3)  # room for two '_' separators and a reserved-name '_'
    return _sanitize(_join(segs), max_bytes)


def _add_album(comps: list[list[_Seg]], info: MessageInfo, album_index: int | None, used: set[str]) -> None:
    """Put an album member in 'album_<id>/' and prefix its name with its index."""
    if info.media_group_id is None or "album_id" in used:
        return
    if album_index is not None and "index" not in used:
        comps[-1].insert(0, _Seg(f"{album_index:02d}_", "prefix"))
    comps.insert(len(comps) - 1, [_Seg(f"album_{info.media_group_id}", "prefix")])


def relative_path(template: str, info: MessageInfo, *, album_index: int | None = None) -> PurePosixPath:
    """Render the template for a message into a safe relative path."""
    parts = _parse(template)
    comps = _segments(parts, info.message_id, _field_values(info, album_index))
    _add_album(comps, info, album_index, {f for _, f, _, _ in parts if f})
    names = [_component(c, MAX_FILE_NAME_BYTES) for c in comps]
    return PurePosixPath(*[n for n in names if n])


# --------------------------------------------------------------------------- paths


def safe_join(root: Path, rel: PurePosixPath) -> Path:
    """Join rel under root, resolved, refusing anything that lands outside root."""
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"not a safe relative path: {str(rel)!r}")
    base = _resolved(root)
    target = base.joinpath(*rel.parts).resolve()
    if target == base or not target.is_relative_to(base):
        raise ValueError(f"{str(rel)!r} resolves outside {str(base)!r}")
    return target


@functools.lru_cache(maxsize=64)
def _resolved(root: Path) -> Path:
    """The job's root resolved once (a root moved mid-run then fails the check above)."""
    return root.resolve()
