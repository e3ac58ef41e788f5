"""pushwire: a multiplexed push server for real-time applications, and its clients."""

from __future__ import annotations

from .errors import CloseCode, ErrorCode, PushwireError

__version__ = "0.1.0"

__all__ = ["CloseCode", "ErrorCode", "PushwireError", "__version__"]
