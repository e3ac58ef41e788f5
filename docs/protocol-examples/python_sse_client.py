"""A pushwire SSE client with ``httpx`` (docs/protocol.md 9, 10.1, 10.2): events, ``Last-Event-ID``, acks, send.

It parses the event stream by hand (the WHATWG rules, reduced to what pushwire sends), keeps the last ``id:``
(the position vector) and sends it back as ``Last-Event-ID`` when it reconnects, acks personal streams
with ``POST /rps/ack`` and the ``session_token`` of ``auth_ok``, and, with ``--subscribe``, adds a stream with
a ``subscribe`` op sent through ``POST /rps/send`` (the answer, ``subscribed``, arrives on the event stream;
the stream then joins the position vector, so the reconnect resumes it too).

    python python_sse_client.py --base http://127.0.0.1:9100 --client-id 5e0c8f2a-3b1d-4c6e-9f70-1a2b3c4d5e6f
"""

from __future__ import annotations

import argparse
import asyncio
import json

import httpx


async def events(response: httpx.Response):
    """Yield ``(id or None, event, data)`` per event; comments (heartbeats) are skipped."""
    event_id, event, data = None, "message", []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield event_id, event, "\n".join(data)
            event_id, event, data = None, "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field == "id":
            event_id = value


async def run(base: str, client_id: str, channels: str, token: str | None, seconds: float,
              subscribe: str | None) -> None:
    last_event_id = None
    session_token = None
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=40)) as http:
        for _ in range(2):  # connect, then reconnect once to show the resume
            headers = {"Accept": "text/event-stream"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            if last_event_id:
                headers["Last-Event-ID"] = last_event_id
            params = {"client_id": client_id, "channels": channels}
            try:
                async with asyncio.timeout(seconds):
                    async with http.stream("GET", "/rps/sse", params=params, headers=headers) as response:
                        if response.status_code != 200:  # 4xx: do not retry
                            print("refused:", response.status_code, (await response.aread()).decode())
                            return
                        async for event_id, event, data in events(response):
                            if event_id is not None:
                                last_event_id = event_id
                            frame = json.loads(data)
                            if event == "system":
                                op = frame["payload"]
                                print("system:", op)
                                if op["type"] == "auth_ok":
                                    session_token = op["session_token"]
                                    if subscribe and subscribe not in op["streams"]:
                                        body = {"client_id": client_id, "type": "subscribe", "channels": [subscribe]}
                                        r = await http.post("/rps/send", json=body,
                                                            headers={"Authorization": f"Bearer {session_token}"})
                                        print("send subscribe:", r.status_code, r.text)  # 202, or 400 + error
                                elif op["type"] == "goodbye" and op.get("reason") == "replaced":
                                    return  # another connection has our id: never reconnect
                                continue
                            print(event, frame["cursor"], frame["payload"], "| id:", last_event_id)
                            topic = frame.get("topic")
                            if topic and topic.startswith("@"):
                                ack = {"client_id": client_id, "channel": f"{frame['channel']}:{topic}",
                                       "cursor": frame["cursor"]}
                                r = await http.post("/rps/ack", json=ack,
                                                    headers={"Authorization": f"Bearer {session_token}"})
                                print("ack:", r.status_code)
            except TimeoutError:
                pass
            print("reconnecting with Last-Event-ID:", last_event_id)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:9100")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--channels", default="chat")
    parser.add_argument("--token")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--subscribe", help="a stream to add with POST /rps/send, e.g. chat:room7")
    args = parser.parse_args()
    asyncio.run(run(args.base, args.client_id, args.channels, args.token, args.seconds, args.subscribe))
