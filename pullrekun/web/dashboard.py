"""The dashboard: every environment, the pool, the queue, GitHub's rate limit and who did what.

Server-rendered pages that read without JavaScript; with JavaScript a small script
(``templates/web/static/live.js``) refreshes each environment's row from ``/api/v1/status``.
An action never runs Ansible: it records a request in the state DB, with who asked, and
pokes the trigger; the next pass's planner decides (pullrekun.core.planner).

One router per resource (:mod:`pullrekun.web.routes`, and :mod:`pullrekun.web.api`); what they
share, and who is asking, is in :mod:`pullrekun.web.context`.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from pullrekun.adapters.state.sessions import SESSION_HOURS
from pullrekun.adapters.state.store import Store
from pullrekun.app.trigger import PassTrigger
from pullrekun.config import Config
from pullrekun.web import api
from pullrekun.web.actions import Actions
from pullrekun.web.auth import Accounts
from pullrekun.web.context import GitHubAuth, PoolCache, Web
from pullrekun.web.routes import environments, pool, releases, schemas, signin, wake

__all__ = ["GitHubAuth", "PoolCache", "install"]


def install(
    app: FastAPI,
    cfg: Config,
    store: Store,
    trigger: PassTrigger,
    accounts: Accounts,
    session_key: str,
    pool_cache: PoolCache | None = None,
    github: GitHubAuth | None = None,
) -> None:
    """Add the dashboard's routes (and its session middleware) to ``app``."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_key,
        session_cookie="pullrekun_session",
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=cfg.serve.secure_cookies,
    )
    cache = pool_cache or PoolCache(cfg)
    actions = Actions(cfg, store, trigger, lambda: cache.get()[0], servers=cache.servers)
    app.state.web = Web(cfg, store, actions, accounts, cache, github)
    for router in (
        signin.router,
        environments.router,
        pool.router,
        releases.router,
        schemas.router,
        wake.router,
    ):
        app.include_router(router)
    api.install(app)
