"""Binary ``RP`` frame payloads: MessagePack or CBOR, zstd with numbered dictionaries, fragments (layer 2).

The 9-byte header is built and parsed by ``pushwire._core.codec``; this module turns payload values into the
bytes after it and back. One :class:`BinaryCodec` serves one connection's negotiated encoding. See
docs/protocol.md, "The binary RP frame".

Decode order (each step raises its own error from :mod:`pushwire.errors`): header (``FrameTooShort``,
``InvalidMagic``, ``UnsupportedVersion``, ``UnknownChannel``), then a fragment shard's header
(``InvalidFragment``), then zstd (``CompressionError``, ``MissingDictionary``, ``MessageTooBig``), then the
payload (``PayloadDecodeError``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import cbor2
import msgpack
import zstandard

from .._core.chunker import decode_shard, split_fragments
from .._core.codec import (
    FLAG_ACK_REQUIRED,
    FLAG_COMPRESSED,
    FLAG_FRAGMENTED,
    decode_binary_frame,
    encode_binary_frame,
)
from ..errors import CompressionError, ConfigError, MessageTooBig, MissingDictionary, PayloadDecodeError

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "BinaryCodec",
    "Encoding",
    "train_dictionary",
]

Encoding = Literal["msgpack", "cbor"]

#: largest decompressed payload accepted by default (the reassembly limit of docs/protocol.md 11.4)
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
_U32 = 0xFFFFFFFF
_CONTENT_SIZE_UNKNOWN = zstandard.CONTENTSIZE_UNKNOWN


class BinaryCodec:
    """Encode and decode ``RP`` frames of one negotiated payload encoding.

    Args:
        encoding: ``"msgpack"`` or ``"cbor"`` (the granted ``binary.*`` feature).
        compression_threshold: compress encoded payloads of at least this many bytes; 0 compresses
            everything. Use a huge value to turn compression off (``zstd`` not granted).
        level: zstd compression level.
        dictionaries: dictionary id -> zstd dictionary bytes (as made by :func:`train_dictionary`), used to
            decompress payloads naming that id (and to compress with ``compress_with``).
        compress_with: the dictionary id to compress with (must be in ``dictionaries``), or None.
        max_payload_bytes: largest decompressed payload accepted (``MessageTooBig`` beyond).

    Raises:
        ConfigError: unknown encoding, bad threshold or level, a dictionary whose embedded id differs from
            its key (or has none), ``compress_with`` not among the dictionaries.
    """

    __slots__ = ("encoding", "compression_threshold", "level", "compress_with", "max_payload_bytes",
                 "_dicts", "_compressor", "_decompressors", "_dumps", "_loads")

    def __init__(self, encoding: Encoding, *, compression_threshold: int = 512, level: int = 3,
                 dictionaries: Mapping[int, bytes] = {}, compress_with: int | None = None,
                 max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> None:
        if encoding == "msgpack":
            self._dumps, self._loads = _msgpack_dumps, _msgpack_loads
        elif encoding == "cbor":
            self._dumps, self._loads = cbor2.dumps, _cbor_loads
        else:
            raise ConfigError(f"binary encoding must be 'msgpack' or 'cbor', got {encoding!r}")
        if compression_threshold < 0:
            raise ConfigError("compression_threshold must be >= 0")
        if max_payload_bytes < 1:
            raise ConfigError("max_payload_bytes must be >= 1")
        if not isinstance(level, int) or not -(1 << 17) <= level <= zstandard.MAX_COMPRESSION_LEVEL:
            raise ConfigError(f"zstd level {level} out of range")
        self.encoding: Encoding = encoding
        self.compression_threshold = compression_threshold
        self.level = level
        self.compress_with = compress_with
        self.max_payload_bytes = max_payload_bytes
        self._dicts = {dict_id: _load_dictionary(dict_id, data) for dict_id, data in dictionaries.items()}
        if compress_with is not None and compress_with not in self._dicts:
            raise ConfigError(f"compress_with={compress_with} is not one of the dictionaries")
        self._compressor = zstandard.ZstdCompressor(
            level=level, dict_data=self._dicts.get(compress_with) if compress_with is not None else None,
            write_content_size=True)
        self._decompressors: dict[int, zstandard.ZstdDecompressor] = {
            0: zstandard.ZstdDecompressor(),
            **{dict_id: zstandard.ZstdDecompressor(dict_data=d) for dict_id, d in self._dicts.items()}}

    # -- payload ------------------------------------------------------------------------------------------

    def serialize(self, payload: Any) -> bytes:
        """Encode a value with the codec's encoding (no compression)."""
        return self._dumps(payload)

    def deserialize(self, data: bytes) -> Any:
        """Decode a value; PayloadDecodeError when ``data`` is not exactly one valid value."""
        return self._loads(data)

    def encode_payload(self, payload: Any) -> tuple[bytes, int]:
        """Serialise ``payload`` and compress it when it reaches the threshold.

        Returns:
            The payload bytes and the flags they need (``FLAG_COMPRESSED`` or 0).
        """
        body = self._dumps(payload)
        if len(body) >= self.compression_threshold:
            return self._compressor.compress(body), FLAG_COMPRESSED
        return body, 0

    def decode_payload(self, body: bytes, flags: int) -> Any:
        """Decompress (when ``flags`` has ``FLAG_COMPRESSED``) and deserialise a payload.

        Use it for a payload reassembled from fragments, with the flags of its shards.

        Raises:
            CompressionError, MissingDictionary, MessageTooBig, PayloadDecodeError.
        """
        if flags & FLAG_COMPRESSED:
            body = self.decompress(body)
        return self._loads(body)

    def decompress(self, body: bytes) -> bytes:
        """Decompress one zstd frame, with the dictionary its header names, bounded by max_payload_bytes.

        Raises:
            CompressionError: not a valid zstd frame.
            MissingDictionary: the frame names a dictionary this codec does not have.
            MessageTooBig: the content is larger than ``max_payload_bytes``.
        """
        try:
            params = zstandard.get_frame_parameters(body)
        except zstandard.ZstdError as exc:
            raise CompressionError(f"bad zstd frame: {exc}"[:123]) from None
        dctx = self._decompressors.get(params.dict_id)
        if dctx is None:
            raise MissingDictionary(params.dict_id)
        limit = self.max_payload_bytes
        try:
            if params.content_size == _CONTENT_SIZE_UNKNOWN:
                # measure with a bounded read first: a tiny frame may inflate to gigabytes
                probe = dctx.stream_reader(io.BytesIO(body)).read(limit + 1)
                if len(probe) > limit:
                    raise MessageTooBig(f"compressed payload inflates beyond {limit} bytes")
                return dctx.decompress(body, max_output_size=max(len(probe), 1))
            if params.content_size > limit:
                raise MessageTooBig(f"compressed payload of {params.content_size} bytes exceeds {limit}")
            return dctx.decompress(body)
        except zstandard.ZstdError as exc:
            raise CompressionError(f"zstd decompression failed: {exc}"[:123]) from None

    # -- frames -------------------------------------------------------------------------------------------

    def encode(self, wire_id: int, sequence: int, payload: Any, *, ack_required: bool = False) -> bytes:
        """Build one ``RP`` frame carrying ``payload``.

        Args:
            wire_id: the channel's wire id.
            sequence: the frame's cursor (taken mod 2**32), 0 for system frames.
            payload: the value to serialise.
            ack_required: set flag 0x04.
        """
        body, flags = self.encode_payload(payload)
        if ack_required:
            flags |= FLAG_ACK_REQUIRED
        return encode_binary_frame(wire_id, sequence & _U32, body, flags)

    def encode_fragmented(self, wire_id: int, sequence: int, payload: Any, *, max_chunk_bytes: int,
                          ack_required: bool = False, fragment_id: bytes | None = None) -> list[bytes]:
        """Build the ``RP`` frames of a payload cut into shards of at most ``max_chunk_bytes``.

        The payload is serialised and compressed as a whole, then cut; every frame carries
        ``FLAG_FRAGMENTED`` plus the whole payload's ``FLAG_COMPRESSED`` (and ``FLAG_ACK_REQUIRED``).

        Args:
            fragment_id: 16 bytes; random when None.

        Raises:
            FragmentLimitExceeded: more than 65535 shards would be needed.
            InvalidFragment: ``fragment_id`` is not 16 bytes.
        """
        body, flags = self.encode_payload(payload)
        flags |= FLAG_FRAGMENTED | (FLAG_ACK_REQUIRED if ack_required else 0)
        shards = split_fragments(body, fragment_id if fragment_id is not None else os.urandom(16),
                                 max_chunk_bytes)
        sequence &= _U32
        return [encode_binary_frame(wire_id, sequence, shard, flags) for shard in shards]

    def decode(self, data: bytes, known_wire_ids: bytes | None = None) -> tuple[int, int, int, Any]:
        """Parse an ``RP`` frame.

        Returns:
            ``(wire_id, flags, sequence, payload)``. For a fragmented frame (``flags & FLAG_FRAGMENTED``) the
            payload is the raw shard bytes, already checked: push it to a
            ``pushwire._core.chunker.FragmentAssembler`` and pass the completed bytes to
            :meth:`decode_payload` with these flags.

        Raises:
            FrameTooShort, InvalidMagic, UnsupportedVersion, UnknownChannel: bad header.
            InvalidFragment: bad shard header.
            CompressionError, MissingDictionary, MessageTooBig, PayloadDecodeError: bad payload.
        """
        wire_id, flags, sequence, body = decode_binary_frame(data, known_wire_ids)
        if flags & FLAG_FRAGMENTED:
            decode_shard(body)
            return wire_id, flags, sequence, body
        return wire_id, flags, sequence, self.decode_payload(body, flags)


def train_dictionary(samples: Iterable[bytes], dict_size: int, dict_id: int) -> bytes:
    """Train a zstd dictionary numbered ``dict_id`` (1..2**32-1) from sample payloads.

    Returns:
        The dictionary bytes, with ``dict_id`` in its header; share them out of band.

    Raises:
        ConfigError: ``dict_id`` out of range.
        CompressionError: zstd could not train (typically too few or too small samples).
    """
    if not 1 <= dict_id <= _U32:
        raise ConfigError(f"dictionary id must be in 1..{_U32}, got {dict_id}")
    try:
        trained = zstandard.train_dictionary(dict_size, list(samples), dict_id=dict_id)
    except zstandard.ZstdError as exc:
        raise CompressionError(f"dictionary training failed: {exc}"[:123]) from None
    return trained.as_bytes()


def _load_dictionary(dict_id: int, data: bytes) -> zstandard.ZstdCompressionDict:
    if not 1 <= dict_id <= _U32:
        raise ConfigError(f"dictionary id must be in 1..{_U32}, got {dict_id}")
    try:
        zdict = zstandard.ZstdCompressionDict(bytes(data), dict_type=zstandard.DICT_TYPE_FULLDICT)
        embedded = zdict.dict_id()
    except zstandard.ZstdError as exc:
        raise ConfigError(f"dictionary {dict_id} is not a zstd dictionary: {exc}") from None
    if embedded != dict_id:
        raise ConfigError(f"dictionary registered as {dict_id} carries id {embedded}")
    return zdict


def _msgpack_dumps(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _msgpack_loads(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        # ExtraData, FormatError, StackError and OutOfData are ValueError subclasses
        raise PayloadDecodeError(f"bad MessagePack payload: {type(exc).__name__}") from None


def _cbor_loads(data: bytes) -> Any:
    fp = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(fp).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError, EOFError) as exc:
        raise PayloadDecodeError(f"bad CBOR payload: {type(exc).__name__}") from None
    if fp.tell() != len(data):
        raise PayloadDecodeError("bad CBOR payload: extra data after the value")
    return value
