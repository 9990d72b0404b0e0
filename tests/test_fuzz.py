"""Time-bounded fuzzing: settings and .env parsing fail only with one ConfigError line; names stay valid."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tgfetch.config import ALLOWED, Settings, check_env_file, load_settings
from tgfetch.download.naming import sanitize_component
from tgfetch.errors import ConfigError

KEYS = sorted(k.upper() for k in ALLOWED)
SECRET_KEYS = {"TG_API_HASH", "TG_SESSION_STRINGS", "REDIS_URL"}

# Values that hit every parser's edge: booleans, numbers, enums, lists, URLs, templates.
PLAUSIBLE = [
    "",
    " ",
    "0",
    "1",
    "-1",
    "7",
    "200",
    "201",
    "0.5",
    "1.5",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "1_000",
    "  3  ",
    "\u0661\u0662",
    "9" * 5000,
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "maybe",
    "INFO",
    "debug",
    "verbose",
    "auto",
    "range_based",
    "media_group_aware",
    "file_size",
    "mixed",
    "a,b",
    "a,,b,",
    "a,a",
    ",",
    "bad name",
    "@channel",
    "https://t.me/channel",
    "-1001234567890",
    "redis://localhost:6379/0",
    "rediss://u:p@h:1/0",
    "http://x",
    "{message_id}_{file_name}",
    "{date}/{album_id}/{index:02d}_{message_id}{ext}",
    "{message_id",
    "{message_id}}",
    "{}",
    "{0}",
    "{message_id!x}",
    "{message_id.real}",
    "{file_name}",
    "0123456789abcdef0123456789abcdef",
    "downloads/../../etc",
    "machine-1.local",
]
# No NUL (the OS refuses it in the environment) and no lone surrogates (not encodable).
ENV_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
ENV_VALUE = st.one_of(st.none(), st.sampled_from(PLAUSIBLE), ENV_TEXT)
SECRET_TOKEN = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)
SECRET_VALUE = st.one_of(ENV_VALUE, SECRET_TOKEN, SECRET_TOKEN.map(lambda t: f"rediss://u:{t}@h:1/0"))


def assert_one_line_naming(err: ConfigError, names: set[str]) -> None:
    """Fail unless the error is one line that names one of the given variables."""
    msg = str(err)
    assert msg and len(msg.splitlines()) == 1, repr(msg)
    assert any(n in msg for n in names), (msg, names)


def assert_no_secret(err: ConfigError, secrets: Collection[str], public: Collection[str]) -> None:
    """Fail if the message shows a secret value (unless a public value contains it too)."""
    for secret in secrets:
        if len(secret) >= 16 and not any(secret in p for p in [*public, *ALLOWED.values()]):
            assert secret not in str(err), str(err)


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str | None]:
    """A value or absence for every tgfetch variable (few set at once, so some runs succeed)."""
    chosen = draw(st.one_of(st.lists(st.sampled_from(KEYS), unique=True, max_size=4), st.just(KEYS)))
    env: dict[str, str | None] = dict.fromkeys(KEYS)
    for k in chosen:
        env[k] = draw(SECRET_VALUE if k in SECRET_KEYS else ENV_VALUE)
    return env


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env=environments())
def test_fuzz_load_settings_from_environment(env: dict[str, str | None]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            if value is None:
                mp.delenv(key, raising=False)
            else:
                mp.setenv(key, value)
        try:
            result = load_settings(env_file=None)
        except ConfigError as err:
            assert_one_line_naming(err, {k for k, v in env.items() if v is not None})
            secrets = {v for k, v in env.items() if k in SECRET_KEYS and v}
            assert_no_secret(err, secrets, [v for k, v in env.items() if k not in SECRET_KEYS and v])
        else:
            assert isinstance(result, Settings)


@pytest.fixture(scope="module")
def env_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for generated .env files (hypothesis cannot use tmp_path)."""
    return tmp_path_factory.mktemp("envfiles")


def check_file(path: Path, secrets: Collection[str] = (), public: Collection[str] = ()) -> None:
    """Check a .env file, then load it: success or one ConfigError line, nothing else."""
    try:
        check_env_file(path)
    except ConfigError as err:
        assert_one_line_naming(err, {str(path)})
        return
    try:
        load_settings(env_file=path)
    except ConfigError as err:
        assert len(str(err).splitlines()) == 1 and "=" in str(err), repr(str(err))
        assert_no_secret(err, secrets, public)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.binary(max_size=300))
def test_fuzz_env_file_random_bytes(env_dir: Path, content: bytes) -> None:
    path = env_dir / "bytes.env"
    path.write_bytes(content)
    check_file(path)


@st.composite
def env_lines(draw: st.DrawFn) -> tuple[str, str | None]:
    """One .env line (NAME=value with odd separators and quotes) and the secret it holds."""
    key = draw(
        st.sampled_from([*KEYS, "export TG_API_ID", "export REDIS_URL", "lower_case", "", " ", "#", "A B", "1X"])
    )
    secret = key.removeprefix("export ") in SECRET_KEYS
    value = draw((SECRET_VALUE if secret else ENV_VALUE).filter(bool))
    sep = draw(st.sampled_from(["=", " = ", "", "==", ":"]))
    quote = draw(st.sampled_from(["", "'", '"', "`"]))
    return f"{key}{sep}{quote}{value}{quote}", value if secret else None


RAW_LINE = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
LINE = st.one_of(env_lines(), RAW_LINE.map(lambda t: (t, None)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(LINE, max_size=8), newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_fuzz_env_file_random_lines(env_dir: Path, lines: list[tuple[str, str | None]], newline: str) -> None:
    path = env_dir / "lines.env"
    path.write_bytes(newline.join(line for line, _ in lines).encode("utf-8"))
    secrets = {s for _, s in lines if s}
    check_file(path, secrets, [line for line, s in lines if s is None])


@pytest.mark.parametrize("line", ["REDIS_URL: rediss://u:pw0123456789@h", 'TG_API_HASH="0123456789abcdef'])
def test_env_file_parse_error_does_not_echo_a_secret(tmp_path: Path, line: str) -> None:
    path = tmp_path / ".env"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError) as info:
        check_env_file(path)
    assert "0123456789" not in str(info.value)


ANY_STRING = st.text(alphabet=st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr)), max_size=300)


@settings(max_examples=1000, deadline=None)
@given(name=ANY_STRING, max_bytes=st.integers(1, 300), fallback=st.one_of(st.just("file"), ANY_STRING))
def test_fuzz_sanitize_component(name: str, max_bytes: int, fallback: str) -> None:
    out = sanitize_component(name, max_bytes=max_bytes, fallback=fallback)
    assert out and out not in {".", ".."}
    assert len(out.encode("utf-8")) <= max_bytes
    assert not any(c in '/\\:*?"<>|' or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in out), out
    assert out == out.strip() and out[-1] != "."
    assert unicodedata.is_normalized("NFC", out)
    assert out.split(".", 1)[0].rstrip(" ").upper() not in {"CON", "PRN", "AUX", "NUL"}
