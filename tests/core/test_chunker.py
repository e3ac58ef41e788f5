"""Tests of ``pushwire._core.chunker``: streaming SHA-256, the fragment shard layout, splitting, and the
assembler's rules and bounds, plus hypothesis properties and a state machine against the pure-Python model.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pushwire._core.chunker import (
    FRAGMENT_HEADER_LEN,
    MAX_FRAGMENTS,
    FragmentAssembler,
    Sha256Stream,
    decode_shard,
    encode_shard,
    sha256_hex,
    split_fragments,
)
from pushwire import errors
from pushwire.errors import (
    ConfigError,
    DuplicateFragment,
    FragmentError,
    FragmentLimitExceeded,
    FragmentTotalMismatch,
    InvalidFragment,
)
from tests.core.models import chunker_model as model

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FID = bytes(range(16))
FID2 = bytes(range(16, 32))
VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "fragment_shards.json").read_text())


class TestSha256:
    def test_known_vectors(self) -> None:
        assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

    def test_stream_equals_one_shot(self) -> None:
        s = Sha256Stream()
        s.update(b"a")
        s.update(bytearray(b"b"))
        s.update(memoryview(b"xcx")[1:2])
        assert s.hexdigest() == sha256_hex(b"abc")
        assert s.digest() == hashlib.sha256(b"abc").digest()
        assert s.nbytes == 3

    def test_digest_does_not_end_the_stream(self) -> None:
        s = Sha256Stream()
        s.update(b"ab")
        assert s.hexdigest() == sha256_hex(b"ab")
        s.update(b"c")
        assert s.hexdigest() == sha256_hex(b"abc")

    def test_empty(self) -> None:
        s = Sha256Stream()
        assert (s.nbytes, s.hexdigest()) == (0, sha256_hex(b""))
        assert len(s.digest()) == 32

    def test_nbytes_counts_bytes_of_wide_buffers(self) -> None:
        s = Sha256Stream()
        s.update(memoryview(bytes(8)).cast("I"))
        assert s.nbytes == 8

    def test_rejects_non_buffers(self) -> None:
        s = Sha256Stream()
        with pytest.raises(TypeError):
            s.update("text")  # type: ignore[arg-type]
        assert s.nbytes == 0

    @PROPS
    @given(st.lists(st.binary(max_size=300), max_size=20))
    def test_matches_hashlib_for_any_chunking(self, chunks: list[bytes]) -> None:
        s = Sha256Stream()
        for chunk in chunks:
            s.update(chunk)
        joined = b"".join(chunks)
        assert s.hexdigest() == hashlib.sha256(joined).hexdigest()
        assert s.nbytes == len(joined)


class TestShard:
    def test_layout(self) -> None:
        shard = encode_shard(FID, 3, 2, b"chunk")
        assert FRAGMENT_HEADER_LEN == 20 and MAX_FRAGMENTS == 65535
        assert shard == FID + b"\x00\x03\x00\x02chunk"
        assert decode_shard(shard) == (FID, 3, 2, b"chunk")

    def test_big_endian_u16(self) -> None:
        shard = encode_shard(FID, 0x1234, 0x0102, b"")
        assert shard[16:] == b"\x12\x34\x01\x02"
        assert decode_shard(bytearray(shard)) == (FID, 0x1234, 0x0102, b"")

    @pytest.mark.parametrize(("fid", "total", "index"), [
        (bytes(15), 1, 0), (bytes(17), 1, 0), (FID, 0, 0), (FID, 2, 2), (FID, 2, -1), (FID, 65536, 0),
    ])
    def test_encode_rejects(self, fid: bytes, total: int, index: int) -> None:
        with pytest.raises(InvalidFragment):
            encode_shard(fid, total, index, b"x")

    @pytest.mark.parametrize("data", [
        b"", bytes(19), FID + b"\x00\x00\x00\x00", FID + b"\x00\x02\x00\x02", FID + b"\x00\x02\xff\xff"
    ])
    def test_decode_rejects(self, data: bytes) -> None:
        with pytest.raises(InvalidFragment) as info:
            decode_shard(data)
        assert isinstance(info.value, FragmentError) and isinstance(info.value, ValueError)

    @PROPS
    @given(st.binary(min_size=16, max_size=16), st.integers(1, 65535), st.data(), st.binary(max_size=64))
    def test_round_trip_and_model(self, fid: bytes, total: int, data: st.DataObject, chunk: bytes) -> None:
        index = data.draw(st.integers(0, total - 1))
        shard = encode_shard(fid, total, index, chunk)
        assert shard == model.encode_shard(fid, total, index, chunk)
        assert decode_shard(shard) == (fid, total, index, chunk)

    @PROPS
    @given(st.binary(max_size=40))
    def test_decode_matches_model_on_any_bytes(self, data: bytes) -> None:
        try:
            expected = model.decode_shard(data)
        except InvalidFragment:
            with pytest.raises(InvalidFragment):
                decode_shard(data)
        else:
            assert decode_shard(data) == expected


class TestGoldenVectors:
    """``tests/vectors/fragment_shards.json``, shared with the other implementations (docs/protocol.md 11.4)."""

    @pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
    def test_valid(self, vector: dict) -> None:
        fields = vector["object"]
        fid, chunk = bytes.fromhex(fields["fragment_id_hex"]), bytes.fromhex(fields["chunk_hex"])
        data = bytes.fromhex(vector["bytes_hex"])
        assert encode_shard(fid, fields["total"], fields["index"], chunk) == data
        assert decode_shard(data) == (fid, fields["total"], fields["index"], chunk)

    @pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
    def test_invalid(self, vector: dict) -> None:
        expected = getattr(errors, vector["error"])
        with pytest.raises(expected):
            decode_shard(bytes.fromhex(vector["bytes_hex"]))
        with pytest.raises(expected):
            FragmentAssembler().push(bytes.fromhex(vector["bytes_hex"]), 0.0)

    def test_three_shards_reassemble(self) -> None:
        shards = {v["name"]: bytes.fromhex(v["bytes_hex"]) for v in VECTORS["vectors"]}
        a = FragmentAssembler()
        assert a.push(shards["third_of_three"], 0.0) is None
        assert a.push(shards["first_of_three"], 0.0) is None
        assert a.push(shards["second_of_three"], 0.0) == b"hello world"
        assert split_fragments(b"hello world", bytes.fromhex("00112233445566778899aabbccddeeff"), 4) == [
            shards["first_of_three"], shards["second_of_three"], shards["third_of_three"]]


class TestSplit:
    def test_sizes(self) -> None:
        shards = split_fragments(b"abcdefghij", FID, 4)
        assert [decode_shard(s) for s in shards] == [
            (FID, 3, 0, b"abcd"), (FID, 3, 1, b"efgh"), (FID, 3, 2, b"ij")]

    def test_exact_multiple(self) -> None:
        assert [decode_shard(s)[3] for s in split_fragments(b"abcd", FID, 2)] == [b"ab", b"cd"]

    def test_empty_payload_gives_one_empty_shard(self) -> None:
        assert split_fragments(b"", FID, 10) == [FID + b"\x00\x01\x00\x00"]

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError):
            split_fragments(b"x", FID, 0)
        with pytest.raises(InvalidFragment):
            split_fragments(b"x", b"short", 10)

    def test_shard_limit(self) -> None:
        assert len(split_fragments(bytes(65535), FID, 1)) == 65535
        with pytest.raises(FragmentLimitExceeded):
            split_fragments(bytes(65536), FID, 1)

    @PROPS
    @given(st.binary(max_size=500), st.integers(1, 64))
    def test_matches_model_and_reassembles(self, payload: bytes, max_chunk: int) -> None:
        shards = split_fragments(memoryview(payload), bytearray(FID), max_chunk)
        assert shards == model.split_fragments(payload, FID, max_chunk)
        assert all(len(s) - FRAGMENT_HEADER_LEN <= max_chunk for s in shards)
        random.Random(len(payload)).shuffle(shards)
        assembler = FragmentAssembler()
        results = [assembler.push(s, 1.0) for s in shards]
        assert results[:-1] == [None] * (len(shards) - 1)
        assert results[-1] == payload
        assert (assembler.inflight, assembler.inflight_bytes) == (0, 0)


class TestAssembler:
    def test_settings(self) -> None:
        a = FragmentAssembler()
        assert (a.max_inflight, a.max_inflight_bytes, a.max_message_bytes, a.ttl_s) == (
            1024, 64 << 20, 64 << 20, 30.0)
        for kwargs in ({"max_inflight": 0}, {"max_inflight_bytes": 0}, {"max_message_bytes": 0},
                       {"ttl_s": -1.0}):
            with pytest.raises(ConfigError):
                FragmentAssembler(**kwargs)  # type: ignore[arg-type]

    def test_in_order(self) -> None:
        a = FragmentAssembler()
        shards = split_fragments(b"hello world", FID, 3)
        assert [a.push(s, 0.0) for s in shards] == [None, None, None, b"hello world"]

    def test_single_shard_passes_through(self) -> None:
        a = FragmentAssembler()
        assert a.push(encode_shard(FID, 1, 0, b"whole"), 0.0) == b"whole"
        assert a.inflight == 0

    def test_progress_counters(self) -> None:
        a = FragmentAssembler()
        shards = split_fragments(b"abcdefgh", FID, 3)
        a.push(shards[2], 0.0)
        a.push(shards[0], 0.0)
        assert (a.inflight, a.inflight_bytes) == (1, 5)

    def test_interleaved_messages(self) -> None:
        a = FragmentAssembler()
        one = split_fragments(b"first message", FID, 4)
        two = split_fragments(b"second one", FID2, 4)
        done = [a.push(s, 0.0) for pair in zip(one, two, strict=False) for s in pair]
        done += [a.push(s, 0.0) for s in one[len(two):]]
        assert [d for d in done if d is not None] == [b"second one", b"first message"]

    def test_id_is_forgotten_after_completion(self) -> None:
        a = FragmentAssembler()
        shards = split_fragments(b"abcd", FID, 2)
        assert [a.push(s, 0.0) for s in shards] == [None, b"abcd"]
        # the same id may carry a new message afterwards
        assert [a.push(s, 0.0) for s in shards] == [None, b"abcd"]

    def test_duplicate(self) -> None:
        a = FragmentAssembler()
        shard = encode_shard(FID, 3, 1, b"x")
        a.push(shard, 0.0)
        with pytest.raises(DuplicateFragment) as info:
            a.push(shard, 0.0)
        assert (info.value.index, info.value.total) == (1, 3)
        assert (a.inflight, a.inflight_bytes) == (1, 1)

    def test_total_mismatch(self) -> None:
        a = FragmentAssembler()
        a.push(encode_shard(FID, 3, 0, b"x"), 0.0)
        with pytest.raises(FragmentTotalMismatch):
            a.push(encode_shard(FID, 4, 1, b"y"), 0.0)
        with pytest.raises(FragmentTotalMismatch):
            a.push(encode_shard(FID, 1, 0, b"y"), 0.0)
        assert a.push(encode_shard(FID, 3, 1, b"y"), 0.0) is None
        assert a.push(encode_shard(FID, 3, 2, b"z"), 0.0) == b"xyz"

    def test_malformed(self) -> None:
        a = FragmentAssembler()
        for bad in (b"", bytes(19), FID + b"\x00\x00\x00\x00", FID + b"\x00\x01\x00\x01"):
            with pytest.raises(InvalidFragment):
                a.push(bad, 0.0)
        assert a.inflight == 0

    def test_message_limit_drops_the_id(self) -> None:
        a = FragmentAssembler(max_message_bytes=10)
        a.push(encode_shard(FID, 3, 0, b"x" * 6), 0.0)
        with pytest.raises(FragmentLimitExceeded):
            a.push(encode_shard(FID, 3, 1, b"y" * 5), 0.0)
        assert (a.inflight, a.inflight_bytes) == (0, 0)
        # a later shard of that id starts afresh (and never completes on its own)
        assert a.push(encode_shard(FID, 3, 2, b"z"), 0.0) is None
        assert a.inflight == 1

    def test_message_limit_on_first_shard(self) -> None:
        a = FragmentAssembler(max_message_bytes=4)
        with pytest.raises(FragmentLimitExceeded):
            a.push(encode_shard(FID, 2, 0, b"12345"), 0.0)
        with pytest.raises(FragmentLimitExceeded):
            a.push(encode_shard(FID, 1, 0, b"12345"), 0.0)
        assert a.push(encode_shard(FID, 1, 0, b"1234"), 0.0) == b"1234"
        assert a.inflight == 0

    def test_message_limit_exactly(self) -> None:
        a = FragmentAssembler(max_message_bytes=6)
        assert [a.push(s, 0.0) for s in split_fragments(b"abcdef", FID, 2)][-1] == b"abcdef"

    def test_inflight_count_evicts_oldest(self) -> None:
        a = FragmentAssembler(max_inflight=2)
        ids = [bytes([i]) * 16 for i in range(3)]
        for i, fid in enumerate(ids):
            assert a.push(encode_shard(fid, 2, 0, b"a"), float(i)) is None
        assert (a.inflight, a.evicted, a.inflight_bytes) == (2, 1, 2)
        # the oldest (ids[0]) is gone: its second shard starts a new message
        assert a.push(encode_shard(ids[0], 2, 1, b"b"), 3.0) is None
        assert a.evicted == 2  # that pushed out ids[1]
        assert a.push(encode_shard(ids[2], 2, 1, b"b"), 3.0) == b"ab"

    def test_inflight_bytes_evicts_oldest_first(self) -> None:
        a = FragmentAssembler(max_inflight_bytes=10)
        a.push(encode_shard(FID, 3, 0, b"x" * 6), 0.0)
        a.push(encode_shard(FID2, 3, 0, b"y" * 3), 1.0)
        assert a.evicted == 0
        a.push(encode_shard(FID2, 3, 1, b"y" * 3), 2.0)  # 12 bytes: evict FID
        assert (a.inflight, a.inflight_bytes, a.evicted) == (1, 6, 1)
        assert a.push(encode_shard(FID2, 3, 2, b"y"), 3.0) == b"yyyyyyy"

    def test_message_alone_over_inflight_bytes_is_evicted(self) -> None:
        a = FragmentAssembler(max_inflight_bytes=4)
        assert a.push(encode_shard(FID, 2, 0, b"x" * 5), 0.0) is None
        assert (a.inflight, a.inflight_bytes, a.evicted) == (0, 0, 1)

    def test_completion_is_not_limited_by_inflight_bytes(self) -> None:
        a = FragmentAssembler(max_inflight_bytes=8)
        a.push(encode_shard(FID, 2, 0, b"x" * 5), 0.0)
        assert a.push(encode_shard(FID, 2, 1, b"y" * 5), 0.0) == b"xxxxxyyyyy"
        assert a.evicted == 0

    def test_expire(self) -> None:
        a = FragmentAssembler(ttl_s=10.0)
        a.push(encode_shard(FID, 2, 0, b"a"), 0.0)
        a.push(encode_shard(FID2, 2, 0, b"b"), 5.0)
        assert a.expire(10.0) == 0  # exactly ttl_s old is kept
        assert a.expire(10.5) == 1
        assert (a.inflight, a.inflight_bytes, a.expired) == (1, 1, 1)
        assert a.expire(100.0) == 1
        assert (a.inflight, a.expired) == (0, 2)

    def test_expire_uses_the_first_shard_time(self) -> None:
        a = FragmentAssembler(ttl_s=10.0)
        a.push(encode_shard(FID, 3, 0, b"a"), 0.0)
        a.push(encode_shard(FID, 3, 1, b"b"), 9.0)
        assert a.expire(11.0) == 1

    def test_ttl_zero_never_expires(self) -> None:
        a = FragmentAssembler(ttl_s=0.0)
        a.push(encode_shard(FID, 2, 0, b"a"), 0.0)
        assert a.expire(1e12) == 0 and a.inflight == 1

    def test_default_clock(self) -> None:
        a = FragmentAssembler(ttl_s=3600.0)
        a.push(encode_shard(FID, 2, 0, b"a"))  # stamped with CLOCK_MONOTONIC
        assert a.expire() == 0
        assert a.expire(1e12) == 1

    def test_accepts_any_buffer(self) -> None:
        a = FragmentAssembler()
        shards = split_fragments(b"abcdef", FID, 4)
        assert a.push(bytearray(shards[1]), 0.0) is None
        assert a.push(memoryview(shards[0]), 0.0) == b"abcdef"

    def test_large_payload_random_order(self) -> None:
        payload = os.urandom(300_000)
        shards = split_fragments(payload, FID, 1000)
        random.Random(7).shuffle(shards)
        a = FragmentAssembler()
        results = [a.push(s, 0.0) for s in shards]
        assert results.count(None) == len(shards) - 1 and results[-1] == payload


def outcome(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return ("ok", fn(*args))
    except DuplicateFragment as exc:
        return ("raise", DuplicateFragment, exc.index, exc.total)
    except FragmentError as exc:
        return ("raise", type(exc))


class AssemblerMachine(RuleBasedStateMachine):
    """Random shard streams (reordered, repeated, corrupted, conflicting) into the assembler and its model."""

    @initialize(max_inflight=st.integers(1, 4), max_inflight_bytes=st.integers(1, 60),
                max_message_bytes=st.integers(1, 50), ttl_s=st.sampled_from([0.0, 2.0, 5.0]))
    def setup(self, max_inflight: int, max_inflight_bytes: int, max_message_bytes: int, ttl_s: float) -> None:
        args = (max_inflight, max_inflight_bytes, max_message_bytes, ttl_s)
        self.real = FragmentAssembler(*args)
        self.model = model.FragmentAssemblerModel(*args)
        self.now = 0.0
        self.completed = 0

    @rule(fid=st.integers(0, 5), total=st.integers(1, 5), data=st.data(), chunk=st.binary(max_size=12),
          dt=st.sampled_from([0.0, 0.5, 1.0, 3.0]))
    def push(self, fid: int, total: int, data: st.DataObject, chunk: bytes, dt: float) -> None:
        self.now += dt
        index = data.draw(st.integers(0, total - 1))
        shard = encode_shard(bytes([fid]) * 16, total, index, chunk)
        assert outcome(self.real.push, shard, self.now) == outcome(self.model.push, shard, self.now)

    @rule(data=st.data(), chunk=st.binary(max_size=12))
    def push_missing(self, data: st.DataObject, chunk: bytes) -> None:
        """Push a shard a pending message still lacks, so that messages do complete."""
        if not self.model.pending:
            return
        fid = data.draw(st.sampled_from(sorted(self.model.pending)))
        message = self.model.pending[fid]
        total = message.total
        index = data.draw(st.sampled_from([i for i in range(total) if i not in message.chunks]))
        shard = encode_shard(fid, total, index, chunk)
        got = outcome(self.real.push, shard, self.now)
        assert got == outcome(self.model.push, shard, self.now)
        self.completed += got[0] == "ok" and got[1] is not None

    @rule(garbage=st.binary(max_size=24))
    def push_garbage(self, garbage: bytes) -> None:
        assert outcome(self.real.push, garbage, self.now) == outcome(self.model.push, garbage, self.now)

    @rule(dt=st.sampled_from([0.0, 1.0, 2.5, 6.0]))
    def expire(self, dt: float) -> None:
        self.now += dt
        assert self.real.expire(self.now) == self.model.expire(self.now)

    @invariant()
    def same_state(self) -> None:
        if not hasattr(self, "real"):
            return
        for name in ("inflight", "inflight_bytes", "evicted", "expired"):
            assert getattr(self.real, name) == getattr(self.model, name), name


AssemblerMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestAssemblerAgainstModel = AssemblerMachine.TestCase


class StreamMachine(RuleBasedStateMachine):
    """Sha256Stream against hashlib over random chunk sequences and digests in between."""

    def __init__(self) -> None:
        super().__init__()
        self.real = Sha256Stream()
        self.model = model.Sha256StreamModel()

    @rule(chunk=st.binary(max_size=200), kind=st.sampled_from([bytes, bytearray, memoryview]))
    def update(self, chunk: bytes, kind: type) -> None:
        self.real.update(kind(chunk))
        self.model.update(kind(chunk))

    @invariant()
    def same_digest(self) -> None:
        assert self.real.nbytes == self.model.nbytes
        assert self.real.digest() == self.model.digest()
        assert self.real.hexdigest() == self.model.hexdigest()


StreamMachine.TestCase.settings = settings(
    max_examples=50, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestSha256StreamAgainstModel = StreamMachine.TestCase
