"""Benchmark: GitHub requests for one release of 50 merged PRs, and for an idle pass.

Prints figures, asserts nothing. The release notices' step of a pass (``ReleaseNotices.watch``,
what ``pullrekun reconcile`` runs after its report) against the GitHub simulator, with a state DB
(SQLite) and a chat receiver. 50 PRs are merged into main, a third each by merge commit (two
commits of their own), squash and rebase (two commits); then production moves from the old main
to the new one. The simulator counts every request it answered and whether it cost rate limit
(a 304 to a conditional request with credentials is free).

  release    the pass that sees production move: read production, compare (paged), the
             associated PRs of each commit on the new sha's first-parent line
  idle       the next pass: production did not move
  baseline   measured in the same run: asking every commit of the release for its PRs, not
             only those on the first-parent line (what a naive reader would spend)

For each production source (branch, newest tag, GitHub deployment, a URL). Target: idle = 0
counted. Run:  .venv/bin/python -m bench.release_requests [--prs 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from pullrekun_sandbox.github_sim import GitHubSimulator

from pullrekun.adapters.github.client import GitHubClient
from pullrekun.adapters.state.store import Store
from pullrekun.app.notices import ReleaseNotices
from pullrekun.app.render import Renderer
from pullrekun.config import parse

STYLES = ("merge", "squash", "rebase")


def _serve(answer: list[str]) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = answer[0].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def run(source: str, prs: int, root: Path) -> dict[str, int]:
    answer = [""]
    http_server = _serve(answer)
    url = f"http://127.0.0.1:{http_server.server_address[1]}"
    with GitHubSimulator(tokens={"t"}) as sim:
        start = sim.history.branches["main"]
        sim.history.branches["production"] = start
        sim.tag("v1.0.0", start, annotated=True)
        sim.deploy(start)
        answer[0] = start
        cfg = parse(
            {
                "github": {"repository": sim.repository, "api_url": sim.url, "retries": 0},
                "app": {"repo_url": "git@example.invalid:a.git", "command": "bin/server"},
                "report": {"slack_webhook_env": "BENCH_SLACK"},
                "release": {"source": source, "url": f"{url}/revision"},
            }
        )
        os.environ["BENCH_SLACK"] = f"{url}/hook"
        store = Store.open(f"sqlite:///{root / f'{source}.db'}")
        clock = lambda: dt.datetime.now(dt.UTC)  # noqa: E731

        def watch() -> tuple[int, int]:
            before = sim.counters()
            client = GitHubClient(cfg.github, "t", store.github_facts, clock)
            ReleaseNotices(cfg, store, client, Renderer(), clock).watch()
            after = sim.counters()
            return after["requests"] - before["requests"], after["counted"] - before["counted"]

        watch()  # the first sha: recorded
        for i in range(prs):
            number = sim.open_pr("f" * 40, title=f"Change {i}", body=f"## Release risk\nrisk {i}")
            sim.merge_pr(number, STYLES[i % 3], commits=2)
        head = sim.history.branches["main"]
        sim.history.branches["production"] = head
        sim.tag("v1.1.0", head, annotated=True)
        sim.deploy(head)
        answer[0] = head
        seen = len(sim.served)
        release_all, release_counted = watch()
        asked = sum(1 for x in sim.served[seen:] if x.route.endswith("/commits/{commit_sha}/pulls"))
        idle_all, idle_counted = watch()
        commits = sum(len(v) for v in sim.history.pulls_of.values())
        store.close()
    http_server.shutdown()
    http_server.server_close()
    naive = release_counted - asked + commits  # every commit of the release asked for its PRs
    return {
        "release": release_all,
        "release_counted": release_counted,
        "idle": idle_all,
        "idle_counted": idle_counted,
        "commits": commits,
        "baseline": naive,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--prs", type=int, default=50)
    args = p.parse_args()
    print(f"one release of {args.prs} merged PRs (merge, squash, rebase by thirds); requests (counted)")
    print(f"{'source':<11} {'release':>16} {'idle':>10} {'baseline':>10} {'release/baseline':>17}")
    with tempfile.TemporaryDirectory() as tmp:
        for source in ("branch", "tag", "deployment", "url"):
            r = run(source, args.prs, Path(tmp))
            release = f"{r['release']:>6} ({r['release_counted']:>5})"
            idle = f"{r['idle']:>4} ({r['idle_counted']:>2})"
            ratio = r["release_counted"] / max(1, r["baseline"])
            print(f"{source:<11} {release} {idle} {r['baseline']:>10} {ratio:>17.2f}")


if __name__ == "__main__":
    main()
