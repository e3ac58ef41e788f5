"""Asset chunker: streaming SHA-256 and binary fragments (types of ``pushwire._core.chunker``)."""

from typing import Final

from typing_extensions import Buffer

__all__ = [
    "FRAGMENT_HEADER_LEN",
    "MAX_FRAGMENTS",
    "FragmentAssembler",
    "Sha256Stream",
    "decode_shard",
    "encode_shard",
    "sha256_hex",
    "split_fragments",
]

FRAGMENT_HEADER_LEN: Final[int]
"""Bytes before a shard's chunk: fragment id (16), total (u16 BE), index (u16 BE)."""
MAX_FRAGMENTS: Final[int]
"""Most shards one message can be split into (65535)."""

class Sha256Stream:
    """SHA-256 fed chunk by chunk."""

    def __init__(self) -> None:
        """Start an empty hash."""
    def update(self, chunk: Buffer) -> None:
        """Feed the next chunk."""
    def digest(self) -> bytes:
        """Return the 32-byte digest of everything fed so far."""
    def hexdigest(self) -> str:
        """Return the digest as 64 lowercase hex digits."""
    @property
    def nbytes(self) -> int:
        """Total bytes fed so far."""

def sha256_hex(data: Buffer) -> str:
    """Return the SHA-256 of ``data`` as 64 lowercase hex digits."""

def encode_shard(fragment_id: Buffer, total: int, index: int, chunk: Buffer) -> bytes:
    """Build ``[fragment_id 16][total u16 BE][index u16 BE][chunk]`` (InvalidFragment on bad arguments)."""

def decode_shard(data: Buffer) -> tuple[bytes, int, int, bytes]:
    """Split a shard into ``(fragment_id, total, index, chunk)`` (InvalidFragment when malformed)."""

def split_fragments(payload: Buffer, fragment_id: Buffer, max_chunk: int) -> list[bytes]:
    """Cut ``payload`` into shards of at most ``max_chunk`` chunk bytes (FragmentLimitExceeded past 65535)."""

class FragmentAssembler:
    """Reassembles fragmented messages from shards in any order, bounded in ids, bytes, size and time."""

    def __init__(
        self,
        max_inflight: int = 1024,
        max_inflight_bytes: int = 67108864,
        max_message_bytes: int = 67108864,
        ttl_s: float = 30.0,
    ) -> None:
        """Create an empty assembler (ConfigError when a bound is < 1 or ttl_s < 0)."""
    def push(self, shard: Buffer, now: float = -1.0) -> bytes | None:
        """Accept a shard; return the whole payload when it completes its message, else None."""
    def expire(self, now: float = -1.0) -> int:
        """Drop incomplete messages older than ttl_s at time ``now``; return how many."""
    @property
    def inflight(self) -> int:
        """Incomplete messages being kept."""
    @property
    def inflight_bytes(self) -> int:
        """Chunk bytes kept for incomplete messages."""
    @property
    def evicted(self) -> int:
        """Incomplete messages evicted so far by the inflight bounds."""
    @property
    def expired(self) -> int:
        """Incomplete messages dropped so far by expire."""
    @property
    def max_inflight(self) -> int:
        """Most incomplete messages kept."""
    @property
    def max_inflight_bytes(self) -> int:
        """Most chunk bytes kept over all incomplete messages."""
    @property
    def max_message_bytes(self) -> int:
        """Largest reassembled message."""
    @property
    def ttl_s(self) -> float:
        """Age in seconds past which expire drops an incomplete message (0: never)."""
