"""Run a coroutine at once, in the caller's loop turn, and make it a task only if it really waits (layer 4).

Most of the server's asynchronous steps never wait: a synchronous auth validator, the memory broker. Python
3.11 has no eager task factory, so a task would cost its creation, a loop turn of latency and, for a connection
being set up, a separate write for each thing said in the later turn. :func:`start` steps the coroutine by hand
and says whether it finished; :func:`resume` drives one that did wait from where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["Waiting", "resume", "start"]


class Waiting:
    """A coroutine stopped at its first wait: ``coro`` and the future it waits on (None for a bare yield)."""

    __slots__ = ("coro", "future")

    def __init__(self, coro: Coroutine[Any, Any, Any], future: Any) -> None:
        self.coro = coro
        self.future = future


def start(coro: Coroutine[Any, Any, Any]) -> Any:
    """Step ``coro`` until it returns or first waits: its return value, or a :class:`Waiting` to finish later.

    Exceptions raised before the first wait propagate to the caller.
    """
    try:
        future = coro.send(None)
    except StopIteration as done:
        return done.value
    return Waiting(coro, future)


async def resume(waiting: Waiting) -> Any:
    """Finish a coroutine that :func:`start` left waiting (run it as a task).

    Each time the coroutine yields a future, wait for that future here, then step the coroutine again: it reads
    the future's result or exception itself, as it would inside a task.
    """
    coro, future = waiting.coro, waiting.future
    while True:
        try:
            if future is None:  # a bare yield (asyncio.sleep(0)): give the loop one turn
                await asyncio.sleep(0)
            else:
                await asyncio.wait([future])
        except asyncio.CancelledError:
            coro.close()
            raise
        try:
            future = coro.send(None)
        except StopIteration as done:
            return done.value
