"""Settings: environment variables, then `.env` in the working directory, then flags.

Precedence: command-line flags > environment > `.env` > defaults.  Every bad
value becomes one `ConfigError` line naming the variable, the value and what
is allowed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tgfetch.errors import ConfigError

if TYPE_CHECKING:
    from tgfetch.proxy import ProxySpec
    from tgfetch.selection import Selection
    from tgfetch.web.bind import WebBind
from tgfetch.model import DistributionMode, LoadBalanceMetric

__all__ = ["LOG_LEVELS", "Settings", "check_env_file", "check_phone", "is_session_name", "load_settings"]

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_BOOL = "a boolean (true/false, 1/0, yes/no, on/off)"

# What each variable allows, used in every error message about it.
ALLOWED: dict[str, str] = {
    "task_distribution_mode": "one of " + ", ".join(DistributionMode.names()) + " or an installed plugin's name",
    "custom_strategy": "module:Class naming a TaskDistributionStrategy subclass (e.g. mypackage.strategies:MyStrategy)",
    "load_balance_metric": "one of " + ", ".join(LoadBalanceMetric.names()),
    "max_imbalance_ratio": "a number from 0 to 1",
    "prefer_large_groups_first": _BOOL,
    "enable_distribution_validation": _BOOL,
    "grouping_batch_size": "an integer from 1 to 200",
    "grouping_max_retries": "an integer from 0 to 100",
    "grouping_timeout": "a number of seconds greater than 0",
    "enable_strategy_comparison": _BOOL,
    "auto_strategy_recommendation": _BOOL,
    "log_level": "one of " + ", ".join(LOG_LEVELS),
    "tg_api_id": "the api_id from my.telegram.org (an integer from 1 to 2147483647)",
    "tg_api_hash": "the 32-hex-digit api_hash from my.telegram.org",
    "tg_sessions": "comma-separated session names (1 to 64 letters, digits, _ and -), each once",
    "tg_session_dir": "a directory path",
    "tg_session_strings": "comma-separated Telethon string sessions",
    "channel": "one or more chats, comma-separated: @name, t.me/name, t.me/c/<id>, an id or an invite link",
    "topic": "a forum topic id (1 = General) from 1 to 2147483647",
    "events_file": "a file path (not a directory)",
    "hook_concurrency": "an integer from 1 to 64",
    "learning": "on or off",
    "watch_interval": "a number of seconds greater than 0 (at most 86400)",
    "watch_settle_seconds": "a number of seconds from 0 to 3600",
    "web": "[HOST:]PORT: a port from 0 to 65535 (0: any free one) after an optional host (an IPv4 address, "
           "[an IPv6 address], localhost or a host name; default 127.0.0.1), e.g. 8080 or 0.0.0.0:8080",
    "web_token": "at least 16 characters of letters, digits, -, _, . and ~ (e.g. the output of "
                 "python3 -c 'import secrets; print(secrets.token_urlsafe())')",
    "start_message_id": "a message id of at least 1 (and at most 2147483647)",
    "end_message_id": "a message id of at least 1 (and at most 2147483647)",
    "download_dir": "a directory path (not an existing file)",
    "max_concurrent_downloads_per_client": "an integer from 1 to 64 (unset: the server's download queue limits)",
    "state_db": "a file path (not a directory)",
    "file_name_template": "a template of the fields in README (FILE_NAME_TEMPLATE), with {message_id}",
    "flood_wait_handoff_seconds": "a number of seconds of at least 0",
    "max_file_retries": "an integer from 0 to 100",
    "rpc_timeout": "a number of seconds greater than 0",
    "log_file": "a file path (not a directory)",
    "redis_url": "a redis:// or rediss:// URL",
    "proxy": "socks5://[user:pass@]host:port, socks4://, http://, mtproxy://SECRET@host:port or a t.me/proxy link",
    "tg_proxies": "name=URL items separated by commas (URL as PROXY, or direct)",
    "machine_name": "a name of letters, digits, ., _ and -",
}

MAX_INT32 = 2**31 - 1  # api_id and message ids are 32-bit on Telegram


def is_session_name(name: str) -> bool:
    """True for a session name: 1 to 64 ASCII letters, digits, _ and - (so never a path)."""
    return bool(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name))


def check_phone(phone: str) -> str:
    """The phone number in international format (digits with an optional +), or ConfigError."""
    digits = re.sub(r"[\s().-]", "", phone.strip())
    if not re.fullmatch(r"\+?[0-9]{7,15}", digits):
        raise ConfigError("the phone number is not allowed: expected international format, e.g. +15551234567 "
                          "(7 to 15 digits)")
    return digits if digits.startswith("+") else "+" + digits


def _kind(path: Path) -> str:
    """'dir', 'file', 'missing', or ValueError when the system cannot even look it up."""
    if "\x00" in str(path):
        raise ValueError("contains a NUL character")
    try:
        return "dir" if path.is_dir() else "file" if path.exists() else "missing"
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot be used as a path ({getattr(exc, 'strerror', None) or exc})") from None


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of a tgfetch run (read once at start-up, then passed in)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
        env_ignore_empty=True,
    )

    task_distribution_mode: str = "media_group_aware"
    custom_strategy: str | None = None
    load_balance_metric: LoadBalanceMetric = LoadBalanceMetric.FILE_COUNT
    max_imbalance_ratio: float = Field(0.3, ge=0.0, le=1.0, allow_inf_nan=False)
    prefer_large_groups_first: bool = True
    enable_distribution_validation: bool = True
    grouping_batch_size: int = Field(200, ge=1, le=200)
    grouping_max_retries: int = Field(3, ge=0, le=100)
    grouping_timeout: float = Field(30.0, gt=0, allow_inf_nan=False)
    enable_strategy_comparison: bool = False
    auto_strategy_recommendation: bool = True
    log_level: str = "INFO"

    tg_api_id: int | None = Field(None, gt=0, le=MAX_INT32)
    tg_api_hash: SecretStr | None = None
    tg_sessions: Annotated[list[str], NoDecode] = Field(default_factory=list)
    tg_session_dir: Path = Path("sessions")
    tg_session_strings: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    channel: str | None = None
    start_message_id: int | None = Field(None, ge=1, le=MAX_INT32)
    end_message_id: int | None = Field(None, ge=1, le=MAX_INT32)
    download_dir: Path = Path("downloads")
    # None: as many files at once as Telegram's download queues allow (help.getAppConfig; 5 small, 2 large per DC)
    max_concurrent_downloads_per_client: int | None = Field(None, ge=1, le=64)
    state_db: Path | None = None
    file_name_template: str = "{message_id}_{file_name}"
    flood_wait_handoff_seconds: float = Field(60.0, ge=0, allow_inf_nan=False)
    max_file_retries: int = Field(5, ge=0, le=100)
    rpc_timeout: float = Field(60.0, gt=0, allow_inf_nan=False)
    log_file: Path | None = None
    redis_url: SecretStr | None = None
    proxy: SecretStr | None = None  # every account's proxy (a URL; its password is a secret)
    tg_proxies: SecretStr | None = None  # per account, overriding PROXY: name=URL,…
    machine_name: str | None = None
    # What to download (issue 14): raw values, checked and read by `selection()`.
    media_types: str | None = None
    include_ext: str | None = None
    exclude_ext: str | None = None
    min_file_size: str | None = None
    max_file_size: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    filter: str | None = None
    albums: str = "whole"
    topic: int | None = Field(None, ge=1, le=MAX_INT32)  # only this forum topic
    comments: bool = False  # also the media of the comments under the posts
    new_only: bool = False  # only what is newer than what earlier runs settled (tgfetch.incremental)
    events_file: Path | None = None  # one JSON object per line for each event (tgfetch.events)
    on_file_exec: str | None = None  # a command run after each file is final (tgfetch.hooks)
    on_album_exec: str | None = None  # a command run after each album is final
    hook_concurrency: int = Field(2, ge=1, le=64)
    watch_interval: float = Field(30.0, gt=0, le=86400, allow_inf_nan=False)  # seconds between polls
    watch_settle_seconds: float = Field(5.0, ge=0, le=3600, allow_inf_nan=False)  # an album's quiet time
    # Learned predictions (tgfetch.learning): every finished file's time in a per-machine history that
    # predicts the next runs' files and the ETA; off: nothing is read or written there.
    learning: Literal["on", "off"] = "on"
    web: str | None = None  # [HOST:]PORT of the live dashboard (tgfetch.web); None: no dashboard
    web_token: SecretStr | None = None  # the dashboard's token (required beyond loopback; else a random one)

    @field_validator("web", mode="before")
    @classmethod
    def _web(cls, v: Any) -> Any:
        from tgfetch.web.bind import parse_bind

        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if not isinstance(v, str):
            raise ValueError("not [HOST:]PORT")
        return str(parse_bind(v))

    @field_validator("web_token", mode="before")
    @classmethod
    def _web_token(cls, v: Any) -> Any:
        text = v.get_secret_value() if isinstance(v, SecretStr) else v
        if text is None or (isinstance(text, str) and not text):
            return None
        if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9._~-]{16,256}", text):
            raise ValueError("not a token")
        return text

    def web_bind(self) -> WebBind | None:
        """Where the live dashboard listens (WEB), or None."""
        from tgfetch.web.bind import parse_bind

        return parse_bind(self.web) if self.web else None

    @field_validator("task_distribution_mode", mode="before")
    @classmethod
    def _mode(cls, v: Any) -> Any:
        if isinstance(v, DistributionMode):
            return v.value
        if not isinstance(v, str) or not v.strip() or any(c.isspace() for c in v.strip()):
            raise ValueError("unknown mode")
        return v.strip().lower()

    @model_validator(mode="after")
    def _known_mode(self) -> Settings:
        # Built-in modes cost nothing; any other name must be an installed plugin's (read lazily).
        mode, builtin = self.task_distribution_mode, DistributionMode.names()
        plugins = [] if mode in builtin else DistributionMode.plugin_names()
        if mode in builtin or mode in plugins:
            return self
        valid = builtin + [p for p in plugins if p not in builtin]
        raise ValueError(f"TASK_DISTRIBUTION_MODE={mode!r} is not allowed: expected one of {', '.join(valid)} "
                         "(the built-in modes and the installed tgfetch.strategies plugins)")

    @field_validator("custom_strategy")
    @classmethod
    def _custom_strategy(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", v.strip()):
            raise ValueError("not of the form module:Class")
        return v.strip()

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, v: Any) -> Any:
        if not isinstance(v, str) or v.strip().upper() not in LOG_LEVELS:
            raise ValueError("unknown level")
        return v.strip().upper()

    @field_validator("tg_api_hash")
    @classmethod
    def _api_hash(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", v.get_secret_value()):
            raise ValueError("not 32 hexadecimal digits")
        return v

    @field_validator("state_db", "log_file", "download_dir", "events_file", mode="before")
    @classmethod
    def _empty_path(cls, v: Any) -> Any:
        # An empty path means the default (as an empty variable does), never the current folder.
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("state_db", "log_file", "events_file")
    @classmethod
    def _file_path(cls, v: Path | None) -> Path | None:
        if v is not None and _kind(v) == "dir":
            raise ValueError("is a directory")
        return v

    @field_validator("download_dir")
    @classmethod
    def _dir_path(cls, v: Path | None) -> Path:
        if v is None:
            return Path("downloads")
        if _kind(v) == "file":
            raise ValueError("is a file")
        return v

    @field_validator("tg_sessions", "tg_session_strings", mode="before")
    @classmethod
    def _commas(cls, v: Any) -> Any:
        return _split_commas(v)

    @field_validator("tg_sessions")
    @classmethod
    def _session_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not is_session_name(name):
                raise ValueError(f"{name!r} is not a session name")
        twice = sorted({n for n in v if v.count(n) > 1})
        if twice:
            raise ValueError(f"{', '.join(map(repr, twice))} listed twice: each session name once")
        return v

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        if v is None:
            return None
        items = [c.strip() for c in v.split(",")]
        if items == [""]:
            return None
        if "" in items:
            raise ValueError("has an empty item in its comma list")
        if any(any(ch.isspace() for ch in c) for c in items):
            raise ValueError("contains whitespace")
        twice = sorted({c for c in items if [x.lower() for x in items].count(c.lower()) > 1})
        if twice:
            raise ValueError(f"lists {twice[0]!r} twice: name each chat once")
        return ",".join(items)

    def channels(self) -> list[str]:
        """The chats of CHANNEL, in order (none when unset)."""
        return self.channel.split(",") if self.channel else []

    @field_validator("file_name_template")
    @classmethod
    def _template(cls, v: str) -> str:
        from tgfetch.download.naming import check_template

        try:
            check_template(v)  # the one check relative_path runs too, with the one list of fields
        except ValueError as exc:
            # A ConfigError, not a ValueError: the reason names the field and every allowed one.
            raise ConfigError(f"FILE_NAME_TEMPLATE={v!r} is not allowed: {exc}") from None
        return v

    @field_validator("machine_name")
    @classmethod
    def _machine(cls, v: str | None) -> str | None:
        if v is not None and not v.replace(".", "").replace("_", "").replace("-", "").isalnum():
            raise ValueError("bad machine name")
        return v

    @model_validator(mode="after")
    def _range(self) -> Settings:
        s, e = self.start_message_id, self.end_message_id
        if s is not None and e is not None and s > e:
            raise ValueError(
                f"START_MESSAGE_ID={s} is greater than END_MESSAGE_ID={e}: "
                "expected START_MESSAGE_ID <= END_MESSAGE_ID"
            )
        return self

    @model_validator(mode="after")
    def _proxies_ok(self) -> Settings:
        self.proxies()  # a bad proxy URL stops here, before anything connects (ConfigError, one line, no secret)
        return self

    def proxies(self) -> tuple[ProxySpec | None, dict[str, ProxySpec | None]]:
        """PROXY and TG_PROXIES, parsed (None: no proxy; a TG_PROXIES entry of None: `direct`)."""
        from tgfetch.proxy import parse_proxies, parse_proxy

        every = parse_proxy(self.proxy.get_secret_value()) if self.proxy and self.proxy.get_secret_value() else None
        each = parse_proxies(self.tg_proxies.get_secret_value()) if self.tg_proxies is not None else {}
        return every, each

    def secret_values(self) -> list[str]:
        """Every secret the settings hold (what logs, events, hooks' environments and reports must not show)."""
        out = [x.get_secret_value() for x in self.tg_session_strings]
        for secret in (self.tg_api_hash, self.redis_url, self.web_token):
            if secret is not None:
                out.append(secret.get_secret_value())
        every, each = self.proxies()
        out += [x for spec in (every, *each.values()) if spec is not None for x in spec.secrets]
        return [x for x in out if x]

    def proxy_for(self, name: str) -> ProxySpec | None:
        """The proxy account `name` connects through (TG_PROXIES, else PROXY, else none)."""
        every, each = self.proxies()
        return each[name] if name in each else every

    @model_validator(mode="after")
    def _selection_ok(self) -> Settings:
        self.selection()  # a bad selection stops here, before anything connects (ConfigError, one line)
        return self

    def selection(self) -> Selection:
        """What to download, from MEDIA_TYPES, INCLUDE_EXT, …, FILTER and ALBUMS."""
        from tgfetch.selection import Selection

        return Selection.from_values(
            media_types=self.media_types, include_ext=self.include_ext, exclude_ext=self.exclude_ext,
            min_size=self.min_file_size, max_size=self.max_file_size, date_from=self.date_from,
            date_to=self.date_to, filter=self.filter, albums=self.albums)

    @property
    def mode(self) -> str:
        """The configured distribution mode name."""
        return self.task_distribution_mode


_SECRET_SETTINGS = {"tg_api_hash", "tg_session_strings", "redis_url", "proxy", "tg_proxies", "web_token"}


def _describe(err: dict[str, Any]) -> str:
    loc = err.get("loc") or ()
    name = str(loc[0]) if loc else ""
    if not name:  # model-level validator: its message is already complete
        msg = str(err.get("msg", ""))
        return msg.removeprefix("Value error, ")
    value = err.get("input")
    shown = "<secret>" if name in _SECRET_SETTINGS else value
    allowed = ALLOWED.get(name, str(err.get("msg", "")))
    if isinstance(shown, list):
        shown = ",".join(str(x) for x in shown)
    if isinstance(shown, Path):
        shown = str(shown)
    detail = str(err.get("msg", "")).removeprefix("Value error, ") if err.get("type") == "value_error" else ""
    why = f"{detail}; " if detail and name not in _SECRET_SETTINGS else ""
    return f"{name.upper()}={shown!r} is not allowed: {why}expected {allowed}"


def check_env_file(path: str | os.PathLike[str]) -> None:
    """Refuse a `.env` file with lines that cannot be parsed (one clear line)."""
    path = Path(path)
    if not path.is_file():
        return
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as UTF-8 text ({type(exc).__name__})") from None
    import io

    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            # Show only the variable's name: the rest of the line may hold a secret.
            text = binding.original.string
            # The binding starts with the blank and comment lines before it: skip them.
            lead = text[: len(text) - len(text.lstrip())]
            line = binding.original.line + lead.count("\n")
            m = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)", text)
            what = f"the {m.group(1)} line" if m else "a line"
            raise ConfigError(f"{path} line {line}: cannot parse {what}: expected NAME=value")


def load_settings(env_file: str | os.PathLike[str] | None = Path(".env"), *, require_env_file: bool = False,
                  **overrides: Any) -> Settings:
    """Read settings; convert every validation problem into one ConfigError line.

    `env_file` is read when it exists; with `require_env_file` (a file the user named)
    a missing or unreadable one is an error.
    """
    if env_file is not None:
        env_file = Path(env_file)
        try:
            kind = _kind(env_file)
        except ValueError as exc:
            raise ConfigError(f"--env-file {str(env_file)!r} {exc}: expected a .env file of NAME=value lines") from None
        if require_env_file and kind != "file":
            what = "is a directory" if kind == "dir" else "does not exist"
            raise ConfigError(f"--env-file {str(env_file)!r} {what}: expected a .env file of NAME=value lines")
        if kind != "file":
            env_file = None
        else:
            check_env_file(env_file)
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(_env_file=env_file, **clean)  # type: ignore[call-arg]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(_describe(dict(first))) from None
