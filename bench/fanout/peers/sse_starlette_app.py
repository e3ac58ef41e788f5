"""Peer server: the idiomatic SSE fan-out with sse-starlette on uvicorn (uvloop + httptools).

``GET /sse`` opens an event stream; ``POST /publish`` puts the request body into every subscriber's queue.
Each subscriber is an ``asyncio.Queue`` drained by its own ``EventSourceResponse`` generator, the way the
sse-starlette examples do it.

Run with the harness's venv: ``python sse_starlette_app.py --port 9003``.  Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator

import uvicorn
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

QUEUES: set[asyncio.Queue[str]] = set()


async def sse(request: Request) -> EventSourceResponse:
    """One subscriber: registered before the response starts, removed when it goes away."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    QUEUES.add(queue)

    async def events() -> AsyncIterator[dict[str, str]]:
        try:
            while True:
                yield {"data": await queue.get()}
        finally:
            QUEUES.discard(queue)

    return EventSourceResponse(events(), ping=15)


async def publish(request: Request) -> Response:
    """Fan the body out to every subscriber queue."""
    body = (await request.body()).decode()
    for queue in QUEUES:
        queue.put_nowait(body)
    return Response(status_code=204)


app = Starlette(routes=[Route("/sse", sse), Route("/publish", publish, methods=["POST"])])

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        backlog=4096,
        timeout_keep_alive=75,
    )
