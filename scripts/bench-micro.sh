#!/usr/bin/env bash
# Micro benchmark regression gate of pushwire (bench/micro, pytest-benchmark). From anywhere:
#
#   bash scripts/bench-micro.sh            run the gated benchmarks (compiled core + hub publish path, marker
#                                          `gate`) and compare them with the baseline in bench/micro/baseline/;
#                                          exit non-zero when any median is more than 15% slower
#   bash scripts/bench-micro.sh --save     run the gated benchmarks and replace the baseline with this run
#   bash scripts/bench-micro.sh --table    run every micro benchmark (compiled and pure-Python models) three
#                                          times and print the markdown table of docs/benchmarks-micro.md
#
# Extra arguments go to pytest, e.g. `bash scripts/bench-micro.sh -k lanes`.
# Environment: PYTHON (default .venv/bin/python), BENCH_MICRO_FAIL (default median:15%),
# BENCH_MICRO_RUNS (--table only, default 3).
#
# The baseline is only meaningful on the machine (and Python, Cython, compiler) that saved it: after moving to
# another machine, or after an intended change of speed, run --save and commit bench/micro/baseline/.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
STORAGE=bench/micro/baseline
FAIL=${BENCH_MICRO_FAIL:-median:15%}
RUNS=${BENCH_MICRO_RUNS:-3}
# the same hash seed in every run: dict and set layouts (and so the work done) do not change between runs
export PYTHONHASHSEED=0

mode=compare
case "${1:-}" in
    --save) mode=save; shift ;;
    --table) mode=table; shift ;;
    --compare) shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
esac

# pytest's cache would write .pytest_cache; GC pauses would land in random rounds
pytest_args=(-m pytest bench/micro -q -p no:cacheprovider --benchmark-only --benchmark-disable-gc
             --benchmark-storage="$STORAGE" --benchmark-sort=fullname
             --benchmark-columns=median,iqr,min,rounds,iterations)

machine_id=$("$PY" -c 'from pytest_benchmark.utils import get_machine_id; print(get_machine_id())')

case "$mode" in
save)
    # one baseline file per machine id: drop the previous one so --benchmark-compare finds this run
    rm -f "$STORAGE/$machine_id"/*.json
    exec "$PY" "${pytest_args[@]}" -m gate --benchmark-save=baseline "$@"
    ;;
compare)
    if ! ls "$STORAGE/$machine_id"/*.json >/dev/null 2>&1; then
        echo "bench-micro: no baseline for $machine_id in $STORAGE; run: bash scripts/bench-micro.sh --save" >&2
        exit 2
    fi
    current=$(mktemp --suffix=.json)
    trap 'rm -f "$current"' EXIT
    status=0
    "$PY" "${pytest_args[@]}" -m gate --benchmark-compare --benchmark-compare-fail="$FAIL" \
        --benchmark-json="$current" "$@" || status=$?
    # a gated benchmark that is not in the baseline is not compared at all: say so
    "$PY" - "$current" "$STORAGE/$machine_id" <<'EOF'
import json, pathlib, sys
current = {b["fullname"] for b in json.loads(pathlib.Path(sys.argv[1]).read_text())["benchmarks"]}
saved = set()
for path in pathlib.Path(sys.argv[2]).glob("*.json"):
    saved |= {b["fullname"] for b in json.loads(path.read_text())["benchmarks"]}
for name in sorted(current - saved):
    print(f"bench-micro: WARNING: {name} has no baseline (not compared); run --save to add it", file=sys.stderr)
EOF
    if [ "$status" -eq 0 ]; then
        echo "bench-micro: no median regressed beyond ${FAIL#median:} against $STORAGE/$machine_id"
    fi
    exit "$status"
    ;;
table)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    for run in $(seq 1 "$RUNS"); do
        echo "bench-micro: run $run of $RUNS" >&2
        "$PY" "${pytest_args[@]}" --benchmark-json="$tmp/run$run.json" "$@" >/dev/null
    done
    "$PY" - "$tmp"/run*.json <<'EOF'
"""Print the markdown table: per group, the median of the runs' medians of each implementation, and the ratio."""
import json, pathlib, re, statistics, sys
from collections import defaultdict

medians = defaultdict(list)   # (group, fullname) -> median of each run, seconds
machine = None
for path in sys.argv[1:]:
    data = json.loads(pathlib.Path(path).read_text())
    machine = data["machine_info"]
    for bench in data["benchmarks"]:
        medians[(bench["group"], bench["fullname"])].append(bench["stats"]["median"])

def impl(fullname):
    """The parameter id (cython, model, websockets, ...) or the test name for an unparametrised test."""
    match = re.search(r"\[(.+)\]$", fullname)
    return match.group(1) if match else fullname.rsplit("::", 1)[-1].removeprefix("test_")

def fmt(seconds):
    for unit, scale in (("s", 1), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if seconds * scale >= 1:
            value = seconds * scale
            return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"

groups = defaultdict(dict)
for (group, fullname), values in medians.items():
    groups[group][impl(fullname)] = statistics.median(values)

cpu = machine.get("cpu", {})
print(f"Machine: {cpu.get('brand_raw', machine.get('processor', '?'))}, {cpu.get('count', '?')} cores, "
      f"Python {machine['python_version']} ({machine['python_implementation']}), Cython {machine.get('cython', '?')}, "
      f"orjson {machine.get('orjson', '?')}; median of {len(sys.argv) - 1} runs' medians.\n")
print("| benchmark | Cython | model | model / Cython | others (median, / Cython) |")
print("|---|---:|---:|---:|---|")
for group in sorted(groups):
    row = groups[group]
    compiled = row.pop("cython", None)
    model = row.pop("model", None)
    ratio = f"{model / compiled:.1f}x" if compiled and model else "-"
    others = ", ".join(f"{name} {fmt(value)}" + (f" ({value / compiled:.2f}x)" if compiled else "")
                       for name, value in sorted(row.items()))
    print(f"| {group} | {fmt(compiled) if compiled else '-'} | {fmt(model) if model else '-'} | {ratio} "
          f"| {others} |")
EOF
    ;;
esac
