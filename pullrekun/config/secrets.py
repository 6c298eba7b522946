"""The controller's secrets: read from the environment here and nowhere else in pullrekun, and
known to the redactor in every spelling they may be printed in."""

from __future__ import annotations

import os
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

from pullrekun.config.model import Config
from pullrekun.core.dbusers import env_password
from pullrekun.core.redact import Redactor

#: The AWS credentials' variables: a playbook run gets them in memory only.
AWS_SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def github_token(cfg: Config) -> str | None:
    return os.environ.get(cfg.github.token_env) or None


def secret(name: str) -> str:
    """The value of the secret variable ``name`` ("" when unset)."""
    return os.environ.get(name, "")


def playbook_secret_env_names(cfg: Config) -> tuple[str, ...]:
    """The secret variables a playbook run needs (handed over in memory): AWS, databases."""
    names = [*AWS_SECRET_ENV, *cfg.ansible.secret_env]
    if cfg.database is not None:
        db = cfg.database
        names += [db.admin_password_env, db.app_password_env, db.source_password_env]
    return tuple(dict.fromkeys(names))


def playbook_secrets(cfg: Config) -> dict[str, str]:
    """The secrets the playbook needs (AWS keys, database passwords): handed over in memory."""
    return {name: os.environ[name] for name in playbook_secret_env_names(cfg) if os.environ.get(name)}


def secret_env_names(cfg: Config) -> tuple[str, ...]:
    """Environment variables whose values are secrets (known to be, or named so in the config)."""
    names = [cfg.github.token_env, cfg.state.url_env, *playbook_secret_env_names(cfg)]
    names += [n for n in (cfg.report.slack_webhook_env, cfg.report.google_chat_webhook_env) if n]
    if cfg.release is not None:
        names += [n for n in (cfg.release.slack_webhook_env, cfg.release.google_chat_webhook_env) if n]
    names += [cfg.serve.webhook_secret_env, cfg.serve.session_secret_env, cfg.serve.oauth_client_secret_env]
    return tuple(dict.fromkeys(names))


def secret_values(cfg: Config) -> tuple[str, ...]:
    """Every secret value this controller holds, in the spellings it may be printed in."""
    values = {os.environ.get(name, "") for name in secret_env_names(cfg)}
    password = urlsplit(cfg.state_url).password
    values |= {password or "", unquote(password or "")}
    values |= {quote(v, safe="") for v in set(values)}
    return tuple(sorted(v for v in values if v))


def env_db_passwords(cfg: Config, owners: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The passwords of these (schema, owner nonce) environment users (secrets the redactor
    must know)."""
    db = cfg.database
    key = secret(db.app_password_env) if db is not None else ""
    if db is None or not db.env_users or not key:
        return ()
    return tuple(sorted({env_password(key, schema, nonce) for schema, nonce in owners if schema}))


def redactor(cfg: Config, *more: str) -> Redactor:
    return Redactor.of((*secret_values(cfg), *more))
