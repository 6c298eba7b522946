"""The developer -> schema table accepts only sources the operator allowed.

An attacker who may act (a GitHub triager, an admin API token) edits the table to point their
own login at the server's user table, at pullrekun's state database, at another PR's
environment, or at any schema the operator never named, then presses *Reset database*: their
environment's user would hold a copy. The edit is refused over HTTP with the reason (422); an
edit already in the state DB (written before this rule, or by hand) is ignored by the pass; and
the clone itself refuses a source outside the rule, against a real MariaDB.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pullrekun_sandbox.mariadb import MariaDB

from pullrekun import config as config_mod
from pullrekun.adapters.mysql import Server
from pullrekun.adapters.schema_clone import clone_schema
from pullrekun.adapters.schema_copy import CloneError
from pullrekun.adapters.state.store import Store
from pullrekun.core.model import CloneSchema, Instance, InstanceState, Observed, PullRequest
from pullrekun.core.planner import plan
from pullrekun.web.serve import Service
from pullrekun.web.tokens import new_token, token_digest
from tests.conftest import _db_names

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
TOKEN = new_token()[0]
STATE_SCHEMA = "pullrekun_state"


def raw_config(tmp_path: Path) -> dict[str, Any]:
    return {
        "github": {"repository": "acme/shop"},
        "app": {"repo_url": "https://example.invalid/shop.git", "command": "./run"},
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "database": {
            "default_source": "dev_shared",
            "authors": {"alice": "dev_alice"},
            "source_patterns": ["dev_*"],
            "schema_template": "stage_{instance}",
        },
        "serve": {"admin_tokens": {"triager-bot": token_digest(TOKEN)}},
    }


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    cfg = config_mod.parse(raw_config(tmp_path))
    store = Store.open(cfg.state_url)
    svc = Service(cfg, store, "hook secret", bind="127.0.0.1", port=0, run_pass=lambda: "clean")
    svc.start_background()
    try:
        yield svc
    finally:
        svc.shutdown()
        store.close()


def put_schema(svc: Service, login: str, schema: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{svc.url}/api/v1/schemas/{login}",
        method="PUT",
        data=json.dumps({"schema_name": schema}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ("mysql", "one of the server's own schemas"),
        ("MySQL", "one of the server's own schemas"),  # lower_case_table_names=1 servers
        ("information_schema", "one of the server's own schemas"),
        ("performance_schema", "one of the server's own schemas"),
        ("sys", "one of the server's own schemas"),
        ("STAGE_i_0123456789abcdef0", "has the shape of an environment's schema"),
        ("dev_alice__prk_old", "a clone's work schema"),
        ("payroll", "not a source the operator allowed"),
    ],
)
def test_an_edit_naming_a_source_the_operator_did_not_allow_is_refused_with_the_reason(
    service: Service, schema: str, reason: str
) -> None:
    status, body = put_schema(service, "mallory", schema)
    assert status == 422, body
    assert reason in body["message"], body
    assert service.store.requests.schema_sources() == (), "nothing was recorded"


def test_allowed_sources_are_still_taken(service: Service) -> None:
    assert put_schema(service, "mallory", "dev_mallory")[0] == 202
    assert put_schema(service, "bob", "DEV_ALICE")[0] == 202, "a config author value, in any case"
    assert {login for login, *_ in service.store.requests.schema_sources()} == {"mallory", "bob"}


def test_the_state_databases_own_schema_is_never_a_source(tmp_path: Path) -> None:
    raw = raw_config(tmp_path)
    raw["state"] = {"url": f"mysql+pymysql://pullrekun@127.0.0.1/{STATE_SCHEMA}"}
    raw["database"]["source_patterns"] = ["pullrekun_*", "dev_*"]
    cfg = config_mod.parse(raw)
    problem = cfg.source_rule.problem(STATE_SCHEMA)
    assert problem is not None
    assert "state database" in problem
    raw["database"]["default_source"] = STATE_SCHEMA
    with pytest.raises(config_mod.ConfigError, match=r"database\.default_source: cannot be a source"):
        config_mod.parse(raw)


def test_an_edit_already_in_the_state_db_is_not_used_by_the_pass(tmp_path: Path) -> None:
    """The state DB says mallory's schema is `mysql` (written before the rule, or by hand):
    mallory's new environment is cloned from the default, and the plan says why."""
    cfg = config_mod.parse(raw_config(tmp_path))
    store = Store.open(cfg.state_url)
    try:
        store.requests.set_schema_source("mallory", "mysql", NOW, "github:mallory")
        edited = store.requests.edited_authors()
    finally:
        store.close()
    pr = PullRequest(1, "a" * 40, NOW, author="Mallory")
    inst = Instance("i-0123456789abcdef0", InstanceState.STOPPED, "127.0.0.1")
    result = plan(Observed((pr,), (inst,), (), edited_authors=edited), cfg.planner, NOW)
    (clone,) = result.of_type(CloneSchema)
    assert clone.source == "dev_shared"


@pytest.fixture
def server(mariadb: MariaDB) -> Server:
    return Server(
        host="127.0.0.1", port=mariadb.port, user="root", password="", unix_socket=str(mariadb.socket)
    )


def test_the_clone_refuses_a_disallowed_source_whatever_it_was_told(
    tmp_path: Path, mariadb: MariaDB, server: Server
) -> None:
    n = next(_db_names)
    payroll, target = f"payroll_{n}", f"stage_src_{n}"
    done = mariadb.sql(f"CREATE DATABASE {payroll}; CREATE TABLE {payroll}.salaries (n INT)")
    assert done.returncode == 0, done.stderr
    rule = config_mod.parse(raw_config(tmp_path)).source_rule
    with pytest.raises(CloneError, match="one of the server's own schemas"):
        clone_schema(server, "mysql", target)  # with no rule at all
    with pytest.raises(CloneError, match="one of the server's own schemas"):
        clone_schema(server, "MYSQL", target, rule=rule)
    with pytest.raises(CloneError, match="not a source the operator allowed"):
        clone_schema(server, payroll, target, rule=rule)
    schemas = mariadb.sql(f"SHOW DATABASES LIKE '{target}%'").stdout.split()
    assert target not in schemas, "nothing was created"


def test_a_table_option_in_the_source_cannot_inject_into_the_clones_statements(
    mariadb: MariaDB, server: Server
) -> None:
    """The PR author owns their development schema. Under IGNORE_BAD_TABLE_OPTIONS a table may
    carry any made-up option, and information_schema shows its text among the real ones: one
    that reads like ``stats_auto_recalc=1,RENAME TO <another schema>`` must not reach an
    ``ALTER TABLE`` the clone runs as the server's administrator."""
    n = next(_db_names)
    source, target, victim = f"dev_mallory_{n}", f"stage_inj_{n}", f"victim_{n}"
    hostile = f"stats_auto_recalc=1,RENAME/**/TO/**/{victim}.stolen"
    done = mariadb.sql(
        f"CREATE DATABASE {victim}; CREATE DATABASE {source};"
        f" SET SESSION sql_mode='IGNORE_BAD_TABLE_OPTIONS';"
        f" CREATE TABLE {source}.notes (id INT PRIMARY KEY) x='a {hostile} b';"
        f" INSERT INTO {source}.notes VALUES (1), (2)"
    )
    assert done.returncode == 0, done.stderr
    result = clone_schema(server, source, target)

    assert mariadb.sql(f"SHOW TABLES FROM {victim}").stdout.split() == [], "nothing moved out"
    assert result.rows == 2
    assert mariadb.sql(f"SELECT COUNT(*) FROM {target}.notes").stdout.split()[-1] == "2"
