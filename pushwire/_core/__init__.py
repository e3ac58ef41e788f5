"""Layer 1 of pushwire: the Cython core (pure computation, no asyncio, no sockets).

Modules: ``codec`` (JSON frame envelope, binary ``RP`` frame, SSE event bytes), ``wsframe``, ``lanes``,
``replay``, ``chunker`` and ``bucket``. Each is a ``.pyx`` with a ``.pxd`` for Cython callers and a ``.pyi``
for people and type checkers; shared inline helpers live in ``_common.pxd``. This package is private: users
import from :mod:`pushwire`.
"""
