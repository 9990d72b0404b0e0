"""The event log (`EVENTS_FILE` / `--events PATH`): one JSON object per line, appended, versioned.

Every line is one event::

    {"v": 1, "event": "file_done", "ts": "2024-05-01T12:00:00.123Z", "run": "3f2a…", "seq": 7, …fields}

`v` is `SCHEMA_VERSION` (raised only when a field changes meaning or goes away; new
fields and new kinds may appear in the same version, so readers ignore what they do
not know), `ts` the UTC time with milliseconds, `run` one id per tgfetch run (the file
is appended to across runs), `seq` 1, 2, 3, … within a run in file order.  The kinds
and their fields are the dataclasses below (`event_schema()` lists them).

Writing never stops a download: each line is one `write()` of the whole line on a
file opened for appending (0600), under a lock, so lines never interleave, even from
threads; an I/O error (disk full, file system gone) logs one warning and turns the log
off for the rest of the run.  Only the fields of the event kinds are written (no
settings but an allow-list, never a secret); free-text errors are redacted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, get_type_hints

from tgfetch.errors import ConfigError
from tgfetch.logs import RedactingFilter

if TYPE_CHECKING:
    from tgfetch.download.stats import FileRecord
    from tgfetch.model import MessageInfo, TaskDistributionResult

__all__ = [
    "EVENT_KINDS",
    "SAFE_SETTINGS",
    "SCHEMA_VERSION",
    "AccountState",
    "AlbumDone",
    "Event",
    "EventLog",
    "Events",
    "FileDone",
    "FileFailed",
    "HookDone",
    "JobDone",
    "JobStarted",
    "NullEvents",
    "Plan",
    "event_json",
    "event_schema",
    "read_events",
    "file_done",
    "open_events",
    "plan_event",
    "settings_summary",
]

log = logging.getLogger("tgfetch")

SCHEMA_VERSION = 1
MAX_TEXT_CHARS = 2000  # a free-text error or detail, after redaction
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)

# The settings `job_started` shows: an allow-list, so that no secret can ever be written.
SAFE_SETTINGS = (
    "task_distribution_mode", "load_balance_metric", "max_concurrent_downloads_per_client", "download_dir",
    "file_name_template", "start_message_id", "end_message_id", "topic", "comments", "media_types",
    "include_ext", "exclude_ext", "min_file_size", "max_file_size", "date_from", "date_to", "filter", "albums",
    "flood_wait_handoff_seconds", "max_file_retries", "rpc_timeout", "machine_name",
)

AccountStateName = Literal["flood_wait", "revoked", "handed_off", "dead", "back"]


# ------------------------------------------------------------------ the kinds


@dataclass(frozen=True, slots=True, kw_only=True)
class JobStarted:
    """A run began: the chats and accounts (names only), the settings that shape it."""

    kind: ClassVar[str] = "job_started"
    version: str  # tgfetch's version
    chats: tuple[str, ...]  # as reports name them (@name, an id, `<channel> comments`)
    accounts: tuple[str, ...]  # session names
    settings: Mapping[str, Any] = field(default_factory=dict)  # settings_summary()


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The plan: the strategy and, per account, its groups, files and bytes."""

    kind: ClassVar[str] = "plan"
    strategy: str
    accounts: Mapping[str, Mapping[str, int]]  # name → {"groups", "files", "bytes"}


@dataclass(frozen=True, slots=True, kw_only=True)
class FileDone:
    """A file is final on disk (renamed, recorded done)."""

    kind: ClassVar[str] = "file_done"
    chat: str
    chat_id: int  # Telegram's id of the chat
    message_id: int
    path: str  # absolute
    size: int
    sha256: str
    account: str
    album_id: int | None = None  # Telegram's media group id; None for a single message
    index: int | None = None  # 1-based position in its album (message id order)
    caption: str = ""
    date: str | None = None  # the message's date, ISO-8601 UTC
    media_type: str | None = None  # photo, video, document, audio, voice, …
    mime_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlbumDone:
    """Every file of an album is final on disk."""

    kind: ClassVar[str] = "album_done"
    chat: str
    chat_id: int
    album_id: int
    account: str  # the account that downloaded most of it
    files: int
    paths: tuple[str, ...]  # absolute, in message id order
    message_ids: tuple[int, ...]
    size: int  # bytes, all files
    caption: str = ""  # the album's caption (its first non-empty one)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileFailed:
    """A file could not be downloaded in this run (a rerun tries it again)."""

    kind: ClassVar[str] = "file_failed"
    chat: str
    chat_id: int
    message_id: int
    error: str  # redacted
    attempts: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountState:
    """An account changed state: flood_wait, revoked, handed_off, dead or back."""

    kind: ClassVar[str] = "account_state"
    account: str
    state: AccountStateName
    seconds: float | None = None  # flood_wait: how long
    detail: str = ""  # redacted


@dataclass(frozen=True, slots=True, kw_only=True)
class HookDone:
    """A hook (`--exec`, `--exec-album`) ended: ok, failed, timeout or gone (its files left the disk)."""

    kind: ClassVar[str] = "hook_done"
    hook: Literal["file", "album"]
    chat: str
    item: int  # the message id (file) or the album id (album)
    status: Literal["ok", "failed", "timeout", "gone"]
    exit_code: int | None  # negative: killed by that signal; None: never exited
    attempts: int
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class JobDone:
    """The run ended: the summary."""

    kind: ClassVar[str] = "job_done"
    outcome: str  # done, files_failed, interrupted or error
    exit_code: int
    files: int  # on disk for the job (this run's and earlier runs')
    downloaded: int  # fetched by this run
    bytes: int  # of this run's files
    failures: int
    elapsed_s: float
    hooks: Mapping[str, int] = field(default_factory=dict)  # HookRunner.summary(): ok, failed, pending, …


Event = JobStarted | Plan | FileDone | AlbumDone | FileFailed | AccountState | HookDone | JobDone
EVENT_KINDS: tuple[type[Event], ...] = (JobStarted, Plan, FileDone, AlbumDone, FileFailed, AccountState, HookDone,
                                        JobDone)
_REDACTED_FIELDS = frozenset({"error", "detail"})
_redactor = RedactingFilter()


# ------------------------------------------------------------------ JSON form


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The events of an events file so far, oldest first (nothing when it does not exist yet). A line still
    being written (no newline yet) is left for the next read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n") and line.strip()]


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """A JSON-ready copy: mappings as dicts, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def event_json(event: Event, *, ts: str | None = None) -> dict[str, Any]:
    """An event as its JSON object (without `run` and `seq`, which the log adds): v, event, ts, fields."""
    out: dict[str, Any] = {"v": SCHEMA_VERSION, "event": event.kind, "ts": ts or _utc_now()}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.name in _REDACTED_FIELDS and isinstance(value, str):
            value = _redactor.redact(value)[:MAX_TEXT_CHARS]
        out[f.name] = _plain(value)
    return out


def _line(obj: Mapping[str, Any]) -> bytes:
    """One JSON line, UTF-8; a lone surrogate (a non-UTF-8 file name) becomes its \\u escape."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)
    return (text + "\n").encode("utf-8", "backslashreplace")


def event_schema() -> dict[str, Any]:
    """Each kind's fields and their types (the README's table, and the tests', come from here)."""
    envelope = {"v": "int", "event": "str", "ts": "str (ISO-8601 UTC, ms)", "run": "str", "seq": "int"}
    kinds: dict[str, Any] = {}
    for cls in EVENT_KINDS:
        hints = get_type_hints(cls)
        fields_ = {f.name: _type_name(hints[f.name]) for f in dataclasses.fields(cls)}
        kinds[cls.kind] = {"doc": (cls.__doc__ or "").strip(), "fields": fields_}
    return {"version": SCHEMA_VERSION, "envelope": envelope, "kinds": kinds}


def _type_name(hint: Any) -> str:
    text = str(hint) if not isinstance(hint, type) else hint.__name__
    for noise in ("typing.", "collections.abc.", "tgfetch.events."):
        text = text.replace(noise, "")
    return text


# ------------------------------------------------------------------ builders


def settings_summary(settings: object) -> dict[str, Any]:
    """The allow-listed settings (SAFE_SETTINGS) of a Settings object, JSON-ready; never a secret."""
    out: dict[str, Any] = {}
    for name in SAFE_SETTINGS:
        value = getattr(settings, name, None)
        if value is None or isinstance(value, bool | int | float | str):
            out[name] = value
        else:
            out[name] = str(getattr(value, "value", value))  # an enum's value, a path
    return out


def plan_event(plan: TaskDistributionResult) -> Plan:
    """The `plan` event of a plan: per account its groups, files and bytes."""
    shares = {a.client_name: {"groups": len(a.message_groups), "files": a.total_files, "bytes": a.estimated_size}
              for a in plan.client_assignments}
    return Plan(strategy=plan.strategy, accounts=shares)


def file_done(rec: FileRecord, info: MessageInfo | None, *, chat: str, chat_id: int, root: Path,
              index: int | None = None) -> FileDone:
    """The `file_done` event of a file record (path relative to `root`, its chat's folder)."""
    date = None
    if info is not None and info.date is not None:  # Telethon's dates are UTC; a naive one is taken as UTC
        date = (info.date if info.date.tzinfo else info.date.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return FileDone(
        chat=chat, chat_id=chat_id, message_id=rec.message_id, path=str((root / rec.path).absolute()),
        size=rec.size, sha256=rec.sha256, account=rec.client, index=index, date=date,
        album_id=info.media_group_id if info is not None else None, caption=info.caption if info else "",
        media_type=info.media_type if info else None, mime_type=info.mime_type if info else None)


# ------------------------------------------------------------------ the logs


class Events(Protocol):
    """Where events go: an `EventLog` or `NullEvents`."""

    def emit(self, event: Event) -> None:
        """Write one event; never raises."""

    def close(self) -> None:
        """Stop writing (idempotent)."""


class NullEvents:
    """No event log (no EVENTS_FILE): every event is dropped."""

    run = ""
    enabled = False

    def emit(self, event: Event) -> None:
        """Drop the event."""

    def close(self) -> None:
        """Nothing to close."""


class EventLog:
    """An open events file; thread-safe; an I/O error turns it off (one warning), never into the job."""

    def __init__(self, path: Path, fd: int, run: str) -> None:
        """Wrap an opened file descriptor; use EventLog.open() instead."""
        self.path = path
        self.run = run
        self._fd: int | None = fd
        self._seq = 0
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, run: str | None = None) -> EventLog:
        """Open (creating it and its folders, mode 0600) the events file for appending; ConfigError if it cannot."""
        target = Path(path)
        if target.is_dir():
            raise ConfigError(f"EVENTS_FILE={str(target)!r} is a directory: expected a file path")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, _OPEN_FLAGS, 0o600)
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise ConfigError(f"EVENTS_FILE={str(target)!r} cannot be written ({why}): "
                              "expected a file path in a writable folder") from None
        return cls(target, fd, run or uuid.uuid4().hex[:12])

    @property
    def enabled(self) -> bool:
        """True while events are written (not closed, no I/O error)."""
        return self._fd is not None

    def emit(self, event: Event) -> None:
        """Append the event as one line (one write), numbered by `seq`."""
        body = event_json(event)
        with self._lock:
            if self._fd is None:
                return
            self._seq += 1
            line = _line({**body, "run": self.run, "seq": self._seq})
            try:
                _write_all(self._fd, line)
            except OSError as exc:
                log.warning("events file %s cannot be written (%s): events are off for this run",
                            self.path, exc.strerror or type(exc).__name__)
                self._close_locked(sync=False)

    def close(self) -> None:
        """Flush to disk and close (idempotent)."""
        with self._lock:
            self._close_locked(sync=True)

    def _close_locked(self, *, sync: bool) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):  # a file system that is gone may refuse both
            if sync:
                os.fsync(fd)
        with contextlib.suppress(OSError):
            os.close(fd)

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte (a regular file takes it in one write; a short write continues it)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(28, "short write")
        view = view[n:]


def open_events(path: str | os.PathLike[str] | None, *, run: str | None = None) -> EventLog | NullEvents:
    """The job's event log: an EventLog for a path, NullEvents for None."""
    return NullEvents() if path is None else EventLog.open(path, run=run)
