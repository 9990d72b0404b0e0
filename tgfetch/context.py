"""The set-up every job shares: accounts connected, chats resolved, state DBs open, chat folders ready.

`open_job` is used by `download_channel` (and so the CLI's `download` and
`demo`) and by a cluster worker; `plan`, `compare` and the coordinator, which
write no files, use `connect_accounts`/`open_parts` (or `open_accounts`) and `job_range` alone.
Each chat of a job has its folder `DOWNLOAD_DIR/<chat>/` and its state DB there; the comments
of a channel go to `DOWNLOAD_DIR/<chat>/comments/` with their own state DB.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from telethon import TelegramClient

from tgfetch.config import Settings
from tgfetch.download.disk import Disk
from tgfetch.download.layout import STATE_FILE, tmp_dir
from tgfetch.download.naming import sanitize_component
from tgfetch.errors import TgfetchError, UsageError
from tgfetch.store import ClientSpeed, StateStore, read_state
from tgfetch.targets import Target
from tgfetch.telegram.account import Account, ChannelRef
from tgfetch.telegram.clients import connect_accounts
from tgfetch.telegram.parts import Part, job_range, open_parts
from tgfetch.telegram.peers import parse_channel

__all__ = ["JobContext", "channel_dir", "check_destination", "default_state_db", "job_range", "open_job",
           "part_folder"]

log = logging.getLogger("tgfetch")


@dataclass
class JobContext:
    """An opened job: its accounts, chats, state DBs and chat folders (through `disk`)."""

    settings: Settings
    accounts: dict[str, Account]
    parts: list[Part]
    disk: Disk

    @property
    def ref(self) -> ChannelRef:
        """The job's first chat."""
        return self.parts[0].ref

    @property
    def top(self) -> int:
        """The newest message id of the job's first chat."""
        return self.parts[0].top

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

    def ask_download_limits(self) -> None:
        """Have every account ask its download queues now, in the background (`Account.download_limits`)."""
        for acc in self.alive.values():
            acc.download_limits()

    def range(self, first_id: int | None, last_id: int | None) -> tuple[int, int]:
        """The id range to scan, checked against the channel's newest message."""
        return job_range(first_id, last_id, self.top, self.ref)

    def fetched_bytes(self) -> int:
        """File bytes fetched over every run of the job, in all its chats."""
        return sum(store.fetched_bytes() for _, store in self.disk.folders.values())

    def learned_speeds(self) -> dict[str, ClientSpeed]:
        """What earlier runs of this job measured of the live accounts."""
        return {k: v for k, v in self.store.load_speeds().items() if k in self.alive}

    def save_speeds(self, overheads: Mapping[str, float]) -> None:
        """Remember each account's measured speed (and per-file overhead) for the next run."""
        for name, overhead in overheads.items():
            acc = self.accounts[name]
            if acc.net_bytes > 0 and acc.throughput > 0:
                self.store.save_speed(name, acc.throughput, overhead, 1)


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


def part_folder(dest: Path, part: Part) -> Path:
    """Where a chat's files go: its folder, or its channel's `comments` folder."""
    if part.channel is not None:
        return channel_dir(dest, part.channel) / "comments"
    return channel_dir(dest, part.ref)


@contextlib.asynccontextmanager
async def open_job(clients: Mapping[str, TelegramClient], targets: str | Sequence[Target], settings: Settings,
                   dest: str | os.PathLike[str]) -> AsyncIterator[JobContext]:
    """Connect the accounts, resolve the chats, lock and open their state DBs, prepare their folders.

    `targets` is the job's chats (or one chat's name, with the settings' id range).
    STATE_DB, when set, is the first chat's state DB; the others keep theirs in their folders.
    """
    dest = Path(dest)
    check_destination(dest)
    if isinstance(targets, str):
        targets = [Target(parse_channel(targets), settings.start_message_id, settings.end_message_id)]
    accounts = await connect_accounts(clients, settings)
    parts = await open_parts(accounts, targets, settings)
    with contextlib.ExitStack() as stack:
        folders: list[tuple[Path, StateStore]] = []
        for part in parts:
            root = part_folder(dest.resolve(), part)
            db = (settings.state_db if settings.state_db is not None and part.number == 0
                  else default_state_db(dest, root, part.ref.channel_id))
            folders.append((root, stack.enter_context(StateStore.open(
                db, channel_id=part.ref.channel_id, channel_key=part.label, template=settings.file_name_template))))
            shutil.rmtree(tmp_dir(root), ignore_errors=True)  # temporary files of an interrupted run
        disk = Disk(*folders[0])
        stack.callback(disk.close)  # first to run: its last writes land before the state DBs close
        for number, (root, store) in enumerate(folders[1:], start=1):
            disk.add_folder(number, root, store)
        yield JobContext(settings, accounts, parts, disk)
