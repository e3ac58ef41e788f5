"""Micro benchmarks of ``pushwire._core.wsframe`` against its pure-Python model (pytest-benchmark).

Covers the broadcast hot path (``encode_ws_frame``), the client-frame parser on many small frames, and
``unmask`` on 64 KiB; ``validate_utf8`` is there for information. For context, the websockets library is
measured on the same work where it has an equivalent (its C ``apply_mask`` and its frame parser). Not part of
the default test run (``testpaths`` is ``tests/``). Run from the repository root:

    .venv/bin/python -m pytest bench/micro/test_wsframe_bench.py --benchmark-only -q

Each group holds the compiled function and its model on the same workload; compare their medians. The compiled
functions are marked ``gate`` (see ``bench/micro/conftest.py`` and ``scripts/bench-micro.sh``).
"""

from __future__ import annotations

import pytest
from websockets.frames import Frame
from websockets.speedups import apply_mask as websockets_apply_mask
from websockets.streams import StreamReader

from pushwire._core import wsframe
from tests.core.models import wsframe_model as model

#: the compiled module is in the regression gate; the model is only there for the ratio
IMPLS = [pytest.param(wsframe, id="cython", marks=pytest.mark.gate), pytest.param(model, id="model")]
MASK = b"\x12\x34\x56\x78"


# --- encode: one broadcast frame ----------------------------------------------------------------------------

FRAME_JSON = (
    b'{"channel":"chat","topic":"room42","cursor":7,"client_id":null,"payload":"' + b"x" * 120 + b'"}'
)


@pytest.mark.benchmark(group="wsframe: encode 200 B text frame")
@pytest.mark.parametrize("impl", IMPLS)
def test_encode_small(measure, impl):
    frame = measure(impl.encode_ws_frame, FRAME_JSON, iterations={"cython": 5000, "model": 500})
    assert frame[4:] == FRAME_JSON and len(FRAME_JSON) >= 126


BIG = b"y" * 16384


@pytest.mark.benchmark(group="wsframe: encode 16 KiB binary frame")
@pytest.mark.parametrize("impl", IMPLS)
def test_encode_16k(measure, impl):
    frame = measure(impl.encode_ws_frame, BIG, wsframe.OP_BINARY, iterations={"cython": 1500, "model": 400})
    assert frame[4:] == BIG


# --- parse: 1000 small masked client frames in one read -----------------------------------------------------

SMALL_FRAMES = b"".join(
    model.encode_ws_frame_masked(b'{"type":"ack","channel":"chat","cursor":%d}' % i, wsframe.OP_TEXT, MASK)
    for i in range(1000)
)


def parse_all(parser_cls):
    parser = parser_cls(1 << 20)
    parser.feed(SMALL_FRAMES)
    count = 0
    while parser.next_frame() is not None:
        count += 1
    return count


def parse_all_websockets():
    reader = StreamReader()
    reader.feed_data(SMALL_FRAMES)
    count = 0
    while True:
        parser = Frame.parse(reader.read_exact, mask=True, max_size=1 << 20)
        try:
            next(parser)
        except StopIteration:
            count += 1
            continue
        return count  # the generator waits for more bytes: the buffer is drained


@pytest.mark.benchmark(group="wsframe: parse 1000 small frames")
@pytest.mark.parametrize("impl", [pytest.param("cython", marks=pytest.mark.gate), "model", "websockets"])
def test_parse_small_frames(measure, impl):
    if impl == "websockets":
        count = measure(parse_all_websockets, iterations=1, rounds=30)
    else:
        cls = wsframe.WebSocketFrameParser if impl == "cython" else model.WebSocketFrameParser
        count = measure(parse_all, cls, iterations=4 if impl == "cython" else 1,
                        rounds=30 if impl == "model" else None)
    assert count == 1000


# --- unmask 64 KiB ------------------------------------------------------------------------------------------

DATA_64K = bytes(range(256)) * 256


def unmask_int_xor(data: bytes, mask: bytes) -> bytes:
    """The fastest pure-Python approach (big-integer XOR), as a stronger baseline than the model."""
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


@pytest.mark.benchmark(group="wsframe: unmask 64 KiB")
@pytest.mark.parametrize("impl",
                         [pytest.param("cython", marks=pytest.mark.gate), "model", "int-xor", "websockets-c"])
def test_unmask_64k(measure, impl):
    fn = {"cython": wsframe.unmask, "model": model.unmask, "int-xor": unmask_int_xor,
          "websockets-c": websockets_apply_mask}[impl]
    iterations = {"cython": 160, "model": 1, "int-xor": 2, "websockets-c": 160}
    out = measure(fn, DATA_64K, MASK, iterations=iterations, rounds=10 if impl == "model" else None)
    assert out[:4] == bytes(a ^ b for a, b in zip(DATA_64K[:4], MASK, strict=True))


# --- UTF-8 check of 64 KiB (information: the model is CPython's own C decoder) ------------------------------

TEXT_64K = ("pushwire κόσμε € 𐍈 " * 2800).encode()[:65536].decode("utf-8", "ignore").encode()


@pytest.mark.benchmark(group="wsframe: validate_utf8 64 KiB mixed text")
@pytest.mark.parametrize("impl", IMPLS)
def test_validate_utf8_64k(measure, impl):
    assert measure(impl.validate_utf8, TEXT_64K, iterations=5) is True
