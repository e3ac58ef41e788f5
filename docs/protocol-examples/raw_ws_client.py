"""A pushwire client on a raw TCP socket: RFC 6455 by hand, standard library only (docs/protocol.md 5, 8).

It opens ``/rps``, authenticates, prints every frame, acks its personal streams, answers Pings, and leaves
with ``goodbye`` + Close 1000 after ``--seconds``. No TLS, no reconnect: a teaching aid, not a library.

    python raw_ws_client.py --port 9100 --client-id 5e0c8f2a-3b1d-4c6e-9f70-1a2b3c4d5e6f --streams chat
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def handshake(sock: socket.socket, host: str, port: int) -> None:
    """Send the upgrade request and check the 101 answer (docs/protocol.md 8.1)."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /rps HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Protocol: pushwire.v1\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    status, *lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    if not status.startswith("HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {status}")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    if headers.get("sec-websocket-accept") != expected:
        raise ConnectionError("bad Sec-WebSocket-Accept")


def send_frame(sock: socket.socket, opcode: int, payload: bytes) -> None:
    """Send one unfragmented, masked client frame."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(header + mask + masked)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def recv_message(sock: socket.socket) -> tuple[int, bytes]:
    """Read one whole message (reassembling continuations); answer Pings on the way."""
    opcode, parts = None, []
    while True:
        b0, b1 = recv_exact(sock, 2)
        fin, op, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", recv_exact(sock, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", recv_exact(sock, 8))[0]
        payload = recv_exact(sock, n)  # server frames are never masked
        if op == 0x9:  # Ping: answer with the same data
            send_frame(sock, 0xA, payload)
            continue
        if op == 0xA:
            continue
        if op == 0x8:
            return op, payload
        if op != 0x0:
            opcode = op
        parts.append(payload)
        if fin:
            return opcode, b"".join(parts)


def system(op: dict) -> bytes:
    """Wrap a system op in a system-channel frame (docs/protocol.md 3.5)."""
    return json.dumps({"channel": "system", "cursor": None, "client_id": None, "payload": op},
                      separators=(",", ":")).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--token")
    parser.add_argument("--streams", default="chat")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    sock = socket.create_connection((args.host, args.port))
    handshake(sock, args.host, args.port)
    send_frame(sock, 0x1, system({"type": "auth", "client_id": args.client_id, "token": args.token,
                                  "capabilities": args.streams.split(","), "resume_cursor": None,
                                  "resume_cursors": {}, "resume_epochs": {}}))
    sock.settimeout(args.seconds)
    deadline = time.monotonic() + args.seconds
    try:
        while time.monotonic() < deadline:
            opcode, data = recv_message(sock)
            if opcode == 0x8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                print("server closed:", code, data[2:].decode("utf-8", "replace"))
                return
            frame = json.loads(data)
            print(json.dumps(frame, separators=(",", ":")))
            topic = frame.get("topic")
            if topic and topic.startswith("@") and frame.get("cursor"):
                stream = f"{frame['channel']}:{topic}"
                send_frame(sock, 0x1, system({"type": "ack", "channel": stream, "cursor": frame["cursor"]}))
    except socket.timeout:
        pass
    send_frame(sock, 0x1, system({"type": "goodbye", "reason": None}))
    send_frame(sock, 0x8, struct.pack("!H", 1000))
    sock.settimeout(5)
    try:
        while recv_message(sock)[0] != 0x8:  # wait for the server's Close
            pass
    except (ConnectionError, socket.timeout):
        pass
    sock.close()


if __name__ == "__main__":
    main()
