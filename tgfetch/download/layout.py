"""Where a channel folder's files go: finals, `.part`s, backup copies, sidecars, temporaries.

Every name tgfetch gives a file besides the template's final name is built here,
and so is the resume rule (a `.part` continues from its size aligned down to
`ALIGN`).  Pure functions, no I/O except `file_size`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tgfetch.download.work import FileTask

__all__ = [
    "ALIGN",
    "BACKUP_DIR",
    "PART_SUFFIX",
    "SIDECAR_SUFFIX",
    "STATE_FILE",
    "TMP_DIR",
    "backup_dir",
    "backup_part",
    "file_size",
    "part_path",
    "resume_offset",
    "sidecar_data",
    "sidecar_path",
    "tmp_dir",
]

# A resumed .part continues from its size aligned down to 4 KiB: upload.getFile offsets must be
# multiples of 4 KiB (1 KiB with the `precise` flag), and a part may not cross a 1 MiB boundary
# (core.telegram.org/api/files).  So the resumed download asks one `precise` part from there to the
# next 1 MiB boundary, then whole 1 MiB parts (`telegram.transfer.part_at`): at most 4 KiB - 1
# bytes of the .part are fetched again, instead of up to a whole part.
ALIGN = 4096
PART_SUFFIX = ".part"
SIDECAR_SUFFIX = ".json"
BACKUP_DIR = ".tgfetch-backup"  # backup copies' own .part files, one folder per account
TMP_DIR = ".tgfetch-tmp"  # temporary names for atomic writes, emptied at the start of every run
STATE_FILE = ".tgfetch.sqlite"  # the job's state DB (default: in the channel folder), with -wal, -shm, .lock


def part_path(final: Path) -> Path:
    """The `.part` a file is downloaded into before its rename to `final`."""
    return final.with_name(final.name + PART_SUFFIX)


def sidecar_path(final: Path) -> Path:
    """The JSON sidecar next to a media file (album caption and metadata)."""
    return final.with_name(final.name + SIDECAR_SUFFIX)


def backup_dir(root: Path) -> Path:
    """Where backup copies keep their `.part` files (removed after a run without failures)."""
    return root / BACKUP_DIR


def backup_part(root: Path, account: str, message_id: int) -> Path:
    """The `.part` of `account`'s backup copy of one file."""
    return backup_dir(root) / account / f"{message_id}{PART_SUFFIX}"


def tmp_dir(root: Path) -> Path:
    """Where temporary files of a channel folder go (emptied at the start of every run)."""
    return root / TMP_DIR


def resume_offset(part_size: int, file_size: int | None) -> int:
    """Where a download continues from a `.part` of `part_size` bytes (of a file of `file_size`)."""
    if part_size == file_size:
        return part_size  # complete: kept whole
    aligned = part_size - part_size % ALIGN
    return aligned if file_size is None else min(aligned, file_size)


def file_size(path: Path) -> int | None:
    """The size of `path`, or None when it does not exist (or cannot be read)."""
    try:
        return path.stat().st_size
    except OSError:
        return None


def sidecar_data(task: FileTask, sha256: str) -> dict[str, Any] | None:
    """The sidecar of a file: album members and captioned files have one."""
    i = task.info
    if task.album_index is None and not i.caption:
        return None
    return {
        "message_id": i.message_id,
        "album_id": i.media_group_id,
        "index": task.album_index,
        "album_size": task.album_size,
        "caption": task.album_caption or i.caption,
        "date": i.date.isoformat() if i.date else None,
        "file_name": i.file_name,
        "mime_type": i.mime_type,
        "media_type": i.media_type,
        "size": i.file_size,
        "sha256": sha256,
    }
