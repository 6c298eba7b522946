"""How pullrekun writes its log: plain lines for people, or one JSON object per line for machines.

``--log-format json`` (or ``PULLREKUN_LOG_FORMAT=json``) makes each record a JSON object with
``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, plus ``exception`` when there
is one: what journald forwarders and log stores parse without a pattern. The message text is
the same as the plain line's, so nothing is said in one format that the other leaves out.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

FORMATS = ("text", "json")


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: int, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Not forced: a host that configured logging already (a test runner, an embedding program)
    # keeps its handlers.
    logging.basicConfig(level=level, handlers=[handler])
