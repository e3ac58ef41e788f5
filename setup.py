"""Build the Cython extensions of pushwire._core.

Every ``pushwire/_core/*.pyx`` becomes ``pushwire._core.<name>``. Cython is a build requirement only
(pyproject.toml); wheels carry the compiled modules.
"""

from __future__ import annotations

import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
CORE = HERE / "pushwire" / "_core"


def core_extensions() -> list[Extension]:
    extra_compile_args = ["-O2"]
    if os.environ.get("PUSHWIRE_DEBUG_BUILD"):
        extra_compile_args = ["-O0", "-g"]
    return [
        Extension(
            f"pushwire._core.{pyx.stem}",
            [str(pyx.relative_to(HERE))],
            extra_compile_args=extra_compile_args,
        )
        for pyx in sorted(CORE.glob("*.pyx"))
    ]


setup(
    ext_modules=cythonize(
        core_extensions(),
        compiler_directives={"language_level": "3", "embedsignature": True},
        annotate=False,
    ),
)
