"""`pullrekun serve`: one process that answers GitHub's webhooks and runs the passes they ask for.

The HTTP side (uvicorn, one event loop) only checks deliveries and pokes the trigger; passes
run one at a time on a worker thread, under the same lock as `pullrekun reconcile` (a timer on
another controller and this process take turns). On SIGTERM or SIGINT uvicorn stops taking
requests, then the pass in progress is cancelled (its playbook run stops, its outcomes are
recorded) and the process exits; after a kill -9 the next pass converges, as after a crash of
the CLI.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable

import uvicorn

from pullrekun.adapters.playbook.warm import warm_playbooks
from pullrekun.adapters.state.lock import LockHeld, LockLost
from pullrekun.adapters.state.store import Store
from pullrekun.app.reconcile import reconcile
from pullrekun.app.results import Cancel
from pullrekun.app.trigger import PassRun, PassTrigger
from pullrekun.config import Config
from pullrekun.config.secrets import secret
from pullrekun.web import dashboard
from pullrekun.web.auth import Accounts, session_key
from pullrekun.web.oauth import GitHubSignIn, RepoAccess
from pullrekun.web.server import create_app

log = logging.getLogger(__name__)


class Service:
    def __init__(
        self,
        cfg: Config,
        store: Store,
        webhook_secret: str,
        *,
        bind: str | None = None,
        port: int | None = None,
        run_pass: PassRun | None = None,
        pool: dashboard.PoolCache | None = None,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.cancel = Cancel()
        self.trigger = PassTrigger(
            run_pass or self._pass,
            interval=float(cfg.serve.interval),
            settle=cfg.serve.settle_ms / 1000,
        )
        self.app = create_app(cfg, self.trigger, webhook_secret.encode(), store)
        key, made_up = session_key(secret(cfg.serve.session_secret_env))
        signs_in = bool(cfg.serve.admins or cfg.serve.viewers or cfg.serve.oauth_client_id)
        if made_up and signs_in:
            log.warning(
                "$%s is not set: dashboard sessions are signed with a key made up at start-up "
                "and end when serve restarts",
                cfg.serve.session_secret_env,
            )
        self.pool = pool or dashboard.PoolCache(cfg)
        github = None
        if cfg.serve.oauth_client_id:
            github = dashboard.GitHubAuth(
                GitHubSignIn(cfg, secret(cfg.serve.oauth_client_secret_env)),
                RepoAccess(cfg, store.github_facts, cfg.serve.access_cache_seconds),
            )
        dashboard.install(
            self.app,
            cfg,
            store,
            self.trigger,
            Accounts(cfg.serve),
            key,
            self.pool,
            github,
        )
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=bind or cfg.serve.bind,
                port=cfg.serve.port if port is None else port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                # GitHub waits at most 10 s for an answer; nothing here takes long.
                timeout_graceful_shutdown=5,
            )
        )
        self._worker = threading.Thread(target=self.trigger.run_forever, name="pullrekun-passes", daemon=True)
        self._warm = contextlib.ExitStack()

    def _pass(self) -> str:
        started = time.monotonic()
        try:
            result = reconcile(self.cfg, self.store, cancel=self.cancel)
            self.app.state.metrics.observe_pass(time.monotonic() - started, result.github)
            self.pool.invalidate()  # the page shows what the pass did, not a 15 s old reading
        except LockHeld as exc:
            log.info("pass skipped: %s", exc)
            return "busy"
        except LockLost as exc:
            log.error("pass lost its lock (%s): outcomes not recorded, the next pass finishes", exc)
            return "lock_lost"
        failed = sum(1 for o in result.outcomes if not o.ok)
        log.info(
            "pass %s: %d deployed, %d failed%s",
            result.outcome.value,
            len(result.outcomes) - failed,
            failed,
            f" ({result.problem})" if result.problem else "",
        )
        return result.outcome.value

    @property
    def url(self) -> str:
        """Where it listens (the port the system chose, once started, if port 0 was asked for)."""
        config = self.server.config
        port = config.port
        if self.server.started and self.server.servers and self.server.servers[0].sockets:
            port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://{config.host}:{port}"

    def run(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve until SIGTERM/SIGINT (call from the main thread), then stop the passes.

        The HTTP server runs on a thread of its own and the signals are this method's: uvicorn
        would re-raise a captured SIGTERM when it stops, ending the process before the pass in
        progress is cancelled and recorded."""
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start_background()
            self.trigger.poke("start")  # converge after a restart, whatever happened while down
            if on_ready is not None:
                on_ready(self.url)
            stop.wait()
            log.info("stopping: no more webhooks; cancelling the pass in progress")
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def start_background(self, timeout: float = 10.0) -> None:
        """Serve from a thread of this process (tests, the sandbox); :meth:`shutdown` ends it."""
        # Passes' playbook runs fork from a warm ansible-playbook (imported once, not per pass).
        self._warm.enter_context(warm_playbooks())
        self._worker.start()
        self._http = threading.Thread(target=self.server.run, name="pullrekun-http", daemon=True)
        self._http.start()
        ready = threading.Event()
        self._announce(lambda _url: ready.set(), timeout)
        if not ready.is_set():
            raise RuntimeError(f"pullrekun serve did not start listening on {self.url}")

    def _announce(self, on_ready: Callable[[str], None], timeout: float = 10.0) -> None:
        waited = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if self.server.started:
                on_ready(self.url)
                return
            waited.wait(0.02)

    def shutdown(self) -> None:
        """Stop taking requests, cancel the pass in progress (its outcomes are recorded), wait."""
        self.server.should_exit = True
        self.trigger.stop()
        self.cancel.cancel()
        http = getattr(self, "_http", None)
        if http is not None:
            http.join(timeout=10)
        if self._worker.is_alive():
            self._worker.join(timeout=120)
        self._warm.close()
