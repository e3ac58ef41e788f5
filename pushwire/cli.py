"""``pushwire-serve``: run a pushwire server from the command line (layer 5).

The only module that reads argv, the environment and configuration files. Precedence, highest first:
command-line flags, ``PUSHWIRE_*`` environment variables, the TOML file (``--config``), defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import os
import signal
import sys
import tomllib
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .app import PushServer
from .auth import HmacTokens, StaticTokens
from .config import HistoryConfig, HttpConfig, QueueConfig, ServerConfig, WebSocketConfig
from .errors import ConfigError
from .protocol.channels import ChannelKind, DefaultChannel
from .protocol.frames import Frame

__all__ = ["build_parser", "main"]

log = logging.getLogger("pushwire.cli")

DESCRIPTION = """\
Run a pushwire push server: WebSocket on /rps, Server-Sent Events on /rps/sse, acks on /rps/ack.

With no arguments it serves the demo chat page on http://127.0.0.1:9100/ with the built-in channels
(system, alerts, chat, events, telemetry, rtc), history in memory, and no authentication.
"""

EPILOG = """\
Every option can also come from an environment variable (PUSHWIRE_ plus the option name in upper case
with underscores, e.g. PUSHWIRE_PORT=9200, PUSHWIRE_TOKENS=a,b) or from a TOML file given with --config
(keys are option names with underscores, e.g. port = 9200, tokens = ["a", "b"]).
Flags win over the environment, which wins over the file.

examples:
  pushwire-serve                                   demo page on http://127.0.0.1:9100/
  pushwire-serve --host 0.0.0.0 --port 9200 --publish-api-key s3cret --no-demo
  pushwire-serve --channels myapp.channels:AppChannel --app myapp.push --token-secret $SECRET
  curl -H 'Authorization: Bearer s3cret' -d '{"channel":"chat","payload":"hi"}' \\
       http://127.0.0.1:9100/rps/publish
"""


def _boolean(text: str) -> bool:
    # anything else is a typo, not "false": PUSHWIRE_DEMO=flase must not quietly turn the demo off
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


# option name -> (type, default); the single source for flags, environment and TOML keys
OPTIONS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "host": (str, "127.0.0.1"),
    "port": (int, 9100),
    "accept_batch": (int, 16),
    "direct_writes": (_boolean, True),
    "channels": (str, None),
    "app": (str, None),
    "tokens": (lambda text: [t for t in text.split(",") if t], []),
    "token_secret": (str, None),
    "publish_api_key": (str, None),
    "secret": (str, None),
    "history_size": (int, 1024),
    "history_age": (float, 300.0),
    "max_message_bytes": (int, 1024 * 1024),
    "ping_interval": (float, 20.0),
    "demo": (_boolean, True),
    "echo": (_boolean, False),
    "log_level": (str, "info"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (defaults are None so that unset flags fall through to env and file)."""
    parser = argparse.ArgumentParser(prog="pushwire-serve", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    net = parser.add_argument_group("network")
    net.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    net.add_argument("--port", type=int, help="port to listen on (default 9100)")
    net.add_argument("--accept-batch", type=int, metavar="N",
                     help="connections one event-loop pass accepts (default 16; on Linux that many listening "
                          "sockets share the port; 1 = one socket)")
    net.add_argument("--no-direct-writes", dest="direct_writes", action="store_const", const=False,
                     help="write every byte through the event loop's transport, never with send(2) directly")
    app = parser.add_argument_group("application")
    app.add_argument("--channels", metavar="MODULE:CLASS",
                     help="your ChannelKind subclass (default: the built-in channels)")
    app.add_argument("--app", metavar="MODULE[:FUNCTION]",
                     help="module whose setup(server) (or FUNCTION(server)) registers handlers and hooks")
    app.add_argument("--no-demo", dest="demo", action="store_const", const=False,
                     help="do not serve the demo page on / (and no chat relay)")
    app.add_argument("--echo", action="store_const", const=True,
                     help="serve the /rps/echo WebSocket endpoint (conformance testing)")
    auth = parser.add_argument_group("authentication")
    auth.add_argument("--token", dest="tokens", action="append", metavar="TOKEN",
                      help="accept clients presenting this token (repeatable)")
    auth.add_argument("--token-secret", metavar="SECRET",
                      help="accept HMAC-signed tokens made with this secret (pushwire.auth.make_token)")
    auth.add_argument("--publish-api-key", metavar="KEY",
                      help="enable POST /rps/publish for callers with 'Authorization: Bearer KEY'")
    auth.add_argument("--secret", help="key for session tokens, to keep them valid across restarts")
    limits = parser.add_argument_group("history and limits")
    limits.add_argument("--history-size", type=int, metavar="N", help="frames kept per stream (default 1024)")
    limits.add_argument("--history-age", type=float, metavar="SECONDS",
                        help="how long frames are kept for replay (default 300; 0 = until pushed out)")
    limits.add_argument("--max-message-bytes", type=int, metavar="N",
                        help="largest inbound WebSocket message (default 1 MiB)")
    limits.add_argument("--ping-interval", type=float, metavar="SECONDS",
                        help="WebSocket keepalive ping interval and pong deadline (default 20)")
    misc = parser.add_argument_group("other")
    misc.add_argument("--config", metavar="FILE.toml", help="read options from a TOML file")
    misc.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default info")
    misc.add_argument("--version", action="version", version=f"pushwire {__version__}")
    return parser


def resolve_options(args: argparse.Namespace, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Merge flags, environment and TOML file into one dict of options."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {name: default for name, (_, default) in OPTIONS.items()}
    config_path = args.config or environ.get("PUSHWIRE_CONFIG")
    if config_path:
        values.update(_read_toml(config_path))
    for name, (parse, _) in OPTIONS.items():
        raw = environ.get("PUSHWIRE_" + name.upper())
        if raw is not None:
            try:
                values[name] = parse(raw)
            except ValueError:
                raise ConfigError(f"PUSHWIRE_{name.upper()}={raw!r} is not a valid value") from None
    for name in OPTIONS:
        flag = getattr(args, name, None)
        if flag is not None:
            values[name] = flag
    # the event loop would take 70000 as 70000 % 65536 and listen on a port nobody asked for
    if not 0 <= values["port"] <= 65535:
        raise ConfigError(f"port must be 0..65535 (0 picks a free one), got {values['port']}")
    # WebSocketConfig and HttpConfig refuse these too; checked here first so that the message names the flag
    for name in ("max_message_bytes", "ping_interval", "accept_batch"):
        if values[name] <= 0:
            raise ConfigError(f"{name.replace('_', '-')} must be > 0, got {values[name]}")
    return values


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown keys in {path}: {', '.join(unknown)}")
    return {name: _toml_value(path, name, value) for name, value in data.items()}


def _toml_value(path: str, name: str, value: Any) -> Any:
    """Check a TOML value's type against the option's default (TOML is typed: no parsing from text here)."""
    default = OPTIONS[name][1]
    if name == "tokens":
        if isinstance(value, str):
            return OPTIONS["tokens"][0](value)
        if isinstance(value, list) and all(isinstance(token, str) for token in value):
            return value
    elif isinstance(default, bool):  # before int: bool is an int subclass
        if isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, str):  # the text options (their default is a string or None)
        return value
    raise ConfigError(f"{path}: {name} = {value!r} has the wrong type (expected {_toml_type(name)})")


def _toml_type(name: str) -> str:
    default = OPTIONS[name][1]
    if name == "tokens":
        return "a list of strings or a comma-separated string"
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, float):
        return "a number"
    return "an integer" if isinstance(default, int) else "a string"


def load_object(spec: str, what: str) -> Any:
    """Import ``module:attribute`` (or just ``module``)."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {what} module {module_name!r}: {exc}") from None
    if not attribute:
        return module
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"{module_name!r} has no attribute {attribute!r} ({what})") from None


def build_server(options: dict[str, Any]) -> PushServer:
    """Create the PushServer the options describe (handlers and the app's setup included)."""
    channels: type[ChannelKind] = DefaultChannel
    if options["channels"]:
        channels = load_object(options["channels"], "channels")
        if not (isinstance(channels, type) and issubclass(channels, ChannelKind)):
            raise ConfigError(f"{options['channels']} is not a ChannelKind subclass")
    auth = None
    if options["tokens"] and options["token_secret"]:
        raise ConfigError("give either --token or --token-secret, not both")
    if options["tokens"]:
        auth = StaticTokens(options["tokens"])
    elif options["token_secret"]:
        auth = HmacTokens(options["token_secret"])
    config = ServerConfig(
        history=HistoryConfig(max_count=options["history_size"], max_age_s=options["history_age"],
                              max_replay=options["history_size"]),
        websocket=WebSocketConfig(max_message_bytes=options["max_message_bytes"],
                                  ping_interval_s=options["ping_interval"], ping_timeout_s=options["ping_interval"]),
        http=HttpConfig(accept_batch=options["accept_batch"]),
        queue=QueueConfig(direct_writes=bool(options["direct_writes"])),
        publish_api_key=options["publish_api_key"] or None,
        demo=bool(options["demo"]),
        echo=bool(options["echo"]),
    )
    secret = options["secret"].encode() if options["secret"] else None
    server = PushServer(channels, auth=auth, config=config, secret=secret)
    chat = channels.from_name("chat")
    if options["demo"] and chat is not None:
        server.register_handler(chat, relay_chat)
    if options["app"]:
        module_name, _, function = options["app"].partition(":")
        setup = load_object(f"{module_name}:{function or 'setup'}", "app")
        setup(server)
    return server


async def relay_chat(client_id: str, frame: Frame, server: PushServer) -> None:
    """The demo's chat: republish every chat frame to its stream, with the sender's client id."""
    await server.publish(frame.channel, frame.payload, topic=frame.topic, sender=client_id)


def tune_gc() -> None:
    """Make the cyclic GC cheap for a long-running server with many small, long-lived objects.

    Everything allocated at start-up is moved out of the collector's view (``gc.freeze``), and the youngest
    generation is collected every 50,000 allocations instead of 700: each connection allocates a few hundred
    objects, so the default makes a 10,000-connection server scan its whole heap over and over.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class CannotListen(Exception):
    """Binding the listening socket failed (address in use, permission, unknown host)."""


async def run(server: PushServer, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start(host, port)
    except OSError as exc:
        raise CannotListen(exc.strerror or str(exc)) from None
    tune_gc()
    # server.port, not port: with --port 0 only the server knows which port it was given
    netloc = f"[{host}]" if ":" in host else host  # an IPv6 address is bracketed in a URL
    print(f"pushwire {__version__} serving on http://{netloc}:{server.port}/ "
          f"(WebSocket /rps, SSE /rps/sse){'; demo page on /' if server.config.demo else ''}", flush=True)
    await stop.wait()
    log.info("shutting down")
    await server.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pushwire-serve``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = resolve_options(args)
        logging.basicConfig(level=options["log_level"].upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        server = build_server(options)
    except (ConfigError, ValueError) as exc:
        parser.exit(2, f"pushwire-serve: error: {exc}\n")
    try:
        import uvloop

        uvloop.run(run(server, options["host"], options["port"]))
    except CannotListen as exc:
        print(f"pushwire-serve: error: cannot listen on {options['host']}:{options['port']}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
