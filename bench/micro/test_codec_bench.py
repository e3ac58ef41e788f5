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

# Fixed iterations per round: pytest-benchmark's own calibration sometimes picks 1 iteration for these
# sub-microsecond calls, and then a round measures mostly the timer's own overhead (~60 ns here).
ITERATIONS = 500
ROUNDS = 200


def run(benchmark, fn, *args, **kwargs):
    """Benchmark ``fn(*args, **kwargs)`` with fixed iterations per round; return its result."""
    return benchmark.pedantic(fn, args=args, kwargs=kwargs, iterations=ITERATIONS, rounds=ROUNDS,
                              warmup_rounds=10)

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
def test_encode_json_frame(benchmark, impl):
    out = run(benchmark, impl.encode_json_frame, "chat", 41, PAYLOAD_JSON, CLIENT_ID, "room42")
    assert out == FRAME


@pytest.mark.benchmark(group="codec: encode_json_frame_system")
@pytest.mark.parametrize("impl", IMPLS)
def test_encode_json_frame_system(benchmark, impl):
    out = run(benchmark, impl.encode_json_frame, "system", None, BARE_OP)
    assert out.startswith(b'{"channel":"system","cursor":null')


@pytest.mark.benchmark(group="codec: decode_json_frame")
@pytest.mark.parametrize("impl", IMPLS)
def test_decode_json_frame(benchmark, impl):
    out = run(benchmark, impl.decode_json_frame, FRAME)
    assert out[:4] == ("chat", "room42", 41, CLIENT_ID)


@pytest.mark.benchmark(group="codec: decode_json_frame_bare_op")
@pytest.mark.parametrize("impl", IMPLS)
def test_decode_json_frame_bare_op(benchmark, impl):
    assert run(benchmark, impl.decode_json_frame, BARE_OP)[4] == {"type": "ping"}


@pytest.mark.benchmark(group="codec: decode_json_frame")
def test_orjson_loads_floor(benchmark):
    """The cost of ``orjson.loads(FRAME)`` alone: the floor under both decode_json_frame implementations."""
    assert run(benchmark, orjson.loads, FRAME)["cursor"] == 41


@pytest.mark.benchmark(group="codec: encode_binary_frame")
@pytest.mark.parametrize("impl", IMPLS)
def test_encode_binary_frame(benchmark, impl):
    out = run(benchmark, impl.encode_binary_frame, 3, 123456, BIN_PAYLOAD, codec.FLAG_ACK_REQUIRED)
    assert out == BIN_FRAME


@pytest.mark.benchmark(group="codec: decode_binary_frame")
@pytest.mark.parametrize("impl", IMPLS)
def test_decode_binary_frame(benchmark, impl):
    assert run(benchmark, impl.decode_binary_frame, BIN_FRAME, WIRE_TABLE) == (3, 4, 123456, BIN_PAYLOAD)


@pytest.mark.benchmark(group="codec: encode_sse_event")
@pytest.mark.parametrize("impl", IMPLS)
def test_encode_sse_event(benchmark, impl):
    out = run(benchmark, impl.encode_sse_event, FRAME, event="chat", id=SSE_ID)
    assert out.endswith(FRAME + b"\n\n")


@pytest.mark.benchmark(group="codec: encode_sse_event_multiline")
@pytest.mark.parametrize("impl", IMPLS)
def test_encode_sse_event_multiline(benchmark, impl):
    out = run(benchmark, impl.encode_sse_event, MULTILINE, retry_ms=2000)
    assert out.count(b"data: ") == 4
