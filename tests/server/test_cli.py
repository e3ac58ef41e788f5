"""``pushwire-serve`` as a real subprocess: options, environment, TOML file, precedence, auth, apps, signals.

Every server runs on 127.0.0.1 with a bounded start-up wait and is killed in ``finally`` whatever happens.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from pushwire import __version__
from pushwire.auth import make_token

from .rawhttp import RawHttp, Refused, SseClient, fetch, post_json
from .rawws import Closed, RawWs

_SCRIPT = Path(sys.executable).with_name("pushwire-serve")
SERVE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pushwire.cli"]
START_TIMEOUT = 15.0
_BANNER = re.compile(r"serving on http://(?:127\.0\.0\.1|\[::1\]):(\d+)/")


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any PUSHWIRE_* variable, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PUSHWIRE_")}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Serve:
    def __init__(self, process: asyncio.subprocess.Process, port: int, banner: str) -> None:
        self.process = process
        self.port = port
        self.banner = banner


@asynccontextmanager
async def serve(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[Serve]:
    """Run ``pushwire-serve args`` until its banner names the port it listens on; kill it afterwards."""
    process = await asyncio.create_subprocess_exec(
        *SERVE, *args, "--log-level", "warning", env=env or clean_env(), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        try:
            banner = (await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)).decode()
        except asyncio.TimeoutError:
            raise AssertionError("pushwire-serve did not start in time") from None
        if not banner:
            stderr = (await asyncio.wait_for(process.stderr.read(), 5)).decode()
            raise AssertionError(f"pushwire-serve exited {await process.wait()}: {stderr}")
        match = _BANNER.search(banner)
        assert match is not None, banner
        yield Serve(process, int(match[1]), banner)
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 10)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    """Run ``pushwire-serve`` to completion (for options that exit at once)."""
    return subprocess.run([*SERVE, *args], env=env or clean_env(), capture_output=True, text=True,
                          timeout=timeout)


async def ws_auth(port: int, streams: list[str], *, token: str | None = None, client_id: str | None = None) -> dict:
    ws = await RawWs.connect(port)
    return await ws.auth(client_id, streams, token=token)


async def ws_refused(port: int, token: str | None, client_id: str | None = None) -> tuple[list, Closed]:
    ws = await RawWs.connect(port)
    ws.send_op({"type": "auth", "client_id": client_id or str(uuid.uuid4()), "token": token,
                "capabilities": ["chat"]})
    return await ws.recv_until_closed()


# -- options that exit at once ----------------------------------------------------------------------------


def test_help():
    result = run_cli("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: pushwire-serve")
    for option in ("--host", "--port", "--channels", "--app", "--no-demo", "--token", "--token-secret",
                   "--publish-api-key", "--history-size", "--max-message-bytes", "--config", "--log-level",
                   "--version", "PUSHWIRE_PORT"):
        assert option in result.stdout, option


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pushwire {__version__}"


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--port", "abc"], {}, "invalid int value"),
    (["--bogus"], {}, "unrecognized arguments"),
    (["--log-level", "loud"], {}, "invalid choice"),
    (["--token", "a", "--token-secret", "s"], {}, "either --token or --token-secret"),
    (["--channels", "no_such_module_xyz:Channels"], {}, "cannot import channels module"),
    (["--channels", "json:dumps"], {}, "is not a ChannelKind subclass"),
    (["--channels", "json:NoSuchThing"], {}, "has no attribute"),
    (["--app", "no_such_module_xyz"], {}, "cannot import app module"),
    (["--config", "/nonexistent/pushwire.toml"], {}, "cannot read config file"),
    (["--history-size", "0"], {}, "history.max_count"),
    (["--port", "70000"], {}, "port"),
    (["--port", "-1"], {}, "port"),
    (["--max-message-bytes", "0"], {}, "max-message-bytes must be > 0"),
    (["--ping-interval", "-1"], {}, "ping-interval must be > 0"),
    ([], {"PUSHWIRE_PING_INTERVAL": "0"}, "ping-interval must be > 0"),
    (["--accept-batch", "0"], {}, "accept-batch must be > 0"),
    ([], {"PUSHWIRE_PORT": "abc"}, "PUSHWIRE_PORT"),
    ([], {"PUSHWIRE_HISTORY_AGE": "soon"}, "PUSHWIRE_HISTORY_AGE"),
    ([], {"PUSHWIRE_DEMO": "maybe"}, "PUSHWIRE_DEMO"),
    ([], {"PUSHWIRE_DIRECT_WRITES": "perhaps"}, "PUSHWIRE_DIRECT_WRITES"),
])
def test_bad_options_exit_2_with_a_clear_message(args, env, message):
    result = run_cli(*args, env=clean_env(**env))
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr
    assert "pushwire-serve: error:" in result.stderr
    assert "serving on" not in result.stdout


@pytest.mark.parametrize(("toml", "message"), [
    ("port = 9200\nnot_an_option = 1\n", "unknown keys"),
    ("port = [", "cannot read config file"),
    ('history_size = "10"\n', "history_size"),
    ('port = "abc"\n', "port"),
    ("tokens = [1, 2]\n", "tokens"),
    ("demo = 1\n", "demo"),
    ("publish_api_key = 5\n", "publish_api_key"),
])
def test_bad_config_files_exit_2(tmp_path, toml, message):
    path = tmp_path / "pushwire.toml"
    path.write_text(toml)
    result = run_cli("--config", str(path))
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert message in result.stderr and "pushwire-serve: error:" in result.stderr, result.stderr


def test_port_in_use_exits_1():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


# -- running servers --------------------------------------------------------------------------------------


async def test_defaults_serve_the_demo_and_the_chat_relay():
    async with serve("--port", "0") as server:
        assert server.port != 0  # the banner names the port really bound
        page = await fetch(server.port, "GET", "/")
        assert page.status == 200 and page.header("content-type").startswith("text/html")
        assert (await fetch(server.port, "GET", "/pushwire.js")).status == 200
        assert (await fetch(server.port, "POST", "/rps/publish", body={"channel": "chat", "payload": 1})).status \
            == 404  # no API key: the publish API is off
        client_id = str(uuid.uuid4())
        ws = await RawWs.connect(server.port)
        await ws.auth(client_id, ["chat"])
        ws.send_json({"channel": "chat", "payload": "hello"})
        assert await ws.recv_json() == {"channel": "chat", "cursor": 1, "client_id": client_id, "payload": "hello"}


async def test_ipv6_host_banner_is_a_valid_url():
    async with serve("--host", "::1", "--port", "0", "--no-demo") as server:
        assert f"serving on http://[::1]:{server.port}/ " in server.banner
        conn = await RawHttp.connect(server.port, host="::1")
        assert (await conn.fetch("GET", "/healthz", host="[::1]")).status == 200
        conn.close()


async def test_flags():
    port = free_port()
    async with serve("--host", "127.0.0.1", "--port", str(port), "--publish-api-key", "k1", "--no-demo",
                     "--history-size", "3", "--max-message-bytes", "2048") as server:
        assert server.port == port
        assert (await fetch(port, "GET", "/healthz")).json() == {"status": "ok", "clients": 0}
        assert (await fetch(port, "GET", "/")).status == 404  # --no-demo
        for i in range(5):
            response = await post_json(port, "/rps/publish", {"channel": "chat", "payload": i}, token="k1")
            assert response.json() == {"stream": "chat", "cursor": i + 1}
        ws = await RawWs.connect(port)
        auth_ok = await ws.auth(streams=["chat"], cursors={"chat": 0})
        assert auth_ok["streams"]["chat"]["outcome"] == "gap"  # only 3 frames kept
        assert auth_ok["streams"]["chat"]["cursor"] == 2
        assert (await ws.recv_json())["payload"]["type"] == "resume_required"
        assert [(await ws.recv_json())["cursor"] for _ in range(3)] == [3, 4, 5]
        ws.send_json({"channel": "chat", "payload": "no relay without the demo"})
        assert (await ws.recv_json())["payload"]["code"] == "unsupported"
        ws.send_json({"channel": "chat", "payload": "x" * 2048})
        _, closed = await ws.recv_until_closed()
        assert closed.code == 1009


def _listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:``port`` (``/proc/net/tcp``: state 0A is LISTEN)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        return sum(1 for line in table.readlines()[1:] if line.split()[1] == wanted and line.split()[3] == "0A")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT groups are Linux only")
async def test_accept_batch_flag():
    port = free_port()
    async with serve("--port", str(port)) as server:
        assert _listening_sockets(server.port) == 16
        assert (await ws_auth(port, ["chat"]))["type"] == "auth_ok"
    async with serve("--port", str(port), "--accept-batch", "1") as server:
        assert _listening_sockets(server.port) == 1
        assert (await ws_auth(port, ["chat"]))["type"] == "auth_ok"


async def test_environment_variables():
    port = free_port()
    env = clean_env(PUSHWIRE_PORT=str(port), PUSHWIRE_PUBLISH_API_KEY="env-key", PUSHWIRE_DEMO="off",
                    PUSHWIRE_TOKENS="t1,t2")
    async with serve(env=env) as server:
        assert server.port == port
        assert (await post_json(port, "/rps/publish", {"channel": "chat", "payload": 1}, token="env-key")).status \
            == 200
        assert (await fetch(port, "GET", "/")).status == 404
        assert (await ws_auth(port, ["chat"], token="t2"))["type"] == "auth_ok"
        _, closed = await ws_refused(port, "t3")
        assert closed.code == 1008


async def test_toml_config_file(tmp_path):
    port = free_port()
    path = tmp_path / "pushwire.toml"
    path.write_text(textwrap.dedent(f"""\
        host = "127.0.0.1"
        port = {port}
        publish_api_key = "file-key"
        tokens = ["ft1", "ft2"]
        demo = false
        history_size = 2
        history_age = 0
        """))
    async with serve("--config", str(path)) as server:
        assert server.port == port
        assert (await post_json(port, "/rps/publish", {"channel": "chat", "payload": 1}, token="file-key")).status \
            == 200
        assert (await fetch(port, "GET", "/")).status == 404
        assert (await ws_auth(port, ["chat"], token="ft1"))["type"] == "auth_ok"
        _, closed = await ws_refused(port, None)
        assert closed.code == 1008


async def test_precedence_flags_over_env_over_file(tmp_path):
    file_port, env_port, flag_port = free_port(), free_port(), free_port()
    path = tmp_path / "pushwire.toml"
    path.write_text(f'port = {file_port}\npublish_api_key = "file-key"\nhistory_size = 2\nhistory_age = 0\n'
                    f'tokens = "a,b"\n')
    env = clean_env(PUSHWIRE_PORT=str(env_port), PUSHWIRE_PUBLISH_API_KEY="env-key", PUSHWIRE_TOKENS="c")
    async with serve("--config", str(path), "--port", str(flag_port), "--token", "d", env=env) as server:
        assert server.port == flag_port  # flag over env over file
        body = {"channel": "events", "payload": 1}
        assert (await post_json(flag_port, "/rps/publish", body, token="env-key")).status == 200  # env over file
        assert (await post_json(flag_port, "/rps/publish", body, token="file-key")).status == 403
        for i in range(3):
            await post_json(flag_port, "/rps/publish", body, token="env-key")
        auth_ok = await ws_auth(flag_port, ["events"], token="d")  # flag token; history size from the file
        assert auth_ok["streams"]["events"]["top"] == 4
        for token in ("a", "c"):
            _, closed = await ws_refused(flag_port, token)
            assert closed.code == 1008
        for port in (file_port, env_port):
            with pytest.raises(OSError):
                await fetch(port, "GET", "/healthz", timeout=1)
    # PUSHWIRE_CONFIG names the file too
    async with serve(env=clean_env(PUSHWIRE_CONFIG=str(path))) as server:
        assert server.port == file_port


async def test_static_tokens():
    async with serve("--port", "0", "--token", "good", "--token", "also-good") as server:
        for token in ("good", "also-good"):
            assert (await ws_auth(server.port, ["chat"], token=token))["type"] == "auth_ok"
        for token in ("bad", None):
            messages, closed = await ws_refused(server.port, token)
            assert closed.code == 1008
            assert messages[-1]["payload"]["code"] == "auth_rejected"
        client_id = str(uuid.uuid4())
        sse = await SseClient.open(server.port, {"client_id": client_id, "channels": "chat"},
                                   headers={"Authorization": "Bearer good"})
        sse.close()
        for params, status in (({}, 401), ({"token": "bad"}, 403)):
            with pytest.raises(Refused) as refused:
                await SseClient.open(server.port, {"client_id": client_id, "channels": "chat", **params})
            assert refused.value.response.status == status


async def test_signed_tokens():
    secret = "s3cret-for-tests"
    async with serve("--port", "0", "--token-secret", secret) as server:
        client_id = str(uuid.uuid4())
        token = make_token(secret, client_id=client_id, streams=["chat", "events:*"])
        auth_ok = await ws_auth(server.port, ["chat", "events:room1"], token=token, client_id=client_id)
        assert auth_ok["type"] == "auth_ok"
        _, closed = await ws_refused(server.port, token)  # someone else's token
        assert closed.code == 1008
        _, closed = await ws_refused(server.port, make_token("other-secret", client_id=client_id), client_id)
        assert closed.code == 1008
        _, closed = await ws_refused(server.port, make_token(secret, client_id=client_id, ttl_s=-120), client_id)  # past the 30 s leeway
        assert closed.code == 1008
        ws = await RawWs.connect(server.port)
        ws.send_op({"type": "auth", "client_id": client_id, "token": token, "capabilities": ["alerts"]})
        _, closed = await ws.recv_until_closed()
        assert closed.code == 1008  # a stream the token does not allow


APP_MODULE = '''\
from pushwire import ChannelKind, ChannelSpec


class AppChannel(ChannelKind):
    CONTROL = ChannelSpec(wire_id=9, priority=0, system=True)
    NEWS = ChannelSpec(wire_id=1, priority=1)
    MY_FEED = ChannelSpec(wire_id=2, priority=2, name="my-feed")


def setup(server):
    @server.handler("news")
    async def echo(client_id, frame, srv):
        await srv.publish("news", {"echo": frame.payload}, sender=client_id)

    @server.on_connect
    def greet(client_id):
        import asyncio
        asyncio.ensure_future(srv_send(server, client_id))


async def srv_send(server, client_id):
    await server.send(client_id, "my-feed", "welcome")


def other_setup(server):
    @server.handler("news")
    def shout(client_id, frame, srv):
        import asyncio
        asyncio.ensure_future(srv.publish("news", str(frame.payload).upper()))
'''


async def test_custom_channels_and_app(tmp_path):
    (tmp_path / "myapp_for_tests.py").write_text(APP_MODULE)
    env = clean_env(PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    async with serve("--port", "0", "--channels", "myapp_for_tests:AppChannel", "--app", "myapp_for_tests",
                     env=env) as server:
        client_id = str(uuid.uuid4())
        ws = await RawWs.connect(server.port)
        ws.send_json({"channel": "control", "cursor": None, "client_id": None,
                      "payload": {"type": "auth", "client_id": client_id, "capabilities": ["news", "my-feed"]}})
        auth_ok = await ws.recv_json()
        assert auth_ok["channel"] == "control" and auth_ok["payload"]["type"] == "auth_ok"
        welcome = await ws.recv_json()
        assert welcome == {"channel": "my-feed", "topic": f"@{client_id}", "cursor": 1, "client_id": None,
                           "payload": "welcome"}
        ws.send_json({"channel": "news", "payload": "hi"})
        assert await ws.recv_json() == {"channel": "news", "cursor": 1, "client_id": client_id,
                                        "payload": {"echo": "hi"}}
        ws.send_json({"channel": "chat", "payload": 1})  # not one of this application's channels
        error = await ws.recv_json()
        assert error["channel"] == "control" and error["payload"]["code"] == "unknown_channel"
    async with serve("--port", "0", "--channels", "myapp_for_tests:AppChannel", "--app",
                     "myapp_for_tests:other_setup", env=env) as server:
        ws = await RawWs.connect(server.port)
        ws.send_json({"type": "auth", "client_id": str(uuid.uuid4()), "capabilities": ["news"]})
        assert (await ws.recv_json())["payload"]["type"] == "auth_ok"
        ws.send_json({"channel": "news", "payload": "quiet"})
        assert (await ws.recv_json())["payload"] == "QUIET"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_shuts_down_cleanly(sig):
    async with serve("--port", "0") as server:
        ws = await RawWs.connect(server.port)
        await ws.auth(streams=["chat"])
        sse = await SseClient.open(server.port, {"client_id": str(uuid.uuid4()), "channels": "chat"})
        assert (await sse.read_block()).retry == 2000
        assert (await sse.next_event()).payload["type"] == "auth_ok"
        server.process.send_signal(sig)
        messages, closed = await ws.recv_until_closed(timeout=10)
        assert [m["payload"] for m in messages] == [{"type": "goodbye", "reason": "shutdown"}]
        assert closed.code == 1001
        await ws.close()
        events = await sse.until_ended(timeout=10)
        assert [e.payload for e in events] == [{"type": "goodbye", "reason": "shutdown"}]
        assert await asyncio.wait_for(server.process.wait(), 10) == 0
        stderr = (await server.process.stderr.read()).decode()
        assert "Traceback" not in stderr


def _direct_writes(argv: list[str], environ: dict[str, str]) -> bool:
    from pushwire.cli import build_parser, build_server, resolve_options

    return build_server(resolve_options(build_parser().parse_args(argv), environ)).config.queue.direct_writes


def test_direct_writes_from_flag_environment_and_file(tmp_path):
    path = tmp_path / "pushwire.toml"
    path.write_text("direct_writes = false\n")
    assert _direct_writes([], {}) is True
    assert _direct_writes(["--no-direct-writes"], {}) is False
    assert _direct_writes([], {"PUSHWIRE_DIRECT_WRITES": "0"}) is False
    assert _direct_writes(["--config", str(path)], {}) is False
    assert _direct_writes(["--config", str(path)], {"PUSHWIRE_DIRECT_WRITES": "yes"}) is True


async def test_no_direct_writes_serves_the_same():
    async with serve("--port", "0", "--no-direct-writes", "--publish-api-key", "k") as server:
        ws = await RawWs.connect(server.port)
        await ws.auth(streams=["chat"])
        sse = await SseClient.open(server.port, {"client_id": str(uuid.uuid4()), "channels": "chat"})
        assert (await sse.read_block()).retry == 2000
        assert (await sse.next_event()).payload["type"] == "auth_ok"
        for n in range(3):
            response = await post_json(server.port, "/rps/publish", {"channel": "chat", "payload": n}, token="k")
            assert response.status == 200
        assert [(await ws.recv_json())["payload"] for _ in range(3)] == [0, 1, 2]
        assert [(await sse.next_event()).payload for _ in range(3)] == [0, 1, 2]
        await ws.close()
