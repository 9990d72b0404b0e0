"""FakeSender: an MTProtoSender stand-in that talks to the simulated server in-process.

Telethon only touches a small surface of its sender: `connect(connection)`,
`disconnect()`, `is_connected()`, `send(request)` returning a Future (or a
list of them), `disconnected`, `_transport_connected()`, `_keepalive_ping()`,
`auth_key` and `dc_id`. Requests and answers cross real TL bytes, and answers
are AES-IGE encrypted and decrypted with cryptg like on the wire.

Server-sent updates: the client's home sender is given the client's updates
queue (what Telethon hands its MTProtoSender) and, while connected, offers
`push` as `session.updates`; an `Updates` object pushed there crosses the same
TL bytes and lands in the queue like `MTProtoSender._handle_update` puts it, so
the client's update loop dispatches it to its event handlers. Connecting with a
Telethon connection object follows its DC (`client._switch_dc`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import struct
from typing import Any

import cryptg
from telethon import errors
from telethon.crypto import AuthKey
from telethon.extensions import BinaryReader
from telethon.tl import functions, types

from .base import DropConnection, RpcFail, SimSession
from .server import Server

log = logging.getLogger(__name__)

_VECTOR = struct.Struct("<Ii")
_BOOL_TRUE = struct.pack("<I", 0x997275B5)
_BOOL_FALSE = struct.pack("<I", 0xBC799737)
_OFFLOAD_BYTES = 64 << 10
_UPDATES_SUBCLASS = 0x8AF52AAC  # crc32(b"Updates"), what MTProtoSender checks before queueing


class FakeSender:
    """One connection of one client to one simulated DC."""

    def __init__(
        self, server: Server, session: SimSession, dc_id: int, *, encrypt: bool = True,
        updates: asyncio.Queue[Any] | None = None,
    ) -> None:
        self._server = server
        self.session = session
        self._encrypt = encrypt
        self._updates = updates
        self._set_dc(dc_id)
        self._connected = False
        self._disconnected: asyncio.Future[None] | None = None
        self._inflight: dict[asyncio.Task[None], asyncio.Future[Any]] = {}

    # -- the surface Telethon uses ----------------------------------------------

    async def connect(self, connection: Any = None) -> bool:
        """Connect (to the DC of Telethon's connection object, if one is given); False if already connected."""
        if self._connected:
            return False
        dc_id = getattr(connection, "_dc_id", None)
        if isinstance(dc_id, int) and (dc_id != self.dc_id or self.auth_key.key is None):
            self._set_dc(dc_id)  # client._switch_dc: the session moved to another DC and dropped its key
        self._connected = True
        self._disconnected = asyncio.get_running_loop().create_future()
        if self._updates is not None:
            self.session.updates = self.push
        return True

    def is_connected(self) -> bool:
        """Tell whether the sender is connected."""
        return self._connected

    def _transport_connected(self) -> bool:
        return self._connected

    async def disconnect(self) -> None:
        """Disconnect, cancelling requests in flight."""
        self._close(None)

    @property
    def disconnected(self) -> asyncio.Future[None]:
        """A future that resolves when the connection ends."""
        if self._disconnected is None:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            self._disconnected = done
        return asyncio.shield(self._disconnected)

    def _keepalive_ping(self, rnd_id: int) -> None:
        future = self.send(functions.PingRequest(ping_id=rnd_id))
        future.add_done_callback(_consume)

    def push(self, updates: Any) -> None:
        """Deliver a server-sent `Updates` object to the client's update loop (dropped while disconnected)."""
        if not self._connected or self._updates is None:
            return
        data = bytes(updates)
        if self._encrypt:
            data = self._cipher(data)
        received = BinaryReader(data).tgread_object()
        if received.SUBCLASS_OF_ID != _UPDATES_SUBCLASS:
            raise TypeError(f"not an Updates object: {type(updates).__name__}")
        self._updates.put_nowait(received)

    def send(self, request: Any, ordered: bool = False) -> Any:
        """Submit one request (-> Future) or a list of them (-> list of Futures)."""
        if not self._connected:
            raise ConnectionError("Cannot send requests while disconnected")
        if isinstance(request, (list, tuple)):
            return [self._submit(r) for r in request]
        return self._submit(request)

    # -- internals --------------------------------------------------------------

    def _set_dc(self, dc_id: int) -> None:
        self.dc_id = dc_id
        seed = hashlib.sha256(f"authkey|{self.session.account.name}|{dc_id}".encode()).digest()
        self.auth_key = AuthKey(data=(seed * 8)[:256])
        self._key = hashlib.sha256(seed + b"key").digest()
        self._iv = hashlib.sha256(seed + b"iv").digest()

    def _submit(self, request: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        wire = bytes(request)  # serialization errors surface here, like Telethon's
        task = loop.create_task(self._serve(request, wire, future))
        self._inflight[task] = future
        task.add_done_callback(lambda t: self._inflight.pop(t, None))
        future.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)
        return future

    async def _serve(self, request: Any, wire: bytes, future: asyncio.Future[Any]) -> None:
        try:
            parsed = BinaryReader(wire).tgread_object()
            answer = await self._server.handle(self.session, self.dc_id, parsed)
            value = request.read_result(BinaryReader(await self._transport(serialize(answer))))
        except RpcFail as exc:
            rpc = types.RpcError(error_code=exc.code, error_message=exc.message)
            _settle(future, exc=errors.rpc_message_to_error(rpc, request))
        except DropConnection as exc:
            error = ConnectionError("Connection to Telegram lost (simulated)")
            _settle(future, exc=error)
            if exc.hard:
                self._close(error, keep=asyncio.current_task())
        except Exception as exc:  # a simulator bug must not hang the caller
            log.exception("simulator failed on %s", type(request).__name__)
            _settle(future, exc=exc)
        else:
            _settle(future, value=value)

    async def _transport(self, data: bytes) -> bytes:
        """Encrypt like the server, decrypt like the client.

        A big answer is encrypted in a worker thread: that is the server's work, which
        real Telegram does on its own machines, not on the client's event loop.
        """
        if not self._encrypt:
            return data
        padded = data + bytes(-len(data) % 16)
        if len(padded) < _OFFLOAD_BYTES:
            return self._cipher(data)
        cipher = await asyncio.get_running_loop().run_in_executor(
            None, cryptg.encrypt_ige, padded, self._key, self._iv)
        plain: bytes = cryptg.decrypt_ige(cipher, self._key, self._iv)
        return plain[: len(data)]

    def _cipher(self, data: bytes) -> bytes:
        """Encrypt like the server and decrypt like the client, in place."""
        padded = data + bytes(-len(data) % 16)
        plain: bytes = cryptg.decrypt_ige(cryptg.encrypt_ige(padded, self._key, self._iv), self._key, self._iv)
        return plain[: len(data)]

    def _close(self, error: BaseException | None, keep: Any = None) -> None:
        if not self._connected:
            return
        self._connected = False
        if self.session.updates == self.push:
            self.session.updates = None
        for task, future in list(self._inflight.items()):
            if task is keep:
                continue
            if not future.done():
                if error is None:
                    future.cancel()
                else:
                    future.set_exception(error)
            task.cancel()
        done = self._disconnected
        if done is not None and not done.done():
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
                done.add_done_callback(_consume)


def serialize(answer: Any) -> bytes:
    """Return the TL bytes of an answer (objects, vectors of objects, bools)."""
    if isinstance(answer, bool):
        return _BOOL_TRUE if answer else _BOOL_FALSE
    if isinstance(answer, (list, tuple)):
        return _VECTOR.pack(0x1CB5C415, len(answer)) + b"".join(bytes(x) for x in answer)
    return bytes(answer)


def _settle(future: asyncio.Future[Any], *, value: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve a result nobody awaits, so asyncio does not log it."""
    if not future.cancelled():
        future.exception()
