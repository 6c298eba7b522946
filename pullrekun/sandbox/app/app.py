"""The sandbox's demo web app: says which commit it runs. Started by roles/staging.

Reads PULLREKUN_BIND / PULLREKUN_PORT / PULLREKUN_REVISION from the launcher.
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REVISION = os.environ.get("PULLREKUN_REVISION", "unknown")


def _greeting() -> str:
    try:
        with open("GREETING") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return "hello"


GREETING = _greeting()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/health":
            body = b"ok\n"
        else:
            body = f"pullrekun sandbox app\nrevision: {REVISION}\ngreeting: {GREETING}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer.allow_reuse_address = True
address = (os.environ["PULLREKUN_BIND"], int(os.environ["PULLREKUN_PORT"]))
ThreadingHTTPServer(address, Handler).serve_forever()
