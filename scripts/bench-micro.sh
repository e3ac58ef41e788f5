#!/usr/bin/env bash
# Micro benchmark regression gate of pushwire (bench/micro, pytest-benchmark). From anywhere:
#
#   bash scripts/bench-micro.sh          run the gated benchmarks (compiled core + hub publish path, marker
#                                        `gate`) and compare them with the baseline in bench/micro/baseline/;
#                                        exit non-zero when a median is more than 15% slower, in this run and
#                                        again in a second run of just the benchmarks that were
#   bash scripts/bench-micro.sh --save   run the gated benchmarks and replace the baseline with this run
#   bash scripts/bench-micro.sh --table  run every micro benchmark (compiled and pure-Python models) three
#                                        times; print the markdown table of docs/benchmarks.md (micro section)
#
# Extra arguments go to pytest, e.g. `bash scripts/bench-micro.sh -k lanes`.
# Environment: PYTHON (default .venv/bin/python); BENCH_MICRO_FAIL (default median:15%);
# BENCH_MICRO_CONFIRM=0 fails on the first run alone; BENCH_MICRO_STORAGE (default bench/micro/baseline; keep
# it inside the repository: pytest-benchmark 5.3 crashes on a storage outside it when machine_info differs);
# BENCH_MICRO_RUNS (--table, default 3).
#
# The baseline only means something on the machine (and Python, Cython, compiler) that saved it: on another
# machine, or after an intended change of speed, run --save and commit bench/micro/baseline/.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
STORAGE=${BENCH_MICRO_STORAGE:-bench/micro/baseline}
FAIL=${BENCH_MICRO_FAIL:-median:15%}
RUNS=${BENCH_MICRO_RUNS:-3}
# the same hash seed in every run: dict and set layouts (and so the work done) do not change between runs
export PYTHONHASHSEED=0

mode=compare
case "${1:-}" in
    --save) mode=save; shift ;;
    --table) mode=table; shift ;;
    --compare) shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
esac

# no pytest cache (it would write .pytest_cache); no GC pauses landing in random rounds
pytest_args=(-m pytest -q -p no:cacheprovider --benchmark-only --benchmark-disable-gc
             --benchmark-storage="$STORAGE" --benchmark-sort=fullname
             --benchmark-columns=median,iqr,min,rounds,iterations)
machine_id=$("$PY" -c 'from pytest_benchmark.utils import get_machine_id; print(get_machine_id())')
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Print the gated benchmarks of run JSON $1 whose $FAIL field (e.g. median) is beyond the threshold against
# the baseline in directory $2 (the test pytest-benchmark applies); warn about those with no baseline entry.
cat >"$tmp/suspects.py" <<'PYEOF'
import json, pathlib, re, sys
run_path, baseline_dir, fail = sys.argv[1:4]
if not pathlib.Path(run_path).exists():
    sys.exit(0)
run = json.loads(pathlib.Path(run_path).read_text())
current = {b["fullname"]: b["stats"] for b in run["benchmarks"]}
saved = {}
for path in sorted(pathlib.Path(baseline_dir).glob("*.json")):
    baseline = json.loads(path.read_text())
    saved.update({b["fullname"]: b["stats"] for b in baseline["benchmarks"]})
    build_now = run["machine_info"].get("pushwire_core_build", {})
    build_then = baseline["machine_info"].get("pushwire_core_build", {})
    changed = [f"{m} ('{build_now[m]}', baseline '{build_then[m]}')"
               for m in sorted(set(build_now) & set(build_then)) if build_now[m] != build_then[m]]
    if changed:
        print(f"bench-micro: WARNING: core modules built unlike the baseline: {', '.join(changed)}; "
              "compiler flags alone move some medians by 25%", file=sys.stderr)
for name in sorted(set(current) - set(saved)):
    print(f"bench-micro: WARNING: {name} has no baseline, not compared (--save adds it)", file=sys.stderr)
check = re.fullmatch(r"(min|max|mean|median|stddev|iqr):([0-9]+)%", fail)
if check:
    field, percent = check.group(1), int(check.group(2))
    for name in sorted(set(current) & set(saved)):
        if current[name][field] > saved[name][field] * (1 + percent / 100):
            print(name)
PYEOF

# Render runs' JSON files as the markdown table: per group, the median of the runs' medians, and the ratios.
cat >"$tmp/table.py" <<'PYEOF'
import json, pathlib, re, statistics, sys
from collections import defaultdict

medians = defaultdict(list)  # (group, fullname) -> each run's median, in seconds
for path in sys.argv[1:]:
    data = json.loads(pathlib.Path(path).read_text())
    machine = data["machine_info"]
    for bench in data["benchmarks"]:
        medians[(bench["group"], bench["fullname"])].append(bench["stats"]["median"])


def impl(fullname):
    """The parameter id (cython, model, websockets, ...), or the test's name when it has none."""
    match = re.search(r"\[(.+)\]$", fullname)
    return match.group(1) if match else fullname.rsplit("::", 1)[-1].removeprefix("test_")


def times(ratio):
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.2f}x"


def fmt(seconds):
    for unit, scale in (("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        value = seconds * scale
        if value >= 1:
            return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


groups = defaultdict(dict)
for (group, fullname), values in medians.items():
    groups[group][impl(fullname)] = statistics.median(values)
cpu = machine.get("cpu", {})
commit = data.get("commit_info", {})
print(f"Commit {commit.get('id', '?')[:10]}{' (uncommitted changes)' if commit.get('dirty') else ''}, "
      f"{commit.get('time', '?')}.")
print(f"Machine: {cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} cores; "
      f"{machine['python_implementation']} {machine['python_version']}, Cython {machine.get('cython', '?')}, "
      f"orjson {machine.get('orjson', '?')}. Each cell: the median of {len(sys.argv) - 1} runs' medians.\n")
print("| benchmark | Cython | model | model / Cython | others (/ Cython) |")
print("|---|---:|---:|---:|---|")
for group in sorted(groups):
    row = dict(groups[group])
    compiled, model = row.pop("cython", None), row.pop("model", None)
    if compiled is None and len(row) == 1 and model is None:  # a single unparametrised benchmark (publish)
        compiled = row.popitem()[1]
    ratio = times(model / compiled) if compiled and model else "-"
    others = ", ".join(f"{name} {fmt(value)}" + (f" ({times(value / compiled)})" if compiled else "")
                       for name, value in sorted(row.items()))
    print(f"| {group} | {fmt(compiled) if compiled else '-'} | {fmt(model) if model else '-'} | {ratio} "
          f"| {others} |")
PYEOF

case "$mode" in
save)
    # one baseline file per machine id: drop the previous one, so that --benchmark-compare finds this run
    rm -f "$STORAGE/$machine_id"/*.json
    echo "bench-micro: load average before the run: $(loadavg)"
    "$PY" "${pytest_args[@]}" bench/micro -m gate --benchmark-save=baseline "$@"
    ;;
compare)
    if ! ls "$STORAGE/$machine_id"/*.json >/dev/null 2>&1; then
        echo "bench-micro: no baseline for $machine_id in $STORAGE (run --save first)" >&2
        exit 2
    fi
    echo "bench-micro: load average before the run: $(loadavg)"
    status=0
    # (the run's JSON last, so that it wins over a --benchmark-json among the extra arguments)
    "$PY" "${pytest_args[@]}" bench/micro -m gate --benchmark-compare --benchmark-compare-fail="$FAIL" \
        "$@" --benchmark-json="$tmp/run.json" || status=$?
    suspects=$("$PY" "$tmp/suspects.py" "$tmp/run.json" "$STORAGE/$machine_id" "$FAIL")
    if [ "$status" -ne 0 ] && [ -n "$suspects" ] && [ "${BENCH_MICRO_CONFIRM:-1}" != 0 ]; then
        # A burst of load from another process can slow the whole measurement of one benchmark (about half a
        # second). A real regression is slower again in a second run of just the suspects; a burst is not.
        mapfile -t suspect_ids <<<"$suspects"
        echo "bench-micro: ${#suspect_ids[@]} benchmark(s) beyond ${FAIL#*:}; confirming with a second run" \
             "of just those (load average $(loadavg)):" >&2
        printf '    %s\n' "${suspect_ids[@]}" >&2
        status=0
        "$PY" "${pytest_args[@]}" "${suspect_ids[@]}" --benchmark-compare --benchmark-compare-fail="$FAIL" \
            "$@" || status=$?
        if [ "$status" -ne 0 ]; then
            echo "bench-micro: FAILED: the second run confirms it (see 'Performance has regressed' above)" >&2
        fi
    elif [ "$status" -ne 0 ]; then
        echo "bench-micro: FAILED (pytest exit status $status)" >&2
    fi
    if [ "$status" -eq 0 ]; then
        echo "bench-micro: OK: no gated median more than ${FAIL#*:} slower than $STORAGE/$machine_id"
    fi
    exit "$status"
    ;;
table)
    for run in $(seq 1 "$RUNS"); do
        echo "bench-micro: run $run of $RUNS (load average $(loadavg))" >&2
        "$PY" "${pytest_args[@]}" bench/micro "$@" --benchmark-json="$tmp/run$run.json" >/dev/null
    done
    echo "Measured with: bash scripts/bench-micro.sh --table${*:+ $*}"
    echo
    "$PY" "$tmp/table.py" "$tmp"/run*.json
    ;;
esac
