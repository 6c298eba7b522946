"""The sandbox's demo web app: says which commit it runs. Started by roles/staging.

Reads PULLREKUN_BIND / PULLREKUN_PORT / PULLREKUN_REVISION from the launcher.
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REVISION = os.environ.get("PULLREKUN_REVISION", "unknown")
GREETING = open("GREETING").read().strip() if os.path.exists("GREETING") else "hello"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def do_GET(self):
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
ThreadingHTTPServer((os.environ["PULLREKUN_BIND"], int(os.environ["PULLREKUN_PORT"])), Handler).serve_forever()
