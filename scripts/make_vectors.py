#!/usr/bin/env python3
"""Write the golden vectors ``tests/vectors/*.json`` (run once; the JSON files are the reference).

Every expected byte string here is written out by hand: JSON texts are transcribed from docs/protocol.md and
/work/plan/wire.md, binary frames are hex literals read off the layouts of docs/protocol.md section 11,
RFC 6455 section 5 (its examples in 5.7) and RFC 8878 (hand-made zstd frames). The script then cross-checks
each literal against an independent construction (``struct``, a three-line XOR mask, the msgpack/cbor2/zstd
libraries) and aborts on any mismatch. It never calls pushwire's own encoders: the vectors test pushwire, not
the other way round.

The only bytes that are not hand-written are the zstd *compressor* outputs (marked ``"generated": "zstd"``):
they are what libzstd ``zstd_version`` produces at level 3 and are compared exactly only with that libzstd;
their decode direction is normative.

Usage: ``python scripts/make_vectors.py [--check]`` (``--check``: verify the files on disk are what this
script writes, without writing).
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

import cbor2
import msgpack
import zstandard

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors"
UID = "5e0c8f2a-3b1d-4c6e-9f70-1a2b3c4d5e6f"
PEER = "0b7d2e61-9c4a-4f3e-8d15-6a7b8c9d0e1f"
WRAP = '{"channel":"system","cursor":null,"client_id":null,"payload":'
ZSTD_VERSION = ".".join(map(str, zstandard.ZSTD_VERSION))


def check(cond: bool, what: str) -> None:
    if not cond:
        raise SystemExit(f"cross-check failed: {what}")


def loads_ordered(text: str) -> Any:
    return json.loads(text)  # dicts keep the text's key order


def vec(name: str, kind: str, obj: Any, data: bytes, *, text: str | None = None, decode_only: bool = False,
        **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "kind": kind}
    if decode_only:
        out["direction"] = "decode"
    out["object"] = obj
    out["bytes_hex"] = data.hex()
    if text is not None:
        out["text"] = text
    out.update(extra)
    return out


def bad(name: str, kind: str, data: bytes, error: str, *, text: str | None = None, **extra: Any) -> dict:
    out: dict[str, Any] = {"name": name, "kind": kind, "bytes_hex": data.hex()}
    if text is not None:
        out["text"] = text
    out["error"] = error
    out.update(extra)
    return out


def text_vec(name: str, kind: str, obj: Any, text: str, **kw: Any) -> dict:
    return vec(name, kind, obj, text.encode(), text=text, **kw)


def text_bad(name: str, kind: str, text: str, error: str, **kw: Any) -> dict:
    return bad(name, kind, text.encode(), error, text=text, **kw)


# ---------------------------------------------------------------------------------------------------------
# JSON frames (docs/protocol.md 3)
# ---------------------------------------------------------------------------------------------------------

def frame_obj(channel: str, payload: Any, cursor: int | None = None, client_id: str | None = None,
              topic: str | None = None) -> dict:
    return {"channel": channel, "topic": topic, "cursor": cursor, "client_id": client_id, "payload": payload}


def json_frames() -> dict:
    v = []

    def both(name: str, text: str, obj: dict) -> None:
        # the hand-written text must parse to the object (same keys in the wire order)
        parsed = loads_ordered(text)
        check(parsed == {k: obj[k] for k in parsed}, f"{name}: text/object mismatch")
        wire_order = ["channel"] + (["topic"] if obj["topic"] is not None else []) + ["cursor", "client_id", "payload"]
        check(list(parsed) == wire_order, f"{name}: key order")
        v.append(text_vec(name, "json_frame", obj, text))

    both("plain_stream", '{"channel":"chat","cursor":41,"client_id":null,"payload":{"text":"hello"}}',
         frame_obj("chat", {"text": "hello"}, 41))
    both("topic_stream_with_sender",
         '{"channel":"chat","topic":"room42","cursor":7,"client_id":"' + UID + '","payload":"hi"}',
         frame_obj("chat", "hi", 7, UID, "room42"))
    both("personal_stream",
         '{"channel":"chat","topic":"@' + UID + '","cursor":3,"client_id":null,"payload":{"note":"for you"}}',
         frame_obj("chat", {"note": "for you"}, 3, None, "@" + UID))
    both("topic_with_colons", '{"channel":"events","topic":"org:7","cursor":1,"client_id":null,"payload":[1,2]}',
         frame_obj("events", [1, 2], 1, None, "org:7"))
    both("system_frame_pong", '{"channel":"system","cursor":null,"client_id":null,"payload":{"type":"pong"}}',
         frame_obj("system", {"type": "pong"}))
    both("null_payload", '{"channel":"alerts","cursor":9,"client_id":null,"payload":null}',
         frame_obj("alerts", None, 9))
    both("scalar_payloads", '{"channel":"telemetry","cursor":2,"client_id":null,"payload":[0,-1,1.5,true,false,"x"]}',
         frame_obj("telemetry", [0, -1, 1.5, True, False, "x"], 2))
    both("largest_cursor_for_javascript",
         '{"channel":"chat","cursor":9007199254740991,"client_id":null,"payload":{}}',
         frame_obj("chat", {}, 9007199254740991))
    # orjson writes non-ASCII as raw UTF-8 and escapes only '"', '\\' and control characters
    both("utf8_and_escapes",
         '{"channel":"chat","cursor":5,"client_id":null,"payload":{"text":"h\u00e9 \u2603 \\"q\\" \\\\ a\\nb\\u0001</script>"}}',
         frame_obj("chat", {"text": 'h\u00e9 \u2603 "q" \\ a\nb\u0001</script>'}, 5))

    def dec(name: str, text: str, obj: dict) -> None:
        v.append(text_vec(name, "json_frame", obj, text, decode_only=True))

    dec("client_frame_minimal", '{"channel":"chat","payload":{"text":"hi all"}}', frame_obj("chat", {"text": "hi all"}))
    dec("client_frame_topic", '{"channel":"chat","topic":"room42","payload":{"text":"hi all"}}',
        frame_obj("chat", {"text": "hi all"}, topic="room42"))
    dec("explicit_nulls", '{"channel":"chat","topic":null,"cursor":null,"client_id":null,"payload":1}',
        frame_obj("chat", 1))
    dec("any_key_order_unknown_keys",
        '{"payload":{"a":1},"ts":123,"client_id":"' + UID + '","cursor":4,"topic":"r","channel":"events"}',
        frame_obj("events", {"a": 1}, 4, UID, "r"))
    dec("whitespace", '{ "channel" : "chat" ,\n  "payload" : [ 1 , 2 ] }', frame_obj("chat", [1, 2]))
    dec("missing_payload_is_null", '{"channel":"chat","cursor":3}', frame_obj("chat", None, 3))
    dec("personal_topic_uppercase_uuid",
        '{"channel":"chat","topic":"@' + UID.upper() + '","cursor":1,"client_id":null,"payload":0}',
        frame_obj("chat", 0, 1, None, "@" + UID))
    dec("bare_op", '{"type":"ping"}', frame_obj("system", {"type": "ping"}))
    dec("bare_op_with_channel_field", '{"type":"ack","channel":"chat","cursor":41}',
        frame_obj("system", {"type": "ack", "channel": "chat", "cursor": 41}))

    inv = [
        text_bad("not_json", "json_frame", "{nope", "BadJson", error_code="bad_json"),
        text_bad("empty", "json_frame", "", "BadJson", error_code="bad_json"),
        text_bad("array", "json_frame", "[1,2]", "BadJson", error_code="bad_json"),
        text_bad("string", "json_frame", '"chat"', "BadJson", error_code="bad_json"),
        text_bad("trailing_garbage", "json_frame", '{"channel":"chat","payload":1} x', "BadJson",
                 error_code="bad_json"),
        bad("invalid_utf8", "json_frame", b'{"channel":"chat","payload":"\xff"}', "BadJson", error_code="bad_json"),
        text_bad("channel_not_string", "json_frame", '{"channel":5,"payload":1}', "FrameError",
                 error_code="bad_frame"),
        text_bad("topic_not_string", "json_frame", '{"channel":"chat","topic":7,"payload":1}', "FrameError",
                 error_code="bad_frame"),
        text_bad("cursor_negative", "json_frame", '{"channel":"chat","cursor":-1,"payload":1}', "FrameError",
                 error_code="bad_frame"),
        text_bad("cursor_float", "json_frame", '{"channel":"chat","cursor":1.0,"payload":1}', "FrameError",
                 error_code="bad_frame"),
        text_bad("cursor_string", "json_frame", '{"channel":"chat","cursor":"1","payload":1}', "FrameError",
                 error_code="bad_frame"),
        text_bad("client_id_not_string", "json_frame", '{"channel":"chat","client_id":1,"payload":1}',
                 "FrameError", error_code="bad_frame"),
        text_bad("no_channel_no_tag", "json_frame", '{"payload":1}', "FrameError", error_code="bad_frame"),
        text_bad("unknown_channel", "json_frame", '{"channel":"nope","payload":1}', "StreamError",
                 error_code="unknown_channel"),
        text_bad("bad_topic_chars", "json_frame", '{"channel":"chat","topic":"room 1","payload":1}', "StreamError",
                 error_code="bad_stream"),
        text_bad("topic_too_long", "json_frame", '{"channel":"chat","topic":"' + "a" * 129 + '","payload":1}',
                 "StreamError", error_code="bad_stream"),
        text_bad("reserved_topic_not_uuid", "json_frame", '{"channel":"chat","topic":"@bob","payload":1}',
                 "StreamError", error_code="bad_stream"),
        text_bad("topic_on_system_channel", "json_frame", '{"channel":"system","topic":"x","payload":1}',
                 "StreamError", error_code="bad_stream"),
    ]
    return {"description": "JSON frames (docs/protocol.md section 3). object: channel, topic (null = no topic), "
                           "cursor, client_id, payload. Decoded with Frame.decode(data, DefaultChannel).",
            "vectors": v, "invalid": inv}


# ---------------------------------------------------------------------------------------------------------
# system ops (docs/protocol.md 4)
# ---------------------------------------------------------------------------------------------------------

def system_ops() -> dict:
    v = []

    def op(name: str, payload_text: str) -> None:
        obj = loads_ordered(payload_text)
        check(list(obj)[0] == "type", f"{name}: type first")
        v.append(text_vec(name, "system_op", obj, WRAP + payload_text + "}"))

    def dec(name: str, text: str, normalised: str) -> None:
        v.append(text_vec(name, "system_op", loads_ordered(normalised), text, decode_only=True))

    op("auth", '{"type":"auth","client_id":"' + UID + '","token":"t0k3n","capabilities":["chat","chat:room42"],'
               '"resume_cursor":null,"resume_cursors":{"chat":41},"resume_epochs":{"chat":"k3x9a2b1"}}')
    op("auth_nulls", '{"type":"auth","client_id":"' + UID + '","token":null,"capabilities":[],"resume_cursor":null,'
                     '"resume_cursors":{},"resume_epochs":{}}')
    op("auth_legacy_resume_cursor", '{"type":"auth","client_id":"' + UID + '","token":null,"capabilities":["data"],'
                                    '"resume_cursor":12,"resume_cursors":{},"resume_epochs":{}}')
    op("auth_ok", '{"type":"auth_ok","session_token":"q8Zs0mJ2nVwX4yTb","resume_cursor":0,"resume_cursors":'
                  '{"chat":41,"chat:room42":12},"streams":{"chat":{"epoch":"k3x9a2b1","cursor":41,"top":45,'
                  '"outcome":"recovered","recovered":true},"chat:room42":{"epoch":"k3x9a2b1","cursor":12,'
                  '"top":12,"outcome":"new","recovered":false}}}')
    op("auth_ok_gap_and_personal", '{"type":"auth_ok","session_token":"q8Zs0mJ2nVwX4yTb","resume_cursor":0,'
                                   '"resume_cursors":{"chat":19,"chat:@' + UID + '":0},"streams":{"chat":'
                                   '{"epoch":"k3x9a2b1","cursor":19,"top":45,"outcome":"gap","recovered":false},'
                                   '"chat:@' + UID + '":{"epoch":"p0q1r2s3","cursor":0,"top":1,'
                                   '"outcome":"recovered","recovered":true}}}')
    op("auth_ok_epoch_changed", '{"type":"auth_ok","session_token":"q8Zs0mJ2nVwX4yTb","resume_cursor":0,'
                                '"resume_cursors":{"chat":0},"streams":{"chat":{"epoch":"k3x9a2b1","cursor":0,'
                                '"top":45,"outcome":"epoch_changed","recovered":false}}}')
    op("error", '{"type":"error","code":"forbidden","message":"subscription to chat:vip rejected"}')
    op("error_empty_message", '{"type":"error","code":"bad_json","message":""}')
    op("ping", '{"type":"ping"}')
    op("pong", '{"type":"pong"}')
    op("slow", '{"type":"slow","window":1843}')
    op("ack", '{"type":"ack","channel":"chat:@' + UID + '","cursor":41}')
    op("resume_required_gap", '{"type":"resume_required","channel":"chat","from_cursor":12,"to_cursor":19,'
                              '"epoch":"k3x9a2b1","reason":"gap"}')
    op("resume_required_epoch_changed_empty_range", '{"type":"resume_required","channel":"chat","from_cursor":1,'
                                                    '"to_cursor":0,"epoch":"k3x9a2b1","reason":"epoch_changed"}')
    op("resume_required_client_request", '{"type":"resume_required","channel":"chat","from_cursor":12}')
    op("resume_required_client_request_with_epoch",
       '{"type":"resume_required","channel":"metrics","from_cursor":118,"epoch":"k3x9a2b1"}')
    op("subscribe", '{"type":"subscribe","channels":["chat:room7"],"resume_cursors":{"chat:room7":3},'
                    '"resume_epochs":{"chat:room7":"k3x9a2b1"}}')
    op("subscribe_live_only", '{"type":"subscribe","channels":["chat:room7"],"resume_cursors":{},"resume_epochs":{}}')
    op("subscribed", '{"type":"subscribed","streams":{"chat:room7":{"epoch":"k3x9a2b1","cursor":3,"top":5,'
                     '"outcome":"recovered","recovered":true}}}')
    op("unsubscribe", '{"type":"unsubscribe","channels":["chat:room7"]}')
    op("health", '{"type":"health","status":"ok","detail":null}')
    op("health_degraded", '{"type":"health","status":"degraded","detail":"broker unavailable"}')
    op("features_request", '{"type":"features","supported":[],"requested":["binary.msgpack","zstd"]}')
    op("features_grant", '{"type":"features","supported":["binary.msgpack","binary.cbor","zstd","zstd.dict:7",'
                         '"fragments","assets","rtc"],"requested":["binary.msgpack","zstd"]}')
    op("goodbye_shutdown", '{"type":"goodbye","reason":"shutdown"}')
    op("goodbye_null", '{"type":"goodbye","reason":null}')
    op("mode_switch", '{"type":"mode_switch","peer_id":"' + PEER + '","mode":"relay","previous_mode":"p2p",'
                      '"reason":"path_degraded","generation":3}')

    auth_min = ('{"type":"auth","client_id":"' + UID + '","token":null,"capabilities":[],"resume_cursor":null,'
                '"resume_cursors":{},"resume_epochs":{}}')
    dec("bare_auth_minimal", '{"type":"auth","client_id":"' + UID + '"}', auth_min)
    dec("auth_all_optionals_null", '{"type":"auth","client_id":"' + UID + '","token":null,"capabilities":null,'
                                   '"resume_cursor":null,"resume_cursors":null,"resume_epochs":null}', auth_min)
    dec("auth_uppercase_client_id", '{"type":"auth","client_id":"' + UID.upper() + '"}', auth_min)
    dec("auth_any_order_unknown_keys", WRAP + '{"resume_epochs":{},"x":[1],"client_id":"' + UID
        + '","type":"auth"}}', auth_min)
    dec("tag_under_op", '{"op":"ping"}', '{"type":"ping"}')
    dec("pascal_case_tag", WRAP + '{"type":"AuthOk","resume_cursor":0,"resume_cursors":{"chat":7}}}',
        '{"type":"auth_ok","session_token":null,"resume_cursor":0,"resume_cursors":{"chat":7},"streams":{}}')
    dec("pascal_case_under_op", '{"op":"ResumeRequired","channel":"chat","from_cursor":12}',
        '{"type":"resume_required","channel":"chat","from_cursor":12}')
    dec("bare_ack_with_channel_field", '{"type":"ack","channel":"chat","cursor":41}',
        '{"type":"ack","channel":"chat","cursor":41}')
    dec("upstream_error_without_code", '{"type":"error","message":"nope"}',
        '{"type":"error","code":"internal","message":"nope"}')
    dec("slow_window_omitted", '{"type":"slow"}', '{"type":"slow","window":null}')
    dec("slow_window_null", '{"type":"slow","window":null}', '{"type":"slow","window":null}')
    dec("goodbye_reason_omitted", '{"type":"goodbye"}', '{"type":"goodbye","reason":null}')
    dec("health_detail_omitted", '{"type":"health","status":"ok"}', '{"type":"health","status":"ok","detail":null}')
    dec("subscribe_without_maps", '{"type":"subscribe","channels":["chat"]}',
        '{"type":"subscribe","channels":["chat"],"resume_cursors":{},"resume_epochs":{}}')
    dec("features_omitted_lists", '{"type":"features"}', '{"type":"features","supported":[],"requested":[]}')
    dec("stream_status_recovered_omitted", '{"type":"subscribed","streams":{"chat":{"epoch":"e1","cursor":4,'
                                           '"top":4,"outcome":"recovered"}}}',
        '{"type":"subscribed","streams":{"chat":{"epoch":"e1","cursor":4,"top":4,"outcome":"recovered",'
        '"recovered":true}}}')
    dec("unknown_error_code_kept", '{"type":"error","code":"from_the_future","message":""}',
        '{"type":"error","code":"from_the_future","message":""}')

    def inv(name: str, text: str, code: str = "bad_frame") -> dict:
        return text_bad(name, "system_op", text, "OpError", error_code=code)

    invalid = [
        inv("unknown_type", '{"type":"frobnicate"}', "unsupported"),
        inv("unknown_type_wrapped", WRAP + '{"type":"frobnicate"}}', "unsupported"),
        inv("payload_not_object", WRAP + '5}'),
        inv("wrapped_without_tag", WRAP + '{"client_id":"' + UID + '"}}'),
        inv("auth_missing_client_id", '{"type":"auth"}'),
        inv("auth_client_id_not_uuid", '{"type":"auth","client_id":"bob"}'),
        inv("auth_client_id_without_hyphens", '{"type":"auth","client_id":"' + UID.replace("-", "") + '"}'),
        inv("auth_token_not_string", '{"type":"auth","client_id":"' + UID + '","token":5}'),
        inv("auth_token_too_long", '{"type":"auth","client_id":"' + UID + '","token":"' + "t" * 4097 + '"}'),
        inv("auth_capabilities_not_list", '{"type":"auth","client_id":"' + UID + '","capabilities":"chat"}'),
        inv("auth_too_many_capabilities", '{"type":"auth","client_id":"' + UID + '","capabilities":['
            + ",".join(['"chat"'] * 257) + ']}'),
        inv("auth_negative_resume_cursor", '{"type":"auth","client_id":"' + UID + '","resume_cursor":-1}'),
        inv("auth_resume_cursor_float", '{"type":"auth","client_id":"' + UID + '","resume_cursors":{"chat":1.5}}'),
        inv("auth_bad_epoch", '{"type":"auth","client_id":"' + UID + '","resume_epochs":{"chat":"k3x9-a2b1"}}'),
        inv("subscribe_missing_channels", '{"type":"subscribe"}'),
        inv("subscribe_channels_not_strings", '{"type":"subscribe","channels":[1]}'),
        inv("ack_missing_cursor", '{"type":"ack","channel":"chat"}'),
        inv("ack_cursor_string", WRAP + '{"type":"ack","channel":"chat","cursor":"41"}}'),
        inv("resume_required_bad_reason", '{"type":"resume_required","channel":"chat","from_cursor":1,'
                                          '"reason":"because"}'),
        inv("slow_negative_window", '{"type":"slow","window":-5}'),
        inv("health_missing_status", '{"type":"health"}'),
        inv("stream_status_bad_outcome", '{"type":"subscribed","streams":{"chat":{"epoch":"e1","cursor":1,'
                                         '"top":1,"outcome":"lost"}}}'),
        inv("mode_switch_bad_mode", '{"type":"mode_switch","peer_id":"' + PEER + '","mode":"pigeon",'
                                    '"previous_mode":"p2p","reason":"requested","generation":1}'),
    ]
    return {"description": "System ops (docs/protocol.md section 4). object: the op payload; bytes: the whole "
                           "system frame (decode-only vectors may be bare ops). Decoded with Frame.decode(data, "
                           "DefaultChannel) then decode_op(frame.payload); compare op.to_payload().",
            "vectors": v, "invalid": invalid}


# ---------------------------------------------------------------------------------------------------------
# binary RP frames (docs/protocol.md 11)
# ---------------------------------------------------------------------------------------------------------

def rp(wire_id: int, flags: int, seq: int, payload: bytes) -> bytes:
    return b"RP" + struct.pack(">BBBI", 1, flags, wire_id, seq) + payload


def rp_frames() -> dict:
    v = []

    def frame(name: str, hex_text: str, wire_id: int, flags: int, seq: int, payload: bytes, **extra: Any) -> None:
        data = bytes.fromhex(hex_text)
        check(data == rp(wire_id, flags, seq, payload), f"{name}: struct cross-check")
        v.append(vec(name, "rp_frame", {"wire_id": wire_id, "flags": flags, "sequence": seq,
                                        "payload_hex": payload.hex()}, data, **extra))

    hi_mp = bytes.fromhex("81 a4 74 65 78 74 a2 68 69")
    hi_cbor = bytes.fromhex("a1 64 74 65 78 74 62 68 69")
    check(msgpack.packb({"text": "hi"}) == hi_mp and cbor2.dumps({"text": "hi"}) == hi_cbor, "payload libs")
    frame("spec_example_msgpack", "52 50 01 00 01 00 00 00 29 81 a4 74 65 78 74 a2 68 69", 1, 0, 41, hi_mp,
          encoding="msgpack", value={"text": "hi"})
    frame("spec_example_cbor", "52 50 01 00 01 00 00 00 29 a1 64 74 65 78 74 62 68 69", 1, 0, 41, hi_cbor,
          encoding="cbor", value={"text": "hi"})
    ping_mp = bytes.fromhex("81 a4 74 79 70 65 a4 70 69 6e 67")
    check(msgpack.packb({"type": "ping"}) == ping_mp, "ping msgpack")
    frame("system_op_ping_msgpack", "52 50 01 00 05 00 00 00 00 81 a4 74 79 70 65 a4 70 69 6e 67", 5, 0, 0,
          ping_mp, encoding="msgpack", value={"type": "ping"})
    frame("ack_required_flag", "52 50 01 04 02 00 00 01 00 c0", 2, 4, 256, b"\xc0", encoding="msgpack", value=None)
    frame("all_flags_max_sequence_empty_payload", "52 50 01 07 ff ff ff ff ff", 255, 7, 0xFFFFFFFF, b"")
    frame("sequence_is_big_endian", "52 50 01 00 03 01 02 03 04 f6", 3, 0, 0x01020304, b"\xf6",
          encoding="cbor", value=None)
    shard = bytes.fromhex("00112233445566778899aabbccddeeff 0002 0000") + b"hel"
    frame("fragmented_first_shard", "52 50 01 02 02 00 00 00 07 00112233445566778899aabbccddeeff 0002 0000 68 65 6c",
          2, 2, 7, shard)
    v.append(vec("reserved_flag_bits_ignored", "rp_frame", {"wire_id": 1, "flags": 1, "sequence": 1,
                                                           "payload_hex": "01"},
                 bytes.fromhex("52 50 01 f9 01 00 00 00 01 01"), decode_only=True))

    table = [1, 2, 3, 4, 5, 6]  # DefaultChannel wire ids

    def inv(name: str, hex_text: str, error: str, **extra: Any) -> dict:
        return bad(name, "rp_frame", bytes.fromhex(hex_text), error, known_wire_ids=table, **extra)

    raw_dict7 = bytes.fromhex("28 b5 2f fd 21 07 06 31 00 00 a5 68 65 6c 6c 6f")  # see rp_payloads
    invalid = [
        inv("empty", "", "FrameTooShort", error_code="bad_frame"),
        inv("eight_bytes", "52 50 01 00 01 00 00 00", "FrameTooShort", error_code="bad_frame"),
        inv("short_beats_bad_magic", "58 58 58 58 58", "FrameTooShort", error_code="bad_frame"),
        inv("bad_magic", "52 51 01 00 01 00 00 00 00 c0", "InvalidMagic", error_code="bad_frame"),
        inv("magic_beats_version", "50 52 02 00 01 00 00 00 00 c0", "InvalidMagic", error_code="bad_frame"),
        inv("version_0", "52 50 00 00 01 00 00 00 00 c0", "UnsupportedVersion", error_code="bad_frame"),
        inv("version_beats_wire_id", "52 50 02 00 63 00 00 00 00 c0", "UnsupportedVersion", error_code="bad_frame"),
        inv("wire_id_0_reserved", "52 50 01 00 00 00 00 00 00 c0", "UnknownChannel", error_code="unknown_channel"),
        inv("unknown_wire_id", "52 50 01 00 63 00 00 00 00 c0", "UnknownChannel", error_code="unknown_channel"),
        inv("wire_id_beats_payload", "52 50 01 01 63 00 00 00 00 ff ff", "UnknownChannel",
            error_code="unknown_channel", encoding="msgpack"),
        inv("shard_too_short", "52 50 01 02 02 00 00 00 00" + "00" * 19, "InvalidFragment", error_code="bad_frame",
            encoding="msgpack"),
        inv("shard_total_zero", "52 50 01 02 02 00 00 00 00" + "00" * 16 + "0000 0000", "InvalidFragment",
            error_code="bad_frame", encoding="msgpack"),
        inv("shard_index_not_below_total", "52 50 01 02 02 00 00 00 00" + "00" * 16 + "0002 0002", "InvalidFragment",
            error_code="bad_frame", encoding="msgpack"),
        inv("compressed_flag_not_zstd", "52 50 01 01 02 00 00 00 00 6e 6f 74 20 7a 73 74 64", "CompressionError",
            error_code="bad_frame", encoding="msgpack"),
        inv("zstd_truncated", "52 50 01 01 02 00 00 00 00 28 b5 2f fd 20 06 31 00 00 a5 68", "CompressionError",
            error_code="bad_frame", encoding="msgpack"),
        inv("missing_dictionary_7", "52 50 01 01 02 00 00 00 00 " + raw_dict7.hex(), "MissingDictionary",
            error_code="unsupported", encoding="msgpack", dict_id=7),
        inv("msgpack_never_used_byte", "52 50 01 00 02 00 00 00 00 c1", "PayloadDecodeError", error_code="bad_frame",
            encoding="msgpack"),
        inv("cbor_lone_break", "52 50 01 00 02 00 00 00 00 ff", "PayloadDecodeError", error_code="bad_frame",
            encoding="cbor"),
    ]
    return {"description": "Binary RP frames (docs/protocol.md section 11). object: wire_id, flags, sequence, "
                           "payload_hex (the bytes after the 9-byte header). Vectors with 'encoding' and 'value' "
                           "also hold for BinaryCodec(encoding). Invalid vectors: decode_binary_frame(data, "
                           "make_wire_table(known_wire_ids)), or BinaryCodec(encoding).decode(...) when "
                           "'encoding' is given; the first failing check in the order of 11.5 names the error.",
            "vectors": v, "invalid": invalid}


# ---------------------------------------------------------------------------------------------------------
# RP payloads: MessagePack, CBOR, zstd
# ---------------------------------------------------------------------------------------------------------

def dictionary_samples() -> list[bytes]:
    words = ["alpha", "beta", "gamma", "delta", "lobby", "hello", "world", "user", "text", "room"]
    return [msgpack.packb({"user": f"u{i}", "room": words[i % 10], "text": " ".join(words[(i * k) % 10]
                                                                                     for k in range(1, 9))})
            for i in range(600)]


def rp_payloads() -> dict:
    v = []

    def plain(name: str, encoding: str, value: Any, hex_text: str) -> None:
        data = bytes.fromhex(hex_text)
        lib = msgpack.packb(value, use_bin_type=True) if encoding == "msgpack" else cbor2.dumps(value)
        check(lib == data, f"{name}: library cross-check {lib.hex()}")
        v.append(vec(name, "rp_payload", {"encoding": encoding, "value": value, "compressed": False}, data))

    plain("msgpack_map", "msgpack", {"text": "hi"}, "81 a4 74 65 78 74 a2 68 69")
    plain("msgpack_ints", "msgpack", [0, 127, 128, 256, 65536, 4294967296, -1, -33, -129],
          "99 00 7f cc 80 cd 01 00 ce 00 01 00 00 cf 00 00 00 01 00 00 00 00 ff d0 df d1 ff 7f")
    plain("msgpack_scalars", "msgpack", [None, False, True, 1.5, "\u00e9"],
          "95 c0 c2 c3 cb 3f f8 00 00 00 00 00 00 a2 c3 a9")
    plain("msgpack_str8", "msgpack", "x" * 32, "d9 20" + "78" * 32)
    plain("msgpack_nested", "msgpack", {"a": {"b": [None]}}, "81 a1 61 81 a1 62 91 c0")
    plain("cbor_map", "cbor", {"text": "hi"}, "a1 64 74 65 78 74 62 68 69")
    plain("cbor_ints", "cbor", [0, 23, 24, 500, 65536, -1, -33, -129],
          "88 00 17 18 18 19 01 f4 1a 00 01 00 00 20 38 20 38 80")
    plain("cbor_scalars", "cbor", [None, False, True, 1.5, "\u00e9"], "85 f6 f4 f5 fb 3f f8 00 00 00 00 00 00 62 c3 a9")
    plain("cbor_nested", "cbor", {"a": {"b": [None]}}, "a1 61 61 a1 61 62 81 f6")

    # RFC 8878 frames written by hand: magic 28 b5 2f fd; Frame_Header_Descriptor 0x20 = Single_Segment, 1-byte
    # Frame_Content_Size; 0x21 = the same plus a 1-byte Dictionary_ID; then one Raw_Block, last, 6 bytes: block
    # header (little-endian 24 bits) = 1 | (0 << 1) | (6 << 3) = 0x31 -> 31 00 00; content = msgpack "hello".
    hello = bytes.fromhex("a5 68 65 6c 6c 6f")
    check(msgpack.packb("hello") == hello, "msgpack hello")
    raw = bytes.fromhex("28 b5 2f fd 20 06 31 00 00") + hello
    check(zstandard.ZstdDecompressor().decompress(raw) == hello, "hand-made zstd frame decodes")
    v.append(vec("zstd_hand_made_raw_block", "rp_payload", {"encoding": "msgpack", "value": "hello",
                                                            "compressed": True}, raw, decode_only=True))

    big = {"text": "hello " * 100}
    body = msgpack.packb(big)
    check(len(body) >= 512, "big payload over the threshold")
    compressed = zstandard.ZstdCompressor(level=3, write_content_size=True).compress(body)
    params = zstandard.get_frame_parameters(compressed)
    check(params.content_size == len(body) and params.dict_id == 0, "zstd header")
    v.append(vec("msgpack_zstd_level3", "rp_payload", {"encoding": "msgpack", "value": big, "compressed": True},
                 compressed, generated="zstd", zstd_version=ZSTD_VERSION))
    cbody = cbor2.dumps(big)
    v.append(vec("cbor_zstd_level3", "rp_payload", {"encoding": "cbor", "value": big, "compressed": True},
                 zstandard.ZstdCompressor(level=3).compress(cbody), generated="zstd", zstd_version=ZSTD_VERSION))

    # exactly at the threshold (512 bytes encoded) is compressed; one byte less is not
    at = b"\x00" * 509  # bin16: c5 01 fd + 509 bytes = 512
    check(len(msgpack.packb(at, use_bin_type=True)) == 512, "512-byte body")
    v.append(vec("threshold_511_not_compressed", "rp_payload",
                 {"encoding": "msgpack", "value_hex_bin": "00" * 508, "compressed": False},
                 bytes.fromhex("c5 01 fc") + b"\x00" * 508))
    v.append(vec("threshold_512_compressed", "rp_payload",
                 {"encoding": "msgpack", "value_hex_bin": "00" * 509, "compressed": True},
                 zstandard.ZstdCompressor(level=3).compress(bytes.fromhex("c5 01 fd") + at),
                 generated="zstd", zstd_version=ZSTD_VERSION))

    zdict = zstandard.train_dictionary(1024, dictionary_samples(), dict_id=7)
    check(zdict.dict_id() == 7, "trained dictionary id")
    dict_bytes = zdict.as_bytes()
    sample = {"user": "u5", "room": "lobby", "text": "hello world alpha beta"}
    sbody = msgpack.packb(sample)
    with_dict = zstandard.ZstdCompressor(level=3, dict_data=zstandard.ZstdCompressionDict(dict_bytes)).compress(sbody)
    check(zstandard.get_frame_parameters(with_dict).dict_id == 7, "dict id in frame header")
    v.append(vec("msgpack_zstd_dictionary_7", "rp_payload",
                 {"encoding": "msgpack", "value": sample, "compressed": True, "dict_id": 7},
                 with_dict, generated="zstd", zstd_version=ZSTD_VERSION, dictionary_hex=dict_bytes.hex(),
                 compression_threshold=0))

    raw_dict7 = bytes.fromhex("28 b5 2f fd 21 07 06 31 00 00") + hello
    check(zstandard.get_frame_parameters(raw_dict7).dict_id == 7, "hand-made dict-7 header")

    def inv(name: str, encoding: str, hex_text: str, error: str, compressed: bool = False, **extra: Any) -> dict:
        return bad(name, "rp_payload", bytes.fromhex(hex_text), error, encoding=encoding,
                   flags=1 if compressed else 0, **extra)

    invalid = [
        inv("missing_dictionary", "msgpack", raw_dict7.hex(), "MissingDictionary", True, dict_id=7,
            error_code="unsupported"),
        inv("not_zstd", "msgpack", "00 01 02 03 04 05", "CompressionError", True, error_code="bad_frame"),
        inv("zstd_truncated_block", "msgpack", "28 b5 2f fd 20 06 31 00 00 a5 68 65", "CompressionError", True,
            error_code="bad_frame"),
        inv("msgpack_c1", "msgpack", "c1", "PayloadDecodeError", error_code="bad_frame"),
        inv("msgpack_truncated_map", "msgpack", "81 a1 61", "PayloadDecodeError", error_code="bad_frame"),
        inv("msgpack_extra_data", "msgpack", "01 02", "PayloadDecodeError", error_code="bad_frame"),
        inv("msgpack_int_map_key", "msgpack", "81 01 02", "PayloadDecodeError", error_code="bad_frame"),
        inv("msgpack_empty", "msgpack", "", "PayloadDecodeError", error_code="bad_frame"),
        inv("cbor_lone_break", "cbor", "ff", "PayloadDecodeError", error_code="bad_frame"),
        inv("cbor_truncated_map", "cbor", "a1 61 61", "PayloadDecodeError", error_code="bad_frame"),
        inv("cbor_extra_data", "cbor", "01 02", "PayloadDecodeError", error_code="bad_frame"),
        inv("cbor_empty", "cbor", "", "PayloadDecodeError", error_code="bad_frame"),
    ]
    return {"description": "RP payloads (docs/protocol.md 11.2-11.3): MessagePack / CBOR of a value, zstd when "
                           "'compressed'. bytes: the payload after the header. 'value_hex_bin' means the value is "
                           "the byte string given in hex. Vectors marked generated=zstd are libzstd output: exact "
                           "only for the same zstd_version; decoding them is normative. Invalid vectors: "
                           "BinaryCodec(encoding).decode_payload(data, flags).",
            "vectors": v, "invalid": invalid}


# ---------------------------------------------------------------------------------------------------------
# SSE (docs/protocol.md 9)
# ---------------------------------------------------------------------------------------------------------

def sse_events() -> dict:
    v = []
    frame42 = '{"channel":"chat","cursor":42,"client_id":null,"payload":{"text":"one"}}'
    auth_ok = (WRAP + '{"type":"auth_ok","session_token":"q8Zs0mJ2nVwX4yTb","resume_cursor":0,"resume_cursors":'
               '{"chat":41},"streams":{"chat":{"epoch":"k3x9a2b1","cursor":41,"top":42,"outcome":"recovered",'
               '"recovered":true}}}}')
    rr = (WRAP + '{"type":"resume_required","channel":"chat","from_cursor":12,"to_cursor":19,"epoch":"k3x9a2b1",'
          '"reason":"gap"}}')

    def ev(name: str, text: str, data: str, event: str | None = None, id: str | None = None,
           retry_ms: int | None = None) -> None:
        v.append(text_vec(name, "sse_event", {"data": data, "event": event, "id": id, "retry_ms": retry_ms}, text))

    ev("frame_event", "id: chat=42~k3x9a2b1\nevent: chat\ndata: " + frame42 + "\n\n", frame42, "chat",
       "chat=42~k3x9a2b1")
    ev("auth_ok_event", "id: chat=41~k3x9a2b1\nevent: system\ndata: " + auth_ok + "\n\n", auth_ok, "system",
       "chat=41~k3x9a2b1")
    ev("system_event_without_id", "event: system\ndata: " + rr + "\n\n", rr, "system")
    ev("multi_stream_position_vector",
       "id: chat=41~k3x9a2b1,chat:room1=7~k3x9a2b1,chat:@" + UID + "=3~p0q1r2s3\nevent: chat\ndata: {}\n\n",
       "{}", "chat", "chat=41~k3x9a2b1,chat:room1=7~k3x9a2b1,chat:@" + UID + "=3~p0q1r2s3")
    ev("retry_with_event", "retry: 2000\nid: chat=41~k3x9a2b1\nevent: system\ndata: {}\n\n", "{}", "system",
       "chat=41~k3x9a2b1", 2000)
    ev("data_only", "data: hello\n\n", "hello")
    ev("multi_line_lf", "data: a\ndata: b\ndata: c\n\n", "a\nb\nc")
    ev("multi_line_crlf", "data: a\ndata: b\n\n", "a\r\nb")
    ev("multi_line_cr", "data: a\ndata: b\n\n", "a\rb")
    ev("trailing_newline", "data: a\ndata: \n\n", "a\n")
    ev("empty_lines_kept", "event: x\ndata: \ndata: \ndata: \n\n", "\n\n", "x")
    ev("empty_data", "data: \n\n", "")
    ev("utf8_data", "event: chat\ndata: h\u00e9 \u2603\n\n", "h\u00e9 \u2603", "chat")
    v.append(text_vec("heartbeat_comment", "sse_event", {"comment": "hb"}, ": hb\n\n"))
    return {"description": "Server-Sent Events (docs/protocol.md 9). object: data (text), event, id, retry_ms; "
                           "field order retry, id, event, data; data split into one 'data:' line per line "
                           "(CRLF, CR and LF all end a line). object {comment} is a comment block. Encoded with "
                           "codec.encode_sse_event / encode_sse_comment; the decode direction is checked with a "
                           "parser following the WHATWG EventSource rules.",
            "vectors": v, "invalid": []}


# ---------------------------------------------------------------------------------------------------------
# fragment shards (docs/protocol.md 11.4)
# ---------------------------------------------------------------------------------------------------------

def fragment_shards() -> dict:
    fid = "00112233445566778899aabbccddeeff"
    v = []

    def shard(name: str, hex_text: str, total: int, index: int, chunk: bytes, fragment_id: str = fid) -> None:
        data = bytes.fromhex(hex_text)
        check(data == bytes.fromhex(fragment_id) + struct.pack(">HH", total, index) + chunk, f"{name}: struct")
        v.append(vec(name, "fragment_shard", {"fragment_id_hex": fragment_id, "total": total, "index": index,
                                              "chunk_hex": chunk.hex()}, data))

    shard("single_empty", fid + "0001 0000", 1, 0, b"")
    shard("first_of_three", fid + "0003 0000 68 65 6c 6c", 3, 0, b"hell")
    shard("second_of_three", fid + "0003 0001 6f 20 77 6f", 3, 1, b"o wo")
    shard("third_of_three", fid + "0003 0002 72 6c 64", 3, 2, b"rld")
    shard("largest_total", "ff" * 16 + "ffff fffe 00", 65535, 65534, b"\x00", "ff" * 16)

    def inv(name: str, hex_text: str) -> dict:
        return bad(name, "fragment_shard", bytes.fromhex(hex_text), "InvalidFragment", error_code="bad_frame")

    invalid = [
        inv("empty", ""),
        inv("nineteen_bytes", fid + "0001 00"),
        inv("total_zero", fid + "0000 0000 61"),
        inv("index_equals_total", fid + "0002 0002 61"),
        inv("index_above_total", fid + "0001 ffff 61"),
    ]
    return {"description": "Fragment shards (docs/protocol.md 11.4): the payload of an RP frame with flag 0x02: "
                           "fragment_id (16 bytes), total (u16 BE), index (u16 BE), chunk. Encoded with "
                           "chunker.encode_shard, decoded with chunker.decode_shard. The three shards above "
                           "reassemble to 'hello world'.",
            "vectors": v, "invalid": invalid}


# ---------------------------------------------------------------------------------------------------------
# WebSocket frames (RFC 6455 section 5; docs/protocol.md 8.2)
# ---------------------------------------------------------------------------------------------------------

def ws_ref(payload: bytes, opcode: int, fin: bool, mask: bytes | None, rsv: int = 0) -> bytes:
    """An independent RFC 6455 section 5.2 encoder, for cross-checking the literals."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n, m = len(payload), (0x80 if mask is not None else 0)
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_frames() -> dict:
    v = []
    mask = bytes.fromhex("37fa213d")

    def frame(name: str, hex_text: str, opcode: int, payload: bytes, *, fin: bool = True,
              mask_: bytes | None = None, rsv: int = 0) -> None:
        data = bytes.fromhex(hex_text)
        check(data == ws_ref(payload, opcode, fin, mask_, rsv), f"{name}: RFC 6455 cross-check")
        v.append(vec(name, "ws_frame", {"opcode": opcode, "fin": fin, "rsv": rsv, "payload_hex": payload.hex(),
                                        "mask_hex": mask_.hex() if mask_ is not None else None}, data))

    # RFC 6455 section 5.7 examples, byte for byte
    frame("rfc6455_unmasked_text_hello", "81 05 48 65 6c 6c 6f", 1, b"Hello")
    frame("rfc6455_masked_text_hello", "81 85 37 fa 21 3d 7f 9f 4d 51 58", 1, b"Hello", mask_=mask)
    frame("rfc6455_fragment_1_of_2", "01 03 48 65 6c", 1, b"Hel", fin=False)
    frame("rfc6455_fragment_2_of_2", "80 02 6c 6f", 0, b"lo")
    frame("rfc6455_unmasked_ping", "89 05 48 65 6c 6c 6f", 9, b"Hello")
    frame("rfc6455_masked_pong", "8a 85 37 fa 21 3d 7f 9f 4d 51 58", 10, b"Hello", mask_=mask)
    frame("rfc6455_binary_256", "82 7e 01 00" + "5a" * 256, 2, b"\x5a" * 256)
    frame("rfc6455_binary_65536", "82 7f 00 00 00 00 00 01 00 00" + "00" * 65536, 2, b"\x00" * 65536)
    # docs/protocol.md 8.2 and 8.4
    text71 = b'{"channel":"chat","cursor":41,"client_id":null,"payload":{"text":"hi"}}'
    check(len(text71) == 71, "71-byte frame")
    frame("server_json_frame", "81 47" + text71.hex(), 1, text71)
    frame("client_ping_op_masked", "81 8f 37 fa 21 3d 4c d8 55 44 47 9f 03 07 15 8a 48 53 50 d8 5c", 1,
          b'{"type":"ping"}', mask_=mask)
    frame("server_close_4000_slow_consumer", "88 0f 0f a0 73 6c 6f 77 20 63 6f 6e 73 75 6d 65 72", 8,
          b"\x0f\xa0slow consumer")
    frame("client_close_1000_masked", "88 82 37 fa 21 3d 34 12", 8, b"\x03\xe8", mask_=mask)
    frame("empty_text", "81 00", 1, b"")
    frame("length_125_seven_bit", "82 7d" + "01" * 125, 2, b"\x01" * 125)
    frame("length_126_sixteen_bit", "82 7e 00 7e" + "01" * 126, 2, b"\x01" * 126)
    frame("masked_binary_126", "82 fe 00 7e 37 fa 21 3d" + ws_ref(b"\x01" * 126, 2, True, mask)[8:].hex(), 2,
          b"\x01" * 126, mask_=mask)
    frame("masked_rsv1_set_parses", "c1 81 37 fa 21 3d 5e", 1, b"i", mask_=mask, rsv=4)

    def inv(name: str, hex_text: str, error: str, *, require_mask: bool = True, max_frame_bytes: int = 1 << 20,
            code: str = "bad_frame") -> dict:
        return bad(name, "ws_frame", bytes.fromhex(hex_text), error, require_mask=require_mask,
                   max_frame_bytes=max_frame_bytes, close_code=1009 if error == "MessageTooBig" else 1002)

    invalid = [
        inv("unmasked_client_frame", "81 05 48 65 6c 6c 6f", "FrameError"),
        inv("masked_server_frame", "81 85 37 fa 21 3d 7f 9f 4d 51 58", "FrameError", require_mask=False),
        inv("reserved_opcode_3", "83 80 37 fa 21 3d", "FrameError"),
        inv("reserved_control_opcode_b", "8b 80 37 fa 21 3d", "FrameError"),
        inv("fragmented_ping", "09 80 37 fa 21 3d", "FrameError"),
        inv("control_frame_126_bytes", "89 fe 00 7e 37 fa 21 3d" + "00" * 126, "FrameError"),
        inv("length_msb_set", "82 ff 80 00 00 00 00 00 00 00 37 fa 21 3d", "FrameError"),
        inv("over_max_frame_bytes", "82 fe 00 7e 37 fa 21 3d", "MessageTooBig", max_frame_bytes=125),
    ]
    return {"description": "WebSocket frames (RFC 6455 section 5; examples of 5.7 and docs/protocol.md 8). "
                           "object: opcode, fin, rsv, payload_hex (unmasked), mask_hex (null = server frame, "
                           "unmasked). Server frames: wsframe.encode_ws_frame(payload, opcode, fin) and "
                           "WebSocketFrameParser(max, require_mask=False); client frames: "
                           "encode_ws_frame_masked(payload, opcode, mask, fin, rsv=rsv) and "
                           "WebSocketFrameParser(max, require_mask=True). RSV bits are returned by the parser; "
                           "rejecting them (1002) is the connection's job. Invalid vectors: the parser "
                           "(require_mask, max_frame_bytes) raises the error.",
            "vectors": v, "invalid": invalid}


# ---------------------------------------------------------------------------------------------------------
# position vectors (docs/protocol.md 9.3)
# ---------------------------------------------------------------------------------------------------------

def position_vectors() -> dict:
    v = []

    def pv(name: str, text: str, obj: dict, decode_only: bool = False) -> None:
        v.append(text_vec(name, "position_vector", obj, text, decode_only=decode_only))

    pv("spec_example", "chat=41~k3x9a2b1,chat:room1=7~k3x9a2b1,chat:@" + UID + "=3~p0q1r2s3",
       {"chat": [41, "k3x9a2b1"], "chat:room1": [7, "k3x9a2b1"], "chat:@" + UID: [3, "p0q1r2s3"]})
    pv("single", "chat=41~k3x9a2b1", {"chat": [41, "k3x9a2b1"]})
    pv("empty", "", {})
    pv("cursor_zero_and_topic_with_colons", "events:org:7=0~E", {"events:org:7": [0, "E"]})
    pv("largest_cursor", "chat=18446744073709551615~a", {"chat": [18446744073709551615, "a"]})
    pv("epoch_omitted", "chat=41,events=3~k3x9a2b1", {"chat": [41, None], "events": [3, "k3x9a2b1"]}, True)
    pv("surrounding_blanks", "  chat=41~k3x9a2b1 ", {"chat": [41, "k3x9a2b1"]}, True)
    pv("personal_uppercase_uuid", "chat:@" + UID.upper() + "=3~p0q1r2s3", {"chat:@" + UID: [3, "p0q1r2s3"]}, True)
    pv("blank_only", "   ", {}, True)

    def inv(name: str, text: str) -> dict:
        return text_bad(name, "position_vector", text, "PositionVectorError")

    invalid = [
        inv("no_equals", "chat"),
        inv("no_cursor", "chat=~k3x9a2b1"),
        inv("negative_cursor", "chat=-1~k3x9a2b1"),
        inv("cursor_not_decimal", "chat=0x29~k3x9a2b1"),
        inv("cursor_over_u64", "chat=18446744073709551616~a"),
        inv("cursor_21_digits", "chat=000000000000000000001~a"),
        inv("empty_epoch", "chat=41~"),
        inv("epoch_with_hyphen", "chat=41~k3x9-a2b1"),
        inv("epoch_33_chars", "chat=41~" + "a" * 33),
        inv("two_tildes", "chat=41~a~b"),
        inv("empty_entry", "chat=41~a,,events=1~a"),
        inv("trailing_comma", "chat=41~a,"),
        inv("duplicate_stream", "chat=41~a,chat=42~a"),
        inv("uppercase_channel", "Chat=41~a"),
        inv("bad_topic", "chat:room 1=41~a"),
        inv("reserved_topic_not_uuid", "chat:@bob=1~a"),
        inv("blank_inside_entry", "chat=41 ~a"),
        inv("sixty_five_entries", ",".join(f"s{i}=1~a" for i in range(65))),
        inv("over_4096_chars", ",".join(f"chat:{'t' * 120}{i:02d}=1~a" for i in range(33))),
    ]
    check(len(invalid[-1]["text"]) > 4096 and invalid[-1]["text"].count(",") == 32, "4096-char vector")
    return {"description": "SSE position vectors (docs/protocol.md 9.3): stream=cursor~epoch joined by ','. "
                           "object: stream -> [cursor, epoch or null]. format_positions(object) == text; "
                           "parse_positions(text) == object (lists as tuples).",
            "vectors": v, "invalid": invalid}


FILES = {
    "json_frames.json": json_frames,
    "system_ops.json": system_ops,
    "rp_frames.json": rp_frames,
    "rp_payloads.json": rp_payloads,
    "sse_events.json": sse_events,
    "fragment_shards.json": fragment_shards,
    "ws_frames.json": ws_frames,
    "position_vectors.json": position_vectors,
}


def render(doc: dict) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check_only = "--check" in argv
    stale = []
    for name, build in FILES.items():
        text = render(build())
        path = OUT / name
        if check_only:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        sys.stderr.write(f"differ from the script's output: {', '.join(stale)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
