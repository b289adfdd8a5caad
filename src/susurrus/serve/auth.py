"""API keys: `Authorization: Bearer KEY` on every /v1 call when the server has keys.

Keys are compared in constant time (`hmac.compare_digest`, against every key, so the time does
not tell which key came close). A request is identified by an owner id, a digest of its key:
sessions belong to it, and the key itself is never written to disk.
"""

from __future__ import annotations

import hashlib
import hmac

from susurrus.serve.errors import ApiError

ANONYMOUS = "anonymous"  # the owner of everything on a server without keys


def owner_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class KeyRing:
    """The accepted keys; `owner(header)` -> the caller's owner id, or a 401 ApiError."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = [k.encode() for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def owner(self, authorization: str | None) -> str:
        if not self._keys:
            return ANONYMOUS
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise ApiError(401, "missing API key: send the header 'Authorization: Bearer KEY'",
                           code="invalid_api_key")
        token = given.strip().encode()
        match = False
        for key in self._keys:  # every key, always: no early exit
            match |= hmac.compare_digest(token, key)
        if not match:
            raise ApiError(401, "incorrect API key; use one of the keys the server was started "
                                "with (--api-keys)", code="invalid_api_key")
        return owner_id(token.decode())
