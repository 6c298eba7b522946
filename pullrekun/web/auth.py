"""Who is looking at the dashboard, and whether they may act.

Local accounts come from the config (login -> argon2 hash): admins may act, viewers may look.
A sign-in starts a session in the state DB (pullrekun.adapters.state.sessions); the signed,
HttpOnly, SameSite=Lax cookie carries its id and who signed in, never a role: the role is
decided at each request from the current config (local accounts) or GitHub (signed in with
GitHub). Every form carries a CSRF token bound to the session; a POST without the right one is
refused. Password checks are throttled per login and per client address, and run a few at a
time (argon2 takes 64 MiB each).
"""

from __future__ import annotations

import enum
import hmac
import secrets
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request

from pullrekun.config import ServeConfig

_HASHER = PasswordHasher()
#: Verified when the login is unknown, so both answers take the time of one argon2 check.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
CSRF_FIELD = "csrf_token"
#: Password checks running at once, at most (each holds argon2's 64 MiB while it runs).
VERIFY_SLOTS = 2


class Role(enum.StrEnum):
    VIEWER = "viewer"
    #: May look, and sign off previews (serve.verifiers, serve.verifiers_github).
    VERIFIER = "verifier"
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

    @property
    def may_verify(self) -> bool:
        """May sign off a preview: those who may act, and the verifiers."""
        return self.role in (Role.ADMIN, Role.VERIFIER)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


class Accounts:
    def __init__(self, cfg: ServeConfig) -> None:
        self._accounts = {login: (digest, Role.VIEWER) for login, digest in cfg.viewers.items()}
        self._accounts.update({login: (digest, Role.VERIFIER) for login, digest in cfg.verifiers.items()})
        self._accounts.update({login: (digest, Role.ADMIN) for login, digest in cfg.admins.items()})
        self._slots = threading.BoundedSemaphore(VERIFY_SLOTS)

    def __bool__(self) -> bool:
        return bool(self._accounts)

    def role_of(self, login: str) -> Role | None:
        """The local account's role in the config as it is now (None: no such account)."""
        found = self._accounts.get(login)
        return None if found is None else found[1]

    def verify(self, login: str, password: str) -> Person | None:
        """The person, if ``password`` is theirs (argon2, and as slow for an unknown login).
        At most :data:`VERIFY_SLOTS` checks run at once; the others wait their turn."""
        digest, role = self._accounts.get(login, (_DUMMY_HASH, None))
        with self._slots:
            try:
                _HASHER.verify(digest, password)
            except (VerificationError, InvalidHashError):
                return None
        return None if role is None else Person(f"local:{login}", role)


def session_key(session_secret: str) -> tuple[str, bool]:
    """The key that signs session cookies, and whether it was made up for this process: without
    a session secret of its own a random one (sessions end when the process does). Never derived
    from another secret: whoever knows that one could sign sessions."""
    if session_secret:
        return session_secret, False
    return secrets.token_urlsafe(48), True


def session_of(request: Request) -> tuple[str, str] | None:
    """(who signed in, the session id) as the cookie says; checked against the state DB by the
    caller."""
    actor, sid = request.session.get("actor"), request.session.get("sid")
    if not isinstance(actor, str) or not isinstance(sid, str) or ":" not in actor:
        return None
    return actor, sid


def sign_in(request: Request, actor: str, sid: str) -> None:
    request.session.clear()  # a new session for a new sign-in (no fixation)
    request.session.update(actor=actor, sid=sid, csrf=secrets.token_urlsafe(32))


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, sent: object) -> bool:
    expected = request.session.get("csrf")
    return isinstance(expected, str) and isinstance(sent, str) and hmac.compare_digest(expected, sent)
