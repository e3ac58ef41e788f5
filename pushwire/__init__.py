"""pushwire: a multiplexed push server for real-time applications, and its clients.

Public names live here; everything else is internal. Start with :class:`PushServer` (server),
:class:`ChannelKind` (your channels) and ``pushwire.client.PushClient`` (asyncio client).
"""

from __future__ import annotations

from .app import PushServer
from .config import HistoryConfig, QueueConfig, ServerConfig
from .errors import AuthRejected, CloseCode, ErrorCode, PushwireError
from .protocol.channels import ChannelKind, ChannelSpec, DefaultChannel
from .protocol.frames import Frame

__version__ = "0.1.0"

__all__ = [
    "AuthRejected",
    "ChannelKind",
    "ChannelSpec",
    "CloseCode",
    "DefaultChannel",
    "ErrorCode",
    "Frame",
    "HistoryConfig",
    "PushServer",
    "PushwireError",
    "QueueConfig",
    "ServerConfig",
    "__version__",
]
