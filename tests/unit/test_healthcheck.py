"""The staging health check proves the revision: an old process answering /health is not "ready"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.unit.test_role_templates import render

SHA = "a" * 40
OTHER = "b" * 40


class _App:
    """A stand-in app: answers /health with the revision it is told to claim."""

    def __init__(self) -> None:
        self.revision = SHA
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = json.dumps({"status": "ok", "build": {"sha": outer.revision}}).encode()
                self.send_response(200)
                self.send_header("X-Revision", outer.revision[:12])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


@pytest.fixture
def app() -> Iterator[_App]:
    a = _App()
    yield a
    a.server.shutdown()


def _record(root: Path, release: str) -> None:
    """What `appctl run` writes as the app starts (this test process stands in for the app)."""
    start = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(") ", 1)[1].split()[19]
    (root / "shared").mkdir(parents=True, exist_ok=True)
    (root / "shared" / "running").write_text(f"pid={os.getpid()}\nstart={start}\nrelease={release}\n")


def _check(tmp_path: Path, app: _App, mode: str) -> subprocess.CompletedProcess[str]:
    script = render(
        "staging",
        "healthcheck.py.j2",
        {
            "__staging_health_url": f"http://127.0.0.1:{app.port}/health",
            "staging_health_timeout": 1,  # the failing checks wait it out
            "staging_revision_check": mode,
            "staging_deploy_root": str(tmp_path),
        },
    )
    path = tmp_path / "healthcheck"
    path.write_text(script)
    return subprocess.run(
        [sys.executable, str(path), SHA], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("mode", ["process", "header:X-Revision", "json:build.sha"])
def test_the_right_revision_is_healthy(tmp_path: Path, app: _App, mode: str) -> None:
    _record(tmp_path, SHA)
    out = _check(tmp_path, app, mode)
    assert (out.returncode, out.stdout.strip()) == (0, "healthy"), out.stderr


def test_an_app_started_from_another_release_is_not_healthy(tmp_path: Path, app: _App) -> None:
    _record(tmp_path, OTHER)
    out = _check(tmp_path, app, "process")
    assert out.returncode == 1
    assert f"the running app was started from release {OTHER}" in out.stderr
    assert out.stderr.startswith("health check failed: ")


@pytest.mark.parametrize("mode", ["header:X-Revision", "json:build.sha"])
def test_an_answer_naming_another_revision_says_which(tmp_path: Path, app: _App, mode: str) -> None:
    _record(tmp_path, SHA)
    app.revision = OTHER
    out = _check(tmp_path, app, mode)
    assert out.returncode == 1
    assert "it answered revision bbbbbbb" in out.stderr


def test_no_running_app_process_is_not_healthy_even_if_something_answers(tmp_path: Path, app: _App) -> None:
    out = _check(tmp_path, app, "process")
    assert out.returncode == 1
    assert "no app process of this deploy root runs" in out.stderr
