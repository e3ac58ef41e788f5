"""Server test fixtures live in tests/conftest.py (shared with tests/e2e); this re-exports the API key."""

from ..conftest import API_KEY

__all__ = ["API_KEY"]
