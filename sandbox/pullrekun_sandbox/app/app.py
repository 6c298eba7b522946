"""The sandbox's demo web app: says which commit it runs. Started by roles/staging.

Reads PULLREKUN_BIND / PULLREKUN_PORT / PULLREKUN_REVISION from the launcher.
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REVISION = os.environ.get("PULLREKUN_REVISION", "unknown")
# What pullrekun tells the app of its PR (shared/app.env): the README's banner example.
PR, PR_SHA = os.environ.get("PULLREKUN_PR"), os.environ.get("PULLREKUN_SHA", "")
BANNER = f"preview: PR #{PR} at {PR_SHA[:7]} ({os.environ.get('PULLREKUN_PR_URL', '')})\n" if PR else ""
# The PR's own settings ([app] pr_settings) the tests give it: FEATURE_* variables.
FEATURES = "".join(f"feature: {k}={v}\n" for k, v in sorted(os.environ.items()) if k.startswith("FEATURE_"))


def _greeting() -> str:
    try:
        with open("GREETING") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return "hello"


GREETING = _greeting()
if GREETING == "crash on start":  # how the tests make one commit's health check fail
    raise SystemExit("this commit crashes on start")


def _db() -> Any:
    """A connection to the environment's schema (DB_* from shared/app.env), or None."""
    if not os.environ.get("DB_NAME"):
        return None
    import pymysql

    return pymysql.connect(
        host=os.environ["DB_HOST"],
        port=int(os.environ["DB_PORT"]),
        user=os.environ["DB_USER"],
        password=os.environ.get("DB_PASSWORD", ""),
        database=os.environ["DB_NAME"],
        autocommit=True,
    )


def _db_line(write: bool) -> str:
    conn = _db()
    if conn is None:
        return ""
    try:
        with conn.cursor() as cur:
            if write:
                cur.execute("INSERT INTO notes (body) VALUES ('written by the app')")
            cur.execute("SELECT COUNT(*) FROM notes")
            (rows,) = cur.fetchone()
        return f"db: {os.environ['DB_NAME']} notes={rows}\n"
    finally:
        conn.close()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/health":
            body = f'{{"status": "ok", "revision": "{REVISION}"}}\n'.encode()
        else:
            db = _db_line(write=self.path == "/write")
            head = f"pullrekun sandbox app\n{BANNER}{FEATURES}"
            body = f"{head}revision: {REVISION}\ngreeting: {GREETING}\n{db}".encode()
        self.send_response(200)
        ctype = "application/json" if self.path == "/health" else "text/plain; charset=utf-8"
        self.send_header("Content-Type", ctype)
        # How pullrekun's health check proves which commit answers (app.revision_check).
        self.send_header("X-Revision", REVISION)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer.allow_reuse_address = True
address = (os.environ["PULLREKUN_BIND"], int(os.environ["PULLREKUN_PORT"]))
ThreadingHTTPServer(address, Handler).serve_forever()
