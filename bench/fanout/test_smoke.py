"""Smoke test of the fan-out harness: build the C load generator and run tiny cells on 127.0.0.1.

1. Against the `websockets` peer (bench/fanout/peers/ws_broadcast.py, HTTP publish): 10 subscribers, 50
   messages, closed loop: nothing lost, nothing duplicated, every delivery counted.
2. Against a deliberately faulty server defined here (drops every 5th message for one subscriber, sends every
   7th twice to another; published over the loadgen's WebSocket publisher): the loadgen's `lost` and `dup`
   must be exactly what the server did, so the accounting itself is tested.

Runs with /work/main/.venv/bin/python (needs websockets + uvloop, gcc).  Takes a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None, reason="gcc is needed to build the load generator"
)


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return harness.build_loadgen(tmp_path_factory.mktemp("loadgen") / "loadgen")


async def _run(cmd: list[str], timeout: float = 20.0) -> dict:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()
    return json.loads(out.decode().strip().splitlines()[-1])


async def test_websockets_peer_tiny_cell(loadgen: Path) -> None:
    port, pub_port = harness.free_port(), harness.free_port()
    peer = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "peers" / "ws_broadcast.py"),
        "--port", str(port), "--pub-port", str(pub_port),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        for p in (port, pub_port):
            await _wait_port(p)
        res = await _run([
            str(loadgen), "--port", str(port), "--pub-port", str(pub_port), "--pub-path", "/publish",
            "--subs", "10", "--mode", "closed", "--window", "4", "--max-msgs", "50", "--duration", "15",
            "--server-pid", str(peer.pid),
        ])  # fmt: skip
    finally:
        peer.terminate()
        await asyncio.wait_for(peer.wait(), 10)
    assert res["error"] is None
    assert res["subs_ready"] == 10
    assert res["pub_ok"] == 50
    assert res["deliveries"] == 500
    assert res["lost"] == 0
    assert res["dup"] == 0
    assert res["lat_us"]["n"] == 500
    assert 0 < res["lat_us"]["p50"] <= res["lat_us"]["p99"] <= res["lat_us"]["max"]
    assert res["server"]["procs"] == 1 and res["server"]["rss_end_kb"] > 0


async def _wait_port(port: int, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_loss_and_duplicate_accounting(loadgen: Path) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    subscribers: list[ServerConnection] = []
    seq_re = re.compile(r'"s":(\d+)')

    async def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == "/publish":
            async for msg in ws:
                seq = int(seq_re.search(str(msg)).group(1))  # type: ignore[union-attr]
                for i, sub in enumerate(list(subscribers)):
                    if i == 0 and seq % 5 == 0 and seq > 0:
                        continue  # lost for subscriber 0
                    await sub.send(msg)
                    if i == 1 and seq % 7 == 0 and seq > 0:
                        await sub.send(msg)  # duplicated for subscriber 1
            return
        subscribers.append(ws)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        res = await _run([
            str(loadgen), "--port", str(port), "--pub", "ws", "--pub-path", "/publish", "--pub-conns", "1",
            "--subs", "4", "--src-addrs", "1", "--mode", "open", "--rate", "400", "--duration", "0.1",
            "--drain-timeout", "1",
        ])  # fmt: skip
    sent = res["pub_ok"]
    assert sent >= 20 and res["error"] is None
    assert res["lost"] == sent // 5
    assert res["dup"] == sent // 7
    assert res["deliveries"] == 4 * sent - sent // 5
