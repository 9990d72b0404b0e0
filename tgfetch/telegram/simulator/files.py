"""upload.getFile: location lookup, size rules, DC migration, file references, pacing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telethon.tl import types

from .accounts import Account
from .base import RpcFail, SimSession
from .content import SimMessage
from .faults import FaultPlan
from .filebytes import BLOCK, ByteSource
from .tlbuild import THUMB_TYPES, doc_access_hash, thumb_key, thumb_size

MAX_LIMIT = 1 << 20
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

    async def get_file(self, session: SimSession, dc_id: int, req: Any) -> Any:
        """Answer upload.getFile."""
        check_range(req.offset, req.limit)
        account = session.account
        msg, key, size = self._locate(req.location)
        if msg.dc_id != dc_id:
            raise RpcFail(303, f"FILE_MIGRATE_{msg.dc_id}")
        assert msg.doc_id is not None
        if req.offset > 0:
            self._maybe_expire(account, msg.doc_id)
        self._check_reference(account, msg.doc_id, req.location.file_reference)
        data = self.source.read(key, size, req.offset, req.limit)
        await account.pacer.consume(len(data))
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


def check_range(offset: int, limit: int) -> None:
    """Apply upload.getFile's offset/limit rules."""
    if offset < 0 or offset % BLOCK:
        raise RpcFail(400, "OFFSET_INVALID")
    if limit <= 0 or limit % BLOCK or limit > MAX_LIMIT:
        raise RpcFail(400, "LIMIT_INVALID")
    if offset // MAX_LIMIT != (offset + limit - 1) // MAX_LIMIT:
        raise RpcFail(400, "LIMIT_INVALID")
