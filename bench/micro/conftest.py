"""Shared set-up of the micro benchmarks (pytest-benchmark).

Two uses of the same benchmarks:

- the regression gate, ``bash scripts/bench-micro.sh``: only tests marked ``gate`` run (the compiled core and
  the hub publish path), compared with the baseline saved under ``bench/micro/baseline/``;
- the ratio table, ``bash scripts/bench-micro.sh --table``: every test, compiled and pure-Python model side by
  side in one pytest-benchmark group per workload.

Every benchmark uses ``benchmark.pedantic`` with fixed iterations per round and fixed rounds, so two runs time
exactly the same work (pytest-benchmark's own calibration would pick a different number of iterations per
round depending on the machine's load at that moment).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # ``tests.core.models`` is imported from the repository root

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gate: micro benchmark of shipped code, compared with bench/micro/baseline by the gate")


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Record what the numbers depend on besides the CPU: the Cython and orjson versions."""
    import Cython
    import orjson

    machine_info["cython"] = Cython.__version__
    machine_info["orjson"] = orjson.__version__
