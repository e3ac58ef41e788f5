"""The hub (layer 3): streams, subscriptions, publish and resume, in front of a broker."""

from .broker import Broker, MemoryBroker, Publication, StreamState
from .hub import Hub, PreparedStream, Subscriber

__all__ = ["Broker", "Hub", "MemoryBroker", "PreparedStream", "Publication", "StreamState", "Subscriber"]
