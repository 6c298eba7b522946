"""Benchmark: the dashboard's environments page with 300 environments.

Prints figures, asserts nothing (timed tests lie on shared machines). Measured in this run,
against `pullrekun serve` on loopback with a state DB (SQLite) holding 300 environments, 40
queued PRs and 200 events, and a pool of 300 instances (given to the page directly: EC2 is
not what is measured):

  server time    the app's own time per request (its Server-Timing header): the page, the
                 read model's JSON, and /healthz as the baseline of a request that does nothing
  throughput     requests per second with 20 concurrent clients, page and /healthz alike

Run:  .venv/bin/python -m bench.dashboard_load
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import http.cookiejar
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pullrekun.adapters.state.schema import AssignmentRow, EventRow, QueueRow
from pullrekun.adapters.state.store import Store
from pullrekun.config import ServeConfig, parse
from pullrekun.core.model import Instance, InstanceState
from pullrekun.web.auth import hash_password
from pullrekun.web.dashboard import PoolCache
from pullrekun.web.serve import Service

ENVIRONMENTS = 300
PASSWORD = "bench password 1"  # noqa: S105 - a throwaway account of a throwaway server


class FixedPool(PoolCache):
    def __init__(self, instances: dict[str, Instance]) -> None:
        self._instances = instances

    def get(self) -> tuple[dict[str, Instance], None]:  # type: ignore[override]
        return self._instances, None


def fill(store: Store) -> dict[str, Instance]:
    now = dt.datetime.now(dt.UTC)
    instances = {}
    with store.session() as s, s.begin():
        for n in range(1, ENVIRONMENTS + 1):
            iid = f"i-{n:017x}"
            instances[iid] = Instance(iid, InstanceState.RUNNING, f"10.0.{n // 250}.{n % 250}")
            failed = n % 10 == 0
            s.add(
                AssignmentRow(
                    pr_number=n,
                    instance_id=iid,
                    status="failed" if failed else "ready",
                    deployed_sha=f"{n:040x}",
                    assigned_at=now,
                    since=now,
                    failed_step="migrate" if failed else None,
                    failed_task="Run the migrate command" if failed else None,
                    message=("line of migrate output <b>escaped</b>\n" * 8) if failed else None,
                    db_schema=f"stage_i_{n:017x}",
                    db_source="dev_alice",
                    db_cloned_at=now,
                )
            )
        for i in range(40):
            s.add(QueueRow(pr_number=1000 + i, position=i + 1, since=now))
        for i in range(200):
            s.add(
                EventRow(
                    at=now, kind="assigned", pr_number=i + 1, instance_id=None, message="instance assigned"
                )
            )
    return instances


def signed_in_opener(url: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{url}/login", timeout=10) as resp:
        match = re.search(r'name="csrf_token" value="([^"]+)"', resp.read().decode())
    assert match is not None
    form = urllib.parse.urlencode({"login": "bench", "password": PASSWORD, "csrf_token": match.group(1)})
    with opener.open(f"{url}/login", data=form.encode(), timeout=10) as resp:
        resp.read()
    return opener


def timed(opener: urllib.request.OpenerDirector, url: str) -> float:
    """The server's own milliseconds for one request (Server-Timing)."""
    with opener.open(url, timeout=30) as resp:
        resp.read()
        header = resp.headers["Server-Timing"]
    return float(header.split("dur=", 1)[1])


def throughput(opener: urllib.request.OpenerDirector, url: str, clients: int, requests: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: timed(opener, url), range(requests)))
    return requests / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="requests per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pullrekun-bench-dashboard-") as tmp:
        cfg = parse(
            {
                "github": {"repository": "acme/webapp"},
                "app": {"repo_url": "-", "command": "-"},
                "state": {"url": f"sqlite:///{Path(tmp) / 'state.db'}"},
            }
        )
        serve = ServeConfig(admins={"bench": hash_password(PASSWORD)}, secure_cookies=False)
        cfg = dataclasses.replace(cfg, serve=serve)
        store = Store.open(cfg.state_url)
        instances = fill(store)
        service = Service(
            cfg, store, "hook", bind="127.0.0.1", port=0, run_pass=lambda: "clean", pool=FixedPool(instances)
        )
        service.start_background()
        try:
            opener = signed_in_opener(service.url)
            page, api, health = f"{service.url}/", f"{service.url}/api/v1/status", f"{service.url}/healthz"
            for url in (page, api, health):  # warm up (templates compiled, connections made)
                timed(opener, url)
            serial = {name: [timed(opener, url) for _ in range(args.requests // 4)] for name, url in
                      (("page", page), ("api", api), ("healthz", health))}  # fmt: skip
            rps = {name: throughput(opener, url, 20, args.requests) for name, url in
                   (("page", page), ("healthz", health))}  # fmt: skip
        finally:
            service.shutdown()
            store.close()
    print(f"dashboard_load ({ENVIRONMENTS} environments, {os.cpu_count()} cores, one serve process)")
    for name, values in serial.items():
        print(
            f"  server time, {name:8} median {statistics.median(values):7.2f} ms  max {max(values):7.2f} ms"
        )
    page_ms = statistics.median(serial["page"])
    print(f"  page / healthz server time:   {page_ms / statistics.median(serial['healthz']):.0f}x")
    print(f"  page server time vs target:   {page_ms:.1f} ms (target <= 100 ms)")
    print(f"  20 clients, page:             {rps['page']:.1f} requests/s")
    print(f"  20 clients, healthz:          {rps['healthz']:.1f} requests/s (baseline)")
    print(f"  page / healthz throughput:    {rps['page'] / rps['healthz']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
