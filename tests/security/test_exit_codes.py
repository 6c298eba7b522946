"""An outage or a crash is not "done" (1) nor "bad configuration" (2): it exits 4, and says why."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pullrekun import cli
from pullrekun.cli import commands

CONFIG = """\
[github]
repository = "acme/webapp"
api_url = "http://127.0.0.1:9"
[app]
repo_url = "/nonexistent.git"
command = "true"
[state]
url = "{url}"
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_state_db_exits_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "pullrekun.toml"
    url = f"mysql+pymysql://u:state-pw-9@127.0.0.1:{_closed_port()}/state"
    config.write_text(CONFIG.format(url=url))
    assert cli.main(["--config", str(config), "reconcile"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "cannot open the state DB" in err
    assert "state-pw-9" not in err


def test_a_crash_exits_4_with_its_traceback_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "pullrekun.toml"
    config.write_text(CONFIG.format(url="sqlite:///state.db"))

    def crash(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(commands, "reconcile", crash)
    assert cli.main(["--config", str(config), "reconcile"]) == cli.EXIT_ERROR
    assert "pullrekun crashed" in caplog.text
    assert "ZeroDivisionError: a bug" in caplog.text
