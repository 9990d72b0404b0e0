"""Deterministic file bytes, generated on demand from a 1 MiB seeded pool."""

from __future__ import annotations

import hashlib
import random
import struct

from .content import derive_int

BLOCK = 4096
_POOL_SIZE = 1 << 20
_HEADER = struct.Struct(">QQ")
_MIX = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


class ByteSource:
    """Bytes of any (key, size) file: each 4 KiB block is a keyed slice of the pool.

    Every block starts with (key, block index), so no two files share a
    digest; the rest of the block is a pool slice chosen by a keyed hash.
    """

    def __init__(self, seed: int) -> None:
        rng = random.Random(derive_int("pool", seed))
        pool = rng.randbytes(_POOL_SIZE)
        self._pool = memoryview(pool + pool[:BLOCK])
        self._digests: dict[tuple[int, int], str] = {}

    def block(self, key: int, index: int) -> bytes:
        """Return block `index` (4 KiB) of the file identified by `key`."""
        h = ((key ^ (index * _MIX)) * _MIX) & _MASK
        h ^= h >> 29
        start = h % _POOL_SIZE
        return _HEADER.pack(key & _MASK, index) + self._pool[start + 16 : start + BLOCK]

    def read(self, key: int, size: int, offset: int, limit: int) -> bytes:
        """Return bytes [offset, offset+limit) of a file of `size` bytes."""
        end = min(size, offset + limit)
        if offset >= end:
            return b""
        first, last = offset // BLOCK, (end - 1) // BLOCK
        data = b"".join(self.block(key, i) for i in range(first, last + 1))
        skip = offset - first * BLOCK
        return data[skip : skip + end - offset]

    def sha256(self, key: int, size: int) -> str:
        """Return the hex sha256 of the whole file, streaming, cached."""
        cached = self._digests.get((key, size))
        if cached is not None:
            return cached
        digest = hashlib.sha256()
        step = 1 << 20
        for offset in range(0, size, step):
            digest.update(self.read(key, size, offset, step))
        result = digest.hexdigest()
        self._digests[(key, size)] = result
        return result
