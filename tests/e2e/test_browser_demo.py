"""The demo page in headless Chromium (Playwright): chat over WebSocket and EventSource, drop and resume.

Needs Debian's ``/usr/bin/chromium`` (the CI test command installs it); skipped with a clear reason when it is
absent. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pushwire.app import PushServer
from pushwire.client import PushClient, ReconnectPolicy
from pushwire.protocol.channels import DefaultChannel
from pushwire.protocol.frames import Frame

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
WAIT_MS = 10_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (os.path.exists(CHROMIUM) or shutil.which("chromium")),
                       reason=f"Chromium is not installed ({CHROMIUM} missing; `apt-get install chromium`)"),
]


@pytest.fixture
async def server() -> AsyncIterator[PushServer]:
    srv = PushServer(DefaultChannel, demo=True)

    @srv.handler(DefaultChannel.CHAT)
    async def relay(client_id: str, frame: Frame, s: PushServer) -> None:
        await s.publish(DefaultChannel.CHAT, frame.payload, topic=frame.topic, sender=client_id)

    await srv.start("127.0.0.1", 0)
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            timeout=30_000,
        )
        try:
            context.set_default_timeout(WAIT_MS)
            pg = context.pages[0] if context.pages else await context.new_page()
            errors: list[str] = []
            pg.on("pageerror", lambda exc: errors.append(str(exc)))
            pg.pushwire_errors = errors  # type: ignore[attr-defined]
            yield pg
        finally:
            await context.close()


async def open_demo(page: Any, server: PushServer, transport: str, **query: str) -> str:
    """Load the demo, pick the transport, connect; return the page client's id."""
    params = "&".join(f"{k}={v}" for k, v in query.items())
    await page.goto(f"http://127.0.0.1:{server.port}/?{params}")
    await page.check(f"input[name=transport][value={transport}]")
    await page.fill("#name", "browser")
    await page.click("#connect")
    await page.wait_for_selector("#state[data-state=connected]")
    label = "WebSocket" if transport == "ws" else "EventSource"
    await page.wait_for_function(f"document.getElementById('transport').textContent === '{label}'")
    return await page.text_content("#client-id")


async def python_client(server: PushServer) -> PushClient:
    client = PushClient(f"http://127.0.0.1:{server.port}", streams=["chat"], open_timeout_s=5,
                        reconnect=ReconnectPolicy(initial_delay_s=0.05))
    await client.connect()
    return client


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_demo_chat_shows_messages_of_a_python_client(server: PushServer, page: Any, transport: str) -> None:
    page_client_id = await open_demo(page, server, transport)
    assert await page.evaluate("window.pushwireDemoClient.transportInUse") == transport
    py = await python_client(server)
    received: list[Frame] = []
    py.on("chat", received.append)
    try:
        await py.send("chat", {"name": "python", "text": "hello from python"})
        item = page.locator("#messages li", has_text="hello from python")
        await item.wait_for()
        assert await item.locator(".who").text_content() == "python"
        assert await item.get_attribute("data-cursor") == "1"
        assert (await item.locator(".sender").text_content()) == py.client_id[:8]

        # and the other way: the page sends, the Python client receives with the page's client id
        await page.fill("#text", "hello from the browser")
        await page.click("#send")
        async with asyncio.timeout(WAIT_MS / 1000):
            while not any(f.payload.get("text") == "hello from the browser" for f in received):
                await asyncio.sleep(0.02)
        frame = next(f for f in received if f.payload.get("text") == "hello from the browser")
        assert frame.client_id == page_client_id and frame.payload["name"] == "browser"
        await page.locator("#messages li", has_text="hello from the browser").wait_for()
        assert await page.locator("#messages li").count() == 2
        assert page.pushwire_errors == []
    finally:
        await py.disconnect()


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_demo_drop_connection_resumes_and_recovers(server: PushServer, page: Any, transport: str) -> None:
    await open_demo(page, server, transport, reconnect_ms="1500")
    await server.publish("chat", {"name": "srv", "text": "before"})
    await page.locator("#messages li", has_text="before").wait_for()

    await page.click("#drop")
    await page.wait_for_selector("#state[data-state=resuming]")
    for i in range(3):  # published while the page is away (it waits 0.75..1.5 s before reconnecting)
        await server.publish("chat", {"name": "srv", "text": f"missed {i}"})
    await page.wait_for_selector("#state[data-state=connected]")
    await page.locator("#log li", has_text="recovered 3 missed messages").wait_for()
    for i in range(3):
        await page.locator("#messages li", has_text=f"missed {i}").wait_for()
    cursors = await page.eval_on_selector_all("#messages li", "els => els.map(e => Number(e.dataset.cursor))")
    assert cursors == [1, 2, 3, 4]
    assert await page.evaluate("window.pushwireDemoClient.stats.reconnects") == 1
    assert page.pushwire_errors == []


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_page_reconnects_when_the_server_closes_the_connection(server: PushServer, page: Any,
                                                                     transport: str) -> None:
    page_client_id = await open_demo(page, server, transport, reconnect_ms="50")
    await server.publish("chat", {"name": "srv", "text": "one"})
    await page.locator("#messages li", has_text="one").wait_for()
    assert server.disconnect(page_client_id)  # goodbye, then close 1001 / end of the event stream
    await page.wait_for_function("window.pushwireDemoClient.stats.reconnects === 1")
    await page.wait_for_selector("#state[data-state=connected]")
    await server.publish("chat", {"name": "srv", "text": "two"})
    await page.locator("#messages li", has_text="two").wait_for()
    cursors = await page.eval_on_selector_all("#messages li", "els => els.map(e => Number(e.dataset.cursor))")
    assert cursors == [1, 2]
    assert page.pushwire_errors == []


async def test_js_cursor_tracker_and_backoff(server: PushServer, page: Any) -> None:
    await page.goto(f"http://127.0.0.1:{server.port}/")
    result = await page.evaluate("""() => {
        const t = new PushwireClient.CursorTracker();
        t.sync("chat", 10, "e1", false);
        const seq = [11, 14, 12, 12, 13, 11, 16, 15, 9].map(c => t.advance("chat", c).result);
        const gap = (() => { const u = new PushwireClient.CursorTracker(); u.sync("s", 0, "x", false);
                             return u.advance("s", 4); })();
        const t2 = new PushwireClient.CursorTracker();
        t2.sync("a", 0, "x", false); t2.advance("a", 1); t2.advance("a", 5);
        const beforeSync = t2.resumeCursor("a");
        t2.sync("a", 3, "x", false);
        const afterSync = [t2.resumeCursor("a"), t2.streams.get("a").holes];
        t2.sync("a", 0, "y", false);
        const reset = [t2.cursors().a, t2.epochs().a];
        const policy = {initialDelayMs: 100, maxDelayMs: 30000, backoffFactor: 2, jitter: true};
        const delays = [];
        for (let n = 0; n < 40; n++) delays.push(PushwireClient.reconnectDelayMs(policy, n));
        const fixed = [0, 1, 2, 20].map(n => PushwireClient.reconnectDelayMs({...policy, jitter: false}, n));
        const codes = [1000, 1001, 1006, 1008, 1011, 4000, 4499, 4500, 4999].map(PushwireClient.closeCodeReconnects);
        return {seq, gap, beforeSync, afterSync, reset, delays, fixed, codes, vector: t.positionVector()};
    }""")
    assert result["seq"] == ["sequential", "gap", "fill", "duplicate", "fill", "duplicate", "gap", "fill",
                             "duplicate"]
    assert result["gap"] == {"result": "gap", "from": 1, "to": 3}
    assert result["beforeSync"] == 1
    assert result["afterSync"] == [3, [[4, 4]]]  # cursors up to 3 are given up, 4 is still awaited
    assert result["reset"] == [0, "y"]
    for n, delay in enumerate(result["delays"]):
        nominal = min(100 * 2**n, 30000)
        assert 0.5 * nominal <= delay <= nominal
    assert result["fixed"] == [100, 200, 400, 30000]
    assert result["codes"] == [False, True, True, False, True, True, True, False, False]
    assert result["vector"] == "chat=16~e1"


async def test_js_ping_heartbeat_keeps_a_quiet_websocket_alive(server: PushServer, page: Any) -> None:
    await page.goto(f"http://127.0.0.1:{server.port}/")
    result = await page.evaluate("""async () => {
        const c = new PushwireClient({transport: "ws", streams: ["chat"], heartbeatMs: 150});
        const ops = [];
        c.onsystem = op => ops.push(op.type);
        await c.connect();
        await new Promise(r => setTimeout(r, 1200));
        const out = {state: c.state, reconnects: c.stats.reconnects, pongs: ops.filter(t => t === "pong").length};
        await c.disconnect();
        return out;
    }""")
    assert result["state"] == "connected" and result["reconnects"] == 0
    assert result["pongs"] >= 2
