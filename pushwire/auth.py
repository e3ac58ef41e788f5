"""Ready-made auth validators (layer 5): static tokens and HMAC-signed tokens.

A validator is any callable ``auth(client_id, token, streams)`` returning True/None (accept) or False
(reject), or raising :class:`~pushwire.errors.AuthRejected` with a reason; it may be async. These two cover the
common cases of ``pushwire-serve``; an application with its own user store passes its own function.

Signed tokens (:class:`HmacTokens`) let an application backend mint tokens that the push server checks
without a lookup: ``<claims>.<signature>``, both base64url without padding, where the claims are a JSON
object ``{"sub": client_id or null, "exp": unix seconds or null, "streams": [pattern, ...] or null}`` and the
signature is HMAC-SHA256 over the claims part. A pattern is a stream name, or a prefix ending in ``*``
(``chat:*`` allows every topic of ``chat``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable, Sequence

import orjson

from .errors import AuthRejected

__all__ = ["HmacTokens", "StaticTokens", "make_token"]


class StaticTokens:
    """Accept a client whose token is one of a fixed set."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = [token.encode() for token in tokens if token]
        if not self._tokens:
            raise ValueError("StaticTokens needs at least one non-empty token")

    def __call__(self, client_id: str, token: str | None, streams: Sequence[str]) -> bool:
        if token is None:
            raise AuthRejected("a token is required")
        given = token.encode()
        # compare against every token so the time taken does not tell which one was close
        matched = False
        for known in self._tokens:
            matched |= hmac.compare_digest(known, given)
        if not matched:
            raise AuthRejected("invalid token")
        return True


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: str | bytes, *, client_id: str | None = None, streams: Sequence[str] | None = None,
               ttl_s: float | None = 3600.0, now: float | None = None) -> str:
    """Mint a signed token for :class:`HmacTokens` (run this in your application backend).

    Args:
        secret: the shared secret (``pushwire-serve --token-secret``).
        client_id: bind the token to one client id, or None for any.
        streams: stream names or ``prefix*`` patterns the token allows, or None for all.
        ttl_s: lifetime in seconds, or None for a token that does not expire.
        now: the current Unix time (for tests).
    """
    key = secret.encode() if isinstance(secret, str) else secret
    issued = time.time() if now is None else now
    claims = {"sub": client_id, "exp": None if ttl_s is None else int(issued + ttl_s),
              "streams": None if streams is None else list(streams)}
    body = _b64(orjson.dumps(claims))
    signature = _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest())
    return f"{body}.{signature}"


class HmacTokens:
    """Accept tokens signed with a shared secret (see the module docstring for the format)."""

    def __init__(self, secret: str | bytes, *, leeway_s: float = 30.0) -> None:
        if not secret:
            raise ValueError("HmacTokens needs a non-empty secret")
        self._key = secret.encode() if isinstance(secret, str) else secret
        self._leeway_s = leeway_s

    def __call__(self, client_id: str, token: str | None, streams: Sequence[str]) -> bool:
        claims = self.verify(token)
        subject = claims.get("sub")
        if subject is not None and subject != client_id:
            raise AuthRejected("token issued for another client")
        allowed = claims.get("streams")
        if allowed is not None:
            for stream in streams:
                if not any(_matches(pattern, stream) for pattern in allowed):
                    raise AuthRejected(f"token does not allow stream {stream[:64]}")
        return True

    def verify(self, token: str | None, *, now: float | None = None) -> dict:
        """Check the signature and expiry; return the claims."""
        if not token:
            raise AuthRejected("a token is required")
        body, dot, signature = token.partition(".")
        if not dot or len(token) > 4096:
            raise AuthRejected("malformed token")
        expected = hmac.new(self._key, body.encode("ascii", "replace"), hashlib.sha256).digest()
        try:
            given = _unb64(signature)
            claims = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError):
            raise AuthRejected("malformed token") from None
        if not hmac.compare_digest(expected, given):
            raise AuthRejected("bad token signature")
        if not isinstance(claims, dict):
            raise AuthRejected("malformed token")
        expiry = claims.get("exp")
        current = time.time() if now is None else now
        if expiry is not None and (not isinstance(expiry, (int, float)) or current > expiry + self._leeway_s):
            raise AuthRejected("token expired")
        return claims


def _matches(pattern: object, stream: str) -> bool:
    if not isinstance(pattern, str):
        return False
    if pattern.endswith("*"):
        return stream.startswith(pattern[:-1])
    return stream == pattern
