"""The log's two formats (pullrekun.logs)."""

from __future__ import annotations

import json
import logging
import sys

from pullrekun.logs import JSONFormatter


def test_a_json_record_has_its_time_level_logger_message_and_exception() -> None:
    try:
        raise ValueError("a bug")
    except ValueError:
        record = logging.LogRecord("pullrekun.x", logging.ERROR, __file__, 1, "pass %s", ("failed",), None)
        record.exc_info = sys.exc_info()
    entry = json.loads(JSONFormatter().format(record))
    assert (entry["level"], entry["logger"], entry["message"]) == ("error", "pullrekun.x", "pass failed")
    assert entry["time"].endswith("+00:00")
    assert "ValueError: a bug" in entry["exception"]
    plain = logging.LogRecord("pullrekun.x", logging.INFO, __file__, 1, "line\nbreak", (), None)
    assert "\n" not in JSONFormatter().format(plain), "one record, one line"
