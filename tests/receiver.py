"""A local stand-in for a chat webhook: records every JSON body posted to it.

Like Google Chat, a post with a ``messageId`` query parameter already used is refused with 409
(``ALREADY_EXISTS``) and not recorded again. Every other post is recorded, whatever ``status``
answers it. ``fail`` answers that many posts with 503 first, without recording them (a webhook
that is down: they never arrived).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        #: Answer this status (a webhook that is down answers 5xx).
        self.status = 200
        #: Answer this many posts with 503 before answering as ``status`` says.
        self.fail = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                if outer.fail > 0:
                    outer.fail -= 1
                    self._answer(503, b"down")
                    return
                message_id = query.get("messageId")
                if message_id and any(p.get("messageId") == message_id for p in outer.posts):
                    self._answer(409, b'{"error": {"code": 409, "status": "ALREADY_EXISTS"}}')
                    return
                outer.posts.append({"path": self.path, **json.loads(body), "messageId": message_id})
                self._answer(outer.status, b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
