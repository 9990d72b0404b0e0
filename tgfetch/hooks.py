"""Hooks (`ON_FILE_EXEC` / `--exec`, `ON_ALBUM_EXEC` / `--exec-album`): a command after each file or album.

The command is split like a POSIX shell would split it (`shlex.split`; on Windows the same
without backslash escapes) and run directly, never through a shell: the values reach it as
environment variables and as the event's JSON on stdin, never inside the command line, so a
file named ``$(rm -rf ~).mp4`` is only a name.

    file hooks    TGFETCH_PATH, TGFETCH_MESSAGE_ID, TGFETCH_CHAT, TGFETCH_CHAT_ID, TGFETCH_SHA256,
                  TGFETCH_SIZE, TGFETCH_ACCOUNT, TGFETCH_ALBUM_ID, TGFETCH_INDEX, TGFETCH_CAPTION,
                  TGFETCH_DATE, TGFETCH_MEDIA_TYPE, TGFETCH_MIME_TYPE
    album hooks   TGFETCH_PATHS (one per line), TGFETCH_MESSAGE_IDS (space-separated), TGFETCH_FILES,
                  TGFETCH_ALBUM_ID, TGFETCH_CHAT, TGFETCH_CHAT_ID, TGFETCH_ACCOUNT, TGFETCH_SIZE,
                  TGFETCH_CAPTION
    both          TGFETCH_HOOK (file or album), TGFETCH_EVENT (file_done or album_done),
                  TGFETCH_SCHEMA (the event schema version), TGFETCH_ATTEMPT (1, 2, … across runs)

A value that is missing (a single message has no album) is empty.  The child gets
tgfetch's environment without its secrets (`SECRET_ENV`) and without inherited TGFETCH_*
variables.  Its stdout and stderr are captured (the last `OUTPUT_TAIL` bytes are kept in
the state DB when it fails), never mixed into tgfetch's display.

At least once: a hook is recorded `pending` in its chat's state DB before it is queued,
`running` when it starts and `ok`/`failed` when it ends.  Whatever was not `ok` when tgfetch
stopped (failed, timed out, killed with tgfetch, never started) runs again on the next run
(`resume`), unless its files are gone from the disk by then (`gone`).  A hook may so run
more than once for a file: hooks should be idempotent.  At most `concurrency` hooks run at
once; `submit` never waits; a failure is one warning line and a record, never an error of
the job, and never touches the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shlex
import shutil
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from tgfetch.errors import ConfigError, TgfetchError
from tgfetch.events import AlbumDone, Events, FileDone, HookDone, NullEvents, event_json
from tgfetch.logs import RedactingFilter
from tgfetch.portable import POSIX
from tgfetch.store import HookRun

__all__ = [
    "OUTPUT_TAIL",
    "SECRET_ENV",
    "HookKind",
    "HookResult",
    "HookRunner",
    "HookStore",
    "check_command",
    "hook_env",
    "split_command",
]

log = logging.getLogger("tgfetch")

HookKind = Literal["file", "album"]
# tgfetch's settings whose values are secrets (matched without case, as the settings are read).
SECRET_ENV = frozenset({"TG_API_HASH", "TG_API_ID", "TG_SESSION_STRINGS", "REDIS_URL", "PROXY", "TG_PROXIES",
                        "WEB_TOKEN"})
OUTPUT_TAIL = 4096  # bytes of a hook's output kept
KILL_GRACE_S = 5.0  # after SIGTERM, before SIGKILL
OUTPUT_GRACE_S = 1.0  # to read what a hook wrote after it exited (a background child may hold the pipe)
MAX_ENV_CHARS = 16384  # one variable (a caption), so that an exec never fails on a long value
UNFINISHED = ("pending", "running", "failed")
_SETTING = {"file": "ON_FILE_EXEC", "album": "ON_ALBUM_EXEC"}
_FILE_VARS = ("path", "message_id", "chat", "chat_id", "sha256", "size", "account", "album_id", "index", "caption",
              "date", "media_type", "mime_type")
_ALBUM_VARS = ("album_id", "chat", "chat_id", "account", "files", "size", "caption")


class HookStore(Protocol):
    """Where hook runs are recorded: a chat's `StateStore`."""

    def hook_queued(self, kind: str, item: int, event: str) -> None: ...
    def hook_started(self, kind: str, item: int, command_sha: str) -> None: ...
    def hook_finished(self, kind: str, item: int, status: str, exit_code: int | None, error: str = "") -> None: ...
    def hook_runs(self, *statuses: str) -> list[HookRun]: ...


@dataclass(frozen=True, slots=True)
class HookResult:
    """One hook run of this tgfetch run, for the report."""

    hook: HookKind
    chat: str
    item: int  # message id (file) or album id (album)
    command: str  # the program's name only (its arguments may hold secrets)
    status: Literal["ok", "failed", "timeout", "gone"]
    exit_code: int | None  # negative: killed by that signal; None: never exited
    attempts: int  # across runs
    seconds: float
    error: str = ""  # why it failed, with the tail of its output (redacted)

    def to_json(self) -> dict[str, Any]:
        """The result as JSON (the report's `hooks.runs`)."""
        return {"hook": self.hook, "chat": self.chat, "item": self.item, "command": self.command,
                "status": self.status, "exit_code": self.exit_code, "attempts": self.attempts,
                "seconds": round(self.seconds, 3), "error": self.error}


@dataclass(eq=False)
class _Job:
    """A hook due to run: queued, not started yet."""

    hook: HookKind
    chat: int
    item: int
    payload: str  # the event JSON (stdin)
    store: HookStore | None  # None: could not be recorded (runs anyway)
    retry: bool = False  # left by an earlier run
    attempts: int = 0  # starts before this one
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.chat, self.hook, self.item)


# ------------------------------------------------------------------ commands


def split_command(command: str, *, posix: bool = POSIX) -> list[str]:
    """A command line as argv: shell-like quoting, no shell (Windows: backslashes are kept)."""
    if posix:
        return shlex.split(command)
    lexer = shlex.shlex(command, posix=True)
    lexer.whitespace_split = True
    lexer.escape = ""  # C:\\tools\\x.exe stays as written
    lexer.commenters = ""
    return list(lexer)


def check_command(command: str, setting: str = "ON_FILE_EXEC") -> list[str]:
    """A hook command's argv, or ConfigError (one line naming the setting, never the arguments)."""
    try:
        argv = split_command(command)
    except ValueError as exc:
        raise ConfigError(f"{setting} cannot be split into a command ({exc}): "
                          "expected a program and its arguments, quoted as in a shell") from None
    if not argv:
        raise ConfigError(f"{setting} is empty: expected a program and its arguments")
    if shutil.which(argv[0]) is None:
        raise ConfigError(f"{setting}: the program {argv[0]!r} is not found or not executable: "
                          "expected a program on PATH or the path of an executable file")
    return argv


def _display(argv: list[str]) -> str:
    return Path(argv[0]).name + (" …" if len(argv) > 1 else "")


# ----------------------------------------------------------------- environment


def _env_value(value: Any) -> str:
    """A value as an environment variable: '' for None, no NUL, capped, encodable."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = "\n".join(str(v) for v in value)
    text = str(value).replace("\x00", "")[:MAX_ENV_CHARS]
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def hook_env(payload: Mapping[str, Any], *, attempt: int) -> dict[str, str]:
    """The TGFETCH_* variables of an event (a file_done or album_done JSON object)."""
    album = payload.get("event") == "album_done"
    names = _ALBUM_VARS if album else _FILE_VARS
    env = {f"TGFETCH_{name.upper()}": _env_value(payload.get(name)) for name in names}
    if album:
        env["TGFETCH_PATHS"] = _env_value(payload.get("paths") or [])
        env["TGFETCH_MESSAGE_IDS"] = " ".join(str(m) for m in payload.get("message_ids") or [])
    env.update(TGFETCH_HOOK="album" if album else "file", TGFETCH_EVENT=_env_value(payload.get("event")),
               TGFETCH_SCHEMA=_env_value(payload.get("v")), TGFETCH_ATTEMPT=str(attempt))
    return env


def _base_env(drop: Iterable[str], secrets: Iterable[str]) -> dict[str, str]:
    """tgfetch's environment without its secrets and without inherited TGFETCH_* variables."""
    names = SECRET_ENV | {d.upper() for d in drop}
    values = [s for s in secrets if s and len(s) >= 4]
    return {k: v for k, v in os.environ.items()
            if k.upper() not in names and not k.upper().startswith("TGFETCH_") and not any(s in v for s in values)}


def _parse(payload: str) -> dict[str, Any] | None:
    """A stored event's JSON object, or None when it cannot be read."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _files_gone(hook: HookKind, data: Mapping[str, Any]) -> bool:
    """Whether a file of the event is no longer on disk (a retry would run on nothing)."""
    paths = (data.get("paths") or []) if hook == "album" else [data.get("path")]
    return not paths or any(not isinstance(p, str) or not os.path.lexists(p) for p in paths)


# -------------------------------------------------------------------- running


class _Hook(asyncio.SubprocessProtocol):
    """One running hook: the tail of its output (stdout and stderr), its exit, its output's end."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.tail = bytearray()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.output_closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.tail += data.encode() if isinstance(data, str) else data
        del self.tail[:-OUTPUT_TAIL]

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1 and not self.output_closed.done():
            self.output_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


def _kill(transport: asyncio.SubprocessTransport, sig: int) -> None:
    """Signal the hook and everything it started (its own session, on POSIX)."""
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if POSIX:
            os.killpg(transport.get_pid(), sig)
        elif sig == getattr(signal, "SIGKILL", None):
            transport.kill()
        else:
            transport.terminate()


async def _stop(transport: asyncio.SubprocessTransport, hook: _Hook) -> None:
    """End a hook: SIGTERM, then SIGKILL after KILL_GRACE_S."""
    _kill(transport, signal.SIGTERM)
    try:
        async with asyncio.timeout(KILL_GRACE_S):
            await asyncio.shield(hook.exited)
    except TimeoutError:
        _kill(transport, getattr(signal, "SIGKILL", signal.SIGTERM))
        await asyncio.shield(hook.exited)


async def _communicate(argv: list[str], env: dict[str, str], data: bytes) -> tuple[int, bytes]:
    """Run one hook to its end: its exit status and the tail of its output; stopped when cancelled.

    The exit is what counts: a background child the hook left holding its output gets
    OUTPUT_GRACE_S more, then the pipes are closed (nothing waits on them forever).
    """
    hook = _Hook()
    transport, _ = await asyncio.get_running_loop().subprocess_exec(
        lambda: hook, *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=env, close_fds=True, start_new_session=POSIX)  # its own group
    try:
        stdin = transport.get_pipe_transport(0)
        if isinstance(stdin, asyncio.WriteTransport):  # buffered by the loop: a hook that never reads is fine
            stdin.write(data)
            stdin.close()
        await asyncio.shield(hook.exited)
        await asyncio.wait({hook.output_closed}, timeout=OUTPUT_GRACE_S)
        code = transport.get_returncode()
        return (code if code is not None else -1), bytes(hook.tail)
    except BaseException:
        await asyncio.shield(_stop(transport, hook))
        raise
    finally:
        transport.close()


def _describe(code: int | None, timeout_s: float | None, error: str) -> str:
    """How a hook ended, in a few words."""
    if error:
        return error
    if code is None:
        return f"timed out after {timeout_s:g}s"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


# --------------------------------------------------------------------- runner


class HookRunner:
    """Run the file and album hooks of a job in the background, at most `concurrency` at once, at least once."""

    def __init__(self, file_cmd: str | None, album_cmd: str | None, *, stores: Mapping[int, HookStore],
                 concurrency: int = 2, timeout_s: float | None = None, events: Events | None = None,
                 secrets: Iterable[str] = (), drop_env: Iterable[str] = ()) -> None:
        """Check the commands (ConfigError); `stores` maps the job's chat numbers to their state DBs."""
        if concurrency < 1:
            raise ConfigError(f"HOOK_CONCURRENCY={concurrency!r} is not allowed: expected an integer of at least 1")
        if timeout_s is not None and not timeout_s > 0:
            raise ConfigError(f"HOOK_TIMEOUT={timeout_s!r} is not allowed: expected a number of seconds above 0")
        self._argv: dict[str, list[str]] = {}
        self._sha: dict[str, str] = {}
        for hook, cmd in (("file", file_cmd), ("album", album_cmd)):
            if cmd is not None and cmd.strip():
                self._argv[hook] = check_command(cmd, _SETTING[hook])
                self._sha[hook] = hashlib.sha256(cmd.encode("utf-8", "surrogateescape")).hexdigest()
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self._stores = dict(stores)
        self._events: Events = events if events is not None else NullEvents()
        secrets = list(secrets)
        self._redactor = RedactingFilter(secrets)
        self._env = _base_env(drop_env, secrets)
        self._queue: asyncio.Queue[_Job] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._queued: dict[tuple[int, str, int], _Job] = {}
        self._running = 0
        self._left = 0  # not started when the runner stopped
        self._results: list[HookResult] = []
        self._store_warned = False

    @property
    def enabled(self) -> bool:
        """True when a file or an album hook is configured."""
        return bool(self._argv)

    def command(self, hook: HookKind) -> str | None:
        """How reports show a hook's command (the program's name), or None when it is not set."""
        argv = self._argv.get(hook)
        return _display(argv) if argv else None

    # ----------------------------------------------------------------- queueing

    def submit(self, event: FileDone | AlbumDone, *, chat: int = 0) -> bool:
        """Record the hook of a file or album just final on disk and queue it; never waits, never raises.

        `chat` is the job's chat number (its state DB in `stores`).  Returns whether a hook was queued
        (False when no hook of that kind is configured).  Call it from the event loop's thread.
        """
        hook: HookKind = "album" if isinstance(event, AlbumDone) else "file"
        if hook not in self._argv:
            return False
        item = event.album_id if isinstance(event, AlbumDone) else event.message_id
        data = event_json(event)
        payload = json.dumps(data, ensure_ascii=True)
        store = self._stores.get(chat)
        if store is None:
            self._warn_store(f"no state DB for chat number {chat}")
        elif not self._record(store, "hook_queued", hook, item, payload):
            store = None
        known = self._queued.get((chat, hook, item))
        if known is not None:  # not started yet: it runs once, with the newest event
            known.payload, known.data = payload, data
            return True
        self._enqueue(_Job(hook, chat, item, payload, store, data=data))
        return True

    def pending(self) -> list[tuple[int, HookRun]]:
        """Every hook run of the state DBs not ok yet (pending, running, failed), with its chat number."""
        out: list[tuple[int, HookRun]] = []
        for chat, store in self._stores.items():
            try:
                out += [(chat, run) for run in store.hook_runs(*UNFINISHED)]
            except (TgfetchError, OSError, sqlite3.Error) as exc:
                self._warn_store(str(exc))
        return out

    def resume(self) -> int:
        """Queue again what earlier runs left unfinished (failed, killed, never started); return how many."""
        queued, waiting = 0, Counter[str]()
        for chat, run in self.pending():
            store = self._stores[chat]
            if run.kind not in self._argv or run.kind not in ("file", "album"):
                waiting[run.kind] += 1
                continue
            if (chat, run.kind, run.item) in self._queued:
                continue
            data = _parse(run.event)
            if data is None:
                self._record(store, "hook_finished", run.kind, run.item, "gone", None, "its event cannot be read")
                continue
            hook: HookKind = "album" if run.kind == "album" else "file"
            self._enqueue(_Job(hook, chat, run.item, run.event, store, True, run.attempts, data))
            queued += 1
        if queued:
            log.info("hooks: running again %d hook run(s) that earlier runs left unfinished", queued)
        for kind, n in sorted(waiting.items()):
            log.info("hooks: %d %s hook run(s) of earlier runs wait for %s", n, kind, _SETTING.get(kind, kind))
        return queued

    def _enqueue(self, job: _Job) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
        if not self._workers:
            self._workers = [asyncio.ensure_future(self._work()) for _ in range(self.concurrency)]
        self._queued[job.key] = job
        self._queue.put_nowait(job)

    # ----------------------------------------------------------------- running

    async def _work(self) -> None:
        """One of `concurrency` workers: run queued hooks one after the other."""
        assert self._queue is not None
        queue = self._queue
        while True:
            job = await queue.get()
            try:
                if self._queued.get(job.key) is job:
                    del self._queued[job.key]
                await self._run(job)
            except Exception as exc:  # a bug here must not stop the other hooks, nor the job
                log.warning("hooks: %s hook of item %d: unexpected %s: %s", job.hook, job.item, type(exc).__name__, exc)
            finally:
                queue.task_done()

    async def _run(self, job: _Job) -> None:
        """Run one hook and record how it ended."""
        if job.retry and _files_gone(job.hook, job.data):
            self._finish(job, "gone", None, 0.0, "not run: its files are no longer on disk")
            return
        self._record(job.store, "hook_started", job.hook, job.item, self._sha[job.hook])
        job.attempts += 1
        env = {**self._env, **hook_env(job.data, attempt=job.attempts)}
        started, code, tail, error = time.monotonic(), None, b"", ""
        status: Literal["ok", "failed", "timeout"] = "failed"
        self._running += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                code, tail = await _communicate(self._argv[job.hook], env, job.payload.encode("ascii") + b"\n")
            status = "ok" if code == 0 else "failed"
        except TimeoutError:
            status = "timeout"
        except OSError as exc:
            error = f"cannot start {self._argv[job.hook][0]!r}: {exc.strerror or exc}"
        except asyncio.CancelledError:
            self._finish(job, "failed", None, time.monotonic() - started, "stopped: tgfetch ended before the hook")
            raise
        finally:
            self._running -= 1
        self._finish(job, status, code, time.monotonic() - started, error, tail)

    def _finish(self, job: _Job, status: Literal["ok", "failed", "timeout", "gone"], code: int | None,
                seconds: float, error: str = "", tail: bytes = b"") -> None:
        """Record, report, log and announce the end of a hook run."""
        how, out, text = "", "", ""
        if status != "ok":
            how = _describe(code, self.timeout_s, error)
            out = self._redactor.redact(tail.decode("utf-8", "replace").strip())
            text = f"{how}; output: {out[-(OUTPUT_TAIL - len(how) - 10):]}" if out else how
        stored = "ok" if status == "ok" else "gone" if status == "gone" else "failed"
        self._record(job.store, "hook_finished", job.hook, job.item, stored, code, text)
        chat = str(job.data.get("chat", job.chat))
        result = HookResult(job.hook, chat, job.item, _display(self._argv[job.hook]), status, code, job.attempts,
                            seconds, text)
        self._results.append(result)
        if status != "ok":
            flat = " ".join(out.split())
            last = ("…" if len(flat) > 200 else "") + flat[-200:]
            what = "message" if job.hook == "file" else "album"
            log.warning("hooks: %s hook of %s %s %d (attempt %d) %s%s%s", job.hook, chat, what, job.item,
                        job.attempts, how, f"; output: {last}" if last else "",
                        "" if status == "gone" else "; it runs again on the next run")
        self._events.emit(HookDone(hook=job.hook, chat=chat, item=job.item, status=status, exit_code=code,
                                   attempts=job.attempts, seconds=round(seconds, 3)))

    def _record(self, store: HookStore | None, method: str, *args: Any) -> bool:
        """Write to a state DB; a failure is one warning (the hook still runs), never an error of the job."""
        if store is None:
            return False
        try:
            getattr(store, method)(*args)
        except (TgfetchError, OSError, ValueError, sqlite3.Error) as exc:
            self._warn_store(str(exc))
            return False
        return True

    def _warn_store(self, why: str) -> None:
        if not self._store_warned:
            self._store_warned = True
            log.warning("hooks: cannot record hook runs (%s): they still run, but one that fails now is not "
                        "retried by the next run", self._redactor.redact(why))

    # ----------------------------------------------------------------- the end

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for every queued hook (at most `timeout` seconds), then stop; True when all ran.

        Hooks still running at the timeout are stopped (SIGTERM, then SIGKILL) and recorded failed;
        those not started stay pending: both run on the next run.
        """
        finished = True
        try:
            if self._queue is not None:
                async with asyncio.timeout(timeout):
                    await self._queue.join()
        except TimeoutError:
            finished = False
        finally:
            await self.aclose()
        return finished

    async def aclose(self) -> None:
        """Stop now: running hooks are stopped and recorded failed, queued ones stay pending (idempotent)."""
        workers, self._workers = self._workers, []
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._left += len(self._queued)
        if self._queued:
            log.warning("hooks: %d hook run(s) did not start before tgfetch ended: they run on the next run",
                        len(self._queued))
        self._queued.clear()
        self._queue = None

    def results(self) -> list[HookResult]:
        """Every hook run of this run that ended, in the order they ended."""
        return list(self._results)

    def summary(self) -> dict[str, int]:
        """How many hook runs ended ok, failed (timeouts too) or gone, and how many are still pending."""
        counts = Counter("failed" if r.status == "timeout" else r.status for r in self._results)
        return {"ok": counts["ok"], "failed": counts["failed"], "gone": counts["gone"],
                "pending": len(self._queued) + self._running + self._left}

    def report(self) -> dict[str, Any]:
        """The report's `hooks`: the commands, the summary and every run."""
        return {"file": self.command("file"), "album": self.command("album"), **self.summary(),
                "runs": [r.to_json() for r in self._results]}
