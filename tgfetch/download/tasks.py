"""Turn scanned groups into file tasks, and skip what earlier runs finished."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tgfetch.download.disk import Disk
from tgfetch.download.files import hash_file
from tgfetch.download.layout import file_size, part_path, resume_offset
from tgfetch.download.naming import relative_path
from tgfetch.download.stats import FileRecord
from tgfetch.download.work import FileTask, GroupWork
from tgfetch.model import MessageGroup
from tgfetch.store import DoneFile

__all__ = ["Pending", "group_tasks", "resume", "works"]

log = logging.getLogger("tgfetch.download")


def group_tasks(group: MessageGroup, template: str) -> list[FileTask]:
    """The files of one group, with paths from the template (albums share a folder); a comment's
    path is under the folder of the post it comments (`<post id>/…` in the comments folder)."""
    media = [m for m in group.messages if m.media_type is not None]
    caption = next((m.caption for m in group.messages if m.caption), "")
    out = []
    for i, m in enumerate(media, start=1):
        index = i if group.is_media_group else None
        rel = relative_path(template, m, album_index=index)
        if m.post_id is not None:
            rel = PurePosixPath(str(m.post_id)) / rel
        out.append(FileTask(m, rel, index, len(media), caption))
    return out


@dataclass
class Pending:
    """Groups that still need downloading, their files, and the files already on disk."""

    groups: list[MessageGroup]
    tasks: dict[int, FileTask]
    done: list[FileRecord]
    # Files made final by this resume, not by an earlier run: a repost linked to its twin, a file a
    # killed run renamed into place without recording it. Events and hooks must hear of them.
    fresh: list[tuple[FileTask, FileRecord]] = field(default_factory=list)


def resume(groups: Iterable[MessageGroup], template: str, disk: Disk) -> Pending:
    """Skip files recorded done (still on disk); adopt complete files a crash left unrecorded."""
    done: dict[int, dict[int, DoneFile]] = {}  # per chat
    pending = Pending([], {}, [])
    for g in groups:
        todo = 0
        for task in group_tasks(g, template):
            chat = task.info.chat
            if chat not in done:
                done[chat] = disk.store_of(chat).done_files()
            rec, fresh = _already_done(task, done[chat], disk)
            if rec is None:
                pending.tasks[task.info.key] = task
                todo += 1
            else:
                pending.done.append(rec)
                if fresh:
                    pending.fresh.append((task, rec))
        if todo:
            pending.groups.append(g)
    return pending


def _already_done(task: FileTask, done: dict[int, DoneFile], disk: Disk) -> tuple[FileRecord | None, bool]:
    """The file's record if it is final on disk (None: to download), and whether it became final just now."""
    mid, size = task.info.message_id, task.info.file_size
    final = disk.final(task)
    rec = done.get(mid)
    if rec is not None and _media_changed(rec, task):
        _keep_previous(disk.root_of(task) / rec.path, rec)
        rec = None
    on_disk = file_size(final) == size
    chat, root = task.info.chat, disk.root_of(task)
    if rec is not None and rec.path == task.rel.as_posix() and on_disk:
        return FileRecord(mid, rec.path, rec.size, rec.sha256, rec.client, skipped=True, chat=chat), False
    if on_disk:
        # Renamed into place (so complete and fsynced) but the process died before recording it.
        sha = hash_file(final)[0].hexdigest()
        disk.record("", task, sha, done_at=0.0)
        return FileRecord(mid, task.rel.as_posix(), size, sha, "", skipped=True, chat=chat), True
    doc = task.info.document_id
    twin = disk.store_of(chat).done_by_document(doc) if doc is not None else None
    if twin is not None and file_size(root / twin.path) == size:
        # The same document as a file already done (a repost): link it, sidecar included.
        disk.link_done(task, twin.path, twin.sha256)
        disk.record(twin.client, task, twin.sha256, done_at=0.0)
        return FileRecord(
            mid, task.rel.as_posix(), size, twin.sha256, twin.client, skipped=True, linked_from=twin.message_id,
            chat=chat), True
    return None, False


def _media_changed(rec: DoneFile, task: FileTask) -> bool:
    """Whether the message was edited to carry another file than the one downloaded."""
    doc = task.info.document_id
    return rec.document_id is not None and doc is not None and rec.document_id != doc


def _keep_previous(old: Path, rec: DoneFile) -> None:
    """Keep the file of an edited message's earlier media as `<name>.prev-<document id><ext>` (never deleted)."""
    if not old.is_file():
        return
    kept = old.with_name(f"{old.stem}.prev-{rec.document_id}{old.suffix}")
    os.replace(old, kept)
    log.info("message %d was edited to carry another file: the earlier one is kept as %s", rec.message_id, kept.name)


def works(pending: Pending, plan: Mapping[str, Iterable[MessageGroup]], disk: Disk) -> dict[str, list[GroupWork]]:
    """Each client's group work from a plan; an album a plan split (range_based) is downloaded whole.

    The pieces of a split album are merged on the client that was given most of its files,
    so one account downloads the whole album whatever the strategy.
    """
    pieces: dict[tuple[int, int], list[tuple[str, MessageGroup]]] = {}
    out: dict[str, list[GroupWork]] = {client: [] for client in plan}
    for client, groups in plan.items():
        for g in groups:
            album = g.messages[0].media_group_id
            if album is not None:
                pieces.setdefault((g.messages[0].chat, album), []).append((client, g))
            else:
                _add(out[client], pending, g, client, disk)
    for (_, album), parts in pieces.items():
        if len(parts) > 1:
            log.info("album %d was split by the plan; one account downloads it whole", album)
        client = max(parts, key=lambda p: (p[1].total_files, -p[1].first_id))[0]
        whole = MessageGroup.of([m for _, g in parts for m in g.messages])
        _add(out[client], pending, whole, client, disk)
    return out


def _add(lst: list[GroupWork], pending: Pending, g: MessageGroup, client: str, disk: Disk) -> None:
    files = [pending.tasks[m.key] for m in g.messages if m.key in pending.tasks]
    if files:
        w = GroupWork(g, files, client)
        for f in files:
            if size := file_size(part_path(disk.final(f))):
                w.resume_at(f.info.key, resume_offset(size, f.info.file_size))
        lst.append(w)
