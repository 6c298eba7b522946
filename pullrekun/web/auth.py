"""Who is looking at the dashboard, and whether they may act.

Local accounts come from the config (login -> argon2 hash): admins may act, viewers may look.
A signed-in person is kept in a signed, HttpOnly, SameSite=Lax session cookie. Every form
carries a CSRF token bound to the session; a POST without the right one is refused.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request

from pullrekun.config import ServeConfig

_HASHER = PasswordHasher()
#: Verified when the login is unknown, so both answers take the time of one argon2 check.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
CSRF_FIELD = "csrf_token"


class Role(enum.StrEnum):
    VIEWER = "viewer"
    ADMIN = "admin"


@dataclass(frozen=True)
class Person:
    #: "local:alice" (a local account) or "github:bob" (signed in with GitHub).
    actor: str
    role: Role

    @property
    def name(self) -> str:
        return self.actor.split(":", 1)[1]

    @property
    def may_act(self) -> bool:
        return self.role is Role.ADMIN


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


class Accounts:
    def __init__(self, cfg: ServeConfig) -> None:
        self._accounts = {login: (digest, Role.VIEWER) for login, digest in cfg.viewers.items()}
        self._accounts.update({login: (digest, Role.ADMIN) for login, digest in cfg.admins.items()})

    def __bool__(self) -> bool:
        return bool(self._accounts)

    def verify(self, login: str, password: str) -> Person | None:
        """The person, if ``password`` is theirs (argon2, and as slow for an unknown login)."""
        digest, role = self._accounts.get(login, (_DUMMY_HASH, None))
        try:
            _HASHER.verify(digest, password)
        except (VerificationError, InvalidHashError):
            return None
        return None if role is None else Person(f"local:{login}", role)


def session_key(session_secret: str, webhook_secret: str) -> str:
    """The key that signs session cookies: its own secret, else derived from the webhook's."""
    if session_secret:
        return session_secret
    return hmac.new(webhook_secret.encode(), b"pullrekun dashboard sessions", hashlib.sha256).hexdigest()


def signed_in(request: Request) -> Person | None:
    actor, role = request.session.get("actor"), request.session.get("role")
    if not isinstance(actor, str) or role not in (Role.VIEWER.value, Role.ADMIN.value):
        return None
    return Person(actor, Role(role))


def sign_in(request: Request, person: Person) -> None:
    request.session.clear()  # a new session for a new sign-in (no fixation)
    request.session.update(actor=person.actor, role=person.role.value, csrf=secrets.token_urlsafe(32))


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, sent: object) -> bool:
    expected = request.session.get("csrf")
    return isinstance(expected, str) and isinstance(sent, str) and hmac.compare_digest(expected, sent)
