"""BinaryCodec: encodings, the compression threshold, dictionaries, fragments and every decode error."""

from __future__ import annotations

import random

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from pushwire._core.chunker import FragmentAssembler
from pushwire._core.codec import FLAG_ACK_REQUIRED, FLAG_COMPRESSED, FLAG_FRAGMENTED
from pushwire.errors import (
    CompressionError,
    ConfigError,
    FragmentLimitExceeded,
    FrameTooShort,
    InvalidFragment,
    InvalidMagic,
    MessageTooBig,
    MissingDictionary,
    PayloadDecodeError,
    UnknownChannel,
    UnsupportedVersion,
)
from pushwire.protocol.binary import BinaryCodec, train_dictionary
from pushwire.protocol.channels import DefaultChannel

ENCODINGS = ["msgpack", "cbor"]


def _samples(n: int = 400) -> list[bytes]:
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "room", "lobby", "hello", "world", "user", "text"]
    return [(f'{{"user":"u{rng.randrange(1000)}","room":"{rng.choice(words)}",'
             f'"text":"{" ".join(rng.choice(words) for _ in range(8))}"}}').encode() for _ in range(n)]


@pytest.fixture(scope="module")
def dict7() -> bytes:
    return train_dictionary(_samples(), 2048, 7)


def test_spec_example_bytes() -> None:
    assert BinaryCodec("msgpack").encode(1, 41, {"text": "hi"}).hex(" ") == (
        "52 50 01 00 01 00 00 00 29 81 a4 74 65 78 74 a2 68 69")
    assert BinaryCodec("cbor").encode(1, 41, {"text": "hi"}).hex(" ") == (
        "52 50 01 00 01 00 00 00 29 a1 64 74 65 78 74 62 68 69")


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_round_trip_small(encoding: str) -> None:
    codec = BinaryCodec(encoding)  # type: ignore[arg-type]
    value = {"a": [1, 2, {"b": None}], "c": "ü", "d": True, "e": 1.5, "f": b"raw"}
    data = codec.encode(3, 7, value)
    assert codec.decode(data) == (3, 0, 7, value)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_threshold_is_inclusive(encoding: str) -> None:
    codec = BinaryCodec(encoding, compression_threshold=64)  # type: ignore[arg-type]
    # find strings whose encoding is exactly 63 and 64 bytes long
    for n in range(40, 80):
        body = codec.serialize("x" * n)
        if len(body) == 63:
            below = "x" * n
        if len(body) == 64:
            at = "x" * n
    assert codec.encode_payload(below)[1] == 0
    assert codec.encode_payload(at)[1] == FLAG_COMPRESSED
    frame = codec.encode(1, 1, at)
    assert frame[3] == FLAG_COMPRESSED
    assert codec.decode(frame)[3] == at


def test_default_threshold_exact() -> None:
    codec = BinaryCodec("msgpack")
    assert codec.encode_payload(b"x" * 510)[1] == FLAG_COMPRESSED  # 3 + 510 = 513
    assert len(codec.serialize(b"x" * 509)) == 512
    assert codec.encode_payload(b"x" * 509)[1] == FLAG_COMPRESSED
    assert len(codec.serialize(b"x" * 508)) == 511
    assert codec.encode_payload(b"x" * 508)[1] == 0


def test_sequence_is_cursor_mod_2_32() -> None:
    codec = BinaryCodec("msgpack")
    assert codec.decode(codec.encode(1, 2**32 + 5, 0))[2] == 5
    assert codec.decode(codec.encode(1, 2**32 - 1, 0))[2] == 2**32 - 1


def test_ack_required_flag() -> None:
    codec = BinaryCodec("cbor")
    frame = codec.encode(1, 1, "x", ack_required=True)
    assert frame[3] == FLAG_ACK_REQUIRED
    assert codec.decode(frame)[1] == FLAG_ACK_REQUIRED


def test_dictionary_round_trip_and_id_in_header(dict7: bytes) -> None:
    codec = BinaryCodec("msgpack", compression_threshold=0, dictionaries={7: dict7}, compress_with=7)
    value = {"user": "u5", "room": "lobby", "text": "hello world alpha beta"}
    frame = codec.encode(2, 1, value)
    assert zstandard.get_frame_parameters(frame[9:]).dict_id == 7
    assert codec.decode(frame)[3] == value
    # without the dictionary: MissingDictionary naming its id
    with pytest.raises(MissingDictionary) as info:
        BinaryCodec("msgpack").decode(frame)
    assert info.value.dict_id == 7
    # a codec that has it (but compresses without) still decodes
    assert BinaryCodec("msgpack", dictionaries={7: dict7}).decode(frame)[3] == value


def test_dictionary_compresses_better(dict7: bytes) -> None:
    sample = _samples(1)[0]
    plain = BinaryCodec("msgpack", compression_threshold=0).encode_payload(sample)[0]
    with_dict = BinaryCodec("msgpack", compression_threshold=0, dictionaries={7: dict7},
                            compress_with=7).encode_payload(sample)[0]
    assert len(with_dict) < len(plain)


def test_dictionary_config_errors(dict7: bytes) -> None:
    with pytest.raises(ConfigError):
        BinaryCodec("msgpack", dictionaries={8: dict7})
    with pytest.raises(ConfigError):
        BinaryCodec("msgpack", dictionaries={7: b"not a dictionary at all"})
    with pytest.raises(ConfigError):
        BinaryCodec("msgpack", dictionaries={7: dict7}, compress_with=9)
    with pytest.raises(ConfigError):
        train_dictionary(_samples(), 1024, 0)
    with pytest.raises(CompressionError):
        train_dictionary([b"a", b"b"], 1024, 3)


@pytest.mark.parametrize("kwargs", [{"encoding": "json"}, {"encoding": "msgpack", "compression_threshold": -1},
                                    {"encoding": "msgpack", "level": 99},
                                    {"encoding": "msgpack", "max_payload_bytes": 0}])
def test_config_errors(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        BinaryCodec(**kwargs)


# -- decode errors, in order -----------------------------------------------------------------------------

def test_header_errors_in_order() -> None:
    codec = BinaryCodec("msgpack")
    table = DefaultChannel.wire_table()
    with pytest.raises(FrameTooShort):
        codec.decode(b"RP\x01\x00\x01\x00\x00\x00", table)
    with pytest.raises(FrameTooShort):
        codec.decode(b"XX", table)  # short wins over magic
    with pytest.raises(InvalidMagic):
        codec.decode(b"RX\x02\x00\xff\x00\x00\x00\x00\xc0", table)  # magic wins over version
    with pytest.raises(UnsupportedVersion) as info:
        codec.decode(b"RP\x02\x00\xff\x00\x00\x00\x00\xc0", table)  # version wins over wire id
    assert info.value.version == 2
    with pytest.raises(UnknownChannel) as uinfo:
        codec.decode(b"RP\x01\x01\xff\x00\x00\x00\x00garbage", table)  # wire id wins over payload
    assert uinfo.value.wire_id == 255
    # without a table every wire id is accepted
    assert codec.decode(b"RP\x01\x00\xff\x00\x00\x00\x00\xc0") == (255, 0, 0, None)


def test_reserved_flag_bits_are_ignored() -> None:
    codec = BinaryCodec("msgpack")
    assert codec.decode(b"RP\x01\xf8\x01\x00\x00\x00\x01\x01") == (1, 0, 1, 1)


def test_compression_errors() -> None:
    codec = BinaryCodec("msgpack")
    with pytest.raises(CompressionError):
        codec.decode(b"RP\x01\x01\x01\x00\x00\x00\x01not zstd")
    good = zstandard.ZstdCompressor().compress(b"\x01" * 600)
    with pytest.raises(CompressionError):
        codec.decode(b"RP\x01\x01\x01\x00\x00\x00\x01" + good[:-4])


def test_decompression_is_bounded() -> None:
    codec = BinaryCodec("msgpack", max_payload_bytes=1000)
    known = zstandard.ZstdCompressor().compress(b"\x00" * 1001)
    with pytest.raises(MessageTooBig):
        codec.decompress(known)
    unknown = zstandard.ZstdCompressor(write_content_size=False).compress(b"\x00" * 100_000)
    with pytest.raises(MessageTooBig):
        codec.decompress(unknown)
    fits = zstandard.ZstdCompressor(write_content_size=False).compress(b"\x07" * 1000)
    assert codec.decompress(fits) == b"\x07" * 1000
    with pytest.raises(CompressionError):
        codec.decompress(fits[:-3])


@pytest.mark.parametrize("encoding, body", [
    ("msgpack", b"\xc1"),          # never used
    ("msgpack", b"\x81\xa1a"),     # truncated map
    ("msgpack", b"\x01\x02"),      # extra data
    ("msgpack", b"\x81\x01\x02"),  # int map key (strict)
    ("cbor", b"\xff"),             # lone break
    ("cbor", b"\xa1\x61a"),        # truncated map
    ("cbor", b"\x01\x02"),         # extra data
    ("cbor", b""),                 # nothing
    ("msgpack", b""),
])
def test_payload_decode_errors(encoding: str, body: bytes) -> None:
    codec = BinaryCodec(encoding)  # type: ignore[arg-type]
    with pytest.raises(PayloadDecodeError):
        codec.decode(b"RP\x01\x00\x01\x00\x00\x00\x01" + body)


def test_deep_nesting_is_a_decode_error() -> None:
    for encoding, body in [("msgpack", b"\x91" * 100_000 + b"\x01"), ("cbor", b"\x81" * 100_000 + b"\x01")]:
        with pytest.raises(PayloadDecodeError):
            BinaryCodec(encoding).decode_payload(body, 0)  # type: ignore[arg-type]


# -- fragments -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ENCODINGS)
def test_fragments_round_trip_out_of_order(encoding: str) -> None:
    codec = BinaryCodec(encoding)  # type: ignore[arg-type]
    value = {"blob": "y" * 3000, "n": list(range(50))}
    frames = codec.encode_fragmented(6, 99, value, max_chunk_bytes=40, ack_required=True)
    assert len(frames) > 1
    random.Random(1).shuffle(frames)
    assembler = FragmentAssembler()
    result = None
    for frame in frames:
        wire_id, flags, seq, shard = codec.decode(frame)
        assert (wire_id, seq) == (6, 99)
        assert flags == FLAG_FRAGMENTED | FLAG_COMPRESSED | FLAG_ACK_REQUIRED
        assert isinstance(shard, bytes)
        whole = assembler.push(shard)
        if whole is not None:
            result = codec.decode_payload(whole, flags)
    assert result == value


def test_fragment_of_small_uncompressed_payload() -> None:
    codec = BinaryCodec("msgpack")
    frames = codec.encode_fragmented(1, 1, "tiny", max_chunk_bytes=100, fragment_id=b"\x01" * 16)
    assert len(frames) == 1
    assert frames[0][3] == FLAG_FRAGMENTED
    assert frames[0][9:25] == b"\x01" * 16
    assert frames[0][25:29] == b"\x00\x01\x00\x00"


def test_fragment_errors() -> None:
    codec = BinaryCodec("msgpack")
    with pytest.raises(InvalidFragment):
        codec.decode(b"RP\x01\x02\x01\x00\x00\x00\x01" + b"\x00" * 19)
    with pytest.raises(InvalidFragment):
        codec.decode(b"RP\x01\x02\x01\x00\x00\x00\x01" + b"\x00" * 16 + b"\x00\x00\x00\x00")
    with pytest.raises(InvalidFragment):
        codec.decode(b"RP\x01\x02\x01\x00\x00\x00\x01" + b"\x00" * 16 + b"\x00\x02\x00\x02")
    with pytest.raises(FragmentLimitExceeded):
        codec.encode_fragmented(1, 1, random.Random(0).randbytes(70_000), max_chunk_bytes=1)
    with pytest.raises(InvalidFragment):
        codec.encode_fragmented(1, 1, "x", max_chunk_bytes=10, fragment_id=b"short")


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=20) | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


@settings(max_examples=150)
@given(st.sampled_from(ENCODINGS), json_like, st.integers(0, 300), st.integers(1, 255), st.integers(0, 2**32 - 1))
def test_round_trip_property(encoding: str, value: object, threshold: int, wire_id: int, seq: int) -> None:
    codec = BinaryCodec(encoding, compression_threshold=threshold)  # type: ignore[arg-type]
    assert codec.decode(codec.encode(wire_id, seq, value)) == (
        wire_id, FLAG_COMPRESSED if len(codec.serialize(value)) >= threshold else 0, seq, value)


@settings(max_examples=200)
@given(st.binary(max_size=64), st.sampled_from(ENCODINGS))
def test_decode_only_raises_documented_errors(data: bytes, encoding: str) -> None:
    codec = BinaryCodec(encoding, max_payload_bytes=1 << 16)  # type: ignore[arg-type]
    try:
        codec.decode(b"RP\x01" + data, DefaultChannel.wire_table())
    except (FrameTooShort, UnknownChannel, InvalidFragment, CompressionError, MissingDictionary,
            MessageTooBig, PayloadDecodeError):
        pass
