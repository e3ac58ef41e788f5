"""A resuming pushwire WebSocket client with the ``websockets`` library (docs/protocol.md 5, 6, 14.1).

It keeps ``(cursor, epoch)`` per stream in a JSON file, resumes from it on every (re)connection, drops
duplicates, reports gaps and epoch changes, acks its personal streams, and reconnects according to the close
code with exponential backoff and jitter.

    python python_ws_client.py --url ws://127.0.0.1:9100/rps --streams chat --state /tmp/pw-state.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import uuid
from pathlib import Path

import websockets

NO_RECONNECT = {1000, 1002, 1003, 1007, 1008, 1009, 1010}


def should_reconnect(code: int | None) -> bool:
    """docs/protocol.md 14.1: 4500-4999 and the listed codes are final; anything else reconnects."""
    return code is None or (code not in NO_RECONNECT and not 4500 <= code <= 4999)


def wrap(op: dict) -> str:
    return json.dumps({"channel": "system", "cursor": None, "client_id": None, "payload": op},
                      separators=(",", ":"))


class Client:
    def __init__(self, url: str, streams: list[str], state_file: Path, token: str | None) -> None:
        self.url, self.streams, self.state_file, self.token = url, streams, state_file, token
        state = json.loads(state_file.read_text()) if state_file.exists() else {}
        self.client_id = state.get("client_id") or str(uuid.uuid4())
        #: stream -> [cursor, epoch]
        self.positions: dict[str, list] = state.get("positions", {})

    def save(self) -> None:
        self.state_file.write_text(json.dumps({"client_id": self.client_id, "positions": self.positions}))

    def auth(self) -> str:
        return wrap({"type": "auth", "client_id": self.client_id, "token": self.token,
                     "capabilities": self.streams, "resume_cursor": None,
                     "resume_cursors": {s: p[0] for s, p in self.positions.items()},
                     "resume_epochs": {s: p[1] for s, p in self.positions.items()}})

    def on_streams(self, streams: dict) -> None:
        """``auth_ok`` / ``subscribed``: adopt the server's positions (docs/protocol.md 6.4)."""
        for name, st in streams.items():
            self.positions[name] = [st["cursor"], st["epoch"]]
            if st["outcome"] in ("gap", "epoch_changed"):
                print(f"{name}: {st['outcome']}, reload its state from the application")
        self.save()

    async def on_frame(self, ws, frame: dict) -> None:
        topic = frame.get("topic")
        stream = frame["channel"] if topic is None else f"{frame['channel']}:{topic}"
        last = self.positions.get(stream, [0, None])
        if frame["cursor"] <= last[0]:
            return  # duplicate
        if frame["cursor"] > last[0] + 1 and stream in self.positions:
            print(f"{stream}: skipped {last[0] + 1}..{frame['cursor'] - 1} (low-lane drop)")
        print(stream, frame["cursor"], frame["payload"])
        self.positions[stream] = [frame["cursor"], last[1]]
        self.save()
        if topic is not None and topic.startswith("@"):
            await ws.send(wrap({"type": "ack", "channel": stream, "cursor": frame["cursor"]}))

    async def session(self) -> int | None:
        """One connection; returns the close code."""
        goodbye = None
        async with websockets.connect(self.url, subprotocols=["pushwire.v1"], max_size=16 * 2**20) as ws:
            await ws.send(self.auth())
            try:
                async for message in ws:
                    frame = json.loads(message)
                    if frame["channel"] != "system":
                        await self.on_frame(ws, frame)
                        continue
                    op = frame["payload"]
                    kind = op.get("type")
                    if kind in ("auth_ok", "subscribed"):
                        self.on_streams(op["streams"])
                    elif kind == "resume_required":
                        print("resume_required:", op)
                    elif kind == "ping":
                        await ws.send(wrap({"type": "pong"}))
                    elif kind == "error":
                        print("error:", op["code"], op.get("message"))
                    elif kind == "goodbye":
                        goodbye = op.get("reason")
            except websockets.ConnectionClosed:
                pass
        code = ws.close_code
        return 4500 if goodbye == "replaced" else code

    async def run(self) -> None:
        attempt = 0
        while True:
            try:
                code = await self.session()
                attempt = 0  # the session was established
            except (OSError, websockets.InvalidHandshake) as exc:
                print("connect failed:", exc)
                code = None
            print("closed with", code)
            if not should_reconnect(code):
                return
            delay = 0 if code == 4000 else min(30.0, 0.1 * 2 ** attempt)
            attempt += 1
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="ws://127.0.0.1:9100/rps")
    parser.add_argument("--streams", default="chat")
    parser.add_argument("--state", type=Path, default=Path("pushwire-state.json"))
    parser.add_argument("--token")
    args = parser.parse_args()
    asyncio.run(Client(args.url, args.streams.split(","), args.state, args.token).run())
