"""pushwire clients (layer 5): the asyncio ``PushClient`` and, in ``static/pushwire.js``, the browser client."""

from __future__ import annotations

from .cursors import Advance, CursorResult, CursorTracker
from .reconnect import ReconnectPolicy

__all__ = ["Advance", "CursorResult", "CursorTracker", "ReconnectPolicy"]
