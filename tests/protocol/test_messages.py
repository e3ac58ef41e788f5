"""System ops: exact encoding, lenient decoding, strict field validation, round trips."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushwire._core.codec import decode_json_frame
from pushwire.errors import ErrorCode, FrameError, ProtocolError
from pushwire.protocol.channels import DefaultChannel
from pushwire.protocol.messages import (
    OPS,
    Ack,
    Auth,
    AuthOk,
    Error,
    Features,
    Goodbye,
    Health,
    ModeSwitch,
    OpError,
    Ping,
    Pong,
    ResumeRequired,
    Slow,
    StreamStatus,
    Subscribe,
    Subscribed,
    Unsubscribe,
    decode_op,
    encode_op,
    op_type,
)
from pushwire.protocol.resume import ResumeOutcome, decide_resume

UID = "5e0c2b7a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
WRAP = b'{"channel":"system","cursor":null,"client_id":null,"payload":'


def test_encode_op_wraps_in_a_system_frame() -> None:
    assert encode_op(Ping()) == WRAP + b'{"type":"ping"}}'
    assert encode_op(Pong(), DefaultChannel.SYSTEM) == WRAP + b'{"type":"pong"}}'
    assert encode_op(Ping(), "sys") == b'{"channel":"sys","cursor":null,"client_id":null,"payload":{"type":"ping"}}'


def test_auth_key_order_and_nulls() -> None:
    op = Auth(UID, None, ["chat"])
    assert encode_op(op) == WRAP + (
        b'{"type":"auth","client_id":"' + UID.encode() + b'","token":null,"capabilities":["chat"],'
        b'"resume_cursor":null,"resume_cursors":{},"resume_epochs":{}}}')


def test_auth_ok_derives_resume_cursors() -> None:
    op = AuthOk("tok", {"chat": StreamStatus("k3x9a2b1", 41, 45, "recovered")})
    assert op.resume_cursors == {"chat": 41}
    assert op.streams["chat"].recovered is True
    assert op.streams["chat"].outcome is ResumeOutcome.RECOVERED
    assert op.to_payload() == {
        "type": "auth_ok", "session_token": "tok", "resume_cursor": 0, "resume_cursors": {"chat": 41},
        "streams": {"chat": {"epoch": "k3x9a2b1", "cursor": 41, "top": 45, "outcome": "recovered",
                             "recovered": True}}}


def test_stream_status_from_decision() -> None:
    d = decide_resume(3, None, epoch="e", first_offset=10, last_offset=20, personal=False, max_replay=100)
    st_ = StreamStatus.from_decision(d, epoch="e", top=20)
    assert st_ == StreamStatus("e", 9, 20, ResumeOutcome.GAP, False)
    rr = ResumeRequired.from_decision("chat", d, epoch="e")
    assert rr == ResumeRequired("chat", 4, 9, "e", "gap")


def test_resume_required_from_decision() -> None:
    rec = decide_resume(10, None, epoch="e", first_offset=1, last_offset=20, personal=False, max_replay=100)
    assert ResumeRequired.from_decision("chat", rec, epoch="e") is None
    changed = decide_resume(10, "x", epoch="e", first_offset=1, last_offset=20, personal=False, max_replay=100)
    assert ResumeRequired.from_decision("chat", changed, epoch="e") == ResumeRequired(
        "chat", 1, 0, "e", "epoch_changed")
    trimmed = decide_resume(10, "x", epoch="e", first_offset=6, last_offset=20, personal=False, max_replay=100)
    assert ResumeRequired.from_decision("chat", trimmed, epoch="e") == ResumeRequired(
        "chat", 1, 5, "e", "epoch_changed")


def test_resume_required_two_forms() -> None:
    request = ResumeRequired("chat", 12)
    assert request.is_request
    assert request.to_payload() == {"type": "resume_required", "channel": "chat", "from_cursor": 12}
    assert request.resume_cursor == 11
    assert ResumeRequired("chat", 0).resume_cursor == 0
    with_epoch = decode_op({"type": "resume_required", "channel": "chat", "from_cursor": 12, "epoch": "e1"})
    assert with_epoch == ResumeRequired("chat", 12, None, "e1") and with_epoch.is_request
    assert with_epoch.to_payload() == {"type": "resume_required", "channel": "chat", "from_cursor": 12,
                                       "epoch": "e1"}
    server = ResumeRequired("chat", 12, 30, "k3x9a2b1", "gap")
    assert not server.is_request
    assert list(server.to_payload()) == ["type", "channel", "from_cursor", "to_cursor", "epoch", "reason"]


def test_error_codes() -> None:
    assert Error("bad_json", "x").code is ErrorCode.BAD_JSON
    assert Error(ErrorCode.FORBIDDEN).to_payload() == {"type": "error", "code": "forbidden", "message": ""}
    future = decode_op({"type": "error", "code": "brand_new", "message": "m"})
    assert future == Error("brand_new", "m")
    assert future.to_payload()["code"] == "brand_new"
    assert decode_op({"type": "error", "message": "upstream"}) == Error(ErrorCode.INTERNAL, "upstream")


def test_cursor_and_epoch_fallbacks() -> None:
    auth = Auth(UID, resume_cursor=5, resume_cursors={"chat": 41}, resume_epochs={"chat": "e1"})
    assert auth.cursor_for("chat") == 41
    assert auth.cursor_for("events") == 5
    assert auth.epoch_for("chat") == "e1"
    assert auth.epoch_for("events") is None
    sub = Subscribe(["chat"], {"chat": 3})
    assert sub.cursor_for("chat") == 3 and sub.cursor_for("x") is None and sub.epoch_for("chat") is None


def test_sequences_become_tuples() -> None:
    assert Auth(UID, capabilities=["a"]).capabilities == ("a",)
    assert Subscribe(["a"]).channels == ("a",)
    assert Unsubscribe(["a"]).channels == ("a",)
    assert Features(["x"], ["y"]) == Features(("x",), ("y",))


# -- lenient decoding ------------------------------------------------------------------------------------

def test_decode_tag_variants() -> None:
    assert decode_op({"type": "ping"}) == Ping()
    assert decode_op({"op": "ping"}) == Ping()
    assert decode_op({"type": "Ping"}) == Ping()
    assert decode_op({"op": "AuthOk"}) == AuthOk()
    assert decode_op({"type": "ResumeRequired", "channel": "c", "from_cursor": 1}) == ResumeRequired("c", 1)
    assert decode_op({"type": "ModeSwitch", "peer_id": UID, "mode": "relay", "previous_mode": "p2p",
                      "reason": "path_degraded", "generation": 3}).mode == "relay"
    # 'type' wins over 'op'; a non-string 'type' falls back to 'op'
    assert decode_op({"type": "pong", "op": "ping"}) == Pong()
    assert decode_op({"type": 5, "op": "ping"}) == Ping()
    assert op_type({"type": "AuthOk"}) == "auth_ok"


def test_decode_nulls_and_missing_optionals() -> None:
    full = Auth(UID)
    assert decode_op({"type": "auth", "client_id": UID}) == full
    assert decode_op({"type": "auth", "client_id": UID, "token": None, "capabilities": None,
                      "resume_cursor": None, "resume_cursors": None, "resume_epochs": None}) == full
    assert decode_op({"type": "slow"}) == Slow(None)
    assert decode_op({"type": "slow", "window": None}) == Slow(None)
    assert decode_op({"type": "goodbye"}) == Goodbye(None)
    assert decode_op({"type": "health", "status": "ok"}) == Health("ok", None)
    assert decode_op({"type": "subscribe", "channels": ["a"]}) == Subscribe(("a",))
    assert decode_op({"type": "subscribe", "channels": []}) == Subscribe(())
    assert decode_op({"type": "features"}) == Features()


def test_decode_ignores_unknown_keys() -> None:
    assert decode_op({"type": "ack", "channel": "chat", "cursor": 4, "extra": [1, 2], "ts": 9}) == Ack("chat", 4)


def test_decode_normalises_uuid_case() -> None:
    assert decode_op({"type": "auth", "client_id": UID.upper()}).client_id == UID


def test_auth_ok_without_streams_keeps_resume_cursors() -> None:
    op = decode_op({"type": "AuthOk", "resume_cursor": 0, "resume_cursors": {"chat": 7}})
    assert op == AuthOk(None, {}, 0, {"chat": 7})


def test_stream_status_recovered_derived_on_input() -> None:
    op = decode_op({"type": "subscribed", "streams": {"chat": {"epoch": "e", "cursor": 1, "top": 2,
                                                                 "outcome": "recovered"}}})
    assert op.streams["chat"].recovered is True


# -- strict fields ---------------------------------------------------------------------------------------

BAD = [
    ({"type": "auth"}, "client_id"),
    ({"type": "auth", "client_id": "nope"}, "client_id"),
    ({"type": "auth", "client_id": UID.replace("-", "")}, "client_id"),
    ({"type": "auth", "client_id": "{" + UID + "}"}, "client_id"),
    ({"type": "auth", "client_id": 5}, "client_id"),
    ({"type": "auth", "client_id": UID, "token": 5}, "token"),
    ({"type": "auth", "client_id": UID, "token": "x" * 4097}, "token"),
    ({"type": "auth", "client_id": UID, "capabilities": "chat"}, "capabilities"),
    ({"type": "auth", "client_id": UID, "capabilities": [1]}, "capabilities"),
    ({"type": "auth", "client_id": UID, "capabilities": ["c"] * 257}, "capabilities"),
    ({"type": "auth", "client_id": UID, "capabilities": ["c" * 162]}, "capabilities"),
    ({"type": "auth", "client_id": UID, "resume_cursor": -1}, "resume_cursor"),
    ({"type": "auth", "client_id": UID, "resume_cursor": 1.5}, "resume_cursor"),
    ({"type": "auth", "client_id": UID, "resume_cursor": True}, "resume_cursor"),
    ({"type": "auth", "client_id": UID, "resume_cursor": "3"}, "resume_cursor"),
    ({"type": "auth", "client_id": UID, "resume_cursor": 2**64}, "resume_cursor"),
    ({"type": "auth", "client_id": UID, "resume_cursors": [1]}, "resume_cursors"),
    ({"type": "auth", "client_id": UID, "resume_cursors": {"chat": -2}}, "resume_cursors"),
    ({"type": "auth", "client_id": UID, "resume_cursors": {f"s{i}": 1 for i in range(257)}}, "resume_cursors"),
    ({"type": "auth", "client_id": UID, "resume_epochs": {"chat": "bad-epoch"}}, "resume_epochs"),
    ({"type": "auth", "client_id": UID, "resume_epochs": {"chat": ""}}, "resume_epochs"),
    ({"type": "auth", "client_id": UID, "resume_epochs": {"chat": 5}}, "resume_epochs"),
    ({"type": "subscribe", "channels": {"chat": 1}}, "channels"),
    ({"type": "subscribe"}, "channels"),
    ({"type": "unsubscribe", "channels": None}, "channels"),
    ({"type": "subscribe", "channels": ["c"] * 257}, "channels"),
    ({"type": "unsubscribe", "channels": [None]}, "channels"),
    ({"type": "ack", "channel": "chat"}, "cursor"),
    ({"type": "ack", "cursor": 1}, "channel"),
    ({"type": "ack", "channel": 1, "cursor": 1}, "channel"),
    ({"type": "resume_required", "channel": "chat"}, "from_cursor"),
    ({"type": "resume_required", "channel": "chat", "from_cursor": 1, "reason": "bored"}, "reason"),
    ({"type": "resume_required", "channel": "chat", "from_cursor": 1, "epoch": "a b"}, "epoch"),
    ({"type": "slow", "window": -1}, "window"),
    ({"type": "slow", "window": 2**32}, "window"),
    ({"type": "health"}, "status"),
    ({"type": "error", "message": 5}, "message"),
    ({"type": "features", "requested": ["x"] * 65}, "requested"),
    ({"type": "features", "supported": ["x" * 65]}, "supported"),
    ({"type": "goodbye", "reason": ["x"]}, "reason"),
    ({"type": "auth_ok", "streams": {"chat": 1}}, "streams"),
    ({"type": "auth_ok", "streams": {"chat": {"epoch": "e", "cursor": 1, "top": 1}}}, "outcome"),
    ({"type": "auth_ok", "streams": {"chat": {"epoch": "e", "cursor": 1, "top": 1, "outcome": "meh"}}},
     "outcome"),
    ({"type": "auth_ok", "streams": {"chat": {"epoch": "e", "cursor": -1, "top": 1, "outcome": "new"}}},
     "cursor"),
    ({"type": "auth_ok", "streams": {"chat": {"epoch": "e", "cursor": 1, "top": 1, "outcome": "new",
                                              "recovered": "no"}}}, "recovered"),
    ({"type": "subscribed", "streams": {"chat": {"epoch": "", "cursor": 1, "top": 1, "outcome": "new"}}},
     "epoch"),
    ({"type": "mode_switch", "peer_id": UID, "mode": "carrier-pigeon", "previous_mode": "p2p",
      "reason": "requested", "generation": 1}, "mode"),
    ({"type": "mode_switch", "peer_id": UID, "mode": "relay", "previous_mode": "p2p",
      "reason": "requested"}, "generation"),
    ({"type": "mode_switch", "peer_id": "x", "mode": "relay", "previous_mode": "p2p",
      "reason": "requested", "generation": 1}, "peer_id"),
]


@pytest.mark.parametrize("obj, fragment", BAD)
def test_bad_fields(obj: dict, fragment: str) -> None:
    with pytest.raises(OpError, match=fragment) as info:
        decode_op(obj)
    assert info.value.error_code is ErrorCode.BAD_FRAME
    assert isinstance(info.value, FrameError) and isinstance(info.value, ProtocolError)


@pytest.mark.parametrize("obj", [{}, {"type": None}, {"op": 3}, [], "auth", None])
def test_missing_tag(obj: object) -> None:
    with pytest.raises(OpError) as info:
        decode_op(obj)
    assert info.value.error_code is ErrorCode.BAD_FRAME


@pytest.mark.parametrize("tag", ["frobnicate", "Frobnicate", "AUTH", "auth-ok"])
def test_unknown_tag(tag: str) -> None:
    with pytest.raises(OpError) as info:
        decode_op({"type": tag})
    assert info.value.error_code is ErrorCode.UNSUPPORTED


def test_long_reason_fits_a_close_frame() -> None:
    with pytest.raises(OpError) as info:
        decode_op({"type": "x" * 500})
    assert len(info.value.reason.encode()) <= 123


# -- round trips -----------------------------------------------------------------------------------------

uuids = st.uuids().map(str)
names = st.text(alphabet="abcz09:-_@", min_size=1, max_size=40)
cursors = st.integers(0, 2**64 - 1)
epochs = st.text(alphabet="abcXYZ0189", min_size=1, max_size=32)
texts = st.text(max_size=60)
small_lists = st.lists(names, max_size=5)
cursor_maps = st.dictionaries(names, cursors, max_size=4)
epoch_maps = st.dictionaries(names, epochs, max_size=4)
statuses = st.builds(StreamStatus, epochs, cursors, cursors, st.sampled_from(list(ResumeOutcome)),
                     st.booleans())
status_maps = st.dictionaries(names, statuses, max_size=3)

ops = st.one_of(
    st.builds(Auth, uuids, st.none() | texts, small_lists, st.none() | cursors, cursor_maps, epoch_maps),
    st.builds(AuthOk, st.none() | texts, status_maps, st.just(0), st.none() | cursor_maps),
    st.builds(Subscribe, small_lists, cursor_maps, epoch_maps),
    st.builds(Subscribed, status_maps),
    st.builds(Unsubscribe, small_lists),
    st.builds(ResumeRequired, names, cursors),
    st.builds(ResumeRequired, names, cursors, st.none(), epochs),
    st.builds(ResumeRequired, names, cursors, cursors, epochs, st.sampled_from(["gap", "epoch_changed"])),
    st.builds(Ack, names, cursors),
    st.just(Ping()),
    st.just(Pong()),
    st.builds(Slow, st.none() | st.integers(0, 2**32 - 1)),
    st.builds(Error, st.sampled_from(list(ErrorCode)), texts),
    st.builds(Health, texts, st.none() | texts),
    st.builds(Features, st.lists(texts.filter(lambda t: len(t) <= 64), max_size=4),
              st.lists(texts.filter(lambda t: len(t) <= 64), max_size=4)),
    st.builds(Goodbye, st.none() | texts),
    st.builds(ModeSwitch, uuids, st.sampled_from(["direct", "p2p", "relay"]),
              st.sampled_from(["direct", "p2p", "relay"]),
              st.sampled_from(["requested", "path_degraded", "path_recovered", "operator_override"]),
              cursors),
)


@settings(max_examples=300)
@given(ops)
def test_round_trip_through_the_wire(op: object) -> None:
    data = encode_op(op)  # type: ignore[arg-type]
    channel, topic, cursor, client_id, payload = decode_json_frame(data)
    assert (channel, topic, cursor, client_id) == ("system", None, None, None)
    decoded = decode_op(payload)
    assert decoded == op
    assert encode_op(decoded) == data
    # the payload's keys come out in the order to_payload wrote them, "type" first
    assert list(orjson.loads(data)["payload"]) == list(op.to_payload())  # type: ignore[attr-defined]
    assert list(payload)[0] == "type"


def test_every_op_is_covered_by_the_strategy() -> None:
    seen = set()

    @settings(max_examples=400)
    @given(ops)
    def collect(op: object) -> None:
        seen.add(type(op).TYPE)  # type: ignore[attr-defined]

    collect()
    assert seen == set(OPS)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10)


@settings(max_examples=300)
@given(st.sampled_from(sorted(OPS)), st.dictionaries(
    st.sampled_from(["client_id", "token", "capabilities", "resume_cursor", "resume_cursors", "resume_epochs",
                     "session_token", "streams", "channels", "channel", "from_cursor", "to_cursor", "epoch",
                     "reason", "cursor", "window", "code", "message", "status", "detail", "supported",
                     "requested", "peer_id", "mode", "previous_mode", "generation"]), json_values, max_size=6))
def test_decode_only_raises_op_error(tag: str, fields: dict) -> None:
    try:
        op = decode_op({"type": tag, **fields})
    except OpError:
        return
    # whatever decodes re-encodes and decodes to the same op
    assert decode_op(orjson.loads(orjson.dumps(op.to_payload()))) == op
