"""Fan-out benchmark harness: build the load generator, start servers, run workloads, summarise.

Standard library only, so it runs under the system ``python3`` as well as ``/work/main/.venv/bin/python``.
The peers run from their own venv (``bench/fanout/.work/venv``), nchan from Debian's packages, pushwire from
``/work/main/.venv``.

A server adapter (:class:`Server`) owns three things: how to start the server (on 127.0.0.1 only), how a
subscriber subscribes (loadgen arguments per protocol) and how a publisher publishes (loadgen arguments).  The
load generator itself knows nothing about any server.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WORK = HERE / ".work"
RESULTS = HERE / "results"
VENV = WORK / "venv"
LOADGEN_SRC = HERE / "loadgen.c"
PUSHWIRE_PY = REPO / ".venv" / "bin" / "python"
PEER_PACKAGES = ["sse-starlette", "uvicorn[standard]", "websockets", "uvloop"]
API_KEY = "bench-fanout-key"

# ------------------------------------------------------------------ setup


def raise_nofile() -> int:
    """Raise our RLIMIT_NOFILE (servers inherit it): 10,000 connections need more than 20,000 with margins."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def build_loadgen(out: Path | None = None) -> Path:
    """Compile loadgen.c with ``gcc -O2`` when the binary is missing or older than the source."""
    out = out or WORK / "loadgen"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and out.stat().st_mtime >= LOADGEN_SRC.stat().st_mtime:
        return out
    cmd = ["gcc", "-O2", "-Wall", "-Wextra", "-o", str(out), str(LOADGEN_SRC)]
    subprocess.run(cmd, check=True, timeout=120)
    return out


def ensure_nchan(log: Callable[[str], None]) -> None:
    """Install Debian's nginx-light + libnginx-mod-nchan when missing, without starting the system nginx."""
    if shutil.which("nginx") and Path("/usr/lib/nginx/modules/ngx_nchan_module.so").exists():
        return
    log("installing nginx-light + libnginx-mod-nchan (apt-get)")
    # policy-rc.d exit 101 keeps the package from starting a system nginx on 0.0.0.0:80.
    policy = Path("/usr/sbin/policy-rc.d")
    created = False
    if not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        created = True
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=600, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "nginx-light", "libnginx-mod-nchan"],
            check=True,
            timeout=900,
            env=env,
        )
    finally:
        if created:
            policy.unlink()


def ensure_venv(log: Callable[[str], None]) -> Path:
    """Create bench/fanout/.work/venv with the peers' packages (pip from PyPI)."""
    py = VENV / "bin" / "python"
    probe = "import sse_starlette, uvicorn, websockets, uvloop, httptools"
    if (
        py.exists()
        and subprocess.run([str(py), "-c", probe], check=False, capture_output=True, timeout=60).returncode
        == 0
    ):
        return py
    log(f"creating {VENV} and installing {' '.join(PEER_PACKAGES)}")
    base = shutil.which("python3") or sys.executable
    subprocess.run([base, "-m", "venv", str(VENV)], check=True, timeout=300)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True, timeout=900)
    return py


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until something accepts on 127.0.0.1:port (bounded); fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


# ---------------------------------------------------------------- servers


class Server:
    """A server under test.  Subclasses fill in how to start it, subscribe and publish."""

    name = "?"
    protos: frozenset[str] = frozenset()
    resume = False  # supports the reconnect-storm workload

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir / self.name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path = self.workdir / "server.log"

    # -- lifecycle
    def available(self) -> str | None:
        """None when the server can run here, else the reason it cannot."""
        return None

    def install(self, log: Callable[[str], None]) -> None:
        """Install whatever the server needs (idempotent)."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def ports(self) -> list[int]:
        return [self.port]

    def start(self) -> None:
        self.port = free_port()
        self.prepare()
        with open(self.log_path, "ab") as logf:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.command(),
                stdout=logf,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        for p in self.ports():
            wait_port(p, self.proc)

    def prepare(self) -> None:
        """Write config files before start (ports are known by then)."""

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def stop(self) -> None:
        """Stop the process group we started (SIGTERM, then SIGKILL after 10 s)."""
        if not self.proc:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self.proc = None

    # -- what the load generator does against it
    def sub_args(self, proto: str) -> list[str]:
        raise NotImplementedError

    def pub_args(self) -> list[str]:
        raise NotImplementedError

    def version(self) -> str:
        return ""


class Nchan(Server):
    """nginx-light + nchan, one worker, private prefix, 127.0.0.1 only."""

    name = "nchan"
    protos = frozenset({"ws", "sse"})

    def available(self) -> str | None:
        return None if shutil.which("apt-get") or shutil.which("nginx") else "no nginx and no apt-get"

    def install(self, log: Callable[[str], None]) -> None:
        ensure_nchan(log)

    def prepare(self) -> None:
        w = self.workdir
        for d in ("logs", "tmp"):
            (w / d).mkdir(exist_ok=True)
        conf = f"""load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
worker_rlimit_nofile {resource.getrlimit(resource.RLIMIT_NOFILE)[1]};
daemon off;
pid {w}/nginx.pid;
error_log {w}/logs/error.log warn;
events {{ worker_connections 32768; use epoll; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {w}/tmp/body;
    proxy_temp_path {w}/tmp/proxy;
    fastcgi_temp_path {w}/tmp/fastcgi;
    uwsgi_temp_path {w}/tmp/uwsgi;
    scgi_temp_path {w}/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    nchan_max_reserved_memory 256M;
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;
        location = /pub/chat {{
            nchan_publisher http;
            nchan_channel_id chat;
            nchan_message_buffer_length 1000;
            nchan_message_timeout 60s;
        }}
        location = /sub/chat {{
            nchan_subscriber websocket eventsource;
            nchan_channel_id chat;
            nchan_subscriber_first_message newest;
        }}
    }}
}}
"""
        (w / "nginx.conf").write_text(conf)

    def command(self) -> list[str]:
        return ["nginx", "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf")]

    def sub_args(self, proto: str) -> list[str]:
        return ["--proto", proto, "--sub-path", "/sub/chat"]

    def pub_args(self) -> list[str]:
        return ["--pub", "http", "--pub-path", "/pub/chat", "--pub-body", "%P"]

    def version(self) -> str:
        nginx = (
            subprocess.run(["nginx", "-v"], check=False, capture_output=True, text=True)
            .stderr.strip()
            .split("/")[-1]
        )
        mod = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-nchan"],
            check=False,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return f"nginx {nginx}, nchan {mod}"


class VenvPeer(Server):
    """A peer written in Python, run from the harness's own venv."""

    script = ""

    def install(self, log: Callable[[str], None]) -> None:
        ensure_venv(log)

    def version(self) -> str:
        py = VENV / "bin" / "python"
        code = (
            "import importlib.metadata as m, sys\n"
            "print(', '.join(f'{p} {m.version(p)}' for p in sys.argv[1:]))"
        )
        names = self.dists
        return subprocess.run(
            [str(py), "-c", code, *names], check=False, capture_output=True, text=True
        ).stdout.strip()

    dists: tuple[str, ...] = ()


class WebsocketsPeer(VenvPeer):
    """websockets.broadcast on uvloop; HTTP ``POST /publish`` on a second port."""

    name = "websockets"
    protos = frozenset({"ws"})
    dists = ("websockets", "uvloop")

    def start(self) -> None:
        self.pub_port = free_port()
        super().start()

    def ports(self) -> list[int]:
        return [self.port, self.pub_port]

    def command(self) -> list[str]:
        return [
            str(VENV / "bin" / "python"),
            str(HERE / "peers" / "ws_broadcast.py"),
            "--port",
            str(self.port),
            "--pub-port",
            str(self.pub_port),
        ]

    def sub_args(self, proto: str) -> list[str]:
        return ["--proto", "ws", "--sub-path", "/"]

    def pub_args(self) -> list[str]:
        return [
            "--pub",
            "http",
            "--pub-port",
            str(self.pub_port),
            "--pub-path",
            "/publish",
            "--pub-body",
            "%P",
        ]


class SseStarlettePeer(VenvPeer):
    """sse-starlette on uvicorn (uvloop, httptools): a queue per subscriber."""

    name = "sse-starlette"
    protos = frozenset({"sse"})
    dists = ("sse-starlette", "starlette", "uvicorn", "uvloop", "httptools")

    def command(self) -> list[str]:
        return [
            str(VENV / "bin" / "python"),
            str(HERE / "peers" / "sse_starlette_app.py"),
            "--port",
            str(self.port),
        ]

    def sub_args(self, proto: str) -> list[str]:
        return ["--proto", "sse", "--sub-path", "/sse"]

    def pub_args(self) -> list[str]:
        return ["--pub", "http", "--pub-path", "/publish", "--pub-body", "%P"]


AUTH_HELLO = (
    '{"channel":"system","cursor":null,"client_id":null,'
    '"payload":{"type":"auth","client_id":"%u","token":null,'
    '"capabilities":["chat"],"resume_cursor":null,"resume_cursors":%R}}'
)
PONG = '{"channel":"system","cursor":null,"client_id":null,"payload":{"type":"pong"}}'


class Pushwire(Server):
    """pushwire itself, via ``pushwire-serve`` from /work/main/.venv.

    Subscribe: WebSocket ``/rps`` + auth op (``resume_cursors`` carries the storm's resume point), ready on
    ``auth_ok``; SSE ``/rps/sse?client_id=..&channels=chat``, ready on the ``auth_ok`` event.  Publish:
    ``POST /rps/publish`` with the API key.  When pushwire grows a faster publish path, change
    :meth:`pub_args` only (the loadgen also has ``--pub ws`` with ``--pub-hello``).
    """

    name = "pushwire"
    protos = frozenset({"ws", "sse"})
    resume = True

    def available(self) -> str | None:
        if not (REPO / "pushwire" / "cli.py").exists() or not (REPO / "pushwire" / "app.py").exists():
            return "pushwire/cli.py or pushwire/app.py does not exist yet"
        if not PUSHWIRE_PY.exists():
            return f"{PUSHWIRE_PY} missing"
        return None

    def command(self) -> list[str]:
        script = REPO / ".venv" / "bin" / "pushwire-serve"
        head = [str(script)] if script.exists() else [str(PUSHWIRE_PY), "-m", "pushwire.cli"]
        return head + [
            "--host", "127.0.0.1", "--port", str(self.port), "--publish-api-key", API_KEY, "--no-demo",
            "--log-level", "warning",
        ]  # fmt: skip

    def sub_args(self, proto: str) -> list[str]:
        if proto == "ws":
            return [
                "--proto", "ws", "--sub-path", "/rps", "--hello", AUTH_HELLO, "--ready-match", '"auth_ok"',
                "--ping-match", '"type":"ping"', "--ping-reply", PONG, "--resume-key", "chat",
            ]  # fmt: skip
        return [
            "--proto",
            "sse",
            "--sub-path",
            "/rps/sse?client_id=%u&channels=chat",
            "--ready-match",
            '"auth_ok"',
        ]

    def pub_args(self) -> list[str]:
        return [
            "--pub", "http", "--pub-path", "/rps/publish", "--pub-header", f"Authorization: Bearer {API_KEY}",
            "--pub-body", '{"channel":"chat","payload":%P}',
        ]  # fmt: skip

    def version(self) -> str:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            check=False,
            capture_output=True,
            text=True,
        )
        return f"pushwire {rev.stdout.strip()}"


SERVERS: dict[str, type[Server]] = {
    "pushwire": Pushwire,
    "nchan": Nchan,
    "websockets": WebsocketsPeer,
    "sse-starlette": SseStarlettePeer,
}

# -------------------------------------------------------------- workloads


@dataclasses.dataclass(frozen=True)
class Workload:
    """One cell row: a protocol, a subscriber count and a publishing discipline."""

    name: str
    title: str
    proto: str
    subs: int
    mode: str  # open | closed | idle | storm
    rate: float = 0.0
    window: int = 0
    needs_resume: bool = False

    def pub_conns(self) -> int:
        """Publisher connections: HTTP publishing is request/response, so in-flight publishes <= connections.

        Open loop gets 64 so that no server's publish latency caps its rate (pushwire answers a POST after its
        fan-out: with 4 connections it published 3x less); closed loop gets one per allowed in-flight publish.
        """
        if self.mode == "open":
            return 64
        if self.mode == "closed":
            return max(4, min(self.window, 64))
        return 1

    def args(self, duration: float) -> list[str]:
        a = ["--subs", str(self.subs), "--mode", self.mode, "--pub-conns", str(self.pub_conns())]
        if self.mode == "open":
            a += ["--rate", str(self.rate), "--duration", str(duration)]
        elif self.mode == "closed":
            a += ["--window", str(self.window), "--duration", str(duration), "--msg-timeout", "20"]
        elif self.mode == "idle":
            a += ["--idle-settle", "2"]
        elif self.mode == "storm":
            a += ["--storm-pre", "10", "--storm-missed", "100", "--storm-timeout", "60"]
        return a

    def time_bound(self, duration: float) -> float:
        """Upper bound of one loadgen run (seconds), used as the subprocess timeout."""
        connect = 120 if self.subs > 2000 else 60
        warm, drain, storm, margin = 10, 60, 120, 30
        return connect + duration + warm + drain + (storm if self.mode == "storm" else 0) + margin


# (name suffix, subscribers, mode, rate, window, description)
_FANOUT = [
    ("_open_100", 1000, "open", 100, 0, "1,000 subscribers, open loop 100 publishes/s"),
    ("_open_1000", 1000, "open", 1000, 0, "1,000 subscribers, open loop 1,000 publishes/s"),
    ("_open_5000", 1000, "open", 5000, 0, "1,000 subscribers, open loop 5,000 publishes/s"),
    ("_closed_1", 1000, "closed", 0, 1, "1,000 subscribers, closed loop, 1 in flight"),
    ("_closed_64", 1000, "closed", 0, 64, "1,000 subscribers, closed loop, 64 in flight"),
    ("10k_closed_1", 10000, "closed", 0, 1, "10,000 subscribers, closed loop, 1 in flight"),
    ("10k_closed_64", 10000, "closed", 0, 64, "10,000 subscribers, closed loop, 64 in flight"),
]


def _fanout(proto: str, label: str) -> list[Workload]:
    return [
        Workload(f"{proto}{sfx}", f"{label}, {desc}", proto, subs, mode, rate=rate, window=win)
        for sfx, subs, mode, rate, win, desc in _FANOUT
    ]


WORKLOADS: list[Workload] = [
    *_fanout("ws", "WebSocket"),
    *_fanout("sse", "SSE"),
    Workload("idle_ws_1k", "Idle memory, 1,000 WebSocket connections", "ws", 1000, "idle"),
    Workload("idle_ws_10k", "Idle memory, 10,000 WebSocket connections", "ws", 10000, "idle"),
    Workload("idle_sse_1k", "Idle memory, 1,000 SSE connections", "sse", 1000, "idle"),
    Workload("idle_sse_10k", "Idle memory, 10,000 SSE connections", "sse", 10000, "idle"),
    Workload(
        "storm_ws",
        "Reconnect storm: 1,000 WebSocket clients drop and resume, 100 missed each",
        "ws",
        1000,
        "storm",
        needs_resume=True,
    ),
]
WORKLOADS_BY_NAME = {w.name: w for w in WORKLOADS}


def select_workloads(spec: str | None) -> list[Workload]:
    """Comma list of names or prefixes (``ws`` = every WebSocket fan-out cell, ``ws_`` = the 1,000-subscriber
    ones, ``idle`` = the memory cells); None = all."""
    if not spec:
        return list(WORKLOADS)
    out: list[Workload] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        hits = [w for w in WORKLOADS if w.name == part] or [w for w in WORKLOADS if w.name.startswith(part)]
        if not hits:
            raise SystemExit(f"unknown workload {part!r}; known: {', '.join(WORKLOADS_BY_NAME)}")
        out += [w for w in hits if w not in out]
    return out


def applicable(server: Server, wl: Workload) -> bool:
    return wl.proto in server.protos and (server.resume or not wl.needs_resume)


# ---------------------------------------------------------------- running


def run_loadgen(
    loadgen: Path, server: Server, wl: Workload, duration: float, extra: Iterable[str] = ()
) -> dict[str, Any]:
    """One loadgen run against a running server; returns its JSON result (or an error record)."""
    cmd = [
        str(loadgen), "--host", "127.0.0.1", "--port", str(server.port), "--src-addrs", "8",
        *server.sub_args(wl.proto), *server.pub_args(), *wl.args(duration), *extra,
    ]  # fmt: skip
    for pid in server.pids():
        cmd += ["--server-pid", str(pid)]
    t0 = time.monotonic()
    try:
        cp = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=wl.time_bound(duration))
    except subprocess.TimeoutExpired:
        return {"error": f"loadgen timed out after {wl.time_bound(duration):.0f} s", "cmd": cmd}
    lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("{")]
    if cp.returncode != 0 or not lines:
        return {"error": f"loadgen exit {cp.returncode}: {cp.stderr.strip()[-500:]}", "cmd": cmd}
    res: dict[str, Any] = json.loads(lines[-1])
    res["wall_s"] = round(time.monotonic() - t0, 3)
    res["cmd"] = cmd
    return res


def run_cell(
    loadgen: Path, server: Server, wl: Workload, duration: float, log: Callable[[str], None]
) -> dict[str, Any]:
    """Fresh server, one loadgen run, server stopped again (clean RSS and CPU per run)."""
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - report any start failure as a cell error
        server.stop()
        return {"error": f"server start failed: {exc}"}
    try:
        time.sleep(0.3)  # let the server finish start-up work before the RSS baseline
        res = run_loadgen(loadgen, server, wl, duration)
    finally:
        server.stop()
    res["load_avg"] = os.getloadavg()[0]
    return res


# ---------------------------------------------------------------- summary

METRICS = {
    "pub_rate": ("pub_rate",),
    "deliv_rate": ("deliv_rate",),
    "p50_us": ("lat_us", "p50"),
    "p99_us": ("lat_us", "p99"),
    "p999_us": ("lat_us", "p999"),
    "server_cpu_pct": ("server", "cpu_pct"),
    "server_user_s": ("server", "cpu_user_s"),
    "server_sys_s": ("server", "cpu_sys_s"),
    "rss_before_kb": ("server", "rss_before_kb"),
    "rss_connected_kb": ("server", "rss_connected_kb"),
    "rss_end_kb": ("server", "rss_end_kb"),
    "rss_per_conn_kb": ("server", "rss_per_conn_kb"),
    "pss_before_kb": ("server", "pss_before_kb"),
    "pss_connected_kb": ("server", "pss_connected_kb"),
    "pss_end_kb": ("server", "pss_end_kb"),
    "loadgen_cpu_pct": ("loadgen", "cpu_pct"),
    "deliveries_per_recv": ("loadgen", "deliveries_per_recv"),
    "others_pct": ("machine", "others_pct"),
    "connect_s": ("connect_s",),
    "storm_all_whole_s": ("storm", "all_whole_s"),
    "storm_p50_whole_s": ("storm", "p50_whole_s"),
    "storm_p99_whole_s": ("storm", "p99_whole_s"),
}
SUMS = ("lost", "dup", "pub_errors", "subs_failed", "disconnects", "abandoned")


def _get(d: dict[str, Any], path: tuple[str, ...]) -> float | None:
    cur: Any = d
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return float(cur) if isinstance(cur, (int, float)) else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the performance metrics over good runs; sums of the correctness counters over all runs."""
    good = [r for r in runs if "mode" in r]
    out: dict[str, Any] = {"runs": len(runs), "good_runs": len(good)}
    for key, path in METRICS.items():
        vals = [v for r in good if (v := _get(r, path)) is not None]
        out[key] = statistics.median(vals) if vals else None
    for key in SUMS:
        out[key] = sum(int(r.get(key, 0)) for r in good)
    errors = sorted({str(r["error"]) for r in runs if r.get("error")})
    out["errors"] = errors
    return out


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "load_avg_at_start": os.getloadavg(),
    }


def _ms(us: float | None) -> str:
    if us is None:
        return "-"
    ms = us / 1000
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:,.0f}"


def _num(v: float | None, fmt: str = "{:,.0f}") -> str:
    return "-" if v is None else fmt.format(v)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


METHOD = (
    "How it is measured: one C load generator (`bench/fanout/loadgen.c`, epoll, one thread) holds every "
    "subscriber connection and also publishes, so the publish timestamp inside each 64-byte payload and the "
    "receive timestamp come from the same `CLOCK_MONOTONIC`. Latency is publish-to-receive per delivery "
    "(open loop: from the *scheduled* publish time, so a server that cannot keep up shows it as latency). "
    "Publishing is `POST` over keep-alive HTTP connections, the same for every server: 64 in open loop, one "
    "per allowed in-flight publish in closed loop (at least 4), because a POST is request/response and "
    "pushwire answers it after the fan-out. Closed loop: a publish stays "
    "in flight until every subscriber has it. Every subscriber keeps a seen-set, so `lost` (acknowledged "
    "publishes x subscribers - unique deliveries) and `dup` are exact. Server CPU is from `/proc/<pid>/stat` "
    "(process tree) over the measured phase, in % of one core; memory is PSS summed over the process tree "
    "(nginx's master and worker share pages), per-connection memory is the RSS growth while connecting "
    "divided by the connections; `others %` is CPU used on the machine by processes that were neither the "
    "server nor the load generator (this machine is shared: high values mean a noisy run). "
    "Ratios are against nchan in the same table."
)
FANOUT_HEADER = (
    "| server | publishes/s | deliveries/s | p50 ms | p99 ms | p99.9 ms | lost | dup | server CPU % "
    "(user/sys s) | server PSS MB | loadgen CPU % | others % | deliveries/s vs nchan | p99 vs nchan |"
)
IDLE_HEADER = (
    "| server | connect all (s) | PSS before MB | PSS connected MB | RSS KB per connection | server CPU s "
    "while connecting | failed | KB/conn vs nchan |"
)


def render_markdown(doc: dict[str, Any]) -> str:
    """The fan-out section of docs/benchmarks.md from a results document."""
    m = doc["machine"]
    cells: dict[str, dict[str, Any]] = doc["cells"]
    quick = "  **(quick smoke run: one short run per cell, not for quoting)**" if doc["quick"] else ""
    lines = [
        "## Fan-out (bench/fanout)",
        "",
        "Generated by `bench/fanout/run.py`; do not edit by hand (re-run it).",
        "",
        f"- Date: {doc['date']}{quick}",
        f"- Command: `{doc['command']}`",
        (
            f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; "
            f"load average at start {m['load_avg_at_start'][0]:.2f}"
        ),
        "- Servers: " + "; ".join(f"{k}: {v}" for k, v in doc["versions"].items()),
        (
            f"- Runs per cell: {doc['runs_per_cell']} (medians; `lost`/`dup` are sums over all runs); "
            f"measured phase {doc['duration_s']} s per run; a fresh server process for every run."
        ),
        "",
        METHOD,
        "",
        LEGEND,
        "",
    ]
    servers = doc["servers"]
    for wl in WORKLOADS:
        rows = [(s, cells.get(f"{s}/{wl.name}")) for s in servers]
        rows = [(s, c) for s, c in rows if c]
        if not rows:
            continue
        lines += [f"### {wl.title}", ""]
        base = cells.get(f"nchan/{wl.name}")
        if wl.mode in ("open", "closed"):
            lines += [
                FANOUT_HEADER,
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for s, c in rows:
                rss = _kb_mb(c.get("pss_end_kb") or c["rss_end_kb"])
                lines.append(
                    f"| {s}{_flags(c)} | {_num(c['pub_rate'])} | {_num(c['deliv_rate'])} | {_ms(c['p50_us'])} | "
                    f"{_ms(c['p99_us'])} | {_ms(c['p999_us'])} | {c['lost']:,} | {c['dup']:,} | "
                    f"{_num(c['server_cpu_pct'])} ({_num(c['server_user_s'], '{:.2f}')}/"
                    f"{_num(c['server_sys_s'], '{:.2f}')}) | {_num(rss, '{:.1f}')} | "
                    f"{_num(c['loadgen_cpu_pct'])} | {_num(c['others_pct'])} | "
                    f"{_ratio(c['deliv_rate'], base and base['deliv_rate'])} | "
                    f"{_ratio(c['p99_us'], base and base['p99_us'])} |"
                )
        elif wl.mode == "idle":
            lines += [
                IDLE_HEADER,
                "|---|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for s, c in rows:
                cpu = None if c["server_user_s"] is None else c["server_user_s"] + (c["server_sys_s"] or 0)
                lines.append(
                    f"| {s} | {_num(c['connect_s'], '{:.2f}')} | "
                    f"{_num(_kb_mb(c.get('pss_before_kb') or c['rss_before_kb']), '{:.1f}')} | "
                    f"{_num(_kb_mb(c.get('pss_connected_kb') or c['rss_connected_kb']), '{:.1f}')} | "
                    f"{_num(c['rss_per_conn_kb'], '{:.1f}')} | "
                    f"{_num(cpu, '{:.2f}')} | {c['subs_failed']:,} | "
                    f"{_ratio(c['rss_per_conn_kb'], base and base['rss_per_conn_kb'])} |"
                )
        else:
            lines += [
                "| server | all whole (s) | p50 whole (s) | p99 whole (s) | lost | dup | failed |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for s, c in rows:
                lines.append(
                    f"| {s} | {_num(c['storm_all_whole_s'], '{:.3f}')} | "
                    f"{_num(c['storm_p50_whole_s'], '{:.3f}')} | "
                    f"{_num(c['storm_p99_whole_s'], '{:.3f}')} | {c['lost']:,} | {c['dup']:,} | "
                    f"{c['subs_failed']:,} |"
                )
        if wl.mode == "open":
            behind = [s for s, c in rows if (c["pub_rate"] or 0) < 0.9 * wl.rate]
            if behind:
                note = (
                    f"Below the offered {wl.rate:,.0f} publishes/s: {', '.join(behind)}. For those rows "
                    "publishes/s and deliveries/s are the server's saturation throughput on this machine, and "
                    "the latency is mostly queueing (measured from the scheduled publish time)."
                )
                lines += ["", note]
        errs = [(s, e) for s, c in rows for e in c["errors"]]
        if errs:
            lines += ["", "Errors reported: " + "; ".join(f"{s}: {e}" for s, e in errs)]
        lines.append("")
    if doc.get("skipped"):
        lines += ["### Not run", ""] + [f"- {k}: {v}" for k, v in doc["skipped"].items()] + [""]
    return "\n".join(lines)


LOADGEN_BUSY_PCT = 85.0
NOISY_OTHERS_PCT = 50.0
LEGEND = (
    f"Marks: † the load generator used more than {LOADGEN_BUSY_PCT:.0f}% of a core (the row may be limited by "
    f"it, read it as a lower bound); * other processes used more than {NOISY_OTHERS_PCT:.0f}% of a core during "
    "the run (noisy). On this 2-core machine the server and the load generator share the CPUs. The load "
    "generator's own work is about 0.2 µs per delivery; the rest of its time is the kernel's receive work per "
    "TCP segment, so it costs more against a server that writes each message to each subscriber as its own "
    "segment (nchan: about 3 deliveries per `recv()`) than against one that coalesces frames (pushwire: about "
    "20). `deliveries_per_recv` is in the results JSON."
)


def _flags(c: dict[str, Any]) -> str:
    marks = ""
    if (c.get("loadgen_cpu_pct") or 0) > LOADGEN_BUSY_PCT:
        marks += " †"
    if (c.get("others_pct") or 0) > NOISY_OTHERS_PCT:
        marks += " *"
    return marks


def _kb_mb(v: float | None) -> float | None:
    return None if v is None else v / 1024
