"""Micro benchmarks of the core data structures against their pure-Python models (pytest-benchmark).

Covers ``PriorityLanes``, ``ReplayIndex``, the chunker (split + reassemble, streaming SHA-256) and
``TokenBucket``. Not part of the default test run (``testpaths`` is ``tests/``). Run from the repository root:

    .venv/bin/python -m pytest bench/micro/test_structures_bench.py --benchmark-only -q

Each group holds the compiled type and its model on the same workload; compare their medians. The compiled
types are marked ``gate`` (see ``bench/micro/conftest.py`` and ``scripts/bench-micro.sh``).
"""

from __future__ import annotations

import os

import pytest

from pushwire._core import chunker
from pushwire._core.bucket import TokenBucket
from pushwire._core.lanes import PriorityLanes
from pushwire._core.replay import ReplayIndex
from tests.core.models import chunker_model
from tests.core.models.bucket_model import TokenBucketModel
from tests.core.models.lanes_model import PriorityLanesModel
from tests.core.models.replay_model import ReplayIndexModel


def gated(compiled, model):
    """Parameters ``[cython]`` (in the regression gate: marked ``gate``) and ``[model]`` (for the ratio)."""
    return [pytest.param(compiled, id="cython", marks=pytest.mark.gate), pytest.param(model, id="model")]


# --- lanes: one flush cycle of a connection -----------------------------------------------------------------

FRAMES = [(b"x" * (80 + 7 * i), 80 + 7 * i, i % 3) for i in range(64)]
LANE_ARGS = (4096, 4 << 20, 4096, 4 << 20, 1024, 1 << 20)
TOTAL_BYTES = sum(n for _, n, _ in FRAMES)


def push_and_drain(lanes, out):
    """Queue 64 frames across the three lanes, then drain them all into ``out`` (one flush)."""
    push = lanes.push
    for frame, nbytes, priority in FRAMES:
        push(frame, nbytes, priority)
    out.clear()
    return lanes.drain_into(out)


@pytest.mark.benchmark(group="lanes: push64+drain")
@pytest.mark.parametrize("cls", gated(PriorityLanes, PriorityLanesModel))
def test_lanes_push_drain(measure, cls):
    lanes = cls(*LANE_ARGS)
    out: list[bytes] = []
    assert measure(push_and_drain, lanes, out, iterations={"cython": 100, "model": 10}) == TOTAL_BYTES
    assert len(out) == 64 and out[0] is FRAMES[0][0]


def push_drain_bounded(lanes, out):
    """Queue 64 frames, then flush in batches of at most 2 KiB (what a backpressured connection does)."""
    push = lanes.push
    for frame, nbytes, priority in FRAMES:
        push(frame, nbytes, priority)
    total = 0
    while lanes:
        out.clear()
        total += lanes.drain_into(out, 2048)
    return total


@pytest.mark.benchmark(group="lanes: push64+drain(2KiB batches)")
@pytest.mark.parametrize("cls", gated(PriorityLanes, PriorityLanesModel))
def test_lanes_push_drain_bounded(measure, cls):
    lanes = cls(*LANE_ARGS)
    assert measure(push_drain_bounded, lanes, [], iterations={"cython": 80, "model": 8}) == TOTAL_BYTES


# --- replay: publish into history, then resume --------------------------------------------------------------

ENTRIES = [b"frame %d" % i for i in range(64)]


def append_and_after(index):
    """Append 64 frames to a full 1024-entry history, then fetch everything after a cursor 64 back."""
    append = index.append
    for entry in ENTRIES:
        append(entry, 1.0)
    return index.after(index.last_offset - 64)


def after_256(index):
    """One resume: the 256 entries after a cursor (no appends)."""
    return index.after(index.last_offset - 256)


def filled_index(cls):
    index = cls(1024, epoch="bench")
    for i in range(1500):
        index.append(i, 1.0)
    return index


@pytest.mark.benchmark(group="replay: append64+after")
@pytest.mark.parametrize("cls", gated(ReplayIndex, ReplayIndexModel))
def test_replay_append_after(measure, cls):
    assert measure(append_and_after, filled_index(cls), iterations={"cython": 100, "model": 15}) == ENTRIES


@pytest.mark.benchmark(group="replay: after(256)")
@pytest.mark.parametrize("cls", gated(ReplayIndex, ReplayIndexModel))
def test_replay_after(measure, cls):
    assert len(measure(after_256, filled_index(cls), iterations={"cython": 500, "model": 25})) == 256


# --- chunker ------------------------------------------------------------------------------------------------

FID = bytes(range(16))
PAYLOAD_64K = os.urandom(64 * 1024)
PAYLOAD_4K = os.urandom(4 * 1024)


def split_and_reassemble(impl, assembler, payload, max_chunk):
    """Split ``payload`` into shards, then feed them all to an assembler; return the reassembled payload."""
    push = assembler.push
    result = None
    for shard in impl.split_fragments(payload, FID, max_chunk):
        result = push(shard, 1.0)
    return result


CHUNKER_IMPLS = [
    pytest.param((chunker, chunker.FragmentAssembler), id="cython", marks=pytest.mark.gate),
    pytest.param((chunker_model, chunker_model.FragmentAssemblerModel), id="model"),
]


@pytest.mark.benchmark(group="chunker: split+reassemble 64KiB/1KiB")
@pytest.mark.parametrize("impl", CHUNKER_IMPLS)
def test_split_reassemble_64k(measure, impl):
    module, assembler_cls = impl
    out = measure(split_and_reassemble, module, assembler_cls(), PAYLOAD_64K, 1024,
                  iterations={"cython": 16, "model": 3})
    assert out == PAYLOAD_64K


@pytest.mark.benchmark(group="chunker: split+reassemble 4KiB/128B")
@pytest.mark.parametrize("impl", CHUNKER_IMPLS)
def test_split_reassemble_4k(measure, impl):
    module, assembler_cls = impl
    out = measure(split_and_reassemble, module, assembler_cls(), PAYLOAD_4K, 128,
                  iterations={"cython": 64, "model": 6})
    assert out == PAYLOAD_4K


CHUNKS_1K = [PAYLOAD_64K[i:i + 1024] for i in range(0, len(PAYLOAD_64K), 1024)]
CHUNKS_64B = [PAYLOAD_4K[i:i + 64] for i in range(0, len(PAYLOAD_4K), 64)]


# Both implementations hash through OpenSSL (hashlib); only the per-chunk Python overhead differs, so the
# ratio is bounded by (hash + model overhead) / (hash + one extension call per chunk): ~1.3x on 1 KiB chunks.
SHA_IMPLS = [
    pytest.param(chunker.Sha256Stream, id="cython", marks=pytest.mark.gate),
    pytest.param(chunker_model.Sha256StreamModel, id="model"),
]


def hash_chunks(cls, chunks):
    stream = cls()
    update = stream.update
    for chunk in chunks:
        update(chunk)
    return stream.hexdigest()


@pytest.mark.benchmark(group="chunker: sha256 stream 64x1KiB")
@pytest.mark.parametrize("cls", SHA_IMPLS)
def test_sha256_1k_chunks(measure, cls):
    out = measure(hash_chunks, cls, CHUNKS_1K, iterations={"cython": 6, "model": 5})
    assert out == chunker.sha256_hex(PAYLOAD_64K)


@pytest.mark.benchmark(group="chunker: sha256 stream 64x64B")
@pytest.mark.parametrize("cls", SHA_IMPLS)
def test_sha256_64b_chunks(measure, cls):
    out = measure(hash_chunks, cls, CHUNKS_64B, iterations={"cython": 60, "model": 20})
    assert out == chunker.sha256_hex(PAYLOAD_4K)


# --- bucket -------------------------------------------------------------------------------------------------

# From Python, try_take costs about what any extension method with two float arguments costs (the C body is
# a few ns; a Cython caller that cimports TokenBucket pays ~6 ns per call), which bounds the ratio at ~4-5x.
# Times one microsecond apart, so every call refills (the common case: the caller read the clock once per
# loop turn and the bucket last saw an earlier turn).
TIMES = [5.0 + i * 1e-6 for i in range(100)]


def take_100(bucket, times):
    """100 ``try_take`` calls at explicit, increasing times."""
    take = bucket.try_take
    granted = 0
    for now in times:
        granted += take(1.0, now)
    return granted


def take_100_clock(bucket):
    """100 ``try_take`` calls, each reading the monotonic clock itself."""
    take = bucket.try_take
    granted = 0
    for _ in range(100):
        granted += take(1.0)
    return granted


@pytest.mark.benchmark(group="bucket: try_take x100 (now given)")
@pytest.mark.parametrize("cls", gated(TokenBucket, TokenBucketModel))
def test_bucket_try_take(measure, cls):
    bucket = cls(1e3, 1e12)
    assert measure(take_100, bucket, TIMES, iterations={"cython": 80, "model": 20}) == 100


@pytest.mark.benchmark(group="bucket: try_take x100 (clock)")
@pytest.mark.parametrize("cls", gated(TokenBucket, TokenBucketModel))
def test_bucket_try_take_clock(measure, cls):
    bucket = cls(1e3, 1e12)
    assert measure(take_100_clock, bucket, iterations={"cython": 50, "model": 8}) == 100
