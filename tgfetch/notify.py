"""What a job tells the outside: its events (`EVENTS_FILE`) and hooks (`ON_FILE_EXEC`, `ON_ALBUM_EXEC`).

`JobObserver` is handed to the downloader: it hears each file made final (and each failure),
writes `file_done` / `file_failed`, submits the file hook, and once every file of an album this
run had to download is final, writes `album_done` and submits the album hook. The job itself
reports `job_started`, `plan`, account changes and `job_done`. Hooks and events never block or
fail a download (see `tgfetch.hooks` and `tgfetch.events`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tgfetch.config import Settings
from tgfetch.download.stats import FileRecord
from tgfetch.download.tasks import Pending
from tgfetch.download.work import FileTask
from tgfetch.events import (
    AccountState,
    AlbumDone,
    Events,
    FileFailed,
    JobDone,
    JobStarted,
    file_done,
    open_events,
    plan_event,
    settings_summary,
)
from tgfetch.hooks import HookRunner
from tgfetch.model import TaskDistributionResult, key_chat, key_id
from tgfetch.store import StateStore

__all__ = ["ChatInfo", "JobObserver", "open_observer"]

log = logging.getLogger("tgfetch")


@dataclasses.dataclass(frozen=True)
class ChatInfo:
    """One chat of the job as events name it."""

    label: str
    chat_id: int
    root: Path


@dataclasses.dataclass
class _Album:
    todo: set[int]  # keys still to be final in this run
    records: list[tuple[FileTask, FileRecord]] = dataclasses.field(default_factory=list)


class JobObserver:
    """Events and hooks of one job (one or more rounds)."""

    def __init__(self, events: Events, hooks: HookRunner | None, chats: Mapping[int, ChatInfo]) -> None:
        self.events = events
        self.hooks = hooks
        self.chats = dict(chats)
        self._albums: dict[tuple[int, int], _Album] = {}
        self.last: Any = None  # the newest round's JobReport

    def started(self, settings: Settings, accounts: Iterable[str]) -> None:
        """`job_started`; hooks left over by earlier runs are queued again (at least once)."""
        self.events.emit(JobStarted(version=_version(), chats=tuple(c.label for c in self.chats.values()),
                                    accounts=tuple(accounts), settings=settings_summary(settings)))
        if self.hooks is not None and (n := self.hooks.resume()):
            log.info("hooks: %d run(s) left by an earlier run are run again", n)

    def expect(self, pending: Pending) -> None:
        """The albums this round downloads: each is done once all of its pending files are final.
        Files the resume made final (a repost linked to its twin, a file a killed run left unrecorded)
        are final now: `file_done` and their hooks."""
        for g in pending.groups:
            if g.is_media_group:
                keys = {m.key for m in g.messages if m.key in pending.tasks}
                self._albums[(g.messages[0].chat, g.messages[0].media_group_id or 0)] = _Album(keys)
        for task, rec in pending.fresh:
            self.file_done(task, rec)

    def planned(self, plan: TaskDistributionResult) -> None:
        """`plan`."""
        self.events.emit(plan_event(plan))

    def file_done(self, task: FileTask, rec: FileRecord) -> None:
        """A file is final on disk: `file_done`, the file hook, and `album_done` when its album is complete."""
        chat = self.chats[task.info.chat]
        info = dataclasses.replace(task.info, caption=task.album_caption or task.info.caption)
        event = file_done(rec, info, chat=chat.label, chat_id=chat.chat_id, root=chat.root, index=task.album_index)
        self.events.emit(event)
        if self.hooks is not None and self.hooks.command("file"):
            self.hooks.submit(event, chat=task.info.chat)
        album = self._albums.get((task.info.chat, task.info.media_group_id or 0))
        if album is not None and task.info.key in album.todo:
            album.todo.discard(task.info.key)
            album.records.append((task, rec))
            if not album.todo:
                self._album_done(task, album)

    def _album_done(self, task: FileTask, album: _Album) -> None:
        chat = self.chats[task.info.chat]
        done = sorted(album.records, key=lambda tr: tr[1].message_id)
        accounts = [r.client for _, r in done]
        event = AlbumDone(
            chat=chat.label, chat_id=chat.chat_id, album_id=task.info.media_group_id or 0,
            account=max(set(accounts), key=accounts.count), files=len(done),
            paths=tuple(str((chat.root / r.path).absolute()) for _, r in done),
            message_ids=tuple(r.message_id for _, r in done), size=sum(r.size for _, r in done),
            caption=task.album_caption)
        self._albums.pop((task.info.chat, task.info.media_group_id or 0), None)
        self.events.emit(event)
        if self.hooks is not None and self.hooks.command("album"):
            self.hooks.submit(event, chat=task.info.chat)

    def file_failed(self, key: int, error: str) -> None:
        """`file_failed` (its album is not done in this run)."""
        chat = self.chats[key_chat(key)]
        self.events.emit(FileFailed(chat=chat.label, chat_id=chat.chat_id, message_id=key_id(key), error=error))

    def account_state(self, account: str, state: Any, seconds: float | None = None, detail: str = "") -> None:
        """`account_state`: flood_wait, revoked, handed_off, dead or back."""
        self.events.emit(AccountState(account=account, state=state, seconds=seconds, detail=detail))

    async def finish(self, report: Any, exit_code: int, hook_timeout: float | None = None) -> None:
        """Wait for the hooks (bounded), then `job_done`, and close the event log."""
        hooks: dict[str, int] = {}
        if self.hooks is not None:
            await self.hooks.drain(hook_timeout)
            hooks = self.hooks.summary()
        downloaded = report.downloaded if report is not None else []
        self.events.emit(JobDone(
            outcome=report.result if report is not None else "error", exit_code=exit_code,
            files=len(report.files) if report is not None else 0, downloaded=len(downloaded),
            bytes=sum(f.size for f in downloaded), failures=len(report.failures) if report is not None else 0,
            elapsed_s=round(report.elapsed_s, 3) if report is not None else 0.0, hooks=hooks))
        self.events.close()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tgfetch")
    except PackageNotFoundError:
        return "unknown"


def open_observer(settings: Settings, stores: Mapping[int, StateStore],
                  chats: Mapping[int, ChatInfo]) -> JobObserver | None:
    """The job's observer, or None when it has neither an events file nor hooks."""
    if settings.events_file is None and not settings.on_file_exec and not settings.on_album_exec:
        return None
    events = open_events(settings.events_file)
    hooks = None
    if settings.on_file_exec or settings.on_album_exec:
        hooks = HookRunner(settings.on_file_exec, settings.on_album_exec, stores=stores,
                           concurrency=settings.hook_concurrency, events=events, secrets=settings.secret_values())
    return JobObserver(events, hooks, chats)
