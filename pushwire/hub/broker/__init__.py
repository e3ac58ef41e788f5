"""Brokers: who assigns offsets and keeps history. ``MemoryBroker`` is the embedded default."""

from .base import Broker, HistoryRead, Publication, PublicationHandler, StreamState
from .memory import MemoryBroker

__all__ = ["Broker", "HistoryRead", "MemoryBroker", "Publication", "PublicationHandler", "StreamState"]
