"""The routes (layer 4): which request goes where, and the small HTTP APIs.

``GET /rps`` (WebSocket), ``GET /rps/sse``, ``POST /rps/ack``, ``POST /rps/send``, ``POST /rps/publish``,
``GET /healthz``, ``GET /metrics``, and the demo page (``GET /``, ``GET /pushwire.js``) when enabled.
Statuses and bodies are those of docs/protocol.md; every refusal is counted.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import CloseCode, HandshakeError, HttpError, ProtocolError
from ..hub.hub import dumps
from ..protocol.http11 import (
    Request,
    build_handshake_rejection,
    build_response,
    build_sse_head,
    build_websocket_accept,
    check_websocket_upgrade,
    json_response,
    select_subprotocol,
)
from ..protocol.session import Violation
from ..protocol.streams import (
    MAX_POSITION_CHARS,
    MAX_POSITION_ENTRIES,
    StreamError,
    StreamRef,
    is_uuid,
    normalize_uuid,
    parse_positions,
    parse_stream,
)
from .service import MAX_PENDING_HANDLERS
from .sse import SseConnection, vector_fits
from .websocket import WebSocketConnection

if TYPE_CHECKING:
    from .http import HttpConnection
    from .service import PushService

__all__ = ["Routes", "SUBPROTOCOL"]

SUBPROTOCOL = "pushwire.v1"
_JSON = "application/json"


class Routes:
    """The router of one server: implements :class:`~pushwire.server.http.Router`."""

    def __init__(self, service: PushService) -> None:
        self.service = service
        self.config = service.config
        self.metrics = service.metrics
        self._table = {
            ("GET", "/rps"): self.websocket,
            ("GET", "/rps/sse"): self.sse,
            ("POST", "/rps/ack"): self.ack,
            ("POST", "/rps/send"): self.send,
            ("POST", "/rps/publish"): self.publish,
            ("GET", "/healthz"): self.healthz,
            ("GET", "/metrics"): self.metrics_text,
        }
        if self.config.echo:
            self._table[("GET", "/rps/echo")] = self.echo
        self._static: dict[str, tuple[bytes, str]] = {}
        if self.config.demo:
            self._static["/"] = (_read("pushwire.demo", "index.html"), "text/html; charset=utf-8")
            self._static["/pushwire.js"] = (_read("pushwire.client.static", "pushwire.js"),
                                            "text/javascript; charset=utf-8")
        self._methods: dict[str, list[str]] = {}
        for method, path in self._table:
            self._methods.setdefault(path, []).append(method)

    def handle(self, connection: HttpConnection, request: Request) -> bytes | Awaitable[bytes | None] | None:
        route = self._table.get((request.method, request.path))
        if route is None and self.config.echo and request.path == "/" and _is_upgrade(request):
            route = self.echo  # conformance tools (Autobahn, kosoku) connect to "/"
        if route is not None:
            return route(connection, request)
        if request.method in ("GET", "HEAD") and request.path in self._static:
            body, content_type = self._static[request.path]
            return build_response(200, b"" if request.method == "HEAD" else body, content_type=content_type,
                                  headers=(("Cache-Control", "no-cache"),), keep_alive=request.keep_alive)
        allowed = self._methods.get(request.path)
        if allowed:
            raise HttpError(405, "method not allowed", headers=(("Allow", ", ".join(allowed)),))
        raise HttpError(404, "not found")

    # -- WebSocket ------------------------------------------------------------------------------------------

    def websocket(self, connection: HttpConnection, request: Request) -> bytes | None:
        return self._upgrade_websocket(connection, request, echo=False)

    def echo(self, connection: HttpConnection, request: Request) -> bytes | None:
        return self._upgrade_websocket(connection, request, echo=True)

    def _upgrade_websocket(self, connection: HttpConnection, request: Request, *, echo: bool) -> bytes | None:
        try:
            accept = check_websocket_upgrade(request)
        except HandshakeError as exc:
            self.metrics.inc("ws_handshake_errors")
            connection.respond(build_handshake_rejection(exc), keep_alive=False)
            return None
        subprotocol = None if echo else select_subprotocol(request, (SUBPROTOCOL,))
        ws = WebSocketConnection(self.service, echo=echo, head=build_websocket_accept(accept, subprotocol))
        connection.upgrade(ws)  # the connection writes the 101 ahead of its first frames
        return None

    # -- SSE ------------------------------------------------------------------------------------------------

    async def sse(self, connection: HttpConnection, request: Request) -> bytes | None:
        service = self.service
        query = request.query
        client_id = query.get("client_id") or ""
        if not is_uuid(client_id):
            raise self._refuse(400, "client_id must be a UUID")
        client_id = client_id.lower()  # normalize_uuid, already checked
        token = _bearer(request) or query.get("token")
        refs = self._sse_streams(query.get("channels", ""))
        last_event_id = request.headers.get("last-event-id") or query.get("last_event_id")
        try:
            # Last-Event-ID is where the browser really is; cursors= (from the URL) only fills streams it lacks
            positions = parse_positions(query["cursors"]) if query.get("cursors") else {}
            if last_event_id:
                positions.update(parse_positions(last_event_id))
        except ProtocolError as exc:
            raise self._refuse(400, f"bad position vector: {exc.reason}") from None
        # streams listed only in the vector (personal streams, streams added by a subscribe) resume too, and
        # are authorised like the others; an unknown stream in the vector is a bad request
        listed = {ref.name for ref in refs}
        refs += [self._parse(name) for name in positions if name not in listed]
        if not vector_fits({ref.name for ref in refs}):
            raise self._refuse(400, f"at most {MAX_POSITION_ENTRIES} streams (and {MAX_POSITION_CHARS} id characters) "
                                    "per SSE connection")
        try:
            await service.validate(client_id, token, refs)
        except ProtocolError as exc:
            if exc.code == CloseCode.INTERNAL_ERROR:
                # the validator failed (its backend is down, say): not the client's fault, unlike 401/403
                raise self._refuse(500, exc.reason) from None
            self.metrics.inc("auth_rejected")
            # 401 only when the validator refused a request without a token: another client's personal stream
            # is refused before the validator runs, whatever the token
            foreign = any(ref.is_personal and ref.owner != client_id for ref in refs)
            status = 401 if token is None and service.auth is not None and not foreign else 403
            raise self._refuse(status, exc.reason) from None
        if connection.closed:
            return None
        stream = SseConnection(service, client_id, build_sse_head())
        stream.auth_token = token
        connection.upgrade(stream)  # the stream writes the head with its first events
        cursors = {name: cursor for name, (cursor, _) in positions.items()}
        epochs = {name: epoch for name, (_, epoch) in positions.items() if epoch}
        await service.open_session(stream, client_id, refs, cursors, epochs)
        return None

    def _sse_streams(self, channels: str) -> list[StreamRef]:
        refs: list[StreamRef] = []
        seen = set()
        system = self.service.system_channel
        for name in filter(None, (part.strip() for part in channels.split(","))):
            if name == system.wire_name:
                continue  # may be listed, with no effect (it is not a stream: parsing it would refuse it)
            ref = self._parse(name)
            if ref.name in seen:
                continue
            seen.add(ref.name)
            refs.append(ref)
        return refs

    def _parse(self, name: str) -> StreamRef:
        try:
            return parse_stream(name, self.service.channels)
        except StreamError as exc:
            raise self._refuse(400, exc.reason) from None

    # -- ack, send, publish ---------------------------------------------------------------------------------

    def ack(self, connection: HttpConnection, request: Request) -> bytes:
        body = self._json_body(request)
        client_id = self._client_of(request, body)
        stream = body.get("channel")
        cursor = body.get("cursor")
        if not isinstance(stream, str) or not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
            raise self._refuse(400, "ack needs a string channel and a non-negative integer cursor")
        self.service.ack(client_id, self._parse(stream), cursor)
        return build_response(204, keep_alive=request.keep_alive)

    def send(self, connection: HttpConnection, request: Request) -> bytes:
        body_bytes = self._check_body(request)
        body = _loads_object(body_bytes, self)
        client_id = self._client_of(request, body)
        client = self.service.clients[client_id]
        if not client.authenticated:
            raise self._refuse(409, "the client's session is not open yet (auth_ok not sent)")
        if client.handlers_pending >= MAX_PENDING_HANDLERS:
            # an SSE client's frames arrive by POST: its back-pressure is this answer (retry later)
            raise self._refuse(429, "too many messages still being handled; retry later",
                               headers=(("Retry-After", "1"),))
        session = client.post_session()
        for event in session.receive_text(body_bytes):
            if isinstance(event, Violation):
                self.metrics.inc(f"errors_{event.code.value}")
                return json_response(400, {"error": event.code.value, "message": event.message},
                                     keep_alive=request.keep_alive)
            self.service.handle_session_event(client, event)
        return build_response(202, keep_alive=request.keep_alive)

    def publish(self, connection: HttpConnection, request: Request) -> bytes | Awaitable[bytes]:
        key = self.config.publish_api_key
        if not key:
            raise self._refuse(404, "the publish API is off (no API key configured)")
        given = _bearer(request)
        if given is None:
            raise self._refuse(401, "Authorization: Bearer <api key> required",
                               headers=(("WWW-Authenticate", "Bearer"),))
        if not hmac.compare_digest(given.encode(), key.encode()):
            raise self._refuse(403, "wrong API key")
        body = self._json_body(request)
        if "payload" not in body:
            raise self._refuse(400, "publish needs a payload")
        server = self.service.face
        args = (body.get("channel"), dumps(body["payload"]))
        options = {"topic": body.get("topic"), "to": body.get("client_id")}
        if not server.publishes_synchronously:
            return self._publish_async(request, server, args, options)
        try:
            cursor, stream = server.publish_json_now(*args, **options)
        except (ProtocolError, ValueError, TypeError) as exc:
            raise self._refuse(400, str(exc)) from None
        return json_response(200, {"stream": stream, "cursor": cursor}, keep_alive=request.keep_alive)

    async def _publish_async(self, request: Request, server: Any, args: tuple[Any, ...],
                             options: dict[str, Any]) -> bytes:
        try:
            cursor, stream = await server.publish_json(*args, **options)
        except (ProtocolError, ValueError, TypeError) as exc:
            raise self._refuse(400, str(exc)) from None
        return json_response(200, {"stream": stream, "cursor": cursor}, keep_alive=request.keep_alive)

    # -- health and metrics ---------------------------------------------------------------------------------

    def healthz(self, connection: HttpConnection, request: Request) -> bytes:
        return json_response(200, {"status": "ok", "clients": len(self.service.clients)},
                             keep_alive=request.keep_alive)

    def metrics_text(self, connection: HttpConnection, request: Request) -> bytes:
        return build_response(200, self.metrics.render_prometheus(), content_type="text/plain; version=0.0.4",
                              keep_alive=request.keep_alive)

    # -- helpers --------------------------------------------------------------------------------------------

    def _refuse(self, status: int, reason: str, *, headers: tuple[tuple[str, str], ...] = ()) -> HttpError:
        self.metrics.inc(f"http_refused_{status}")
        return HttpError(status, reason, headers=headers)

    def _check_body(self, request: Request) -> bytes:
        content_type = (request.headers.get("content-type") or _JSON).split(";")[0].strip().lower()
        if content_type != _JSON:
            raise self._refuse(415, "the body must be application/json")
        return request.body

    def _json_body(self, request: Request) -> dict[str, Any]:
        return _loads_object(self._check_body(request), self)

    def _client_of(self, request: Request, body: dict[str, Any]) -> str:
        """The authenticated client of an ack/send: ``client_id`` plus the session token from ``auth_ok``."""
        client_id = body.get("client_id")
        if not isinstance(client_id, str) or not is_uuid(client_id):
            raise self._refuse(400, "client_id must be a UUID")
        client_id = normalize_uuid(client_id)
        token = _bearer(request) or body.get("session_token")
        if not isinstance(token, str) or not token:
            raise self._refuse(401, "the session token from auth_ok is required",
                               headers=(("WWW-Authenticate", "Bearer"),))
        if not self.service.check_session_token(client_id, token):
            raise self._refuse(403, "session token does not match client_id")
        if client_id not in self.service.clients:
            raise self._refuse(404, "unknown client (not connected)")
        return client_id


def _is_upgrade(request: Request) -> bool:
    return (request.headers.get("upgrade") or "").lower() == "websocket"


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def _loads_object(body: bytes, routes: Routes) -> dict[str, Any]:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise routes._refuse(400, "the body is not valid JSON") from None
    if not isinstance(obj, dict):
        raise routes._refuse(400, "the body must be a JSON object")
    return obj


def _read(package: str, name: str) -> bytes:
    return resources.files(package).joinpath(name).read_bytes()
