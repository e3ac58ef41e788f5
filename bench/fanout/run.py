#!/usr/bin/env python3
"""Run the fan-out benchmark: install the peers, build the load generator, run every cell, write the results.

Usage (system python3 or /work/main/.venv/bin/python; standard library only)::

    python3 bench/fanout/run.py [--quick] [--servers pushwire,nchan,websockets,sse-starlette]
                                [--workloads ws_,sse_closed_64,idle_ws_1k,...] [--runs 3] [--duration 5]

Writes ``bench/fanout/results/fanout-<time>.json`` (every run, every number) and the markdown section
``docs/benchmarks-fanout.md`` (``--quick`` writes ``bench/fanout/results/fanout-quick.md`` instead unless
``--doc`` is given).  Every server listens on 127.0.0.1 only; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness


def log(msg: str) -> None:
    print(f"[fanout {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one short run per cell (smoke test)")
    ap.add_argument("--servers", default=",".join(harness.SERVERS), help="comma list (default: all)")
    ap.add_argument("--workloads", default=None, help="comma list of names or prefixes (default: all)")
    ap.add_argument("--runs", type=int, default=None, help="runs per cell (default 3, --quick 1)")
    ap.add_argument(
        "--duration", type=float, default=None, help="measured seconds per run (default 5, quick 2)"
    )
    ap.add_argument("--doc", default=None, help="markdown output path")
    ap.add_argument("--list", action="store_true", help="list workloads and exit")
    ap.add_argument("--render", metavar="JSON", help="only rewrite the markdown from a results file")
    args = ap.parse_args(argv)

    if args.render:
        saved = json.loads(Path(args.render).read_text())
        path = Path(args.doc) if args.doc else harness.REPO / "docs" / "benchmarks-fanout.md"
        path.write_text(harness.render_markdown(saved))
        log(f"markdown: {path}")
        return 0
    if args.list:
        for w in harness.WORKLOADS:
            print(f"{w.name:18} {w.title}")
        return 0
    runs = args.runs or (1 if args.quick else 3)
    duration = args.duration or (2.0 if args.quick else 5.0)
    runs = max(1, min(runs, 10))
    duration = max(0.5, min(duration, 60.0))
    names = [s.strip() for s in args.servers.split(",") if s.strip()]
    for n in names:
        if n not in harness.SERVERS:
            raise SystemExit(f"unknown server {n!r}; known: {', '.join(harness.SERVERS)}")
    workloads = harness.select_workloads(args.workloads)
    doc_path = (
        Path(args.doc)
        if args.doc
        else (
            harness.RESULTS / "fanout-quick.md"
            if args.quick
            else harness.REPO / "docs" / "benchmarks-fanout.md"
        )
    )

    nofile = harness.raise_nofile()
    log(f"RLIMIT_NOFILE {nofile}")
    loadgen = harness.build_loadgen()
    log(f"loadgen built: {loadgen}")
    workdir = harness.WORK / "servers"
    servers: dict[str, harness.Server] = {}
    skipped: dict[str, str] = {}
    for n in names:
        srv = harness.SERVERS[n](workdir)
        why = srv.available()
        if why:
            skipped[n] = why
            log(f"skipping {n}: {why}")
            continue
        srv.install(log)
        servers[n] = srv

    harness.RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_json = harness.RESULTS / f"fanout-{stamp}{'-quick' if args.quick else ''}.json"
    doc: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": " ".join(
            ["python3 bench/fanout/run.py", *(shlex.quote(a) for a in (argv or sys.argv[1:]))]
        ),
        "quick": args.quick,
        "runs_per_cell": runs,
        "duration_s": duration,
        "machine": harness.machine_info(),
        "versions": {n: s.version() for n, s in servers.items()},
        "servers": list(servers),
        "skipped": skipped,
        "cells": {},
        "raw": {},
    }

    def save() -> None:
        out_json.write_text(json.dumps(doc, indent=1))
        doc_path.parent.mkdir(parents=True, exist_ok=True)
        doc_path.write_text(harness.render_markdown(doc))

    # Interleave servers inside each run round so slow drifts of the shared machine hit every server alike.
    for wl in workloads:
        for n, srv in servers.items():
            if not harness.applicable(srv, wl):
                continue
            doc["raw"][f"{n}/{wl.name}"] = []
        for i in range(runs):
            for n, srv in servers.items():
                key = f"{n}/{wl.name}"
                if key not in doc["raw"]:
                    continue
                res = harness.run_cell(loadgen, srv, wl, duration, log)
                doc["raw"][key].append(res)
                lat = res.get("lat_us", {})
                log(
                    f"{key} run {i + 1}/{runs}: deliv/s {res.get('deliv_rate', 0):,.0f} p99 "
                    f"{lat.get('p99', 0) / 1000:.2f} ms lost {res.get('lost', '-')} "
                    f"dup {res.get('dup', '-')} "
                    f"conn {res.get('connect_s', 0):.2f} s err {res.get('error')}"
                )
        for n in servers:
            key = f"{n}/{wl.name}"
            if key in doc["raw"]:
                doc["cells"][key] = harness.summarise(doc["raw"][key])
        save()
    save()
    log(f"results: {out_json}")
    log(f"markdown: {doc_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
