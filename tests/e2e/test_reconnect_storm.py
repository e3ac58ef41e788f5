"""A reconnect storm with drops: many clients lose their connections at once, again and again, while frames keep
being published; each resumes from its cursor. In the end every client has every frame exactly once, in order."""

from __future__ import annotations

import asyncio
import random
import uuid

from pushwire import HistoryConfig

from ..server.rawws import Closed, RawWs

CLIENTS = 200
FRAMES = 300
DROP_ROUNDS = 4


class Client:
    """A raw client that keeps its cursor and epoch, and resumes with them after each drop."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.client_id = str(uuid.uuid4())
        self.cursor = 0
        self.epoch: str | None = None
        self.received: list[int] = []
        self.ws: RawWs | None = None

    async def connect(self) -> None:
        self.ws = await RawWs.connect(self.port, timeout=10)
        auth_ok = await self.ws.auth(self.client_id, ["chat"], cursors={"chat": self.cursor},
                                     epochs={"chat": self.epoch} if self.epoch else None, timeout=10)
        status = auth_ok["streams"]["chat"]
        assert status["outcome"] in ("recovered", "new") or self.epoch is None, status
        if self.epoch is not None:
            assert status["outcome"] == "recovered", status
        self.epoch = status["epoch"]

    async def read_until(self, last: int, timeout: float) -> None:
        """Read frames until cursor ``last`` (or the connection drops)."""
        assert self.ws is not None
        while self.cursor < last:
            try:
                frame = await self.ws.recv_json(timeout)
            except (Closed, ConnectionError, asyncio.IncompleteReadError):
                return
            if frame["channel"] != "chat":
                continue
            cursor = frame["cursor"]
            assert cursor == self.cursor + 1, (self.client_id, self.cursor, cursor)  # no gap, no duplicate
            self.cursor = cursor
            self.received.append(frame["payload"])


async def test_reconnect_storm_with_drops_loses_and_duplicates_nothing(start_server):
    server = await start_server(history=HistoryConfig(max_count=FRAMES, max_age_s=0, max_replay=FRAMES))
    clients = [Client(server.port) for _ in range(CLIENTS)]
    await asyncio.gather(*(c.connect() for c in clients))
    rng = random.Random(7)
    readers = {c: asyncio.ensure_future(c.read_until(FRAMES, 30)) for c in clients}
    published = 0
    for round_ in range(DROP_ROUNDS + 1):
        target = FRAMES * (round_ + 1) // (DROP_ROUNDS + 1)
        while published < target:
            published += 1
            await server.publish("chat", published)
            if published % 10 == 0:
                await asyncio.sleep(0)
        if round_ == DROP_ROUNDS:
            await asyncio.wait_for(asyncio.gather(*readers.values()), 60)
            break
        await asyncio.sleep(0.05)
        # the storm: most clients drop at once, wherever they are in the stream, then all come back together
        dropped = [c for c in clients if rng.random() < 0.8]
        for client in dropped:
            client.ws.abort()
        await asyncio.gather(*(readers[c] for c in dropped))
        await asyncio.wait_for(asyncio.gather(*(c.connect() for c in dropped)), 60)
        for client in dropped:
            readers[client] = asyncio.ensure_future(client.read_until(FRAMES, 30))
    for client in clients:
        assert client.received == list(range(1, FRAMES + 1)), client.client_id
    assert server.metrics.get("resume_gap") == 0 and server.metrics.get("resume_epoch_changed") == 0
