"""File names and paths for downloaded media; names from Telegram are hostile input.

Every path component is valid on Linux and Windows, at most 255 UTF-8 bytes,
and a path built here can never leave the output directory.  The file
component itself is kept to `MAX_FILE_NAME_BYTES` so that the engine's
`.part` and `.json` siblings still fit in 255 bytes.

`FILE_NAME_TEMPLATE` fields (`TEMPLATE_FIELDS`) take Python format specs that fit
their type; `check_template` refuses anything else, and whatever a spec renders
is sanitized like a name from Telegram.
"""

from __future__ import annotations

import functools
import mimetypes
import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from tgfetch.model import MessageInfo

__all__ = [
    "DEFAULT_TEMPLATE",
    "FIELDS_HELP",
    "MAX_COMPONENT_BYTES",
    "MAX_FILE_NAME_BYTES",
    "TEMPLATE_FIELDS",
    "check_template",
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

# Every template field and the kind of value it holds: the one list behind parsing, checks and errors.
_FIELD_KINDS: dict[str, str] = {
    "message_id": "id",
    "date": "date",
    "album_id": "int",
    "index": "int",
    "file_name": "text",
    "stem": "text",
    "ext": "text",
    "media_type": "text",
}
TEMPLATE_FIELDS = tuple(_FIELD_KINDS)
FIELDS_HELP = ", ".join("{" + f + "}" + (" (required)" if f == "message_id" else "") for f in TEMPLATE_FIELDS)

_STRFTIME = "aAbBcdfGHIjmMpSuUVwWxXyYzZ%"
# What each kind of field takes ('FIELD' stands for the field, with its conversion).
_SPEC_HELP = {
    "id": "fill, align, sign and width that keep its digits, e.g. {FIELD:>10} or {FIELD:08d}",
    "int": "an integer spec, e.g. {FIELD:02} or {FIELD:x}",
    "text": "fill, align, width and precision, e.g. {FIELD:>20} or {FIELD:.40}",
    "date": "strftime directives (" + " ".join("%" + c for c in _STRFTIME) + "), e.g. {FIELD:%Y-%m-%d}",
}
# Python's format mini-language: [[fill]align][sign][z][#][0][width][grouping][.precision][type].
_SPEC_RE = re.compile(
    r"(?:(?P<fill>.)?(?P<align>[<>=^]))?(?P<sign>[-+ ])?z?#?(?P<zero>0)?"
    r"(?P<width>[0-9]+)?(?P<grouping>[,_])?(?:\.(?P<precision>[0-9]+))?(?P<type>[a-zA-Z%])?",
    re.DOTALL,
)
_MAX_WIDTH = 32  # 32 four-byte fill characters still leave room for the rest of a name
_MAX_PRECISION = MAX_COMPONENT_BYTES
_SAMPLE_DATE = datetime(2000, 1, 2, 3, 4, 5)
_MULTI_EXTS = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst")


@dataclass
class _Seg:
    """A piece of one path component: literal text or a rendered field."""

    text: str
    kind: str  # "lit", "id", "prefix", or a field name


def _format_date(d: datetime) -> str:
    """Render a date as YYYY-MM-DD_HH-MM-SS (what {date} gives without a spec)."""
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}_{d.hour:02d}-{d.minute:02d}-{d.second:02d}"


def _split_full_ext(name: str) -> tuple[str, str]:
    """Split a name into stem and extension, keeping '.tar.gz' and its kin whole."""
    for multi in _MULTI_EXTS:
        if len(name) > len(multi) and name[-len(multi) :].lower() == multi:
            return name[: -len(multi)], name[-len(multi) :]
    return _split_ext(name)


def _name_parts(info: MessageInfo) -> tuple[str, str, str]:
    """Return the sanitized file name, its stem and its extension without the dot."""
    name = _sanitize(info.file_name or "", MAX_FILE_NAME_BYTES)
    stem, ext = _split_full_ext(name) if name else ("", "")
    if not ext:
        ext = _clean_chars(guess_extension(info.mime_type, info.media_type))
    if not name:
        kind = _clean_chars(info.media_type or "") or "file"
        name = _sanitize(f"{kind}_{info.message_id}{ext}", MAX_FILE_NAME_BYTES)
        stem = name.removesuffix(ext)
    return name, stem, ext.removeprefix(".")


def _field_values(info: MessageInfo, album_index: int | None) -> dict[str, object]:
    """Return every template field's value for one message ('nodate'/'single' when it has none)."""
    name, stem, ext = _name_parts(info)
    return {
        "message_id": info.message_id,
        "date": "nodate" if info.date is None else info.date,
        "album_id": "single" if info.media_group_id is None else info.media_group_id,
        "index": album_index if album_index is not None else 0,
        "file_name": name,
        "stem": stem,
        "ext": ext,
        "media_type": info.media_type or "",
    }


def _render(field: str, conv: str | None, spec: str, value: object) -> str:
    """Render one field with its (already checked) conversion and spec."""
    if conv == "s" or not spec:
        return format(_format_date(value) if isinstance(value, datetime) else str(value), spec)
    if isinstance(value, str) and _FIELD_KINDS[field] != "text":
        return value  # 'nodate' or 'single': a date or number spec has nothing to format
    return format(value, spec)


# --------------------------------------------------------------------------- template checks


def _refused(detail: str) -> ValueError:
    """Build the one-line error for a template that is not allowed."""
    return ValueError(f"{detail}; allowed fields: {FIELDS_HELP}")


def _strftime_problem(spec: str) -> str | None:
    """Tell what is wrong with a date spec (None when it is portable strftime)."""
    directives = re.findall(r"%(.?)", spec, flags=re.DOTALL)
    if not directives:
        return "a date spec without % directives"
    bad = next((d for d in directives if not d or d not in _STRFTIME), None)
    if bad is not None:
        return f"{'%' + bad!r} is not a portable strftime directive"
    try:
        format(_SAMPLE_DATE, spec)
    except ValueError:  # NUL characters, unencodable text
        return "not a date spec"
    return None


def _mini_problem(m: re.Match[str], as_text: bool) -> str | None:
    """Check a mini-language spec: its sizes, its fill, its type, and that Python takes it."""
    if int(m["width"] or 0) > _MAX_WIDTH:
        return f"a width above {_MAX_WIDTH}"
    if int(m["precision"] or 0) > _MAX_PRECISION:
        return f"a precision above {_MAX_PRECISION}"
    fill = m["fill"]
    if fill is not None and _clean_chars(fill) != fill:
        return f"the fill {fill!r} is not allowed in file names"
    if m["type"] == "c":
        return "the type c (a character code) is not allowed"
    try:
        format("x" if as_text else 1, m.string)
    except (ValueError, TypeError):
        return f"{m.string!r} is not a spec for " + ("text" if as_text else "an integer")
    return None


def _id_problem(m: re.Match[str], as_text: bool) -> str | None:
    """Tell how a spec could hide the message id or make two ids look alike (None if it cannot)."""
    if m["type"] not in (None, "d", "s") or m["grouping"] or m["precision"]:
        return "the id must keep its plain digits"
    fill = m["fill"] or ("0" if m["zero"] else " ")
    align = m["align"] or ("<" if as_text else "=" if m["zero"] else ">")
    if fill.isdigit() and not (fill == "0" and align in "=>"):
        return f"the fill {fill!r} aligned {align!r} makes different ids look alike"
    return None


def _spec_problem(field: str, conv: str | None, spec: str) -> str | None:
    """Tell what is wrong with a field's format spec (None when it fits the field)."""
    kind = _FIELD_KINDS[field]
    if "{" in spec or "}" in spec:
        return "nested fields are not allowed in a spec"
    if kind == "date" and conv is None:
        return _strftime_problem(spec)
    m = _SPEC_RE.fullmatch(spec)
    if m is None:
        return "not a format spec"
    as_text = conv == "s" or kind == "text"
    return _mini_problem(m, as_text) or (_id_problem(m, as_text) if kind == "id" else None)


def _check_field(field: str, conv: str | None, spec: str) -> None:
    """Refuse an unknown field, a conversion other than !s, or a spec that does not fit."""
    if field not in _FIELD_KINDS:
        raise _refused(f"unknown field {'{' + field + '}'!r}")
    shown = repr("{" + field + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}")
    if conv is not None and conv != "s":
        raise _refused(f"{shown}: only the !s conversion is allowed (!r and !a put quotes in file names)")
    problem = _spec_problem(field, conv, spec) if spec else None
    if problem:
        kind = _FIELD_KINDS[field]
        kind = "text" if conv == "s" and kind != "id" else kind
        takes = _SPEC_HELP[kind].replace("FIELD", field + (f"!{conv}" if conv else ""))
        raise _refused(f"{shown} does not fit: {problem}; {{{field}}} takes {takes}")


_Part = tuple[str, str | None, str, str | None]


@functools.lru_cache(maxsize=64)
def _parse(template: str) -> tuple[_Part, ...]:
    """Parse a template; refuse bad syntax, unknown fields, bad specs and a missing {message_id}."""
    try:
        parts = tuple((lit, f, spec or "", conv) for lit, f, spec, conv in string.Formatter().parse(template))
    except ValueError as exc:
        raise _refused(f"not a template ({exc})") from None
    for _, field, spec, conv in parts:
        if field is not None:
            _check_field(field, conv, spec)
    if not any(f == "message_id" for _, f, _, _ in parts):
        raise _refused("{message_id} is missing")
    return parts


def check_template(template: str) -> None:
    """Raise a one-line ValueError naming the problem and the fields unless the template is usable."""
    _parse(template)


# --------------------------------------------------------------------------- rendering


def _segments(parts: tuple[_Part, ...], values: dict[str, object]) -> list[list[_Seg]]:
    """Render parsed template parts into components, each a list of cleaned segments."""
    comps: list[list[_Seg]] = [[]]
    for literal, field, spec, conv in parts:
        for i, piece in enumerate(re.split(r"[/\\]", literal)):
            if i:
                comps.append([])
            comps[-1].append(_Seg(_clean_chars(piece), "lit"))
        if field is not None:
            text = _clean_chars(_render(field, conv, spec, values[field]))
            comps[-1].append(_Seg(text, "id" if field == "message_id" else field))
    return [c for c in comps if _sanitize("".join(s.text for s in c), MAX_COMPONENT_BYTES)]


# Segments are shortened in this order when a component is too long.
_SHRINK_ORDER = ("file_name", "stem", "media_type", "date", "album_id", "index", "ext", "lit")


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
    """Render the template for a message into a safe relative path (ValueError for a bad template)."""
    parts = _parse(template)
    comps = _segments(parts, _field_values(info, album_index))
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
