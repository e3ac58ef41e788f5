"""Pure-Python models of ``pushwire._core.chunker`` (tests only): struct, hashlib and a dict of lists."""

from __future__ import annotations

import hashlib
import struct
import time

from pushwire.errors import (
    ConfigError,
    DuplicateFragment,
    FragmentLimitExceeded,
    FragmentTotalMismatch,
    InvalidFragment,
)

FRAGMENT_HEADER_LEN = 20
MAX_FRAGMENTS = 65535
_HEADER = struct.Struct(">16sHH")


class Sha256StreamModel:
    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.nbytes = 0

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        self._hash.update(chunk)
        self.nbytes += memoryview(chunk).nbytes

    def digest(self) -> bytes:
        return self._hash.digest()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_shard(fragment_id: bytes, total: int, index: int, chunk: bytes) -> bytes:
    if len(fragment_id) != 16 or not 1 <= total <= MAX_FRAGMENTS or not 0 <= index < total:
        raise InvalidFragment("bad shard arguments")
    return _HEADER.pack(bytes(fragment_id), total, index) + bytes(chunk)


def decode_shard(data: bytes) -> tuple[bytes, int, int, bytes]:
    data = bytes(data)
    if len(data) < FRAGMENT_HEADER_LEN:
        raise InvalidFragment("short shard")
    fragment_id, total, index = _HEADER.unpack_from(data)
    if total == 0 or index >= total:
        raise InvalidFragment("bad total or index")
    return fragment_id, total, index, data[FRAGMENT_HEADER_LEN:]


def split_fragments(payload: bytes, fragment_id: bytes, max_chunk: int) -> list[bytes]:
    if max_chunk < 1:
        raise ValueError("max_chunk must be >= 1")
    if len(fragment_id) != 16:
        raise InvalidFragment("fragment id must be 16 bytes")
    chunks = [payload[i:i + max_chunk] for i in range(0, len(payload), max_chunk)] or [b""]
    if len(chunks) > MAX_FRAGMENTS:
        raise FragmentLimitExceeded("too many fragments")
    return [encode_shard(fragment_id, len(chunks), i, c) for i, c in enumerate(chunks)]


class _Message:
    def __init__(self, total: int, first_time: float) -> None:
        self.total = total
        self.first_time = first_time
        self.chunks: dict[int, bytes] = {}
        self.nbytes = 0


class FragmentAssemblerModel:
    """``{fragment_id: _Message}``; dict order is first-shard order, so the first key is the oldest."""

    def __init__(self, max_inflight: int = 1024, max_inflight_bytes: int = 64 << 20,
                 max_message_bytes: int = 64 << 20, ttl_s: float = 30.0) -> None:
        if max_inflight < 1 or max_inflight_bytes < 1 or max_message_bytes < 1 or ttl_s < 0:
            raise ConfigError("bad assembler settings")
        self.max_inflight = max_inflight
        self.max_inflight_bytes = max_inflight_bytes
        self.max_message_bytes = max_message_bytes
        self.ttl_s = ttl_s
        self.pending: dict[bytes, _Message] = {}
        self.inflight_bytes = 0
        self.evicted = 0
        self.expired = 0

    @property
    def inflight(self) -> int:
        return len(self.pending)

    def _forget(self, fragment_id: bytes) -> None:
        self.inflight_bytes -= self.pending.pop(fragment_id).nbytes

    def push(self, shard: bytes, now: float = -1.0) -> bytes | None:
        fragment_id, total, index, chunk = decode_shard(shard)
        if now < 0:
            now = time.monotonic()
        message = self.pending.get(fragment_id)
        if message is None:
            if len(chunk) > self.max_message_bytes:
                raise FragmentLimitExceeded("message too big")
            if total == 1:
                return chunk
            message = self.pending[fragment_id] = _Message(total, now)
        else:
            if message.total != total:
                raise FragmentTotalMismatch("total differs")
            if index in message.chunks:
                raise DuplicateFragment(index, total)
            if message.nbytes + len(chunk) > self.max_message_bytes:
                self._forget(fragment_id)
                raise FragmentLimitExceeded("message too big")
        message.chunks[index] = chunk
        message.nbytes += len(chunk)
        self.inflight_bytes += len(chunk)
        if len(message.chunks) == total:
            self._forget(fragment_id)
            return b"".join(message.chunks[i] for i in range(total))
        while self.pending and (len(self.pending) > self.max_inflight
                                or self.inflight_bytes > self.max_inflight_bytes):
            self._forget(next(iter(self.pending)))
            self.evicted += 1
        return None

    def expire(self, now: float = -1.0) -> int:
        if self.ttl_s <= 0 or not self.pending:
            return 0
        if now < 0:
            now = time.monotonic()
        dropped = 0
        while self.pending:
            oldest = next(iter(self.pending))
            if not now - self.pending[oldest].first_time > self.ttl_s:
                break
            self._forget(oldest)
            dropped += 1
        self.expired += dropped
        return dropped
