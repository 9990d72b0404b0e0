"""File naming: hostile names from Telegram never escape, collide or break a file system."""

from __future__ import annotations

import contextlib
import hashlib
import os
import string
import unicodedata
from datetime import datetime
from itertools import groupby
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tgfetch.download.naming as naming
from tgfetch.config import load_settings
from tgfetch.download.layout import sidecar_path
from tgfetch.download.naming import (
    DEFAULT_TEMPLATE,
    MAX_FILE_NAME_BYTES,
    guess_extension,
    relative_path,
    safe_join,
    sanitize_component,
)
from tgfetch.errors import ConfigError
from tgfetch.model import MessageInfo
from tgfetch.telegram.simulator.content import generate_messages

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
    assert relative_path("{message_id}.{ext}", info) == PurePosixPath("5.mp4")
    assert relative_path("{message_id}_{file_name}", msg(5, media_type=None)) == PurePosixPath("5_file_5")


def test_album_members_get_a_folder_and_an_index_prefix() -> None:
    info = msg(file_name="photo.jpg", media_group_id=123)
    assert relative_path(DEFAULT_TEMPLATE, info, album_index=1) == PurePosixPath("album_123/01_72010_photo.jpg")
    assert relative_path(DEFAULT_TEMPLATE, info) == PurePosixPath("album_123/72010_photo.jpg")


def test_template_with_album_id_gets_no_extra_folder() -> None:
    info = msg(file_name="photo.jpg", media_group_id=123)
    rel = relative_path("{album_id}/{index:02d}_{message_id}.{ext}", info, album_index=3)
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
    tpl = "{date}/{album_id}/{index}/{media_type}/{message_id}_{file_name}.{ext}"
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
    rel = relative_path("{media_type}{file_name}{media_type}{message_id}.{ext}", info)
    assert rel.name.endswith("42.bin") and len(rel.name.encode()) <= MAX_FILE_NAME_BYTES


def test_message_id_is_delimited_from_adjacent_digits() -> None:
    a = relative_path("{message_id}{file_name}", msg(7201, file_name="0_a.jpg"))
    b = relative_path("{message_id}{file_name}", msg(72010, file_name="_a.jpg"))
    assert a != b
    assert a == PurePosixPath("7201_0_a.jpg")


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
        "{album_id}/{index:02d}_{message_id}.{ext}",
        "{media_type}/{message_id}{file_name}",
        "{file_name}{message_id}",
        "{file_name}_{message_id}.{ext}",
        "/../{message_id}/../{file_name}",
        "{message_id:06d}_{date}_{file_name}.{ext}",
        "{file_name}/{message_id}.{media_type}",
        "{stem}.{ext}_{message_id}",
        "{date:%Y}/{date:%m}/{message_id:>12}_{stem}.{ext}",
        "{album_id:x}/{index:02}_{message_id!s:_<20}{ext}{stem}",
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



# --------------------------------------------------------------------------- template specs, {ext} and {stem}

DATE = datetime(2024, 1, 2, 3, 4, 5)


def test_format_specs_follow_the_mini_language_of_each_field() -> None:
    doc = msg(7201, file_name="report.pdf", mime_type="application/pdf", media_type="document", date=DATE)
    cases = {
        "x{message_id:>10}": "x      7201",
        "{message_id:08d}": "00007201",
        "{message_id:_<8}": "7201____",
        "{message_id:+}": "+7201",
        "{index:02}_{message_id}": "03_7201",
        "i{index:>3}_{message_id}": "i  3_7201",
        "{index:.1f}_{message_id}": "3.0_7201",
        "{date:%Y-%m-%d}_{message_id}": "2024-01-02_7201",
        "{date:%Y}/{date:%m}/{message_id}": "2024/01/7201",
        "{date:%H:%M}_{message_id}": "03_04_7201",  # ':' is sanitized
        "{date:%Y/%m}_{message_id}": "2024_01_7201",  # a spec never makes a folder
        "{date}_{message_id}": "2024-01-02_03-04-05_7201",  # no spec: as before
        "{file_name:.3}_{message_id}": "rep_7201",
        "{media_type:~^10}_{message_id}": "~document~_7201",
        "{message_id!s:x<8}": "7201xxxx",
        "{index!s:0>3}_{message_id}": "003_7201",
        "{date!s:.10}_{message_id}": "2024-01-02_7201",
    }
    got = {t: str(relative_path(t, doc, album_index=3)) for t in cases}
    assert got == cases
    album = msg(7201, media_group_id=255)
    assert relative_path("{album_id:x}/{message_id}", album, album_index=1) == PurePosixPath("ff/7201")
    assert relative_path("{album_id:08X}_{message_id}", album) == PurePosixPath("000000FF_7201")
    # No value to format: the placeholders stay as they are.
    assert relative_path("{date:%Y}_{album_id:x}_{message_id}", msg(7)) == PurePosixPath("nodate_single_7")


@pytest.mark.parametrize("template", ["{message_id!r}", "{message_id}_{file_name!r}", "{message_id}{media_type!a}"])
def test_conversions_r_and_a_are_refused(template: str) -> None:
    with pytest.raises(ValueError, match=r"only the !s conversion is allowed"):
        relative_path(template, msg())


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ("{message_id}_{file_name:d}", "file_name"),
        ("{message_id}_{stem:x}", "stem"),
        ("{message_id}_{ext:=5}", "ext"),
        ("{message_id}_{date:%Q}", "date"),
        ("{message_id}_{date:%-d}", "date"),
        ("{message_id}_{date:%Y%}", "date"),
        ("{message_id}_{date:>10}", "date"),
        ("{message_id:c}", "message_id"),
        ("{message_id:.1e}", "message_id"),
        ("{message_id:x}", "message_id"),
        ("{message_id:,}", "message_id"),
        ("{message_id:1>10}", "message_id"),
        ("{message_id:0<10}", "message_id"),
        ("{message_id:0^10}", "message_id"),
        ("{message_id!s:010}", "message_id"),
        ("{message_id!s:.2}", "message_id"),
        ("{message_id:/>10}", "message_id"),
        ("{message_id}{file_name:\\>30}", "file_name"),
        ("{message_id}{media_type:\n>9}", "media_type"),
        ("{message_id}{index:c}", "index"),
        ("{message_id}{album_id:c}", "album_id"),
        ("{message_id}{index:s}", "index"),
        ("{message_id}{index!s:d}", "index"),
        ("{message_id:>99}", "message_id"),
        ("{message_id:0999999999d}", "message_id"),
        ("{message_id}{media_type:>300}", "media_type"),
        ("{message_id}{file_name:.999999999}", "file_name"),
        ("{message_id}{index:{message_id}}", "index"),
    ],
)
def test_specs_that_do_not_fit_the_field_are_refused(template: str, field: str) -> None:
    with pytest.raises(ValueError) as err:
        relative_path(template, msg(file_name="a.txt", date=DATE, media_group_id=5), album_index=1)
    text = str(err.value)
    assert "\n" not in text and "{" + field + "} takes " in text, text


def test_a_bad_template_is_refused_when_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILE_NAME_TEMPLATE", "{message_id}_{file_name:d}")
    with pytest.raises(ConfigError) as err:
        load_settings(env_file=None)
    text = str(err.value)
    assert text.startswith("FILE_NAME_TEMPLATE='{message_id}_{file_name:d}' is not allowed: ")
    assert "\n" not in text and "{file_name} takes fill, align, width and precision" in text
    assert all("{" + f + "}" in text for f in naming.TEMPLATE_FIELDS)
    monkeypatch.setenv("FILE_NAME_TEMPLATE", "{date:%Y}/{message_id:>10}_{stem}.{ext}")
    assert load_settings(env_file=None).file_name_template == "{date:%Y}/{message_id:>10}_{stem}.{ext}"


@pytest.mark.parametrize(
    "template", ["{file_name}", "{message_id}_{nope}", "{message_id", "{message_id}{ext!r}", "{message_id:c}"]
)
def test_template_errors_list_every_field_from_one_list(template: str) -> None:
    fields = naming.TEMPLATE_FIELDS
    assert {"media_type", "stem", "ext", "file_name"} <= set(fields)
    with pytest.raises(ValueError) as err:
        naming.check_template(template)
    assert str(err.value).endswith("allowed fields: " + naming.FIELDS_HELP)
    assert all("{" + f + "}" in naming.FIELDS_HELP for f in fields)
    with pytest.raises(ConfigError, match=r"allowed fields: .*\{media_type\}"):
        load_settings(env_file=None, file_name_template=template)


def test_readme_documents_every_template_field() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `FILE_NAME_TEMPLATE`"))
    missing = [f for f in naming.TEMPLATE_FIELDS if "`{" + f + "}`" not in row]
    assert missing == []


def parts_of(info: MessageInfo) -> tuple[str, ...]:
    """Render stem, ext and file name as separate folders (prefixed so none is empty)."""
    return relative_path("s{stem}/e{ext}/f{file_name}/{message_id}", info).parts[:3]


@pytest.mark.parametrize(
    ("name", "mime", "stem", "ext"),
    [
        ("x.mp3", "audio/mpeg", "x", "mp3"),
        ("a.tar.gz", "application/gzip", "a", "tar.gz"),
        ("A.TAR.GZ", "application/gzip", "A", "TAR.GZ"),
        ("photo.v2.tar.zst", None, "photo.v2", "tar.zst"),
        ("c.tar.bz2", None, "c", "tar.bz2"),
        ("d.tar.xz", None, "d", "tar.xz"),
        ("x.gz", "application/gzip", "x", "gz"),
        (".tar.gz", None, ".tar", "gz"),
        ("README", "application/octet-stream", "README", ""),
        ("README", "text/plain", "README", "txt"),
        (".hidden", None, ".hidden", ""),
        (None, "image/jpeg", "photo_7201", "jpg"),
    ],
)
def test_ext_has_no_dot_and_stem_is_the_name_without_it(
    name: str | None, mime: str | None, stem: str, ext: str
) -> None:
    info = msg(7201, file_name=name, mime_type=mime, media_type="document" if name else "photo")
    full = name if name else "photo_7201.jpg"
    assert parts_of(info) == ("s" + stem, "e" + ext, "f" + full)


def test_file_name_then_ext_has_one_dot_and_no_extension_is_added() -> None:
    mp3 = msg(7201, file_name="x.mp3", mime_type="audio/mpeg", media_type="audio")
    assert relative_path("{message_id}_{file_name}.{ext}", mp3) == PurePosixPath("7201_x.mp3.mp3")
    assert relative_path("{message_id}_{stem}.{ext}", mp3) == PurePosixPath("7201_x.mp3")
    tgz = msg(7201, file_name="a.tar.gz", mime_type="application/gzip")
    assert relative_path("{message_id}_{stem}.{ext}", tgz) == PurePosixPath("7201_a.tar.gz")
    readme = msg(7201, file_name="README", mime_type="application/octet-stream", media_type="document")
    assert relative_path("{message_id}_{stem}.{ext}", readme) == PurePosixPath("7201_README")
    assert relative_path("{message_id}.{ext}", msg(7201)) == PurePosixPath("7201.jpg")
    assert relative_path("{message_id}", msg(7201)) == PurePosixPath("7201")  # as before: nothing appended


@pytest.mark.parametrize(
    "template", ["{stem}.{ext}_{message_id}", "{message_id}/{stem}/{ext}", "{ext}{stem}{message_id}"]
)
def test_stem_and_ext_of_hostile_names_stay_safe(root: Path, template: str) -> None:
    for name in HOSTILE:
        info = msg(7201, file_name=name, mime_type="application/octet-stream", media_type="document")
        rel = relative_path(template, info)
        check_path(rel, info, root)
        assert len(rel.parts) <= template.count("/") + 1


# The default template's names for these messages, computed with the code before issue 18.
DEFAULT_NAMES = [
    (MessageInfo(1, file_name="VID_000001.mp4", mime_type="video/mp4", media_type="video"), None, "1_VID_000001.mp4"),
    (MessageInfo(3, file_name="backup_3.tar.gz", mime_type="application/gzip", media_type="document"), None,
     "3_backup_3.tar.gz"),
    (MessageInfo(4, mime_type="video/mp4", media_type="video"), None, "4_video_4.mp4"),
    (MessageInfo(13, 6428973048390510849, file_name="line\nbreak\ttab.txt", media_type="document"), 4,
     "album_6428973048390510849/04_13_line_break_tab.txt"),
    (MessageInfo(25, 6797319222595535205, mime_type="image/jpeg", media_type="photo"), 1,
     "album_6797319222595535205/01_25_photo_25.jpg"),
    (MessageInfo(204, 5462752117637388384, file_name="   ", mime_type="application/octet-stream",
                 media_type="document"), 3, "album_5462752117637388384/03_204_document_204"),
    (MessageInfo(393, file_name='<>:"|?*.doc', media_type="document"), None, "393________.doc"),
    (MessageInfo(879, file_name="/etc/passwd", media_type="document"), None, "879__etc_passwd"),
    (MessageInfo(941, file_name="..", media_type="document"), None, "941_document_941"),
    (MessageInfo(1923, file_name="trailing dot.", media_type="document"), None, "1923_trailing dot"),
]
# sha256 of every default-template name of 3 simulated channels (seeds 0-2, 2000 messages each), one per
# line, as the code before issue 18 rendered them.  If the simulator's content changes, recompute it
# with that code (git show 8ae131f:tgfetch/download/naming.py).
SIM_NAMES_SHA256 = "589795705b0edc4c2437cf32d89beb5a5fc98c3dbc886e809365c4971cc49935"


def simulated_channel(seed: int) -> list[tuple[MessageInfo, int | None]]:
    """Return the media of one simulated channel as MessageInfo, with each album member's index."""
    media = [m for m in generate_messages(seed, 2000, 1, 1.0, None) if m.is_media]
    out: list[tuple[MessageInfo, int | None]] = []
    for _, group in groupby(media, key=lambda m: m.grouped_id or -m.id):
        for i, m in enumerate(group, start=1):
            info = MessageInfo(m.id, media_group_id=m.grouped_id, file_size=m.size, file_name=m.file_name,
                               mime_type=m.mime_type, media_type=m.kind, date=m.date, caption=m.caption)
            out.append((info, i if m.grouped_id is not None else None))
    return out


def test_default_template_names_are_unchanged() -> None:
    for info, index, expected in DEFAULT_NAMES:
        assert str(relative_path(DEFAULT_TEMPLATE, info, album_index=index)) == expected
    digest = hashlib.sha256()
    for seed in range(3):
        for info, index in simulated_channel(seed):
            digest.update(str(relative_path(DEFAULT_TEMPLATE, info, album_index=index)).encode() + b"\n")
    assert digest.hexdigest() == SIM_NAMES_SHA256


# --------------------------------------------------------------------------- property: any spec

FIELD_NAMES = ["message_id", "date", "album_id", "index", "file_name", "stem", "ext", "media_type"]


@st.composite
def mini_specs(draw: st.DrawFn) -> str:
    """Build a format spec from the mini-language's parts, sane or not."""
    fill = draw(st.sampled_from(["", "0", "7", " ", "_", "/", "\\", ".", ":", "😀", "\n", "\u202e", "x"]))
    align = draw(st.sampled_from(["", "<", ">", "=", "^"]))
    parts = [
        fill + align if align else "",
        draw(st.sampled_from(["", "+", "-", " "])),
        draw(st.sampled_from(["", "z", "#"])),
        draw(st.sampled_from(["", "0"])),
        draw(st.sampled_from(["", "1", "8", "32", "33", "300"])),
        draw(st.sampled_from(["", ",", "_"])),
        draw(st.sampled_from(["", ".0", ".2", ".300"])),
        draw(st.sampled_from(["", "d", "s", "x", "X", "o", "b", "c", "e", "f", "g", "n", "%"])),
    ]
    return "".join(parts)


STRFTIME_SPECS = st.lists(
    st.sampled_from(["%Y", "%m", "%d", "%H:%M", "%c", "%x", "%Z", "%z", "%%", "%Q", "%-d", "%", "/", "-", "\\", "x"]),
    max_size=4,
).map("".join)
SPECS = st.one_of(st.just(""), mini_specs(), STRFTIME_SPECS, st.text(max_size=6))
CONVERSIONS = st.sampled_from(["", "", "", "!s", "!r", "!a"])
LITERALS = st.sampled_from(["", "_", "/", ".", "-", "a", "7", "..", "\\", " ", "/../", "CON", "{", "}"])


@st.composite
def any_templates(draw: st.DrawFn) -> str:
    """Build a template of allowed fields with random conversions, specs and literals, {message_id} included."""
    fields = draw(st.lists(st.sampled_from(FIELD_NAMES), max_size=4))
    fields.insert(draw(st.integers(0, len(fields))), "message_id")
    out = ""
    for field in fields:
        spec = draw(SPECS)
        out += draw(LITERALS) + "{" + field + draw(CONVERSIONS) + (":" + spec if spec else "") + "}"
    return out + draw(LITERALS)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=message_pairs(), template=any_templates())
@example(pair=(MessageInfo(7201), MessageInfo(72010), None), template="{message_id:0300d}")  # id cut off
@example(pair=(MessageInfo(2**40), MessageInfo(2**41), None), template="{message_id:c}")  # OverflowError
@example(pair=(MessageInfo(7201), MessageInfo(7202), None), template="{message_id:.1e}")  # ids alike
def test_property_any_spec_renders_inside_the_folder_or_is_refused(
    root: Path, pair: tuple[MessageInfo, MessageInfo, int | None], template: str
) -> None:
    a, b, index = pair
    try:
        ra = relative_path(template, a, album_index=index)
    except ValueError:
        with pytest.raises(ConfigError):
            load_settings(env_file=None, file_name_template=template)
        return
    rb = relative_path(template, b, album_index=index)
    check_path(ra, a, root)
    check_path(rb, b, root)
    assert str(ra).casefold() != str(rb).casefold()
    assert load_settings(env_file=None, file_name_template=template).file_name_template == template
