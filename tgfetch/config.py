"""Settings: environment variables, then `.env` in the working directory, then flags.

Precedence: command-line flags > environment > `.env` > defaults.  Every bad
value becomes one `ConfigError` line naming the variable, the value and what
is allowed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tgfetch.errors import ConfigError
from tgfetch.model import DistributionMode, LoadBalanceMetric

__all__ = ["LOG_LEVELS", "Settings", "check_env_file", "load_settings"]

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_BOOL = "a boolean (true/false, 1/0, yes/no, on/off)"

# What each variable allows, used in every error message about it.
ALLOWED: dict[str, str] = {
    "task_distribution_mode": "one of " + ", ".join(DistributionMode.names()),
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
    "tg_api_id": "a positive integer (from my.telegram.org)",
    "tg_api_hash": "the 32-hex-digit api_hash from my.telegram.org",
    "tg_sessions": "comma-separated session names (letters, digits, _ and -)",
    "tg_session_dir": "a directory path",
    "tg_session_strings": "comma-separated Telethon string sessions",
    "channel": "a username (@name), a t.me link or a numeric id",
    "start_message_id": "an integer of at least 1",
    "end_message_id": "an integer of at least 1",
    "download_dir": "a directory path",
    "max_concurrent_downloads_per_client": "an integer from 1 to 64",
    "state_db": "a file path",
    "file_name_template": "a template using {message_id}, {date}, {album_id}, {index}, {file_name}, {ext}",
    "flood_wait_handoff_seconds": "a number of seconds of at least 0",
    "max_file_retries": "an integer from 0 to 100",
    "rpc_timeout": "a number of seconds greater than 0",
    "log_file": "a file path",
    "redis_url": "a redis:// or rediss:// URL",
    "machine_name": "a name of letters, digits, ., _ and -",
}

_TEMPLATE_FIELDS = ("message_id", "date", "album_id", "index", "file_name", "ext", "media_type")


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

    tg_api_id: int | None = Field(None, gt=0)
    tg_api_hash: SecretStr | None = None
    tg_sessions: Annotated[list[str], NoDecode] = Field(default_factory=list)
    tg_session_dir: Path = Path("sessions")
    tg_session_strings: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    channel: str | None = None
    start_message_id: int | None = Field(None, ge=1)
    end_message_id: int | None = Field(None, ge=1)
    download_dir: Path = Path("downloads")
    max_concurrent_downloads_per_client: int = Field(3, ge=1, le=64)
    state_db: Path | None = None
    file_name_template: str = "{message_id}_{file_name}"
    flood_wait_handoff_seconds: float = Field(60.0, ge=0, allow_inf_nan=False)
    max_file_retries: int = Field(5, ge=0, le=100)
    rpc_timeout: float = Field(60.0, gt=0, allow_inf_nan=False)
    log_file: Path | None = None
    redis_url: SecretStr | None = None
    machine_name: str | None = None

    @field_validator("task_distribution_mode", mode="before")
    @classmethod
    def _mode(cls, v: Any) -> Any:
        if isinstance(v, DistributionMode):
            return v.value
        if not isinstance(v, str) or v.strip().lower() not in DistributionMode.names():
            raise ValueError("unknown mode")
        return v.strip().lower()

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, v: Any) -> Any:
        if not isinstance(v, str) or v.strip().upper() not in LOG_LEVELS:
            raise ValueError("unknown level")
        return v.strip().upper()

    @field_validator("tg_sessions", "tg_session_strings", mode="before")
    @classmethod
    def _commas(cls, v: Any) -> Any:
        return _split_commas(v)

    @field_validator("tg_sessions")
    @classmethod
    def _session_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not name.replace("_", "").replace("-", "").isalnum() or not name.isascii():
                raise ValueError(f"bad session name {name!r}")
        if len(set(v)) != len(v):
            raise ValueError("a session name is listed twice")
        return v

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip()
        if not v:
            return None
        if any(c.isspace() for c in v):
            raise ValueError("contains whitespace")
        return v

    @field_validator("file_name_template")
    @classmethod
    def _template(cls, v: str) -> str:
        import string

        try:
            names = [f for _, f, _, _ in string.Formatter().parse(v) if f is not None]
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        bad = [n for n in names if n.split(":")[0].split("!")[0] not in _TEMPLATE_FIELDS]
        if bad or "message_id" not in names:
            raise ValueError("template must contain {message_id} and only known fields")
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

    @property
    def state_db_path(self) -> Path:
        """The SQLite state file (default: DOWNLOAD_DIR/.tgfetch.sqlite)."""
        return self.state_db_for(self.download_dir)

    def state_db_for(self, dest: str | os.PathLike[str]) -> Path:
        """The state file of a job downloading into `dest` (STATE_DB when set)."""
        return self.state_db if self.state_db is not None else Path(dest) / ".tgfetch.sqlite"

    @property
    def mode(self) -> str:
        """The configured distribution mode name."""
        return self.task_distribution_mode


def _describe(err: dict[str, Any]) -> str:
    loc = err.get("loc") or ()
    name = str(loc[0]) if loc else ""
    if not name:  # model-level validator: its message is already complete
        msg = str(err.get("msg", ""))
        return msg.removeprefix("Value error, ")
    value = err.get("input")
    shown = "<secret>" if name in {"tg_api_hash", "tg_session_strings", "redis_url"} else value
    allowed = ALLOWED.get(name, str(err.get("msg", "")))
    if isinstance(shown, list):
        shown = ",".join(str(x) for x in shown)
    return f"{name.upper()}={shown!r} is not allowed: expected {allowed}"


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


def load_settings(env_file: str | os.PathLike[str] | None = Path(".env"), **overrides: Any) -> Settings:
    """Read settings; convert every validation problem into one ConfigError line."""
    if env_file is not None:
        env_file = Path(env_file)
        check_env_file(env_file)
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(_env_file=env_file, **clean)  # type: ignore[call-arg]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(_describe(dict(first))) from None
