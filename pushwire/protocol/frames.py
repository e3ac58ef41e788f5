"""The JSON frame: one message of one stream (layer 2, sans-I/O).

``{"channel":"chat","topic":"room42","cursor":7,"client_id":"<uuid>","payload":...}`` — the envelope is built
by ``pushwire._core.codec`` around the payload serialised once by orjson. See docs/protocol.md, "The JSON
frame".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from .._core.codec import decode_json_frame, encode_json_frame
from ..errors import ErrorCode
from .channels import ChannelKind
from .streams import StreamError, StreamRef, check_topic, stream_name

__all__ = ["Frame"]


@dataclass(slots=True)
class Frame:
    """A frame of a channel's stream (or a system op, on the system channel).

    Attributes:
        channel: the ChannelKind member.
        payload: any JSON-serialisable value (a system op object on the system channel).
        cursor: the frame's offset in its stream (server -> client), or None.
        client_id: the sender's client id (a UUID is stored as its string), or None.
        topic: the stream's topic, or None for the channel's own stream; ``@<uuid>`` for a personal stream.

    Raises:
        StreamError: (on construction) the topic is malformed, or a topic is given on the system channel.
    """

    channel: Any
    payload: Any
    cursor: int | None = None
    client_id: str | None = None
    topic: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.client_id, uuid.UUID):
            self.client_id = str(self.client_id)
        if self.topic is not None:
            if self.channel.is_system:
                raise StreamError("the system channel has no topics", stream=self.stream)
            self.topic = check_topic(self.topic, self.stream)

    @property
    def stream(self) -> str:
        """The stream name: ``chat`` or ``chat:room42``."""
        return stream_name(self.channel.wire_name, self.topic)

    @property
    def stream_ref(self) -> StreamRef:
        """The frame's stream as a :class:`StreamRef` (not for system frames)."""
        return StreamRef(self.channel, self.topic)

    def encode(self) -> bytes:
        """Return the JSON frame bytes (a WebSocket text message, or SSE ``data:``).

        Raises:
            TypeError: the payload is not JSON-serialisable (orjson's error).
        """
        return encode_json_frame(self.channel.wire_name, self.cursor, orjson.dumps(self.payload),
                                 self.client_id, self.topic)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview | str, channels: type[ChannelKind]) -> Frame:
        """Parse one JSON text message.

        A bare op becomes a frame of the system channel whose payload is the whole object. A bare op is an
        object without ``channel``, or one with a string ``type`` (or ``op``) and no ``payload`` key (bare
        ``ack`` and ``resume_required`` carry a ``channel`` field). Otherwise a missing ``payload`` decodes
        as None.

        Args:
            data: the message.
            channels: the application's ChannelKind subclass.

        Raises:
            BadJson: not JSON, or not an object.
            FrameError: a field has the wrong type.
            StreamError: unknown channel (``unknown_channel``), malformed topic or a topic on the system
                channel (``bad_stream``).
        """
        name, topic, cursor, client_id, payload = decode_json_frame(data)
        if name is None:
            return cls(channels.system(), payload)
        if payload is None:
            # ``ack`` and ``resume_required`` have a ``channel`` field of their own: sent bare, they look
            # like a frame. A frame needs ``payload``; without one, an object with a string tag is a bare op.
            obj = orjson.loads(data)
            if "payload" not in obj and (isinstance(obj.get("type"), str) or isinstance(obj.get("op"), str)):
                return cls(channels.system(), obj)
        channel = channels.from_name(name)
        if channel is None:
            raise StreamError(f"unknown channel {name[:40]!r}", error_code=ErrorCode.UNKNOWN_CHANNEL,
                              stream=name)
        return cls(channel, payload, cursor, client_id, topic)
