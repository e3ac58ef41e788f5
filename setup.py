"""Build the Cython extensions of pushwire.

Every ``pushwire/_core/*.pyx`` becomes ``pushwire._core.<name>``, and ``pushwire/server/*.pyx`` (the I/O
layer's own Cython) ``pushwire.server.<name>``. The plain Python modules on the path of a
connection and of a publish (``COMPILED_PY``) are compiled too, as they are: the ``.py`` file stays the source
and the fallback, and the compiled module, when present, is the one imported. Set ``PUSHWIRE_PURE_PYTHON=1`` to
build only the core. Cython is a build requirement only (pyproject.toml); wheels carry the compiled modules.
"""

from __future__ import annotations

import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
CORE = HERE / "pushwire" / "_core"


#: plain Python modules compiled as they are: setting up a connection spends about 15% less CPU with them
#: compiled (docs/benchmarks.md, "Where the time goes")
COMPILED_PY = [
    "pushwire/metrics.py",
    "pushwire/protocol/channels.py",
    "pushwire/protocol/frames.py",
    "pushwire/protocol/http11.py",
    "pushwire/protocol/messages.py",
    "pushwire/protocol/resume.py",
    "pushwire/protocol/session.py",
    "pushwire/protocol/streams.py",
    "pushwire/protocol/websocket.py",
    "pushwire/hub/hub.py",
    "pushwire/hub/broker/memory.py",
    "pushwire/server/eager.py",
    "pushwire/server/http.py",
    "pushwire/server/outbound.py",
    "pushwire/server/routes.py",
    "pushwire/server/service.py",
    "pushwire/server/websocket.py",
]


def _compile_args() -> list[str]:
    return ["-O0", "-g"] if os.environ.get("PUSHWIRE_DEBUG_BUILD") else ["-O2"]


def core_extensions() -> list[Extension]:
    """Every ``.pyx``: the core's, and the I/O layer's (``pushwire/server/sockwrite.pyx``)."""
    return [
        Extension(".".join(pyx.relative_to(HERE).with_suffix("").parts), [str(pyx.relative_to(HERE))],
                  extra_compile_args=_compile_args())
        for pyx in sorted(CORE.glob("*.pyx")) + sorted((HERE / "pushwire" / "server").glob("*.pyx"))
    ]


def python_extensions() -> list[Extension]:
    if os.environ.get("PUSHWIRE_PURE_PYTHON"):
        return []
    return [Extension(path[:-3].replace("/", "."), [path], extra_compile_args=_compile_args())
            for path in COMPILED_PY]


setup(
    ext_modules=cythonize(
        core_extensions(),
        compiler_directives={"language_level": "3", "embedsignature": True},
        annotate=False,
    ) + cythonize(
        python_extensions(),
        # the modules stay Python: annotations are not C types, functions keep their Python behaviour
        compiler_directives={"language_level": "3", "annotation_typing": False, "binding": True},
        annotate=False,
    ),
)
