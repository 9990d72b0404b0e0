"""File naming: hostile names from Telegram never escape, collide or break a file system."""

from __future__ import annotations

import contextlib
import os
import string
import unicodedata
from datetime import datetime
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tgfetch.download.layout import sidecar_path
from tgfetch.download.naming import (
    DEFAULT_TEMPLATE,
    MAX_FILE_NAME_BYTES,
    guess_extension,
    relative_path,
    safe_join,
    sanitize_component,
)
from tgfetch.model import MessageInfo

RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{d}" for p in ("COM", "LPT") for d in "123456789¹²³"}
BIDI = {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}

HOSTILE = [
    "../../x",
    "..",
    ".",
    "/etc/passwd",
    "C:\\Windows\\system32\\cmd.exe",
    "CON",
    "con.txt",
    "LPT1",
    "com¹.log",
    "a\x00b",
    "a\nb\rc\td\x1b\x7f\x85e",
    "...",
    " . . ",
    "   ",
    "name. . ",
    "trailing...",
    "\u202egpj.exe",
    "\u2066x\u2069.png",
    'a<b>c:d"e|f?g*h',
    "",
    "x" * 300 + ".jpg",
    "😀" * 100 + ".png",
    "漢字" * 80 + ".mp4",
    "e\u0301.txt",
    "a" * 300,
]


def assert_valid_component(part: str, max_bytes: int = 255) -> None:
    """Fail unless part is one component usable on Linux and Windows."""
    assert part and part not in {".", ".."}
    assert len(part.encode("utf-8")) <= max_bytes
    assert not any(c in '/\\:*?"<>|' for c in part), part
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in part), part
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in part), part
    assert not BIDI & set(part), part
    assert part == part.lstrip() and part[-1] not in ". " and not part[-1].isspace(), part
    assert part.split(".", 1)[0].rstrip(" ").upper() not in RESERVED, part
    assert unicodedata.is_normalized("NFC", part), part


# --------------------------------------------------------------------------- sanitize_component


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_become_valid_components(name: str) -> None:
    assert_valid_component(sanitize_component(name))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../x", ".._.._x"),
        ("/etc/passwd", "_etc_passwd"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("LPT1", "_LPT1"),
        ("lpt9.tar.gz", "_lpt9.tar.gz"),
        ("COM²", "_COM²"),
        ("CON .txt", "_CON .txt"),
        ("CONSOLE.txt", "CONSOLE.txt"),
        ("a\x00b", "a_b"),
        ("abc.", "abc"),
        ("abc. . ", "abc"),
        ("  spaced  ", "spaced"),
        ("\u202egpj.exe", "gpj.exe"),
        ("e\u0301.txt", "\u00e9.txt"),
        (".hidden", ".hidden"),
        ("photo.jpg", "photo.jpg"),
    ],
)
def test_sanitize_examples(name: str, expected: str) -> None:
    assert sanitize_component(name) == expected


@pytest.mark.parametrize("name", ["", ".", "..", "...", " . . ", "   ", "\u202e", "\u2066\u2069"])
def test_nothing_left_gives_the_fallback(name: str) -> None:
    assert sanitize_component(name) == "file"
    assert sanitize_component(name, fallback="photo_1.jpg") == "photo_1.jpg"


def test_bad_fallback_is_sanitized_too() -> None:
    assert sanitize_component("..", fallback="CON") == "_CON"
    assert sanitize_component("..", fallback="..") == "_"


@pytest.mark.parametrize("unit", ["x", "é", "漢", "😀"])
def test_long_names_are_cut_on_a_character_boundary_keeping_the_extension(unit: str) -> None:
    name = unit * 300 + ".jpeg"
    out = sanitize_component(name)
    assert len(out.encode()) <= 255
    assert len(out.encode()) > 255 - 4  # no more than one character too many removed
    assert out.endswith(".jpeg")
    assert set(out.removesuffix(".jpeg")) == {unit}


def test_long_name_without_extension_is_cut() -> None:
    assert sanitize_component("a" * 300) == "a" * 255
    assert sanitize_component("a" * 300, max_bytes=10) == "a" * 10


def test_long_extension_is_not_kept_at_any_price() -> None:
    out = sanitize_component("a." + "b" * 300)
    assert len(out.encode()) <= 255


def test_max_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError):
        sanitize_component("x", max_bytes=0)


# --------------------------------------------------------------------------- guess_extension


@pytest.mark.parametrize(
    ("mime", "media", "ext"),
    [
        (None, "photo", ".jpg"),
        ("image/png", "photo", ".jpg"),
        ("video/mp4", "video", ".mp4"),
        ("image/jpeg", "document", ".jpg"),
        ("audio/mpeg", "audio", ".mp3"),
        ("audio/ogg", "voice", ".ogg"),
        ("application/octet-stream", "document", ""),
        ("application/pdf", "document", ".pdf"),
        ("VIDEO/MP4; codecs=avc1", "video", ".mp4"),
        ("application/x-tgsticker", "sticker", ".tgs"),
        (None, "video", ".mp4"),
        (None, None, ""),
        ("", "document", ""),
        ("bogus/x\x00y", None, ""),
        ("../../etc", None, ""),
    ],
)
def test_guess_extension(mime: str | None, media: str | None, ext: str) -> None:
    assert guess_extension(mime, media) == ext


# --------------------------------------------------------------------------- relative_path


def msg(message_id: int = 72010, **kw: object) -> MessageInfo:
    """Build a MessageInfo with a media type unless told otherwise."""
    kw.setdefault("media_type", "photo")
    return MessageInfo(message_id=message_id, **kw)  # type: ignore[arg-type]


def test_default_template_with_and_without_a_name() -> None:
    assert relative_path(DEFAULT_TEMPLATE, msg()) == PurePosixPath("72010_photo_72010.jpg")
    named = msg(file_name="Report 2024.pdf", media_type="document", mime_type="application/pdf")
    assert relative_path(DEFAULT_TEMPLATE, named) == PurePosixPath("72010_Report 2024.pdf")


def test_none_name_uses_media_type_id_and_mime_extension() -> None:
    info = msg(5, media_type="video", mime_type="video/mp4", file_name=None)
    assert relative_path("{file_name}_{message_id}", info) == PurePosixPath("video_5.mp4_5")
    assert relative_path("{message_id}{ext}", info) == PurePosixPath("5.mp4")
    assert relative_path("{message_id}_{file_name}", msg(5, media_type=None)) == PurePosixPath("5_file_5")


def test_album_members_get_a_folder_and_an_index_prefix() -> None:
    info = msg(file_name="photo.jpg", media_group_id=123)
    assert relative_path(DEFAULT_TEMPLATE, info, album_index=1) == PurePosixPath("album_123/01_72010_photo.jpg")
    assert relative_path(DEFAULT_TEMPLATE, info) == PurePosixPath("album_123/72010_photo.jpg")


def test_template_with_album_id_gets_no_extra_folder() -> None:
    info = msg(file_name="photo.jpg", media_group_id=123)
    rel = relative_path("{album_id}/{index:02d}_{message_id}{ext}", info, album_index=3)
    assert rel == PurePosixPath("123/03_72010.jpg")
    assert relative_path("{album_id}/{index}_{message_id}", msg()) == PurePosixPath("single/0_72010")


def test_all_fields() -> None:
    info = msg(
        7,
        date=datetime(2024, 1, 2, 3, 4, 5),
        media_group_id=9,
        file_name="a.png",
        mime_type="image/png",
        media_type="document",
    )
    tpl = "{date}/{album_id}/{index}/{media_type}/{message_id}_{file_name}{ext}"
    assert relative_path(tpl, info, album_index=2) == PurePosixPath("2024-01-02_03-04-05/9/2/document/7_a.png.png")
    assert relative_path("{date}_{message_id}", msg(7)) == PurePosixPath("nodate_7")


def test_hostile_names_stay_in_one_component() -> None:
    for name in HOSTILE:
        rel = relative_path(DEFAULT_TEMPLATE, msg(file_name=name))
        assert len(rel.parts) == 1, (name, rel)
        assert rel.parts[0].startswith("72010_")
        assert_valid_component(rel.parts[0], MAX_FILE_NAME_BYTES)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("/{message_id}", "72010"),
        ("/../../{message_id}", "72010"),
        ("a//b/./../{message_id}", "a/b/72010"),
        ("..\\..\\{message_id}", "72010"),
        ("{message_id}/", "72010"),
        ("{message_id}/{media_type}", "72010"),
        ("CON/{message_id}", "_CON/72010"),
        ("x:y/{message_id}", "x_y/72010"),
    ],
)
def test_template_folders_are_made_safe(template: str, expected: str) -> None:
    assert relative_path(template, msg(media_type=None)) == PurePosixPath(expected)


@pytest.mark.parametrize("unit", ["x", "é", "漢", "😀"])
def test_long_names_keep_message_id_and_extension(unit: str) -> None:
    info = msg(123456789, file_name=unit * 300 + ".jpeg", media_group_id=5)
    rel = relative_path(DEFAULT_TEMPLATE, info, album_index=7)
    name = rel.name
    assert name.startswith("07_123456789_") and name.endswith(".jpeg")
    assert len(name.encode()) <= MAX_FILE_NAME_BYTES
    assert len((name + ".part").encode()) <= 255


def test_long_fields_elsewhere_in_the_template_never_cut_the_id() -> None:
    info = msg(42, file_name="x" * 300 + ".bin", media_type="y" * 300)
    rel = relative_path("{media_type}{file_name}{media_type}{message_id}{ext}", info)
    assert rel.name.endswith("42.bin") and len(rel.name.encode()) <= MAX_FILE_NAME_BYTES


def test_message_id_is_delimited_from_adjacent_digits() -> None:
    a = relative_path("{message_id}{file_name}", msg(7201, file_name="0_a.jpg"))
    b = relative_path("{message_id}{file_name}", msg(72010, file_name="_a.jpg"))
    assert a != b
    assert a == PurePosixPath("7201_0_a.jpg")


def test_message_id_format_spec_only_pads() -> None:
    assert relative_path("{message_id:08d}", msg(7201)) == PurePosixPath("00007201")
    assert relative_path("{message_id:.1e}", msg(7201)) == PurePosixPath("7201")
    assert relative_path("{message_id:c}", msg(47)) == PurePosixPath("47")


@pytest.mark.parametrize(
    "template", ["{file_name}", "{message_id}_{nope}", "{message_id.real}", "{0}{message_id}", "{"]
)
def test_bad_templates_raise_value_error(template: str) -> None:
    with pytest.raises(ValueError):
        relative_path(template, msg())


# --------------------------------------------------------------------------- safe_join, sidecar_path


def test_safe_join_inside(tmp_path: Path) -> None:
    assert safe_join(tmp_path, PurePosixPath("a/b.jpg")) == tmp_path.resolve() / "a" / "b.jpg"


@pytest.mark.parametrize("rel", ["/etc/passwd", "../x", "a/../../x", "", "."])
def test_safe_join_refuses_escapes(tmp_path: Path, rel: str) -> None:
    with pytest.raises(ValueError):
        safe_join(tmp_path / "root", PurePosixPath(rel))


def test_safe_join_refuses_symlink_escape(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file.jpg").symlink_to(outside / "file.jpg")
    with pytest.raises(ValueError):
        safe_join(root, PurePosixPath("link/x.jpg"))
    with pytest.raises(ValueError):
        safe_join(root, PurePosixPath("file.jpg"))
    (root / "inner").mkdir()
    (root / "ok").symlink_to(root / "inner", target_is_directory=True)
    assert safe_join(root, PurePosixPath("ok/x.jpg")) == (root / "inner" / "x.jpg").resolve()


def test_sidecar_path() -> None:
    assert sidecar_path(Path("/d/x.jpg")) == Path("/d/x.jpg.json")
    assert sidecar_path(Path("album_1/01_5")) == Path("album_1/01_5.json")


# --------------------------------------------------------------------------- properties

ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=120)
NAMES = st.one_of(
    st.none(),
    ANY_TEXT,
    st.sampled_from(HOSTILE),
    st.builds(
        lambda u, n, e: u * n + e, st.sampled_from(["a", "é", "漢", "😀", ".", " "]), st.integers(0, 300), ANY_TEXT
    ),
)
MEDIA_TYPES = st.one_of(st.none(), st.sampled_from(["photo", "video", "document", "voice", "sticker"]), ANY_TEXT)
MIMES = st.one_of(st.none(), st.sampled_from(["video/mp4", "image/jpeg", "application/octet-stream"]), ANY_TEXT)
TEMPLATES = st.sampled_from(
    [
        DEFAULT_TEMPLATE,
        "{date}/{message_id}_{file_name}",
        "{album_id}/{index:02d}_{message_id}{ext}",
        "{media_type}/{message_id}{file_name}",
        "{file_name}{message_id}",
        "{file_name}_{message_id}{ext}",
        "/../{message_id}/../{file_name}",
        "{message_id:06d}_{date}_{file_name}{ext}",
        "{file_name}/{message_id}.{media_type}",
    ]
)
DATES = st.one_of(st.none(), st.datetimes())


@st.composite
def message_pairs(draw: st.DrawFn) -> tuple[MessageInfo, MessageInfo, int | None]:
    """Two messages alike in everything but their id, plus an album index."""
    a, b = draw(st.lists(st.integers(1, 2**63), min_size=2, max_size=2, unique=True))
    gid = draw(st.one_of(st.none(), st.integers(1, 2**63)))
    kw = {
        "media_group_id": gid,
        "file_name": draw(NAMES),
        "mime_type": draw(MIMES),
        "media_type": draw(MEDIA_TYPES),
        "caption": draw(ANY_TEXT),
        "date": draw(DATES),
    }
    index = draw(st.integers(1, 10)) if gid is not None and draw(st.booleans()) else None
    return MessageInfo(a, **kw), MessageInfo(b, **kw), index  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared output directory (hypothesis cannot use function-scoped tmp_path)."""
    return tmp_path_factory.mktemp("naming").resolve()


def check_path(rel: PurePosixPath, info: MessageInfo, root: Path) -> Path:
    """Assert every naming guarantee for one path; return it joined under root."""
    assert not rel.is_absolute() and rel.parts
    for part in rel.parts:
        assert_valid_component(part)
    assert len(rel.name.encode()) <= MAX_FILE_NAME_BYTES
    assert str(info.message_id) in str(rel)
    full = safe_join(root, rel)
    assert full.is_relative_to(root) and full != root
    return full


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=message_pairs(), template=TEMPLATES)
def test_property_paths_are_safe_and_unique(
    root: Path, pair: tuple[MessageInfo, MessageInfo, int | None], template: str
) -> None:
    a, b, index = pair
    ra = relative_path(template, a, album_index=index)
    rb = relative_path(template, b, album_index=index)
    check_path(ra, a, root)
    check_path(rb, b, root)
    assert ra != rb
    assert str(ra).casefold() != str(rb).casefold()  # also distinct on case-insensitive file systems
    assert relative_path(template, a, album_index=index) == ra  # deterministic


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=message_pairs(), template=TEMPLATES)
def test_property_files_can_really_be_created(
    root: Path, pair: tuple[MessageInfo, MessageInfo, int | None], template: str
) -> None:
    info, _, index = pair
    full = check_path(relative_path(template, info, album_index=index), info, root)
    full.parent.mkdir(parents=True, exist_ok=True)
    part = full.with_name(full.name + ".part")
    part.write_bytes(b"x")
    os.replace(part, full)
    sidecar_path(full).write_text("{}")
    assert full.read_bytes() == b"x"
    full.unlink()
    sidecar_path(full).unlink()
    for parent in list(full.relative_to(root).parents)[:-1]:
        with contextlib.suppress(OSError):  # another example may share the folder
            (root / parent).rmdir()


@settings(max_examples=300, deadline=None)
@given(name=st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_property_sanitize_is_valid_and_idempotent(name: str) -> None:
    out = sanitize_component(name)
    assert_valid_component(out)
    assert sanitize_component(out) == out


@settings(max_examples=200, deadline=None)
@given(
    ids=st.lists(st.integers(1, 10**6), min_size=2, max_size=2, unique=True),
    names=st.lists(st.text(alphabet=string.digits + "_. a", max_size=8), min_size=2, max_size=2),
    template=st.sampled_from(["{message_id}{file_name}", "{file_name}{message_id}", "{file_name}{message_id}{ext}"]),
)
def test_property_digit_names_cannot_make_different_ids_collide(
    ids: list[int], names: list[str], template: str
) -> None:
    """Even when names differ, a name of digits cannot extend the id into another id."""
    a = relative_path(template, msg(ids[0], file_name=names[0]))
    b = relative_path(template, msg(ids[1], file_name=names[1]))
    assert a != b


def test_huge_format_widths_are_ignored() -> None:
    rel = relative_path("{date:>999999999}_{message_id:0999999999d}", msg(7))
    assert rel == PurePosixPath("nodate_7")
    rel = relative_path("{media_type:>300}{message_id}", msg(7))
    assert rel.name.endswith("7")
    assert_valid_component(rel.name, MAX_FILE_NAME_BYTES)
