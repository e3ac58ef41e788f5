"""Shared hypothesis strategies for the fuzz targets: byte mutations of a seed corpus, and read splits."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

_EDIT = st.tuples(st.sampled_from(["insert", "delete", "replace", "duplicate"]), st.integers(0, 1 << 16),
                  st.binary(min_size=1, max_size=8))
#: bytes that tend to matter to parsers
_SPECIAL = st.sampled_from([b"\r", b"\n", b"\r\n", b" ", b"\t", b":", b",", b"\x00", b"\x7f", b"\xff",
                            b"\x80", b"\x7e", b"\x7f\xff", b"%", b"?", b"#", b"0", b"9" * 20])


def _apply(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, position, chunk in edits:
        at = position % (len(out) + 1)
        if kind == "insert":
            out[at:at] = chunk
        elif kind == "delete":
            del out[at:at + len(chunk)]
        elif kind == "replace":
            out[at:at + len(chunk)] = chunk
        else:
            out[at:at] = out[at:at + len(chunk) * 4]
    return bytes(out)


def mutated(corpus: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Seeds from ``corpus`` with a few random edits, or random bytes, or seeds glued together."""
    edits = st.lists(st.one_of(_EDIT, st.tuples(st.just("insert"), st.integers(0, 1 << 16), _SPECIAL)),
                     max_size=6)
    seeds = st.sampled_from(list(corpus))
    return st.one_of(
        st.builds(_apply, seeds, edits),
        st.lists(seeds, min_size=1, max_size=4).map(b"".join).flatmap(
            lambda d: st.builds(_apply, st.just(d), edits)
        ),
        st.binary(max_size=512),
    )


def reads() -> st.SearchStrategy[list[int]]:
    """Cut points splitting a byte string into reads."""
    return st.lists(st.integers(0, 1 << 16), max_size=12)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks, prev = [], 0
    for point in [*points, len(data)]:
        chunks.append(data[prev:point])
        prev = point
    return chunks
