"""Sans-I/O server side of an RFC 6455 WebSocket connection (after the HTTP upgrade).

Layer 2 of pushwire (``docs/architecture.md``): a plain object you feed bytes. It owns the rules of
RFC 6455 — fragmentation, control frames, the close handshake, UTF-8 of text messages and close reasons,
size limits — and turns every violation into a close frame with the right code. It never touches a
socket or a clock: ``pushwire.server.websocket`` moves the bytes, runs the timers and acts on events.

How the I/O drives it::

    ws = ServerWebSocket(max_message_bytes=config.max_message_bytes)
    # on every read:
    ws.receive_data(data)
    for event in ws.events_received():
        ...  # TextMessage, BinaryMessage, PingReceived, PongReceived, CloseReceived, ConnectionFailed
    transport.writelines(ws.data_to_send())
    if ws.close_expected():
        transport.close()
    # on EOF: ws.receive_eof(), then the same three steps.

Broadcast frames built once by :func:`pushwire._core.wsframe.encode_ws_frame` (or :func:`frame_bytes`) may be
written straight to the transport, bypassing :meth:`ServerWebSocket.send_text`, as long as
``ws.state is State.OPEN`` at the moment of writing. That is safe because this machine only ever sends
whole, unfragmented frames, so a pre-encoded frame can sit between any two of its outputs; and the state
leaves OPEN exactly when a close frame gets queued, after which nothing may be written but
``data_to_send()``.

Close codes: 1002 framing (reserved bits, opcodes, continuation rules, control frame rules, bad close
payload or code), 1007 invalid UTF-8 in a text message or close reason, 1009 a frame or message over its
limit. See RFC 6455 sections 5, 7 and 8: https://www.rfc-editor.org/rfc/rfc6455
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

from pushwire._core.wsframe import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Utf8Validator,
    WebSocketFrameParser,
    encode_ws_frame,
    validate_utf8,
)
from pushwire.errors import CloseCode, FrameError, InvalidUTF8, MessageTooBig, ProtocolError, StateError

__all__ = [
    "BinaryMessage",
    "CloseReceived",
    "ConnectionFailed",
    "PingReceived",
    "PongReceived",
    "ServerWebSocket",
    "State",
    "TextMessage",
    "WsEvent",
    "frame_bytes",
    "is_valid_close_code",
]

#: largest payload of a control frame (RFC 6455 5.5)
MAX_CONTROL_PAYLOAD = 125
#: a close reason must leave room for the 2-byte code in a 125-byte control frame
MAX_CLOSE_REASON_BYTES = 123


class State(enum.Enum):
    """Where the connection is in its life (RFC 6455 4 and 7)."""

    #: messages flow both ways
    OPEN = 1
    #: this side sent a close frame and waits for the peer's; incoming data messages are ignored
    CLOSING = 2
    #: the close handshake is over, the connection failed, or the TCP stream ended: close the socket
    CLOSED = 3


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A complete text message (fragments reassembled); ``data`` is valid UTF-8."""

    data: bytes


@dataclass(frozen=True, slots=True)
class BinaryMessage:
    """A complete binary message (fragments reassembled)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class PingReceived:
    """The peer sent a ping; the pong is already queued in ``data_to_send()``."""

    data: bytes


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The peer sent a pong (an answer to our ping, or unsolicited)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The peer sent a valid close frame; ``code`` is 1005 when it carried no payload.

    The reply close frame (if this side had not sent one) is already queued; the connection is CLOSED.
    """

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionFailed:
    """The peer broke the protocol; a close frame with ``error.code`` is queued and the state is CLOSED."""

    error: ProtocolError


WsEvent: TypeAlias = (
    TextMessage | BinaryMessage | PingReceived | PongReceived | CloseReceived | ConnectionFailed
)


def is_valid_close_code(code: int) -> bool:
    """Return True if ``code`` may appear in a close frame on the wire (RFC 6455 7.4).

    Allowed: 1000-1003, 1007-1014 (registered with IANA), 3000-4999 (libraries, applications). Never on
    the wire: 0-999, 1004, 1005, 1006, 1015, 1016-2999, 5000 and above.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def frame_bytes(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """Return one complete unmasked frame for ``payload``: what the I/O writes for pre-encoded broadcasts.

    Args:
        payload: the message (UTF-8 already, for ``OP_TEXT``).
        opcode: ``OP_TEXT`` or ``OP_BINARY`` (or a control opcode with at most 125 bytes).
    """
    return encode_ws_frame(payload, opcode, True)


def _truncate_utf8(text: str, max_bytes: int) -> bytes:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return data
    # Cut on a code point boundary so the reason stays valid UTF-8.
    return data[:max_bytes].decode("utf-8", "ignore").encode("utf-8")


class ServerWebSocket:
    """The server side of one WebSocket connection, without I/O (RFC 6455).

    Feed it what the socket reads with :meth:`receive_data` / :meth:`receive_eof`, then collect
    :meth:`events_received` and write :meth:`data_to_send`; close the socket once :meth:`close_expected`.

    Args:
        max_message_bytes: the largest message (all fragments together) accepted; more fails the
            connection with 1009.
        max_frame_bytes: the largest single frame; defaults to ``max_message_bytes``. A frame declaring
            more fails the connection with 1009 as soon as its header arrives.

    Attributes:
        state: the :class:`State`.
        close_code: the code of the peer's close frame (1005 if it had none, 1006 if the stream ended
            without one); None while no close was received.
        close_reason: the reason of the peer's close frame ("" when none).
        failure: the protocol error that failed the connection, if any.
    """

    __slots__ = ("_checked", "_close_sent", "_eof", "_events", "_msg_bytes", "_msg_opcode", "_msg_parts",
                 "_outgoing", "_parser", "_utf8", "close_code", "close_reason", "failure", "max_frame_bytes",
                 "max_message_bytes", "state")

    def __init__(self, *, max_message_bytes: int, max_frame_bytes: int | None = None) -> None:
        if max_message_bytes <= 0:
            raise ValueError("max_message_bytes must be > 0")
        if max_frame_bytes is None:
            max_frame_bytes = max_message_bytes
        if max_frame_bytes <= 0:
            raise ValueError("max_frame_bytes must be > 0")
        self.max_message_bytes = max_message_bytes
        self.max_frame_bytes = max_frame_bytes
        self.state = State.OPEN
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.failure: ProtocolError | None = None
        self._parser = WebSocketFrameParser(max_frame_bytes, True)
        self._events: list[WsEvent] = []
        self._outgoing: list[bytes] = []
        self._close_sent = False
        self._eof = False
        # The message being reassembled: its opcode (None between messages), parts and size so far.
        self._msg_opcode: int | None = None
        self._msg_parts: list[bytes] = []
        self._msg_bytes = 0
        self._utf8 = Utf8Validator()
        # Bytes of the incomplete frame at the front of the parser already checked as UTF-8.
        self._checked = 0

    # ------------------------------------------------------------------------------------------- input

    def receive_data(self, data: bytes) -> None:
        """Process bytes read from the socket; then call :meth:`events_received` and :meth:`data_to_send`.

        Never raises for bad input: a protocol violation becomes a :class:`ConnectionFailed` event and a
        queued close frame. Bytes arriving after the connection is CLOSED are ignored.

        Raises:
            StateError: called after :meth:`receive_eof`.
        """
        if self._eof:
            raise StateError("receive_data() after receive_eof()")
        if self.state is State.CLOSED:
            return
        try:
            self._parser.feed(data)
            while self.state is not State.CLOSED:
                frame = self._parser.next_frame()
                if frame is None:
                    self._check_incomplete_frame()
                    break
                self._handle_frame(*frame)
        except ProtocolError as error:
            self._fail(error)

    def receive_eof(self) -> None:
        """Record that the peer closed its end of the TCP stream; the state becomes CLOSED.

        Without a close frame before it, :attr:`close_code` becomes 1006 (abnormal closure). Idempotent.
        """
        if self._eof:
            return
        self._eof = True
        if self.state is not State.CLOSED:
            if self.close_code is None:
                self.close_code = int(CloseCode.ABNORMAL)
                self.close_reason = ""
            self._enter_closed()

    def events_received(self) -> list[WsEvent]:
        """Return the events produced since the last call, oldest first, and forget them."""
        events, self._events = self._events, []
        return events

    # ------------------------------------------------------------------------------------------ output

    def data_to_send(self) -> list[bytes]:
        """Return the bytes to write, in order, and forget them (an empty list when there is nothing)."""
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def close_expected(self) -> bool:
        """Return True when the socket should be closed once ``data_to_send()`` is written.

        That is after the close handshake completed, after a protocol failure, or after EOF. While this
        side waits for the peer's close (CLOSING) it is False: the I/O runs the close timeout.
        """
        return self.state is State.CLOSED

    def send_text(self, data: bytes) -> None:
        """Queue a text message in one frame; ``data`` must already be UTF-8 (it is not checked).

        Raises:
            StateError: the state is not OPEN.
        """
        self._require_open("send_text")
        self._outgoing.append(encode_ws_frame(data, OP_TEXT, True))

    def send_binary(self, data: bytes) -> None:
        """Queue a binary message in one frame.

        Raises:
            StateError: the state is not OPEN.
        """
        self._require_open("send_binary")
        self._outgoing.append(encode_ws_frame(data, OP_BINARY, True))

    def send_ping(self, data: bytes = b"") -> None:
        """Queue a ping (at most 125 bytes); the peer's pong arrives as :class:`PongReceived`.

        Raises:
            StateError: the state is not OPEN.
            ValueError: ``data`` is longer than 125 bytes.
        """
        self._require_open("send_ping")
        self._outgoing.append(self._control_frame(OP_PING, data))

    def send_pong(self, data: bytes = b"") -> None:
        """Queue an unsolicited pong (at most 125 bytes); pings are already answered automatically.

        Raises:
            StateError: the state is CLOSED.
            ValueError: ``data`` is longer than 125 bytes.
        """
        if self.state is State.CLOSED:
            raise StateError("send_pong() on a closed WebSocket")
        self._outgoing.append(self._control_frame(OP_PONG, data))

    def send_close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the close handshake: queue a close frame and wait (CLOSING) for the peer's close.

        A no-op once a close frame was sent or the connection is CLOSED, so shutdown paths may call it
        freely. ``reason`` is cut to 123 bytes of UTF-8 on a character boundary.

        Raises:
            ValueError: ``code`` may not be sent (see :func:`is_valid_close_code`).
        """
        if not is_valid_close_code(code):
            raise ValueError(f"close code {code} cannot be sent")
        if self._close_sent or self.state is not State.OPEN:
            return
        self._queue_close(code, reason)
        self.state = State.CLOSING
        self._drop_message()

    # ---------------------------------------------------------------------------------------- internals

    def _require_open(self, what: str) -> None:
        if self.state is not State.OPEN:
            raise StateError(f"{what}() on a WebSocket that is {self.state.name}")

    @staticmethod
    def _control_frame(opcode: int, data: bytes) -> bytes:
        if len(data) > MAX_CONTROL_PAYLOAD:
            raise ValueError(f"control frame payload is {len(data)} bytes, at most 125 allowed")
        return encode_ws_frame(data, opcode, True)

    def _queue_close(self, code: int, reason: str) -> None:
        if code == CloseCode.NO_STATUS:
            payload = b""  # echo of a close frame that had no payload
        else:
            payload = int(code).to_bytes(2, "big") + _truncate_utf8(reason, MAX_CLOSE_REASON_BYTES)
        self._outgoing.append(encode_ws_frame(payload, OP_CLOSE, True))
        self._close_sent = True

    def _fail(self, error: ProtocolError) -> None:
        """Fail the connection (RFC 6455 7.1.7): report it, queue the close frame, stop reading."""
        if self.state is State.CLOSED:
            return
        self.failure = error
        self._events.append(ConnectionFailed(error))
        if not self._close_sent:
            self._queue_close(error.code, error.reason)
        self._enter_closed()

    def _enter_closed(self) -> None:
        self.state = State.CLOSED
        self._drop_message()

    def _drop_message(self) -> None:
        self._msg_opcode = None
        self._msg_parts = []
        self._msg_bytes = 0
        self._checked = 0
        self._utf8.reset()

    def _handle_frame(self, fin: bool, rsv: int, opcode: int, payload: bytes) -> None:
        if rsv:
            raise FrameError("reserved bits set, but no extension was negotiated")
        if opcode >= OP_CLOSE:
            self._handle_control(opcode, payload)
        elif self.state is State.OPEN:
            self._handle_data(fin, opcode, payload)
        # CLOSING: the peer's data frames are ignored while we wait for its close frame.

    def _check_data_frame(self, opcode: int, size: int) -> None:
        """Apply the rules a data frame's header alone decides (continuation, size)."""
        if opcode == OP_CONT:
            if self._msg_opcode is None:
                raise FrameError("continuation frame without a message to continue")
        elif self._msg_opcode is not None:
            raise FrameError("new data frame inside a fragmented message")
        if self._msg_bytes + size > self.max_message_bytes:
            raise MessageTooBig(f"message exceeds the limit of {self.max_message_bytes} bytes")

    def _handle_data(self, fin: bool, opcode: int, payload: bytes) -> None:
        self._check_data_frame(opcode, len(payload))
        if opcode != OP_CONT:
            self._msg_opcode = opcode
        if self._msg_opcode == OP_TEXT:
            unchecked = memoryview(payload)[self._checked:] if self._checked else payload
            if not self._utf8.feed(unchecked, fin):
                raise InvalidUTF8("text message is not valid UTF-8")
        self._checked = 0
        if not fin:
            self._msg_parts.append(payload)
            self._msg_bytes += len(payload)
            return
        if self._msg_parts:
            self._msg_parts.append(payload)
            payload = b"".join(self._msg_parts)
        event: WsEvent = TextMessage(payload) if self._msg_opcode == OP_TEXT else BinaryMessage(payload)
        self._msg_opcode = None
        self._msg_parts = []
        self._msg_bytes = 0
        self._events.append(event)

    def _check_incomplete_frame(self) -> None:
        """Judge the frame still arriving as far as its bytes allow: fail fast, and bound memory.

        Catches reserved bits, continuation errors and oversized messages from the header alone, and
        invalid UTF-8 in the part of a text frame received so far (Autobahn 6.4.x expects a failure as
        soon as the bad byte arrives, not when the frame completes).
        """
        if self.state is not State.OPEN:
            return
        pending = self._parser.pending_frame()
        if pending is None:
            return
        _fin, rsv, opcode, length, buffered = pending
        if rsv:
            raise FrameError("reserved bits set, but no extension was negotiated")
        if opcode >= OP_CLOSE:
            return
        self._check_data_frame(opcode, length)
        is_text = opcode == OP_TEXT or (opcode == OP_CONT and self._msg_opcode == OP_TEXT)
        if is_text and buffered > self._checked:
            if not self._utf8.feed(self._parser.pending_payload(self._checked), False):
                raise InvalidUTF8("text message is not valid UTF-8")
            self._checked = buffered

    def _handle_control(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            # Answer even while CLOSING: only a received close ends our duty to pong (RFC 6455 5.5.2).
            self._outgoing.append(encode_ws_frame(payload, OP_PONG, True))
            self._events.append(PingReceived(payload))
        elif opcode == OP_PONG:
            self._events.append(PongReceived(payload))
        else:
            self._handle_close(payload)

    def _handle_close(self, payload: bytes) -> None:
        code, reason = self._parse_close(payload)
        self.close_code = code
        self.close_reason = reason
        self._events.append(CloseReceived(code, reason))
        if not self._close_sent:
            self._queue_close(code, "")  # echo the code (RFC 6455 5.5.1), or nothing after an empty close
        self._enter_closed()

    @staticmethod
    def _parse_close(payload: bytes) -> tuple[int, str]:
        if not payload:
            return int(CloseCode.NO_STATUS), ""
        if len(payload) == 1:
            raise FrameError("close frame with a 1-byte payload")
        code = int.from_bytes(payload[:2], "big")
        if not is_valid_close_code(code):
            raise FrameError(f"invalid close code {code}")
        reason = payload[2:]
        if not validate_utf8(reason):
            raise InvalidUTF8("close reason is not valid UTF-8")
        return code, reason.decode("utf-8")

    frame_bytes = staticmethod(frame_bytes)
