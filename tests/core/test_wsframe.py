"""Tests of ``pushwire._core.wsframe``: RFC 6455 examples, every framing rule and error, and hypothesis
properties comparing the compiled module with the pure-Python model in ``tests/core/models/wsframe_model.py``
(including random splits of a byte stream into reads).
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushwire._core import wsframe
from pushwire._core.wsframe import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Utf8Validator,
    WebSocketFrameParser,
    build_ws_header,
    encode_ws_frame,
    encode_ws_frame_masked,
    unmask,
    validate_utf8,
)
from pushwire.errors import CloseCode, FrameError, MessageTooBig, ProtocolError
from tests.core.models import wsframe_model as model

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MASK = b"\x37\xfa\x21\x3d"


def outcome(fn, *args, **kwargs):
    """``("ok", value)`` or ``("raise", exception class)``, so that two implementations can be compared."""
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - the class is what we compare
        return ("raise", type(exc))


def run_parser(parser, chunks):
    """Feed chunks one by one, draining frames after each; return the frames and the error class, if any."""
    results: list[object] = []
    try:
        for chunk in chunks:
            parser.feed(chunk)
            while (frame := parser.next_frame()) is not None:
                results.append(frame)
    except ProtocolError as exc:
        results.append(("error", type(exc), exc.code))
    return results


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks, prev = [], 0
    for point in points:
        chunks.append(data[prev:point])
        prev = point
    chunks.append(data[prev:])
    return chunks


# ------------------------------------------------------------------------------------------------ constants


def test_opcode_constants():
    assert (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG) == (0, 1, 2, 8, 9, 10)


# ------------------------------------------------------------------------------------------------- encoding


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (2**32 + 5, b"\x81\x7f\x00\x00\x00\x01\x00\x00\x00\x05"),
    ],
)
def test_build_ws_header_length_forms(length, expected):
    assert build_ws_header(length, OP_TEXT) == expected


def test_build_ws_header_fin_and_opcode():
    assert build_ws_header(3, OP_BINARY, fin=False) == b"\x02\x03"
    assert build_ws_header(3, OP_CONT, True) == b"\x80\x03"
    assert build_ws_header(0, OP_CLOSE) == b"\x88\x00"


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15, 16, -1])
def test_build_ws_header_rejects_unknown_opcodes(opcode):
    with pytest.raises(ValueError):
        build_ws_header(1, opcode)


def test_build_ws_header_rejects_bad_control_frames_and_lengths():
    with pytest.raises(ValueError):
        build_ws_header(126, OP_PING)
    with pytest.raises(ValueError):
        build_ws_header(1, OP_PONG, fin=False)
    with pytest.raises(ValueError):
        build_ws_header(-1, OP_TEXT)
    assert build_ws_header(125, OP_PING) == b"\x89\x7d"


def test_encode_ws_frame_rfc_examples():
    # RFC 6455 5.7: a single-frame unmasked text message "Hello".
    assert encode_ws_frame(b"Hello") == b"\x81\x05\x48\x65\x6c\x6c\x6f"
    # Unmasked Ping "Hello".
    assert encode_ws_frame(b"Hello", OP_PING) == b"\x89\x05Hello"
    # 256 bytes of binary data in a single unmasked frame.
    assert encode_ws_frame(b"\x00" * 256, OP_BINARY)[:4] == b"\x82\x7e\x01\x00"
    # 64 KiB in a single unmasked frame.
    assert encode_ws_frame(b"\x00" * 65536, OP_BINARY)[:10] == b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"


def test_encode_ws_frame_fragments():
    assert encode_ws_frame(b"Hel", OP_TEXT, fin=False) == b"\x01\x03Hel"
    assert encode_ws_frame(b"lo", OP_CONT) == b"\x80\x02lo"


def test_encode_ws_frame_type_checks():
    with pytest.raises(TypeError):
        encode_ws_frame(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_ws_frame("text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        encode_ws_frame(b"x" * 126, OP_CLOSE)


def test_encode_ws_frame_masked_rfc_example():
    # RFC 6455 5.7: a single-frame masked text message "Hello".
    expected = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    assert encode_ws_frame_masked(b"Hello", OP_TEXT, MASK) == expected
    assert encode_ws_frame_masked(bytearray(b"Hello"), OP_TEXT, bytearray(MASK)) == expected


def test_encode_ws_frame_masked_is_permissive_but_checks_ranges():
    frame = encode_ws_frame_masked(b"x" * 200, 0xB, MASK, fin=False, rsv=5)
    assert frame[0] == 0x5B
    assert frame[1] == 0x80 | 126
    with pytest.raises(ValueError):
        encode_ws_frame_masked(b"", 16, MASK)
    with pytest.raises(ValueError):
        encode_ws_frame_masked(b"", 1, MASK, rsv=8)
    with pytest.raises(ValueError):
        encode_ws_frame_masked(b"", 1, b"abc")


# ------------------------------------------------------------------------------------------------- masking


def test_unmask_rfc_example_and_inputs():
    masked = b"\x7f\x9f\x4d\x51\x58"
    assert unmask(masked, MASK) == b"Hello"
    assert unmask(bytearray(masked), MASK) == b"Hello"
    assert unmask(memoryview(b"__" + masked)[2:], MASK) == b"Hello"
    assert unmask(b"", MASK) == b""


@pytest.mark.parametrize("length", list(range(0, 70)) + [1023, 4096, 65537])
def test_unmask_matches_model_at_every_tail_length(length):
    data = bytes((i * 7 + 3) & 0xFF for i in range(length))
    assert unmask(data, MASK) == model.unmask(data, MASK)
    assert unmask(unmask(data, MASK), MASK) == data


@pytest.mark.parametrize("mask", [b"", b"abc", b"abcde"])
def test_unmask_rejects_bad_masks(mask):
    with pytest.raises(ValueError):
        unmask(b"data", mask)


# --------------------------------------------------------------------------------------------------- UTF-8

VALID_UTF8 = [
    b"",
    b"ascii only, longer than eight bytes",
    "κόσμε".encode(),
    "\u0080\u07ff\u0800\uffff".encode(),
    "\U00010000\U0010ffff".encode(),
    "\ud7ff\ue000".encode(),
    b"\xef\xbb\xbf",  # BOM is fine
]

INVALID_UTF8 = [
    b"\x80",  # lone continuation
    b"\xbf",
    b"\xc0\x80",  # overlong NUL
    b"\xc1\xbf",  # overlong
    b"\xe0\x80\x80",  # overlong 3-byte
    b"\xe0\x9f\xbf",
    b"\xf0\x80\x80\x80",  # overlong 4-byte
    b"\xf0\x8f\xbf\xbf",
    b"\xed\xa0\x80",  # U+D800
    b"\xed\xbf\xbf",  # U+DFFF
    b"\xf4\x90\x80\x80",  # U+110000
    b"\xf5\x80\x80\x80",
    b"\xff",
    b"\xfe",
    b"\xe2\x82",  # truncated
    b"\xf0\x9f\x98",
    b"\xc3",
    b"abcdefgh\xc3",
    b"abc\xe2\x28\xa1",  # bad continuation
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",  # Autobahn 6.x
]


@pytest.mark.parametrize("data", VALID_UTF8)
def test_validate_utf8_accepts(data):
    assert validate_utf8(data) is True
    assert validate_utf8(bytearray(data)) is True


@pytest.mark.parametrize("data", INVALID_UTF8)
def test_validate_utf8_rejects(data):
    assert validate_utf8(data) is False
    assert model.validate_utf8(data) is False


@pytest.mark.parametrize(
    ("good", "bad_byte"),
    [
        (b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4", b"\x90"),  # Autobahn 6.4.1/6.4.3: > U+10FFFF
        (b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed", b"\xa0"),  # surrogate
        (b"\xe0", b"\x80"),  # overlong
        (b"\xf0", b"\x8f"),  # overlong
        (b"hello", b"\xc0"),  # never valid
        (b"hello", b"\xf8"),
        (b"\xe2\x82", b"\x28"),  # continuation expected
    ],
)
def test_utf8_validator_fails_at_the_first_impossible_byte(good, bad_byte):
    validator = Utf8Validator()
    for i in range(len(good)):
        assert validator.feed(good[i:i + 1], False) is True
    assert validator.feed(bad_byte, False) is False
    # Once failed, it stays failed, whatever follows.
    assert validator.feed(b"a", True) is False
    validator.reset()
    assert validator.feed(b"fine", True) is True


def test_utf8_validator_final_rejects_truncation_and_tracks_pending():
    validator = Utf8Validator()
    assert validator.feed("€".encode()[:2]) is True
    assert validator.pending == 1
    assert validator.feed(b"", final=True) is False
    validator.reset()
    assert validator.feed("€".encode()[:2]) is True
    assert validator.feed("€".encode()[2:], final=True) is True
    assert validator.pending == 0
    # A successful final feed leaves it ready for the next message.
    assert validator.feed(b"next", final=True) is True


# ------------------------------------------------------------------------------------------------- parsing


def masked(payload: bytes, opcode: int = OP_TEXT, fin: bool = True, rsv: int = 0) -> bytes:
    return encode_ws_frame_masked(payload, opcode, MASK, fin, rsv=rsv)


def test_parser_rfc_examples():
    parser = WebSocketFrameParser(1 << 20)
    parser.feed(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")
    assert parser.next_frame() == (True, 0, OP_TEXT, b"Hello")
    assert parser.next_frame() is None
    client = WebSocketFrameParser(1 << 20, require_mask=False)
    client.feed(b"\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f")  # fragmented unmasked "Hello"
    assert client.next_frame() == (False, 0, OP_TEXT, b"Hel")
    assert client.next_frame() == (True, 0, OP_CONT, b"lo")
    assert client.next_frame() is None


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_parser_length_forms(length):
    payload = bytes(i & 0xFF for i in range(length))
    parser = WebSocketFrameParser(1 << 20)
    parser.feed(masked(payload, OP_BINARY))
    assert parser.next_frame() == (True, 0, OP_BINARY, payload)
    assert parser.buffered == 0


def test_parser_reports_rsv_bits_without_judging_them():
    parser = WebSocketFrameParser(100)
    parser.feed(masked(b"x", OP_TEXT, rsv=4) + masked(b"y", OP_BINARY, rsv=3))
    assert parser.next_frame() == (True, 4, OP_TEXT, b"x")
    assert parser.next_frame() == (True, 3, OP_BINARY, b"y")


def test_parser_header_split_at_every_byte():
    frame = masked(b"z" * 300, OP_BINARY)
    for i in range(len(frame)):
        parser = WebSocketFrameParser(1 << 20)
        parser.feed(frame[:i])
        assert parser.next_frame() is None
        assert parser.buffered == i
        parser.feed(frame[i:])
        assert parser.next_frame() == (True, 0, OP_BINARY, b"z" * 300)


def test_parser_many_small_frames_in_one_read():
    frames = [masked(str(i).encode(), OP_TEXT) for i in range(5000)]
    parser = WebSocketFrameParser(1 << 20)
    parser.feed(b"".join(frames) + frames[0][:3])
    got = []
    while (frame := parser.next_frame()) is not None:
        got.append(frame[3])
    assert got == [str(i).encode() for i in range(5000)]
    assert parser.buffered == 3


def test_parser_big_frame_in_many_reads_is_linear():
    payload = bytes(range(256)) * (8 * 4096)  # 8 MiB
    frame = masked(payload, OP_BINARY)
    parser = WebSocketFrameParser(16 << 20)
    started = time.perf_counter()
    for i in range(0, len(frame), 512):
        parser.feed(frame[i:i + 512])
        assert parser.next_frame() is None or i + 512 >= len(frame)
    elapsed = time.perf_counter() - started
    # Quadratic copying would move ~64 GiB here (minutes); linear buffering takes milliseconds.
    assert elapsed < 5.0
    assert parser.buffered == 0


def test_parser_big_frame_result():
    payload = b"abc" * 100000
    frame = masked(payload, OP_BINARY)
    parser = WebSocketFrameParser(1 << 20)
    for i in range(0, len(frame), 1000):
        parser.feed(frame[i:i + 1000])
    assert parser.next_frame() == (True, 0, OP_BINARY, payload)


def expect_error(data: bytes, error_type: type[ProtocolError], *, require_mask: bool = True,
                 max_frame_bytes: int = 1 << 20) -> ProtocolError:
    parser = WebSocketFrameParser(max_frame_bytes, require_mask=require_mask)
    parser.feed(data)
    with pytest.raises(error_type) as info:
        parser.next_frame()
    # The parser is dead afterwards: every call raises the same error.
    with pytest.raises(error_type):
        parser.next_frame()
    with pytest.raises(error_type):
        parser.feed(b"\x81\x80abcd")
    return info.value


def test_parser_rejects_unmasked_client_frame():
    error = expect_error(b"\x81\x05Hello", FrameError)
    assert error.code == CloseCode.PROTOCOL_ERROR


def test_parser_rejects_masked_server_frame():
    expect_error(masked(b"Hello"), FrameError, require_mask=False)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_parser_rejects_reserved_opcodes_from_the_first_byte(opcode):
    error = expect_error(bytes([0x80 | opcode]) + b"\x80", FrameError)
    assert error.code == 1002


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
def test_parser_rejects_bad_control_frames(opcode):
    expect_error(masked(b"x" * 126, opcode), FrameError)
    expect_error(masked(b"x", opcode, fin=False), FrameError)
    # 125 bytes is the limit, and it is fine.
    parser = WebSocketFrameParser(1000)
    parser.feed(masked(b"x" * 125, opcode))
    assert parser.next_frame() == (True, 0, opcode, b"x" * 125)


def test_parser_rejects_64_bit_length_with_top_bit():
    expect_error(b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00", FrameError, max_frame_bytes=2**63 - 1)


def test_parser_rejects_too_big_frame_before_the_payload():
    header = b"\x82\xfe\x04\x01"  # 1025 bytes declared, masked; no mask key or payload yet
    error = expect_error(header, MessageTooBig, max_frame_bytes=1024)
    assert error.code == CloseCode.MESSAGE_TOO_BIG
    parser = WebSocketFrameParser(1024)
    parser.feed(masked(b"x" * 1024, OP_BINARY))
    assert parser.next_frame() == (True, 0, OP_BINARY, b"x" * 1024)


def test_parser_pending_frame_and_payload():
    payload = bytes(range(200))
    frame = masked(payload, OP_TEXT, fin=False)
    parser = WebSocketFrameParser(1000)
    parser.feed(frame[:3])
    assert parser.pending_frame() is None  # header incomplete
    assert parser.pending_payload() == b""
    parser.feed(frame[3:8])
    assert parser.pending_frame() == (False, 0, OP_TEXT, 200, 0)
    parser.feed(frame[8:61])
    assert parser.pending_frame() == (False, 0, OP_TEXT, 200, 53)
    for offset in range(0, 60):
        assert parser.pending_payload(offset) == payload[offset:53]
    parser.feed(frame[61:])
    assert parser.pending_frame() is None
    assert parser.next_frame() == (False, 0, OP_TEXT, payload)


def test_parser_constructor_checks():
    with pytest.raises(ValueError):
        WebSocketFrameParser(-1)
    assert WebSocketFrameParser(7).max_frame_bytes == 7


# -------------------------------------------------------------------------------- properties against model

LENGTH = st.one_of(st.integers(0, 300), st.sampled_from([125, 126, 127, 65535, 65536, 65537, 2**32 + 1]))


@PROPS
@given(length=LENGTH, opcode=st.integers(-1, 16), fin=st.booleans())
def test_build_ws_header_matches_model(length, opcode, fin):
    ours = outcome(build_ws_header, length, opcode, fin)
    assert ours == outcome(model.build_ws_header, length, opcode, fin)


@PROPS
@given(payload=st.binary(max_size=600), opcode=st.sampled_from([0, 1, 2, 3, 8, 9, 10, 15]), fin=st.booleans())
def test_encode_ws_frame_matches_model(payload, opcode, fin):
    ours = outcome(encode_ws_frame, payload, opcode, fin)
    assert ours == outcome(model.encode_ws_frame, payload, opcode, fin)


@PROPS
@given(payload=st.binary(max_size=600), opcode=st.integers(0, 15), mask=st.binary(min_size=4, max_size=4),
       fin=st.booleans(), rsv=st.integers(0, 7))
def test_encode_ws_frame_masked_matches_model(payload, opcode, mask, fin, rsv):
    assert encode_ws_frame_masked(payload, opcode, mask, fin, rsv=rsv) == model.encode_ws_frame_masked(
        payload, opcode, mask, fin, rsv=rsv
    )


@PROPS
@given(data=st.binary(max_size=2000), mask=st.binary(min_size=4, max_size=4), start=st.integers(0, 7))
def test_unmask_matches_model(data, mask, start):
    view = memoryview(data)[min(start, len(data)):]  # unaligned starts too
    assert unmask(view, mask) == model.unmask(view, mask)


def utf8ish() -> st.SearchStrategy[bytes]:
    """Mostly-valid UTF-8 with random damage: the interesting inputs for a validator."""
    text = st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass"))
    damaged = st.tuples(text, st.integers(0, 60), st.binary(min_size=1, max_size=4)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1]:]
    )
    return st.one_of(text, damaged, st.binary(max_size=40))


@PROPS
@given(data=utf8ish())
def test_validate_utf8_matches_model(data):
    assert validate_utf8(data) == model.validate_utf8(data)


@PROPS
@given(data=utf8ish(), cuts=st.lists(st.integers(0, 100), max_size=6))
def test_utf8_validator_matches_model_over_any_split(data, cuts):
    ours, theirs = Utf8Validator(), model.Utf8Validator()
    chunks = split(data, cuts)
    for i, chunk in enumerate(chunks):
        final = i == len(chunks) - 1
        assert ours.feed(chunk, final) == theirs.feed(chunk, final)
    assert ours.feed(b"", True) == validate_utf8(data)


FRAME = st.tuples(
    st.booleans(),  # fin
    st.sampled_from([0, 0, 0, 0, 1, 2, 4, 7]),  # rsv
    st.sampled_from([0, 1, 2, 8, 9, 10] * 6 + [3, 7, 11, 15]),  # opcode, mostly valid
    st.one_of(st.binary(max_size=140), st.integers(120, 70000).map(lambda n: b"\xa5" * n)),
    st.binary(min_size=4, max_size=4),  # mask
    st.booleans() | st.just(True),  # masked, mostly
)


def encode_any(fin, rsv, opcode, payload, mask, is_masked):
    if is_masked:
        return model.encode_ws_frame_masked(payload, opcode, mask, fin, rsv=rsv)
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    return bytes([first]) + model._length_bytes(len(payload), 0) + payload


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frames=st.lists(FRAME, max_size=8), cuts=st.lists(st.integers(0, 200000), max_size=10),
       limit=st.sampled_from([125, 1000, 1 << 20]), require_mask=st.booleans() | st.just(True))
def test_parser_matches_model_for_any_split(frames, cuts, limit, require_mask):
    stream = b"".join(encode_any(*frame) for frame in frames)
    chunks = split(stream, cuts)
    ours = run_parser(WebSocketFrameParser(limit, require_mask), chunks)
    theirs = run_parser(model.WebSocketFrameParser(limit, require_mask), chunks)
    assert ours == theirs
    # Whatever the split, the result is the one of a single read.
    assert ours == run_parser(WebSocketFrameParser(limit, require_mask), [stream])


@PROPS
@given(payload=st.binary(min_size=1, max_size=500), cut=st.integers(0, 600), offset=st.integers(0, 600),
       mask=st.binary(min_size=4, max_size=4))
def test_pending_payload_matches_model(payload, cut, offset, mask):
    frame = model.encode_ws_frame_masked(payload, OP_TEXT, mask)
    ours, theirs = WebSocketFrameParser(1000), model.WebSocketFrameParser(1000)
    ours.feed(frame[:cut])
    theirs.feed(frame[:cut])
    assert ours.pending_frame() == theirs.pending_frame()
    assert ours.pending_payload(offset) == theirs.pending_payload(offset)


def test_module_exports():
    assert set(wsframe.__all__) >= {
        "build_ws_header", "encode_ws_frame", "encode_ws_frame_masked", "unmask", "validate_utf8",
        "Utf8Validator", "WebSocketFrameParser",
    }
