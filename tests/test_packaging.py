"""The wheel: built from a clean copy by the PEP 517 build (Cython only as a build requirement), installed into a
fresh virtual environment, where every compiled module imports and the console script answers."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE_MODULES = ["codec", "wsframe", "lanes", "replay", "chunker", "bucket", "fanout", "httphead"]
COMPILED_SAMPLE = ["pushwire.protocol.session", "pushwire.protocol.http11", "pushwire.server.websocket",
                   "pushwire.server.service", "pushwire.hub.hub", "pushwire.server.sockwrite"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_builds_installs_and_imports_in_a_fresh_venv(tmp_path: Path) -> None:
    source = tmp_path / "src"
    # a clean copy: no compiled modules or .venv from the working tree can leak into the wheel
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "dist", "*.egg-info", "*.so", "*.c", "__pycache__", ".pytest_cache",
        ".hypothesis", ".benchmarks", "results", ".work", ".autobahn-report"))
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)],
                   check=True, capture_output=True, timeout=540)
    (wheel,) = dist.glob("pushwire-*.whl")
    assert "cp311" in wheel.name or "cp3" in wheel.name  # a platform wheel, with compiled modules
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    imports = "; ".join(f"import pushwire._core.{name}" for name in CORE_MODULES)
    check = subprocess.run([str(python), "-c", f"{imports}; import pushwire, Cython"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)
    # Cython is a build requirement only: it must not be installed at run time
    assert "No module named 'Cython'" in check.stderr, check.stderr
    ok = subprocess.run([str(python), "-c", f"{imports}; import pushwire; print(pushwire.__version__)"],
                        capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "0.1.0"
    # the plain-Python modules on the connection and publish paths are compiled too (setup.py COMPILED_PY)
    where = subprocess.run([str(python), "-c", "import importlib; print(' '.join(importlib.import_module(m).__file__ "
                            f"for m in {COMPILED_SAMPLE!r}))"], capture_output=True, text=True, cwd=tmp_path,
                           timeout=60)
    assert where.returncode == 0, where.stderr
    assert all(path.endswith(".so") for path in where.stdout.split()), where.stdout
    help_text = subprocess.run([str(env_dir / "bin" / "pushwire-serve"), "--help"], capture_output=True,
                               text=True, timeout=60)
    assert help_text.returncode == 0 and "pushwire-serve" in help_text.stdout
