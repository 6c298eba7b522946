"""The preview link through ``serve`` (``/e/<pr>``): to the environment when it is up; when it
sleeps, a visit by someone who may look at the dashboard wakes it and shows a "waking up"
page that follows on by itself (a Refresh header: no JavaScript needed). An anonymous visit
wakes nothing: it sees that the environment sleeps, and a sign-in button, so the link cannot
be used to run up a bill.
"""

from __future__ import annotations

import datetime as dt
import statistics

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pullrekun.core.views import EnvironmentView
from pullrekun.web.context import SECURITY_HEADERS, Asker, Web, WebParts, utcnow

router = APIRouter()

#: Seconds between the waking page's refreshes.
REFRESH_SECONDS = 5
#: What a wake is said to take before any was measured.
DEFAULT_WAKE_SECONDS = 60
#: A visit within this long of the last wake does not ask again (each refresh is a visit).
REWAKE_AFTER = dt.timedelta(minutes=2)
#: Where a sign-in started on a preview link goes back to.
AFTER_LOGIN = "after_login"


def wake_estimate(web: Web) -> int:
    """Seconds a wake takes: the median of the last wakes' deploys, plus a pass's start."""
    taken = web.store.journal.durations("instance was stopped")
    if not taken:
        return DEFAULT_WAKE_SECONDS
    return round(statistics.median(taken)) + REFRESH_SECONDS


def _serving(env: EnvironmentView, head: str | None) -> bool:
    return (
        env.shown == "ready"
        and env.instance_state == "running"
        and bool(env.url)
        and (head is None or env.sha == head)
    )


def _waking(web: Web, request: Request, pr: int, text: str, status: int = 200, **values: object) -> Response:
    page = web.page(request, "waking.html.j2", status, pr=pr, text=text, refresh=REFRESH_SECONDS, **values)
    page.headers["Refresh"] = f"{REFRESH_SECONDS}; url=/e/{pr}"
    return page


@router.get("/e/{pr}", response_class=HTMLResponse)
def preview_link(request: Request, web: WebParts, person: Asker, pr: int) -> Response:
    snap = web.read()
    env = snap.environment(pr)
    rest = next((r for r in snap.sleeping if r.pr == pr), None)
    queued = next((q for q in snap.queue if q.pr == pr), None)
    if env is None and rest is None and queued is None:
        return web.page(request, "waking.html.j2", 404, pr=pr, text="has no preview environment", refresh=0)
    if env is not None and rest is None and _serving(env, None):
        if person is not None:
            web.store.sleep.visited(pr, utcnow())
        return RedirectResponse(env.url, status_code=303, headers=SECURITY_HEADERS)
    if person is None:
        request.session[AFTER_LOGIN] = f"/e/{pr}"
        text = f"is asleep ({rest.text})" if rest is not None else "is not up right now"
        return web.page(request, "waking.html.j2", 200, pr=pr, text=text, refresh=0, sign_in=True)
    if rest is not None or (env is not None and env.instance_state in ("stopped", "stopping")):
        _wake(web, pr, person.actor)
        return _waking(web, request, pr, "is waking up", estimate=wake_estimate(web))
    if env is not None and env.shown == "failed":
        return web.page(
            request, "waking.html.j2", 200, pr=pr, text="failed to deploy: see the dashboard", refresh=0
        )
    if queued is not None:
        return _waking(web, request, pr, f"waits for an instance ({queued.position} in line)")
    return _waking(web, request, pr, "is being deployed", estimate=wake_estimate(web))


def _wake(web: Web, pr: int, actor: str) -> None:
    """Wake once per visit burst: each refresh of the waking page is a visit too."""
    now = utcnow()
    act = web.store.sleep.activity().get(pr)
    if act is not None and act.woken_at is not None and now - act.woken_at < REWAKE_AFTER:
        return
    if web.store.sleep.wake(pr, now, actor, how="visit of its preview link"):
        web.actions.poke()


def after_login(request: Request) -> str:
    """Where a successful sign-in goes: back to the preview link it started on, else the dashboard."""
    back = request.session.pop(AFTER_LOGIN, None)
    if isinstance(back, str) and back.startswith("/e/") and back[3:].isdigit():
        return back
    return "/"
