"""The disk side of the download stage: finish files (sidecar, fsync, rename, record) off the event loop.

A file is recorded done in the state DB only after its `.part` was fsynced and
renamed.  Finishing runs in a thread pool, in the background, and is never cut
in half by a cancellation: `drain()` waits for every finish still running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tgfetch.download.files import PartFile, link_or_copy, write_json_atomic
from tgfetch.download.layout import part_path, sidecar_data, sidecar_path
from tgfetch.download.naming import safe_join
from tgfetch.download.stats import FileRecord
from tgfetch.download.work import FileTask, GroupWork
from tgfetch.store import DoneFile, StateStore

__all__ = ["Disk"]

T = TypeVar("T")
DISK_THREADS = 32  # slow fsyncs overlap


class Disk:
    """The job's folders (one per chat) and their state DBs, written through one thread pool."""

    def __init__(self, root: Path, store: StateStore) -> None:
        self.folders: dict[int, tuple[Path, StateStore]] = {0: (root, store)}
        self.executor = ThreadPoolExecutor(DISK_THREADS, "tgfetch-disk")
        self._finishing: dict[GroupWork, set[asyncio.Future[None]]] = {}

    def add_folder(self, chat: int, root: Path, store: StateStore) -> None:
        """Give the job's chat number `chat` its folder and state DB."""
        self.folders[chat] = (root, store)

    @property
    def root(self) -> Path:
        """The first chat's folder."""
        return self.folders[0][0]

    @property
    def store(self) -> StateStore:
        """The first chat's state DB."""
        return self.folders[0][1]

    def root_of(self, task: FileTask) -> Path:
        """The folder of the task's chat."""
        return self.folders[task.info.chat][0]

    def store_of(self, chat: int) -> StateStore:
        """The state DB of the job's chat number `chat`."""
        return self.folders[chat][1]

    def final(self, task: FileTask) -> Path:
        """The file's final path (inside its chat's folder whatever its name says)."""
        return safe_join(self.root_of(task), task.rel)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking disk work in the pool."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def spawn(self, work: GroupWork, coro: Coroutine[Any, Any, None]) -> None:
        """Run a file's finish in the background, counted for `drain` and `wait_group`."""
        job = asyncio.ensure_future(coro)
        jobs = self._finishing.setdefault(work, set())
        jobs.add(job)

        def forget(j: asyncio.Future[None]) -> None:
            jobs.discard(j)
            if not jobs:
                self._finishing.pop(work, None)

        job.add_done_callback(forget)

    async def wait_group(self, work: GroupWork) -> None:
        """Wait until every finish of `work` started so far has ended."""
        while jobs := self._finishing.get(work):
            await asyncio.wait(list(jobs))

    async def drain(self) -> None:
        """Wait for every finish still running (files fetched are always finished)."""
        while self._finishing:
            jobs = [j for js in self._finishing.values() for j in js]
            await asyncio.gather(*jobs, return_exceptions=True)

    def close(self) -> None:
        """Stop the thread pool once its work is done."""
        self.executor.shutdown(wait=True)

    def finalize(self, name: str, task: FileTask, part: PartFile) -> str:
        """Sidecar, fsync, rename, record done (in a pool thread); return the sha256."""
        self.write_sidecar(task, part.final, part.sha.hexdigest())
        sha = part.finish()
        self.record(name, task, sha)
        # A backup copy won: the owner's own .part of this file (maybe from an earlier run) is stale.
        part_path(part.final).unlink(missing_ok=True)
        return sha

    def link(self, name: str, task: FileTask, first: FileRecord) -> None:
        """Hard-link (or copy) an already downloaded copy of the same document (in a pool thread)."""
        self.link_done(task, first.path, first.sha256)
        self.record(name, task, first.sha256)

    def link_done(self, task: FileTask, src_rel: str, sha256: str) -> None:
        """Put a copy of the done file `src_rel` (same document) at `task`'s path, with its sidecar."""
        final, root = self.final(task), self.root_of(task)
        link_or_copy(root / src_rel, final, root)
        self.write_sidecar(task, final, sha256)

    def write_sidecar(self, task: FileTask, final: Path, sha256: str) -> None:
        """Write the file's JSON sidecar when it has one."""
        data = sidecar_data(task, sha256)
        if data is not None:
            write_json_atomic(sidecar_path(final), data, self.root_of(task))

    def record(self, name: str, task: FileTask, sha256: str, done_at: float | None = None) -> None:
        """Record the file done in the state DB."""
        i = task.info
        self.store_of(i.chat).mark_done(DoneFile(i.message_id, task.rel.as_posix(), i.file_size, sha256, name,
                                      i.document_id, time.time() if done_at is None else done_at))
