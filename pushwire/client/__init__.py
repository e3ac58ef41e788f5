"""pushwire clients (layer 5): the asyncio :class:`PushClient` and, in ``static/pushwire.js``, the browser client.

::

    from pushwire.client import PushClient, ReconnectPolicy

    client = PushClient("http://127.0.0.1:9100", streams=["chat"], transport="ws-first")
    client.on("chat", handle_chat)      # handler(frame), sync or async
    await client.connect()
"""

from __future__ import annotations

from .client import ClientStats, ConnectionState, Handler, PushClient
from .cursors import Advance, CursorResult, CursorTracker
from .reconnect import ReconnectPolicy
from .transports import ConnectError, TransportClosed, TransportUnavailable

__all__ = [
    "Advance",
    "ClientStats",
    "ConnectError",
    "ConnectionState",
    "CursorResult",
    "CursorTracker",
    "Handler",
    "PushClient",
    "ReconnectPolicy",
    "TransportClosed",
    "TransportUnavailable",
]
