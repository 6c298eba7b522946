"""The dashboard's sessions, kept in the state DB (the cookie only names one).

A signed cookie alone cannot be taken back: whoever copied it could use it until it expires,
and whoever held the signing key could write one. So a session is a row here, made at sign-in
and deleted at sign-out; the cookie carries a random id whose SHA-256 is the row's key, and a
request counts as signed in only while its row exists, for the same person, unexpired.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete

from pullrekun.adapters.state.schema import WebSessionRow
from pullrekun.adapters.state.store import Store

#: How long a session lasts at most (the cookie's own max age is the same).
SESSION_HOURS = 12


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class WebSessions:
    def __init__(self, store: Store) -> None:
        self._store = store

    def start(self, actor: str, now: dt.datetime) -> str:
        """A new session for ``actor``; returns the id the cookie carries. Expired rows go."""
        token = secrets.token_urlsafe(32)
        with self._store.session() as s, s.begin():
            s.execute(delete(WebSessionRow).where(WebSessionRow.expires_at <= now))
            s.add(
                WebSessionRow(
                    digest=_digest(token),
                    actor=actor[:100],
                    created_at=now,
                    expires_at=now + dt.timedelta(hours=SESSION_HOURS),
                )
            )
        return token

    def valid(self, token: str, actor: str, now: dt.datetime) -> bool:
        """Whether ``token`` names a live session of ``actor``."""
        with self._store.session() as s:
            row = s.get(WebSessionRow, _digest(token))
            return row is not None and row.actor == actor[:100] and row.expires_at > now

    def end(self, token: str) -> None:
        with self._store.session() as s, s.begin():
            s.execute(delete(WebSessionRow).where(WebSessionRow.digest == _digest(token)))
