"""Micro benchmarks of ``pushwire._core.codec`` against the pure-Python model (pytest-benchmark).

Not part of the default test run (``testpaths`` is ``tests/``). Run from the repository root:

    .venv/bin/python -m pytest bench/micro/test_codec_bench.py --benchmark-only -q

Each group holds the compiled function and its model on the same input; compare their medians. The compiled
functions are marked ``gate`` (see ``bench/micro/conftest.py`` and ``scripts/bench-micro.sh``).
"""

from __future__ import annotations

import orjson
import pytest

from pushwire._core import codec
from tests.core.models import codec_model as model

#: the compiled module is in the regression gate; the model is only there for the ratio
IMPLS = [pytest.param(codec, id="cython", marks=pytest.mark.gate), pytest.param(model, id="model")]

# Fixed calls per timed round (conftest.py ``measure``), so that every round lasts about 300 us: long enough
# to average out the machine's short slow spells, short enough that few rounds contain a preemption.
ITERATIONS = {"cython": 3000, "model": 300}
ITERATIONS_DECODE = {"cython": 500, "model": 300}

CLIENT_ID = "5e0c2a9e-3f1b-4c55-9a57-0d7c1f3b2a10"
PAYLOAD_JSON = orjson.dumps({"user": "alice", "text": "hello everyone, how is it going?", "ts": 1732740000})
FRAME = codec.encode_json_frame("chat", 41, PAYLOAD_JSON, client_id=CLIENT_ID, topic="room42")
BARE_OP = orjson.dumps({"type": "ping"})
BIN_PAYLOAD = bytes(range(100))
BIN_FRAME = codec.encode_binary_frame(3, 123456, BIN_PAYLOAD, codec.FLAG_ACK_REQUIRED)
WIRE_TABLE = codec.make_wire_table([1, 2, 3, 4])
SSE_ID = "chat=41~k3x9a2b1,chat:room42=7~p0q1r2s3"
MULTILINE = b"line one\nline two\r\nline three\rline four"


@pytest.mark.benchmark(group="codec: encode_json_frame")
@pytest.mark.parametrize("impl", IMPLS)
def test_encode_json_frame(measure, impl):
    out = measure(impl.encode_json_frame, "chat", 41, PAYLOAD_JSON, CLIENT_ID, "room42",
                  iterations=ITERATIONS)
    assert out == FRAME


@pytest.mark.benchmark(group="codec: encode_json_frame_system")
@pytest.mark.parametrize("impl", IMPLS)
def test_encode_json_frame_system(measure, impl):
    out = measure(impl.encode_json_frame, "system", None, BARE_OP, iterations=ITERATIONS)
    assert out.startswith(b'{"channel":"system","cursor":null')


@pytest.mark.benchmark(group="codec: decode_json_frame")
@pytest.mark.parametrize("impl", IMPLS)
def test_decode_json_frame(measure, impl):
    out = measure(impl.decode_json_frame, FRAME, iterations=ITERATIONS_DECODE)
    assert out[:4] == ("chat", "room42", 41, CLIENT_ID)


@pytest.mark.benchmark(group="codec: decode_json_frame_bare_op")
@pytest.mark.parametrize("impl", IMPLS)
def test_decode_json_frame_bare_op(measure, impl):
    assert measure(impl.decode_json_frame, BARE_OP, iterations=ITERATIONS_DECODE)[4] == {"type": "ping"}


@pytest.mark.benchmark(group="codec: decode_json_frame")
def test_orjson_loads_floor(measure):
    """The cost of ``orjson.loads(FRAME)`` alone: the floor under both decode_json_frame implementations."""
    assert measure(orjson.loads, FRAME, iterations=500)["cursor"] == 41


@pytest.mark.benchmark(group="codec: encode_binary_frame")
@pytest.mark.parametrize("impl", IMPLS)
def test_encode_binary_frame(measure, impl):
    out = measure(impl.encode_binary_frame, 3, 123456, BIN_PAYLOAD, codec.FLAG_ACK_REQUIRED,
                  iterations=ITERATIONS)
    assert out == BIN_FRAME


@pytest.mark.benchmark(group="codec: decode_binary_frame")
@pytest.mark.parametrize("impl", IMPLS)
def test_decode_binary_frame(measure, impl):
    out = measure(impl.decode_binary_frame, BIN_FRAME, WIRE_TABLE, iterations=ITERATIONS)
    assert out == (3, 4, 123456, BIN_PAYLOAD)


@pytest.mark.benchmark(group="codec: encode_sse_event")
@pytest.mark.parametrize("impl", IMPLS)
def test_encode_sse_event(measure, impl):
    out = measure(impl.encode_sse_event, FRAME, event="chat", id=SSE_ID, iterations=ITERATIONS)
    assert out.endswith(FRAME + b"\n\n")


@pytest.mark.benchmark(group="codec: encode_sse_event_multiline")
@pytest.mark.parametrize("impl", IMPLS)
def test_encode_sse_event_multiline(measure, impl):
    out = measure(impl.encode_sse_event, MULTILINE, retry_ms=2000, iterations=ITERATIONS)
    assert out.count(b"data: ") == 4
