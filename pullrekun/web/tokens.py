"""API tokens: configured by their SHA-256 (``pullrekun api-token NAME``); admin tokens may act,
viewer tokens read; an action is recorded as ``token:<name>``."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pullrekun.config import ServeConfig
from pullrekun.web.auth import Person, Role

TOKEN_PREFIX = "prk_"  # noqa: S105 - a prefix, not a token


def new_token() -> tuple[str, str]:
    """A new API token and the SHA-256 the config keeps of it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, cfg: ServeConfig) -> None:
        self._known = [(d, name, Role.VIEWER) for name, d in cfg.viewer_tokens.items()]
        self._known += [(d, name, Role.ADMIN) for name, d in cfg.admin_tokens.items()]

    def person(self, authorization: str | None) -> Person | None:
        """Whose token this is (every known digest is compared, in constant time)."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        digest = token_digest(authorization.removeprefix("Bearer ").strip())
        found = None
        for known, name, role in self._known:
            if hmac.compare_digest(known, digest):
                found = Person(f"token:{name}", role)
        return found
