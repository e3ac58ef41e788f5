"""Priority lanes, slow consumers and recovery, over real sockets.

A stalled reader is one that stops calling recv: its kernel buffers fill, then pushwire's write buffer passes
its high-water mark, then its lanes. The lossless lanes overflow into close 4000; the client resumes from its
cursor and misses nothing. The lossy low lane drops its oldest frames instead and the client sees cursor gaps.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from pushwire import HistoryConfig, QueueConfig
from pushwire.config import LaneLimits

from ..server.rawws import Closed, RawWs


async def test_high_before_normal_before_low_within_one_flush(server):
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=["alerts", "chat", "telemetry"])
    # published in one loop turn, low first: the flush must still write high, then normal, then low
    for i in range(20):
        await server.publish("telemetry", i)
    for i in range(20):
        await server.publish("chat", i)
    for i in range(20):
        await server.publish("alerts", i)
    frames = [await ws.recv_json() for _ in range(60)]
    assert [f["channel"] for f in frames] == ["alerts"] * 20 + ["chat"] * 20 + ["telemetry"] * 20
    for channel in ("alerts", "chat", "telemetry"):
        assert [f["cursor"] for f in frames if f["channel"] == channel] == list(range(1, 21))


async def test_priority_order_under_sustained_load(start_server):
    server = await start_server()
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=["alerts", "telemetry"])
    sent_alerts = 0
    for round_ in range(50):
        for i in range(40):
            await server.publish("telemetry", "x" * 200)
        await server.publish("alerts", round_)
        sent_alerts += 1
        await asyncio.sleep(0)
    # within every flush the alert comes first: no alert ever waits behind telemetry queued before it
    positions = []
    for index in range(50 * 41):
        frame = await ws.recv_json()
        if frame["channel"] == "alerts":
            positions.append(index)
    assert len(positions) == sent_alerts
    assert [f for f in positions[:1]] == [0]


async def _stall_then_publish(server, streams, count, payload_size):
    """A client that subscribes and then stops reading while ``count`` frames are published."""
    stalled = await RawWs.connect(server.port, rcvbuf=4096)
    client_id = str(uuid.uuid4())
    auth_ok = await stalled.auth(client_id, streams)
    for i in range(count):
        for stream in streams:
            await server.publish(stream, {"i": i, "pad": "p" * payload_size})
        if i % 50 == 0:
            await asyncio.sleep(0)  # let the server try to write
    return stalled, client_id, auth_ok


async def test_stalled_reader_is_cut_as_slow_and_recovers_with_nothing_lost(start_server):
    server = await start_server(
        queue=QueueConfig(normal=LaneLimits(max_count=256, max_bytes=256 * 1024),
                          write_high_water_bytes=64 * 1024, write_low_water_bytes=16 * 1024),
        history=HistoryConfig(max_count=10_000, max_age_s=0, max_replay=10_000))
    # a healthy client on the same stream measures its latency while the other one stalls
    healthy = await RawWs.connect(server.port)
    await healthy.auth(streams=["events"])
    latencies = []

    async def measure():
        while True:
            frame = await healthy.recv_json(timeout=10)
            payload = frame["payload"]
            if isinstance(payload, dict) and "sent" in payload:
                latencies.append(time.monotonic() - payload["sent"])
                if payload.get("last"):
                    return

    measuring = asyncio.ensure_future(measure())
    total = 1500
    stalled, client_id, auth_ok = await _stall_then_publish(server, ["chat"], total, 16000)
    epoch = auth_ok["streams"]["chat"]["epoch"]
    for n in range(50):
        await server.publish("events", {"sent": time.monotonic(), "last": n == 49})
        await asyncio.sleep(0.002)
    await asyncio.wait_for(measuring, 10)
    assert statistics.median(latencies) < 0.05 and max(latencies) < 0.25, latencies

    got, closed = await stalled.recv_until_closed(timeout=10)
    assert closed.code == 4000, closed
    cursors = [f["cursor"] for f in got if f["channel"] == "chat"]
    assert cursors == list(range(1, len(cursors) + 1)) and len(cursors) < total
    assert server.metrics.get("slow_consumer_closes") == 1

    again = await RawWs.connect(server.port)
    resumed = await again.auth(client_id, ["chat"], cursors={"chat": cursors[-1]}, epochs={"chat": epoch})
    assert resumed["streams"]["chat"]["outcome"] == "recovered"
    rest = [(await again.recv_json())["cursor"] for _ in range(total - len(cursors))]
    assert cursors + rest == list(range(1, total + 1))


async def test_low_lane_drops_oldest_and_client_sees_the_gap(start_server):
    server = await start_server(
        queue=QueueConfig(low=LaneLimits(max_count=32, max_bytes=64 * 1024),
                          write_high_water_bytes=16 * 1024, write_low_water_bytes=4 * 1024),
        history=HistoryConfig(max_count=10_000, max_age_s=0, max_replay=10_000))
    total = 3000
    stalled, client_id, _ = await _stall_then_publish(server, ["telemetry"], total, 500)
    received = []
    while len(received) < 5000:
        try:
            frame = await stalled.recv_json(timeout=1.0)
        except asyncio.TimeoutError:
            break
        received.append(frame["cursor"])
    assert received == sorted(received) and len(set(received)) == len(received)
    assert received[-1] == total and len(received) < total  # the newest arrived; some old ones were dropped
    assert server.metrics.get("low_lane_drops") == total - len(received)
    assert server.metrics.get("slow_consumer_closes") == 0
    # the connection is alive, and the client can fetch a dropped range from history
    missing = next(c for c in range(1, total + 1) if c not in set(received))
    stalled.send_op({"type": "resume_required", "channel": "telemetry", "from_cursor": missing})
    answer = await stalled.recv_json()
    assert answer["payload"]["type"] == "subscribed"
    assert answer["payload"]["streams"]["telemetry"]["outcome"] == "recovered"
    assert (await stalled.recv_json())["cursor"] == missing


async def test_slow_warning_reaches_a_lagging_reader(start_server):
    server = await start_server(
        queue=QueueConfig(normal=LaneLimits(max_count=64, max_bytes=1 << 20),
                          write_high_water_bytes=8 * 1024, write_low_water_bytes=2 * 1024))
    lagging = await RawWs.connect(server.port, rcvbuf=4096)
    await lagging.auth(streams=["chat"])
    for i in range(40):  # more than half of the normal lane, faster than the reader takes them
        await server.publish("chat", {"i": i, "pad": "p" * 16000})
    slow = []
    for _ in range(41):
        frame = await lagging.recv_json()
        if frame["channel"] == "system":
            slow.append(frame["payload"])
        await asyncio.sleep(0.002)
    assert len(slow) == 1 and slow[0]["type"] == "slow"
    assert isinstance(slow[0]["window"], int) and slow[0]["window"] > 0
    assert server.metrics.get("slow_consumer_closes") == 0


async def test_replaced_closed_and_slow_connections_do_not_leak(start_server):
    server = await start_server()
    for _ in range(20):
        ws = await RawWs.connect(server.port)
        await ws.auth(streams=["chat"])
        ws.abort()
    await asyncio.sleep(0.2)
    assert server.connected_clients() == 0
    assert server.hub.subscriber_count("chat") == 0
    try:
        ws = await RawWs.connect(server.port)
        await ws.auth(streams=["chat"])
        await server.publish("chat", 1)
        assert (await ws.recv_json())["cursor"] == 21 - 20
    except Closed as exc:  # pragma: no cover - diagnostic
        raise AssertionError(exc) from None
