"""upload.getFile: location lookup, size rules, DC migration, file references, pacing, speed limits.

The offset/limit rules are Telegram's (core.telegram.org/api/files, "Downloading files"), checked
in `check_range`: without `precise`, offset and limit divisible by 4 KiB and 1 MiB divisible by
limit; with `precise`, offset and limit divisible by 1 KiB and limit at most 1 MiB; in any case the
part within one 1 MiB chunk (offset / 2**20 == (offset + limit - 1) / 2**20).  A bad offset is
OFFSET_INVALID, a bad limit (or a part across a 1 MiB boundary) LIMIT_INVALID.  An offset at or past
the end answers no bytes; the last part answers the bytes up to the end.  The fault kind
``premium`` answers FLOOD_PREMIUM_WAIT_X (420) before any byte is served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telethon.tl import types

from .accounts import Account, Part
from .base import RpcFail, SimSession
from .content import SimMessage
from .faults import FaultPlan
from .filebytes import BLOCK, ByteSource
from .tlbuild import THUMB_TYPES, doc_access_hash, thumb_key, thumb_size

MAX_LIMIT = 1 << 20  # 1048576: no limit above it, and no part across a multiple of it
PRECISE_BLOCK = 1024  # the alignment of offset and limit with the `precise` flag (BLOCK without it)
_FILE_TYPES = {"photo": types.storage.FileJpeg, "video": types.storage.FileMp4, "audio": types.storage.FileMp3}


class FileService:
    """Serve file parts with Telegram's rules, per-account refs and bandwidth."""

    def __init__(self, seed: int, messages: Sequence[SimMessage], source: ByteSource, plan: FaultPlan) -> None:
        self.seed = seed
        self.source = source
        self.plan = plan
        self.docs: dict[int, SimMessage] = {}
        for msg in messages:
            if msg.is_media and msg.doc_id is not None:
                self.docs.setdefault(msg.doc_id, msg)

    def add(self, messages: Sequence[SimMessage]) -> None:
        """Index the files of messages posted or edited later (`live`); a known file id keeps its entry."""
        for msg in messages:
            if msg.is_media and msg.doc_id is not None:
                self.docs.setdefault(msg.doc_id, msg)

    async def get_file(self, session: SimSession, dc_id: int, req: Any) -> Any:
        """Answer upload.getFile."""
        check_range(req.offset, req.limit, bool(req.precise))
        account = session.account
        self._maybe_limit_speed(account)
        msg, key, size = self._locate(req.location)
        if msg.dc_id != dc_id:
            raise RpcFail(303, f"FILE_MIGRATE_{msg.dc_id}")
        assert msg.doc_id is not None
        if req.offset > 0:
            self._maybe_expire(account, msg.doc_id)
        self._check_reference(account, msg.doc_id, req.location.file_reference)
        data = self.source.read(key, size, req.offset, req.limit)
        with account.serving(msg.doc_id, dc_id, size):
            await account.pacer.consume(len(data), Part(dc_id, msg.doc_id, size, req.offset, len(data)))
        account.bytes_served += len(data)
        account.file_bytes[msg.doc_id] = account.file_bytes.get(msg.doc_id, 0) + len(data)
        if req.offset > 0:
            file_type: Any = types.storage.FilePartial()
        else:
            file_type = _FILE_TYPES.get(msg.kind, types.storage.FileUnknown)()
        return types.upload.File(type=file_type, mtime=0, bytes=data)

    def _locate(self, loc: Any) -> tuple[SimMessage, int, int]:
        """Return (message, byte key, byte size) of a file location."""
        if isinstance(loc, types.InputDocumentFileLocation):
            msg = self.docs.get(loc.id)
            if msg is None or msg.kind == "photo" or loc.thumb_size not in ("", None):
                raise RpcFail(400, "LOCATION_INVALID")
        elif isinstance(loc, types.InputPhotoFileLocation):
            msg = self.docs.get(loc.id)
            if msg is None or msg.kind != "photo":
                raise RpcFail(400, "LOCATION_INVALID")
        else:
            raise RpcFail(400, "LOCATION_INVALID")
        assert msg.doc_id is not None
        if loc.access_hash != doc_access_hash(self.seed, msg.doc_id):
            raise RpcFail(400, "FILE_ID_INVALID")
        if isinstance(loc, types.InputPhotoFileLocation) and loc.thumb_size in THUMB_TYPES:
            return msg, thumb_key(msg.doc_id, loc.thumb_size), thumb_size(loc.thumb_size, msg.size)
        return msg, msg.doc_id, msg.size

    def _maybe_limit_speed(self, account: Account) -> None:
        for index, rule in self.plan.of_kind("premium"):
            if (rule.account is None or rule.account == account.name) and account.counter(index).fire():
                raise RpcFail(420, f"FLOOD_PREMIUM_WAIT_{rule.seconds}")

    def _maybe_expire(self, account: Account, doc_id: int) -> None:
        for index, rule in self.plan.of_kind("expire"):
            if rule.account is not None and rule.account != account.name:
                continue
            if rule.after_bytes is not None:
                fired_key = (index, doc_id)
                due = account.file_bytes.get(doc_id, 0) >= rule.after_bytes
                if due and fired_key not in account.expired_after_bytes:
                    account.expired_after_bytes.add(fired_key)
                    account.rotate_reference(doc_id)
            elif account.counter(index).fire():
                account.rotate_reference(doc_id)

    def _check_reference(self, account: Account, doc_id: int, ref: bytes) -> None:
        if ref == account.file_reference(doc_id):
            return
        # Another generation or another account's reference: stale, cured by a re-fetch.
        if len(ref) == 10 and ref[:1] == b"\x02":
            raise RpcFail(400, "FILE_REFERENCE_EXPIRED")
        raise RpcFail(400, "FILE_REFERENCE_INVALID")


def check_range(offset: int, limit: int, precise: bool = False) -> None:
    """Apply upload.getFile's offset/limit rules (see the module docstring)."""
    block = PRECISE_BLOCK if precise else BLOCK
    if offset < 0 or offset % block:
        raise RpcFail(400, "OFFSET_INVALID")
    if limit <= 0 or limit % block or limit > MAX_LIMIT or (not precise and MAX_LIMIT % limit):
        raise RpcFail(400, "LIMIT_INVALID")
    if offset // MAX_LIMIT != (offset + limit - 1) // MAX_LIMIT:
        raise RpcFail(400, "LIMIT_INVALID")
