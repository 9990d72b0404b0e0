"""The set-up every job shares: accounts connected, channel resolved, state DB open, channel folder ready.

`open_job` is used by `download_channel` (and so the CLI's `download` and
`demo`) and by a cluster worker; `plan`, `compare` and the coordinator, which
write no files, use `open_accounts` and `job_range` alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from telethon import TelegramClient

from tgfetch.config import Settings
from tgfetch.download.disk import Disk
from tgfetch.download.layout import STATE_FILE, tmp_dir
from tgfetch.download.naming import sanitize_component
from tgfetch.errors import TgfetchError, UsageError
from tgfetch.store import ClientSpeed, StateStore, read_state
from tgfetch.telegram.account import Account, ChannelRef
from tgfetch.telegram.clients import open_accounts

__all__ = ["JobContext", "channel_dir", "check_destination", "default_state_db", "job_range", "open_job"]

log = logging.getLogger("tgfetch")


@dataclass
class JobContext:
    """An opened job: its accounts, channel, state DB and channel folder (through `disk`)."""

    settings: Settings
    accounts: dict[str, Account]
    ref: ChannelRef
    top: int
    disk: Disk

    @property
    def store(self) -> StateStore:
        """The job's state DB."""
        return self.disk.store

    @property
    def root(self) -> Path:
        """The channel folder."""
        return self.disk.root

    @property
    def alive(self) -> dict[str, Account]:
        """Accounts that can still download."""
        return {n: a for n, a in self.accounts.items() if a.dead is None}

    def range(self, first_id: int | None, last_id: int | None) -> tuple[int, int]:
        """The id range to scan, checked against the channel's newest message."""
        return job_range(first_id, last_id, self.top, self.ref)

    def learned_speeds(self) -> dict[str, ClientSpeed]:
        """What earlier runs of this job measured of the live accounts."""
        return {k: v for k, v in self.store.load_speeds().items() if k in self.alive}

    def save_speeds(self, overheads: Mapping[str, float]) -> None:
        """Remember each account's measured speed (and per-file overhead) for the next run."""
        for name, overhead in overheads.items():
            acc = self.accounts[name]
            if acc.net_bytes > 0 and acc.throughput > 0:
                self.store.save_speed(name, acc.throughput, overhead, 1)


def job_range(first_id: int | None, last_id: int | None, top: int, ref: ChannelRef) -> tuple[int, int]:
    """The id range to scan: `first_id`..`last_id` (inclusive) within 1..`top`."""
    first = first_id or 1
    if top == 0:
        raise UsageError(f"channel {ref.key} has no messages")
    if first > top:
        raise UsageError(f"START_MESSAGE_ID={first} is past the last message of {ref.key} ({top})")
    last = top if last_id is None else last_id
    if last > top:
        log.warning("END_MESSAGE_ID=%d is past the last message of %s; scanning up to %d", last, ref.key, top)
        last = top
    if last < first:
        raise UsageError(f"empty range {first}–{last} for {ref.key}")
    return first, last


def channel_dir(dest: str | os.PathLike[str], ref: ChannelRef) -> Path:
    """The folder of one channel's files under DOWNLOAD_DIR."""
    return Path(dest) / sanitize_component(ref.username or f"channel_{ref.channel_id}")


def check_destination(dest: str | os.PathLike[str]) -> None:
    """Refuse early when the destination cannot be written."""
    path = Path(dest)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"DOWNLOAD_DIR={str(path)!r} cannot be created: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"DOWNLOAD_DIR={str(path)!r} is not writable")


def default_state_db(dest: str | os.PathLike[str], root: Path, channel_id: int) -> Path:
    """The state DB of one channel's job: in its channel folder, so that several channels can share
    DOWNLOAD_DIR.  A job started before that, whose DB is DOWNLOAD_DIR/.tgfetch.sqlite, keeps it."""
    legacy = Path(dest) / STATE_FILE
    if legacy.is_file() and _bound_channel(legacy) == channel_id:
        return legacy
    return root / STATE_FILE


def _bound_channel(db: Path) -> int | None:
    """The channel id a state DB belongs to (None when it cannot be read as one); no lock taken."""
    try:
        return int(read_state(db).meta.get("channel_id", ""))
    except (TgfetchError, ValueError):
        return None


@contextlib.asynccontextmanager
async def open_job(clients: Mapping[str, TelegramClient], channel: str, settings: Settings,
                   dest: str | os.PathLike[str]) -> AsyncIterator[JobContext]:
    """Connect the accounts, resolve the channel, lock and open the state DB, prepare the folder."""
    dest = Path(dest)
    check_destination(dest)
    accounts, ref, top = await open_accounts(clients, channel, settings)
    root = channel_dir(dest.resolve(), ref)
    db = settings.state_db if settings.state_db is not None else default_state_db(dest, root, ref.channel_id)
    with StateStore.open(db, channel_id=ref.channel_id, channel_key=ref.key,
                         template=settings.file_name_template) as store:
        shutil.rmtree(tmp_dir(root), ignore_errors=True)  # temporary files of an interrupted run
        disk = Disk(root, store)
        try:
            yield JobContext(settings, accounts, ref, top, disk)
        finally:
            disk.close()
