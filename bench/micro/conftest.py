"""Shared set-up of the micro benchmarks (pytest-benchmark).

Two uses of the same benchmarks:

- the regression gate, ``bash scripts/bench-micro.sh``: only tests marked ``gate`` run (the compiled core and
  the hub publish path), compared with the baseline saved under ``bench/micro/baseline/``;
- the ratio table, ``bash scripts/bench-micro.sh --table``: every test, compiled and pure-Python model side by
  side in one pytest-benchmark group per workload.

Every benchmark goes through the ``measure`` fixture: ``benchmark.pedantic`` with fixed iterations per round
and fixed rounds, so two runs time exactly the same work (pytest-benchmark's own calibration would pick a
different number of iterations per round depending on the machine's load at that moment). The machine is
shared and noisy, so each benchmark sets its iterations for rounds of about 300 us (long enough to average
out the short slow spells of this VM, short enough that few rounds contain a preemption), and a gated
benchmark gets ``GATE_ROUNDS`` of them, about half a second: a burst of load spoils a minority of the rounds
and the median ignores them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # ``tests.core.models`` is imported from the repository root

#: rounds of a gated benchmark (compiled code, compared with the baseline): many, so the median is stable
GATE_ROUNDS = 1500
#: rounds of the other benchmarks (the pure-Python models and other libraries: ratio table only)
TABLE_ROUNDS = 300
WARMUP_ROUNDS = 20


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gate: micro benchmark of shipped code, compared with bench/micro/baseline by the gate")


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Record what the numbers depend on besides the CPU: Cython, orjson, and how the core was compiled.

    The compiler flags matter: ``setup.py build_ext`` compiles with ``-O2``, ``cythonize -i`` with Python's
    default ``-O3``, and ``validate_utf8`` alone is ~25% apart between the two. A baseline is only comparable
    with a run of the same build; ``scripts/bench-micro.sh`` warns when they differ.
    """
    import Cython
    import orjson

    machine_info["cython"] = Cython.__version__
    machine_info["orjson"] = orjson.__version__
    machine_info["pushwire_core_build"] = core_build()


def core_build() -> dict[str, str]:
    """``{module: extra compile args}`` of each compiled core module (the Cython metadata of its ``.c``)."""
    build = {}
    for c_file in sorted((ROOT / "pushwire" / "_core").glob("*.c")):
        text = c_file.read_text(errors="replace")[:4000]
        start, end = text.find("BEGIN: Cython Metadata"), text.find("END: Cython Metadata")
        args = "?"
        if start != -1 and end != -1:
            try:
                metadata = json.loads(text[start + len("BEGIN: Cython Metadata"):end])
                distutils = metadata.get("distutils", {})
                args = " ".join(distutils.get("extra_compile_args", [])) or "default CFLAGS"
            except ValueError:
                pass
        build[c_file.stem] = args
    return build


@pytest.fixture
def measure(benchmark: Any, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Return ``run(fn, *args, iterations=..., rounds=None, setup=None, **kwargs)``: benchmark ``fn(*args,
    **kwargs)`` and return its result.

    ``iterations`` is the number of calls per timed round: an int, or a mapping from the test's parameter id
    (``cython``, ``model``, ...) to an int, so that every implementation gets rounds of a similar length.
    ``rounds`` defaults to ``GATE_ROUNDS`` for a test marked ``gate`` and ``TABLE_ROUNDS`` otherwise.
    ``setup`` runs before every round, untimed (pytest-benchmark then requires ``iterations=1``).
    """
    gated = request.node.get_closest_marker("gate") is not None
    callspec = getattr(request.node, "callspec", None)
    param_id = callspec.id if callspec is not None else None

    def run(fn: Callable[..., Any], *args: Any, iterations: int | Mapping[str, int],
            rounds: int | None = None, setup: Callable[[], None] | None = None, **kwargs: Any) -> Any:
        if isinstance(iterations, Mapping):
            iterations = iterations[param_id]
        if rounds is None:
            rounds = GATE_ROUNDS if gated else TABLE_ROUNDS
        return benchmark.pedantic(fn, args=args, kwargs=kwargs, setup=setup, iterations=iterations,
                                  rounds=rounds, warmup_rounds=min(WARMUP_ROUNDS, rounds))

    return run
