"""The dashboard over HTTP: sign-in, sessions, CSRF, roles, and actions that only record requests.

The sandbox's world (moto, the GitHub simulator, local hosts, SQLite state) with one deployed
environment, and `pullrekun serve` on loopback; the pass is a counter here, so an action is
seen for what it does: a request recorded with who asked, and a poke.
"""

from __future__ import annotations

import dataclasses
import getpass
import html
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pullrekun_sandbox.github_records import Fault
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.cli import EXIT_BAD_INPUT
from pullrekun.config import ServeConfig
from pullrekun.web.auth import Accounts, Role, hash_password
from pullrekun.web.oauth import RepoAccess
from pullrekun.web.serve import Service
from pullrekun.web.tokens import new_token, token_digest
from tests.conftest import LOCAL_FIRST_HOST, run_cli, run_pass, valid_status

ADMIN, VIEWER = ("ada", "admin password 1"), ("vic", "viewer password 2")
OAUTH_CLIENT, OAUTH_SECRET = "Iv1.pullrekun0000", "oauth client secret 0123"
CI_TOKEN, WALL_TOKEN = new_token()[0], new_token()[0]
#: A title written by the PR's author: markup, a right-to-left override, a control character.
HOSTILE_TITLE = "<script>alert(1)</script> fix \u202egnp.exe\x07"


@dataclass
class World:
    sb: Sandbox
    service: Service
    store: Store
    pr: int
    pokes: list[int]


class Browser:
    """A cookie-keeping HTTP client that does not follow redirects (so they can be checked)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect()
        )

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(f"{self.base}{path}", data=data, timeout=10) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()

    def csrf(self, path: str = "/") -> str:
        status, _, html = self.request(path)
        assert status == 200, (status, html[:500])
        match = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert match, html[:1000]
        return match.group(1)

    def sign_in(self, login: str, password: str) -> tuple[int, dict[str, str], str]:
        token = self.csrf("/login")
        return self.request("/login", {"login": login, "password": password, "csrf_token": token})

    def github_sign_in(self, login: str) -> tuple[int, dict[str, str], str]:
        """Press "Sign in with GitHub", then "Authorize" on the simulator's page as ``login``."""
        status, headers, _ = self.request("/auth/github/start")
        assert status == 303, status
        authorize = headers["location"]
        assert "scope=" not in authorize, "the sign-in asks for no scope"
        with urllib.request.urlopen(authorize, timeout=10) as resp:
            page = resp.read().decode()
        form = {
            name: html.unescape(value) for name, value in re.findall(r'name="(\w+)" value="([^"]*)"', page)
        }
        form["login"] = login
        site = authorize.split("/login/oauth/", 1)[0]
        status, headers, _ = Browser(site).request("/login/oauth/authorize", form)
        assert status == 302, status
        callback = headers["location"]
        assert callback.startswith(f"{self.base}/auth/github?"), callback
        return self.request(callback.removeprefix(self.base))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world for the module (its tests read in file order: the refusals before the action)."""
    sb = Sandbox(root=tmp_path_factory.mktemp("dashboard") / "world", hosts=1, first_host=LOCAL_FIRST_HOST)
    sb.start()
    pr, _ = sb.open_pr("dash", "on the dashboard", title=HOSTILE_TITLE, author="mallory")
    assert run_pass(sb).ok
    cfg = config_mod.load(sb.config_path)
    # Sign in with GitHub against the simulator's OAuth app (any loopback callback is its own).
    sb.github.register_oauth_app(OAUTH_CLIENT, OAUTH_SECRET, "http://127.0.0.1:")
    sb.github.roles.update({"outsider": "none", "reader": "read"})
    os.environ["PULLREKUN_OAUTH_CLIENT_SECRET"] = OAUTH_SECRET
    serve = ServeConfig(
        interval=3600,
        admins={ADMIN[0]: hash_password(ADMIN[1])},
        viewers={VIEWER[0]: hash_password(VIEWER[1])},
        secure_cookies=False,  # plain http on loopback
        oauth_client_id=OAUTH_CLIENT,
        admin_tokens={"ci": token_digest(CI_TOKEN)},
        viewer_tokens={"wallboard": token_digest(WALL_TOKEN)},
        access_cache_seconds=0,  # GitHub is asked on every request: a revoked access ends at once
    )
    cfg = dataclasses.replace(cfg, serve=serve)
    store = Store.open(cfg.state_url)
    pokes: list[int] = []

    def count() -> str:
        pokes.append(1)
        return "clean"

    service = Service(cfg, store, "hook secret", bind="127.0.0.1", port=0, run_pass=count)
    service.start_background()
    try:
        yield World(sb, service, store, pr, pokes)
    finally:
        service.shutdown()
        store.close()
        sb.stop()


def test_pages_need_a_sign_in_and_a_wrong_password_is_refused(world: World) -> None:
    b = Browser(world.service.url)
    status, headers, _ = b.request("/")
    assert (status, headers["location"]) == (303, "/login")
    assert b.request("/api/v1/status")[0] == 401
    assert b.sign_in(ADMIN[0], "not the password")[0] == 401
    assert b.sign_in("nobody", ADMIN[1])[0] == 401
    token = b.csrf("/login")
    forged = b.request("/login", {"login": ADMIN[0], "password": ADMIN[1], "csrf_token": token + "x"})
    assert forged[0] == 403, "a login form without its CSRF token is refused"


def test_the_session_cookie_is_signed_http_only_and_same_site(world: World) -> None:
    b = Browser(world.service.url)
    status, headers, _ = b.sign_in(*ADMIN)
    assert (status, headers["location"]) == (303, "/")
    cookie = headers["set-cookie"]
    assert cookie.startswith("pullrekun_session=")
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    (jar_cookie,) = list(b.jar)
    assert jar_cookie.value
    jar_cookie.value = jar_cookie.value[:-4] + "AAAA"  # tampered: the signature no longer matches
    assert b.request("/")[0] == 303


def test_the_environments_page_shows_every_environment_with_its_url(world: World) -> None:
    b = Browser(world.service.url)
    b.sign_in(*VIEWER)
    status, headers, html = b.request("/")
    assert status == 200
    assert "default-src 'self'" in headers["content-security-policy"]
    env = valid_status(json.loads(b.request("/api/v1/status")[2]))["environments"][0]
    assert env["pr"] == world.pr
    assert f'href="{env["url"]}"' in html
    assert f'<tr data-pr="{world.pr}">' in html
    assert ">ready<" in html
    # The title and author, as the pass read them: escaped, spoofing shown, control dropped.
    assert (env["title"], env["author"]) == ("<script>alert(1)</script> fix <U+202E>gnp.exe", "mallory")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; fix &lt;U+202E&gt;gnp.exe" in html
    assert "<script>alert" not in html
    assert "by mallory" in html
    assert env["running_since"] is not None, "a running instance says since when"
    deployed = rf"#{world.pr} <code>{env['sha'][:12]}</code> success"
    last = rf'<td class="last-deploy"><time [^>]+>[^<]+</time> {deployed}</td>'
    assert re.search(last, html), "the pool table says each instance's last deploy"
    assert re.search(r'<td class="running">\d+\.\d h</td>', html)
    assert "Redeploy" not in html, "a viewer gets no action buttons"


def test_actions_without_the_csrf_token_or_by_a_viewer_are_refused_and_change_nothing(world: World) -> None:
    admin = Browser(world.service.url)
    admin.sign_in(*ADMIN)
    assert admin.request(f"/environments/{world.pr}/redeploy", {})[0] == 403
    token = admin.csrf()
    # This world has no [database]: no reset-db; and no action that does not exist.
    assert admin.request(f"/environments/{world.pr}/reset-db", {"csrf_token": token})[0] == 404
    assert admin.request(f"/environments/{world.pr}/delete", {"csrf_token": token})[0] == 404
    assert admin.request(f"/environments/{world.pr}/redeploy", {"csrf_token": "guessed"})[0] == 403
    viewer = Browser(world.service.url)
    viewer.sign_in(*VIEWER)
    token = viewer.csrf()
    status, _, body = viewer.request(f"/environments/{world.pr}/redeploy", {"csrf_token": token})
    assert status == 403
    assert "vic may look but not act" in body
    (asg,) = world.store.journal.assignments()
    assert not asg.redeploy_requested
    assert all(e.kind != "redeploy_requested" for e in world.store.events.recent())
    assert world.pokes == []


def test_an_admins_action_records_who_asked_and_pokes_a_pass(world: World) -> None:
    b = Browser(world.service.url)
    b.sign_in(*ADMIN)
    token = b.csrf()
    status, headers, _ = b.request(f"/environments/{world.pr}/redeploy", {"csrf_token": token})
    assert (status, headers["location"]) == (303, "/")
    (asg,) = world.store.journal.assignments()
    assert asg.redeploy_requested
    event = world.store.events.recent(limit=1)[0]
    assert (event.kind, event.pr_number, event.actor) == ("redeploy_requested", world.pr, "local:ada")
    assert world.service.trigger.wait_idle(30)
    assert world.pokes, "the request poked a pass"
    assert "its commit will be deployed again" in b.request("/")[2]


def test_the_cli_records_requests_with_who_asked_too(world: World) -> None:
    out = run_cli(world.sb, "redeploy", str(world.pr))
    assert out.returncode == 0, out.stderr
    assert "will be deployed again on the next pass" in out.stdout
    event = world.store.events.recent(limit=1)[0]
    assert (event.kind, event.actor) == ("redeploy_requested", f"cli:{getpass.getuser()}")
    missing = run_cli(world.sb, "redeploy", "999")
    assert missing.returncode == EXIT_BAD_INPUT
    assert "PR #999 holds no environment" in missing.stderr


def test_hash_password_prints_a_hash_the_dashboard_accepts() -> None:
    password = "correct horse battery"
    command = [sys.executable, "-m", "pullrekun", "hash-password"]
    out = subprocess.run(command, input=password + "\n", capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    digest = out.stdout.strip()
    assert digest.startswith("$argon2id$")
    accounts = Accounts(ServeConfig(admins={"ada": digest}))
    assert accounts.verify("ada", password) is not None
    assert accounts.verify("ada", password + "!") is None
    short = subprocess.run(command, input="short\n", capture_output=True, text=True, check=False)
    assert short.returncode == EXIT_BAD_INPUT
    assert "at least 12 characters" in short.stderr


def test_instance_actions_are_checked_then_recorded_with_who_asked(world: World) -> None:
    b = Browser(world.service.url)
    b.sign_in(*ADMIN)
    token = b.csrf()
    (held,) = [a.instance_id for a in world.store.journal.assignments()]

    def ask(path: str, refused: bool = True, **form: str) -> str:
        status, headers, _ = b.request(path, {"csrf_token": token, **form})
        assert (status, headers["location"]) == (303, "/")
        flash = re.search(r'<p class="flash( error)?" role="status">([^<]*)</p>', b.request("/")[2])
        assert flash, "the page says what came of it"
        assert bool(flash.group(1)) is refused, "a refusal is shown as one"
        return flash.group(2)

    assert "holds PR #" in ask(f"/instances/{held}/start"), "a held instance is the environment's"
    assert "is not in pool" in ask("/instances/i-0123456789abcdef0/start")
    assert "must look like i-0123abcd" in ask("/instances", instance_id="i-x; rm -rf /")
    assert "already in pool" in ask("/instances", instance_id=held)
    assert b.request(f"/instances/{held}/explode", {"csrf_token": token})[0] == 404
    assert world.store.requests.instance_wishes() == ()

    said = ask("/instances", refused=False, instance_id="i-0123456789abcdef0")
    assert "will be tagged into pool default" in said
    (wish,) = world.store.requests.instance_wishes()
    assert (wish.instance_id, wish.wish, wish.actor) == ("i-0123456789abcdef0", "register", "local:ada")
    assert "i-0123456789abcdef0" in b.request("/")[2]
    event = world.store.events.recent(limit=1)[0]
    assert (event.kind, event.actor) == ("register_requested", "local:ada")

    viewer = Browser(world.service.url)
    viewer.sign_in(*VIEWER)
    status, _, body = viewer.request(f"/instances/{held}/retire", {"csrf_token": viewer.csrf()})
    assert (status, "vic may look but not act" in body) == (403, True)
    assert b.request(f"/instances/{held}/retire", {})[0] == 403, "no CSRF token"
    assert len(world.store.requests.instance_wishes()) == 1


def test_the_schema_table_needs_a_database_section(world: World) -> None:
    b = Browser(world.service.url)
    b.sign_in(*ADMIN)
    assert b.request("/schemas")[0] == 404
    status, _, _ = b.request("/schemas", {"csrf_token": b.csrf(), "login": "bob", "schema": "dev_bob"})
    assert status == 303
    assert world.store.requests.schema_sources() == ()


def test_sign_in_with_github_gives_each_person_the_access_github_says(world: World) -> None:
    maintainer = Browser(world.service.url)
    status, headers, body = maintainer.github_sign_in("maintainer")
    assert (status, headers.get("location")) == (303, "/"), body
    page = maintainer.request("/")[2]
    assert "maintainer (admin)" in page
    assert "Redeploy" in page, "write access may act"
    triager = Browser(world.service.url)
    triager.github_sign_in("triager")
    page = triager.request("/")[2]
    assert "triager (viewer)" in page, "triage looks, by default (serve.acting_permissions)"
    assert "Redeploy" not in page
    reader = Browser(world.service.url)
    reader.github_sign_in("reader")
    token = reader.csrf()
    status, _, body = reader.request(f"/environments/{world.pr}/redeploy", {"csrf_token": token})
    assert (status, "reader may look but not act" in body) == (403, True)
    outsider = Browser(world.service.url)
    status, _, body = outsider.github_sign_in("outsider")
    assert status == 403
    assert "outsider has no access to acme/webapp" in body
    assert outsider.request("/")[0] == 303


def test_a_github_sign_in_is_refused_without_its_state_or_with_a_used_code(world: World) -> None:
    b = Browser(world.service.url)
    status, _, body = b.request("/auth/github?code=abc&state=forged")
    assert status == 403
    assert "did not start here" in body
    assert b.github_sign_in("maintainer")[0] == 303
    # The same callback again: the state was used up (and so was the code).
    again = Browser(world.service.url)
    start = again.request("/auth/github/start")[1]["location"]
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(start).query)["state"][0]
    status, _, body = again.request(f"/auth/github?code=not-a-code&state={urllib.parse.quote(state)}")
    assert status == 502
    assert "GitHub refused the sign-in: bad_verification_code" in body
    assert OAUTH_SECRET not in body


def test_access_removed_on_github_ends_the_session(world: World) -> None:
    b = Browser(world.service.url)
    b.github_sign_in("leaver")
    assert b.request("/")[0] == 200
    world.sb.github.roles["leaver"] = "none"
    try:
        status, headers, _ = b.request("/")
        assert (status, headers["location"]) == (303, "/login")
    finally:
        world.sb.github.roles.pop("leaver")


def test_when_github_cannot_say_a_signed_in_person_may_look_but_not_act(world: World) -> None:
    b = Browser(world.service.url)
    b.github_sign_in("maintainer")
    token = b.csrf()
    path = f"/repos/{world.sb.github.repository}/collaborators/"
    world.sb.github.inject(Fault(502, times=100, path_prefix=path))
    try:
        page = b.request("/")[2]
        assert "maintainer (viewer)" in page
        status, _, body = b.request(f"/environments/{world.pr}/redeploy", {"csrf_token": token})
        assert (status, "may look but not act" in body) == (403, True)
    finally:
        world.sb.github.faults.clear()
    assert "maintainer (admin)" in b.request("/")[2]


def test_repository_access_is_asked_once_per_cache_period(world: World) -> None:
    cfg = config_mod.load(world.sb.config_path)
    route = "/repos/{owner}/{repo}/collaborators/{username}/permission"

    def asked() -> int:
        return sum(1 for s in world.sb.github.served if s.route == route)

    cached = RepoAccess(cfg, world.store.github_facts, ttl=3600)
    before = asked()
    assert cached.role("maintainer") is Role.ADMIN
    assert cached.role("Maintainer") is Role.ADMIN
    assert asked() == before + 1
    fresh = RepoAccess(cfg, world.store.github_facts, ttl=0)
    fresh.role("reader")
    fresh.role("reader")
    assert asked() == before + 3


def call(
    world: World, method: str, path: str, token: str | None = None, body: object = None
) -> tuple[int, object]:
    request = urllib.request.Request(
        f"{world.service.url}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def described(world: World, method: str, path: str, status: int, answer: object) -> None:
    """``answer`` is what the served OpenAPI document says this route answers with ``status``."""
    from openapi_schema_validator import OAS31Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    doc = json.loads(urllib.request.urlopen(f"{world.service.url}/openapi.json", timeout=10).read())
    bare = path.split("?")[0]
    (template,) = [t for t in doc["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), bare)]
    content = doc["paths"][template][method.lower()]["responses"][str(status)]["content"]
    schema = json.loads(json.dumps(content["application/json"]["schema"]).replace('"#/', '"urn:doc#/'))
    registry = Registry().with_resource("urn:doc", Resource.from_contents(doc, DRAFT202012))
    OAS31Validator(schema, registry=registry).validate(answer)


def test_the_openapi_document_is_valid_and_describes_the_api_only(world: World) -> None:
    from openapi_spec_validator import validate

    doc = json.loads(urllib.request.urlopen(f"{world.service.url}/openapi.json", timeout=10).read())
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/healthz",
        "/api/v1/status",
        "/api/v1/events",
        "/api/v1/environments/{pr}/{verb}",
        "/api/v1/environments/{pr}/verify",
        "/api/v1/instances/{instance_id}/{verb}",
        "/api/v1/instances",
        "/api/v1/launches",
        "/api/v1/releases/pending",
        "/api/v1/budget/lift",
        "/api/v1/servers/{instance_id}/{verb}",
        "/api/v1/schemas",
        "/api/v1/schemas/{login}",
    }
    assert doc["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    assert "Status" in doc["components"]["schemas"], "the read model's schema, as status --json prints it"
    assert not [name for name in doc["components"]["schemas"] if name.startswith("Body_")], "no page forms"


def test_the_api_reads_with_any_token_and_acts_with_an_admin_token_only(world: World) -> None:
    status, body = call(world, "GET", "/api/v1/status")
    assert status == 401
    status, body = call(world, "GET", "/api/v1/status", WALL_TOKEN)
    assert status == 200
    valid_status(body)  # type: ignore[arg-type]
    described(world, "GET", "/api/v1/status", 200, body)
    assert call(world, "GET", "/api/v1/status", CI_TOKEN + "x")[0] == 401

    status, body = call(world, "POST", f"/api/v1/environments/{world.pr}/redeploy", WALL_TOKEN)
    assert (status, body) == (403, {"message": "wallboard may read but not act"})
    described(world, "POST", f"/api/v1/environments/{world.pr}/redeploy", 403, body)
    status, body = call(world, "POST", f"/api/v1/environments/{world.pr}/redeploy")
    assert status == 401, "actions need a token"
    admin = Browser(world.service.url)
    admin.sign_in(*ADMIN)
    status, _, text = admin.request(f"/api/v1/environments/{world.pr}/redeploy", {})
    assert (status, "need an API token" in text) == (401, True), (
        "a signed-in browser cannot act through the API"
    )
    (held,) = [a.instance_id for a in world.store.journal.assignments()]
    status, body = call(world, "POST", f"/api/v1/instances/{held}/start", CI_TOKEN)
    assert status == 409, body
    described(world, "POST", f"/api/v1/instances/{held}/start", 409, body)

    status, body = call(world, "POST", f"/api/v1/environments/{world.pr}/redeploy", CI_TOKEN)
    assert status == 202, body
    described(world, "POST", f"/api/v1/environments/{world.pr}/redeploy", 202, body)
    event = world.store.events.recent(limit=1)[0]
    assert (event.kind, event.actor) == ("redeploy_requested", "token:ci")
    status, body = call(world, "GET", "/api/v1/events?limit=3", WALL_TOKEN)
    assert status == 200
    described(world, "GET", "/api/v1/events", 200, body)
    assert body[0]["actor"] == "token:ci"  # type: ignore[index]

    assert call(world, "POST", "/api/v1/environments/999/redeploy", CI_TOKEN)[0] == 404
    status, body = call(world, "POST", "/api/v1/instances", CI_TOKEN, {"instance_id": "i-$(reboot)"})
    assert status == 422
    described(world, "POST", "/api/v1/instances", 422, body)
    status, body = call(world, "POST", "/api/v1/instances", CI_TOKEN, {"instance": "i-0123456789abcdef0"})
    assert (status, body) == (422, {"message": "instance_id: Field required"})
    # This world launches nothing (no launch template), and its instances were tagged by hand.
    status, body = call(world, "POST", "/api/v1/launches", CI_TOKEN)
    assert (status, body) == (404, {"message": "launching is off here (no ec2.launch_template)."})
    described(world, "POST", "/api/v1/launches", 404, body)
    status, body = call(world, "POST", f"/api/v1/instances/{held}/terminate", CI_TOKEN)
    assert status == 409
    assert "only instances pullrekun launched are terminated" in str(body)
    # This world has no [database]: no schema table.
    status, body = call(world, "PUT", "/api/v1/schemas/bob", CI_TOKEN, {"schema_name": "dev_bob"})
    assert status == 404
    status, body = call(world, "GET", "/api/v1/schemas", WALL_TOKEN)
    assert (status, body) == (200, [])
    described(world, "GET", "/api/v1/schemas", 200, body)


def test_api_token_prints_a_token_and_the_hash_the_config_keeps() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pullrekun", "api-token", "deploy-bot"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    token = re.search(r"(prk_\S+)", out.stdout)
    digest = re.search(r'deploy-bot = "([0-9a-f]{64})"', out.stdout)
    assert token
    assert digest
    assert "[serve.admin_tokens]" in out.stdout
    assert token_digest(token.group(1)) == digest.group(1)
    viewer = subprocess.run(
        [sys.executable, "-m", "pullrekun", "api-token", "wall", "--viewer"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "[serve.viewer_tokens]" in viewer.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "pullrekun", "api-token", "x y"], capture_output=True, text=True, check=False
    )
    assert bad.returncode == EXIT_BAD_INPUT


def test_no_secret_is_rendered_into_a_page_or_an_answer(world: World) -> None:
    from pullrekun_sandbox.sandbox import AWS_SECRET_KEY, TOKEN

    b = Browser(world.service.url)
    seen = [b.request("/login")[2]]
    b.sign_in(*ADMIN)
    seen += [b.request(path)[2] for path in ("/", "/schemas", "/api/v1/status", "/api/v1/events?limit=500")]
    seen += [b.request(path)[2] for path in ("/openapi.json", "/metrics", "/healthz")]
    secrets = {
        "webhook": "hook secret",
        "oauth client": OAUTH_SECRET,
        "api token": CI_TOKEN,
        "viewer token": WALL_TOKEN,
        "github token": TOKEN,
        "aws": AWS_SECRET_KEY,
    }
    found = [name for name, secret in secrets.items() for text in seen if secret in text]
    assert found == []
    assert all(len(text) > 0 for text in seen)
