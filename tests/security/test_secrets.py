"""No secret value in any file pullrekun writes, in argv, in its logs or in what it posts.

One world holds every kind of secret pullrekun sees: the GitHub token, AWS keys and a session
token, the state DB's password (in its URL), the database admin password, the secret every
environment's database password is derived from and those passwords, and a chat webhook URL.
A pass deploys one PR and fails another whose migration prints its database password and one
enormous line, as a hostile or careless PR would. Then every file under the run directories,
every row of the state DB, the pass's and `status`'s output, every body posted to GitHub and
every chat message are searched for every secret, in the spellings it could take.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from pullrekun_sandbox.mariadb import MariaDB
from pullrekun_sandbox.sandbox import Sandbox
from pullrekun_sandbox.sshd import SshdHosts
from sqlalchemy import MetaData, select

from pullrekun import config as config_mod
from pullrekun.adapters.github.publish import COMMENT_MARKER
from pullrekun.adapters.state.engine import make_engine
from pullrekun.adapters.state.store import Store
from pullrekun.cli import EXIT_FAILURES
from pullrekun.core.dbusers import env_password, env_user
from pullrekun.core.model import Assignment
from tests.conftest import LOCAL_FIRST_HOST, _db_names, run_cli, run_pass, ssh_world
from tests.receiver import Receiver

STATE_PASSWORD = "state-db-pw:5ecret/42"
ADMIN_PASSWORD = "admin pw 'clone' #7"
APP_PASSWORD = "app-db-secret-in-app.env"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEHYaCXVzLWVhc3QtMSJHMEUCIQsandbox-session-token"
HOOK_SECRET = "T000/B000/slack-webhook-secret-path"

#: The hostile PR's migration: prints the app's password, then a line a comment could not carry.
LEAKY_MIGRATE = """\
import os
import sys
print("connecting as", os.environ["DB_USER"], "with", os.environ["DB_PASSWORD"])
print("x" * 200000)
print("password again:", os.environ["DB_PASSWORD"], file=sys.stderr)
import base64, urllib.parse
password = os.environ["DB_PASSWORD"].encode()
print("basic:", base64.b64encode(os.environ["DB_USER"].encode() + b":" + password).decode())
print("url-safe:", base64.urlsafe_b64encode(b"xy" + password).decode())
print("hex:", password.hex(), "url:", urllib.parse.quote(password, safe=""))
sys.exit(1)
"""


def spellings(secret: str) -> set[str]:
    """The secret, URL-quoted, hex, and the middle of its base64 and base64url at each of the
    three alignments it can have inside a longer encoded text."""
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), raw.hex(), raw.hex().upper()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            forms.add(encode(b"\0" * offset + raw).decode()[offset + 2 : -4])
    return forms


def found_in(text: str, secrets: dict[str, str]) -> list[str]:
    return sorted(name for name, value in secrets.items() if any(s in text for s in spellings(value)))


@pytest.fixture
def secret_world(
    tmp_path: Path, sshd_hosts: SshdHosts, mariadb: MariaDB, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Sandbox, Receiver, dict[str, str]]]:
    n = next(_db_names)
    state_url = mariadb.create_database(
        f"pullrekun_sec_{n}", user=f"sec_state_{n}", password=STATE_PASSWORD
    ).replace(STATE_PASSWORD, quote(STATE_PASSWORD, safe=""))
    source = f"dev_sec_{n}"
    statements = [
        f"DROP DATABASE IF EXISTS {source}",
        f"CREATE DATABASE {source}",
        f"CREATE TABLE {source}.notes (id INT PRIMARY KEY, body VARCHAR(100))",
        f"INSERT INTO {source}.notes VALUES (1, 'hello')",
    ]
    statements += mariadb.user_statements("sec_admin", ADMIN_PASSWORD, "*.*", grant_option=True)
    out = mariadb.sql("; ".join(statements))
    assert out.returncode == 0, out.stderr
    hook = Receiver()
    monkeypatch.setenv("PULLREKUN_DB_ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setenv("PULLREKUN_DB_APP_PASSWORD", APP_PASSWORD)
    monkeypatch.setenv("SEC_SLACK_HOOK", hook.url(f"/services/{HOOK_SECRET}"))
    sb = ssh_world(
        sshd_hosts,
        tmp_path / "world",
        hosts=2,
        state_url=state_url,
        extra_config={
            "report": {"slack_webhook_env": "SEC_SLACK_HOOK"},
            "database": {
                "host": "127.0.0.1",
                "port": mariadb.port,
                "admin_user": "sec_admin",
                "default_source": source,
                "schema_template": f"sec_{n}_{{instance}}",
                "migrate_command": f"{sys.executable} migrate.py",
            },
        },
    ).start()
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)  # after the sandbox set the keys
    secrets = {
        "GitHub token": os.environ["PULLREKUN_GITHUB_TOKEN"],
        "AWS secret key": os.environ["AWS_SECRET_ACCESS_KEY"],
        "AWS session token": SESSION_TOKEN,
        "state DB password": STATE_PASSWORD,
        "DB admin password": ADMIN_PASSWORD,
        "DB app secret": APP_PASSWORD,
        "chat webhook": HOOK_SECRET,
    }
    try:
        yield sb, hook, secrets
    finally:
        sb.stop()
        hook.close()


def _leaky_pr(sb: Sandbox) -> int:
    sb.git("checkout", "-q", "-b", "leaky")
    (sb.origin / "migrate.py").write_text(LEAKY_MIGRATE)
    sb.git("commit", "-q", "-am", "A migration that talks too much")
    sha = sb.git("rev-parse", "HEAD")
    sb.git("push", "-q", str(sb.remote), "leaky")
    sb.git("checkout", "-q", "main")
    return sb.github.open_pr(sha, head_ref="leaky", title="Leaky migration", author="mallory")


def _state_db_text(url: str) -> str:
    engine = make_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    rows = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            rows += [repr(tuple(r)) for r in conn.execute(select(table))]
    engine.dispose()
    assert rows, "the state DB is empty: nothing was searched"
    return "\n".join(rows)


def _assignments(sb: Sandbox) -> tuple[Assignment, ...]:
    store = Store.open(config_mod.load(sb.config_path).state_url)
    try:
        return store.journal.assignments()
    finally:
        store.close()


def _env_file(sb: Sandbox, instance_id: str) -> dict[str, str]:
    text = (sb.deploy_root(sb.addr_of(instance_id)) / "shared" / "app.env").read_text()
    return {k: v.strip("'") for k, v in (line.split("=", 1) for line in text.splitlines() if "=" in line)}


def test_no_secret_is_written_logged_or_posted(
    secret_world: tuple[Sandbox, Receiver, dict[str, str]],
) -> None:
    sb, hook, secrets = secret_world
    good, _ = sb.open_pr("fine", "all good")
    leaky = _leaky_pr(sb)
    passed = run_cli(sb, "reconcile")
    assert passed.returncode == EXIT_FAILURES, passed.stdout + passed.stderr
    status = run_cli(sb, "status")
    status_json = run_cli(sb, "status", "--json")
    envs = {e["pr"]: e for e in json.loads(status_json.stdout)["environments"]}
    assert envs[good]["status"] == "ready", passed.stdout + passed.stderr
    assert envs[leaky]["status"] == "failed"
    assert envs[leaky]["failed_step"] == "migrate"

    # The failure still says what went wrong, with the password taken out and the line cut.
    (comment,) = [c for c in sb.github.comments_on(leaky) if c["body"].startswith(COMMENT_MARKER)]
    user = env_user(envs[leaky]["db_schema"])
    assert f"connecting as {user} with [redacted]" in comment["body"]
    # Each environment's own database password (derived from the app secret and its owner's
    # nonce) is a secret too: the one the host was given.
    nonces = {a.pr_number: a.db_nonce for a in _assignments(sb)}
    for pr in (good, leaky):
        given = _env_file(sb, envs[pr]["instance_id"])["DB_PASSWORD"]
        assert given == env_password(APP_PASSWORD, envs[pr]["db_schema"], nonces[pr] or "")
        secrets[f"PR {pr}'s DB password"] = given
    assert "more characters)" in comment["body"]
    assert len(comment["body"]) < 8000

    searched: dict[str, str] = {}
    runs = Path(sb.config_dict()["ansible"]["artifacts_dir"])
    files = [p for p in runs.rglob("*") if p.is_file()]
    assert any(p.name == "command" for p in files), "ansible-runner's command record was not searched"
    assert any(p.parent.name == "job_events" for p in files), "no run events were searched"
    for path in files:
        searched[str(path)] = path.read_text(errors="replace")
    searched["state DB"] = _state_db_text(sb.state_db_url)
    searched["reconcile output"] = passed.stdout + passed.stderr
    searched["status"] = status.stdout + status.stderr + status_json.stdout
    for served in sb.github.writes():
        searched[f"GitHub {served.method} {served.path}"] = json.dumps(served.request)
    assert hook.posts, "no chat message was sent: nothing was searched"
    for i, post in enumerate(hook.posts):
        searched[f"chat message {i}"] = json.dumps({k: v for k, v in post.items() if k != "path"})
    leaks = {where: found_in(text, secrets) for where, text in searched.items()}
    leaks = {where: names for where, names in leaks.items() if names}
    assert leaks == {}, leaks
    print(f"searched {len(searched)} files and texts for {len(secrets)} secrets: 0 found")

    # What pullrekun creates under its run directories is for the controller's user alone.
    loose = [str(p) for p in runs.rglob("*") if not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert loose == []


def test_the_state_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store.open(f"sqlite:///{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_app_installation_token_is_kept_encrypted(tmp_path: Path) -> None:
    sb = Sandbox(root=tmp_path / "world", hosts=1, first_host=LOCAL_FIRST_HOST, github_app=True).start()
    try:
        sb.open_pr("t", "token")
        for _ in range(2):
            run_pass(sb)
        assert sb.github.app is not None
        tokens = list(sb.github.app.issued)
        assert len(tokens) == 1, "the sealed token is reused by the next pass"
        stored = _state_db_text(sb.state_db_url)
        assert "app_token_sealed" in stored
        assert found_in(stored, {"installation token": tokens[0]}) == []
    finally:
        sb.stop()
