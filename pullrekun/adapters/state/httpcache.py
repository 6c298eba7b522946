"""GitHub pages kept with their ETags, so an unchanged list costs a 304 (not counted)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pullrekun.adapters.state.engine import Database
from pullrekun.adapters.state.schema import HttpCacheRow


@dataclass(frozen=True)
class CachedPage:
    etag: str
    body: str
    next_url: str | None


class HttpCache:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str) -> CachedPage | None:
        with self._db.session() as s:
            row = s.get(HttpCacheRow, key)
            return None if row is None else CachedPage(row.etag, row.body, row.next_url)

    def put(self, key: str, page: CachedPage, now: dt.datetime) -> None:
        with self._db.session() as s, s.begin():
            row = s.get(HttpCacheRow, key)
            if row is None:
                s.add(
                    HttpCacheRow(
                        key=key, etag=page.etag, body=page.body, next_url=page.next_url, fetched_at=now
                    )
                )
            else:
                row.etag, row.body, row.next_url, row.fetched_at = (page.etag, page.body, page.next_url, now)
