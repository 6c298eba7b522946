"""Secrets out of recorded and posted text; output cut to what a comment can carry."""

from __future__ import annotations

import datetime as dt

import pytest

from pullrekun import config as config_mod
from pullrekun.config.secrets import redactor, secret_values
from pullrekun.core.model import EnvStatus, Plan, PullRequest
from pullrekun.core.redact import REDACTED, Redactor, cap_line, cap_output
from pullrekun.core.steps import Step
from pullrekun.core.views import OUTPUT_HIDDEN, EnvironmentView, build_views

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def test_every_known_secret_is_replaced_longest_first() -> None:
    redact = Redactor.of(["hunter22", "hunter22-and-more", "", None, "abc"])
    assert redact("pw=hunter22-and-more; old=hunter22") == f"pw={REDACTED}; old={REDACTED}"
    assert redact("abc is too short to tell from text") == "abc is too short to tell from text"
    assert Redactor.of([])("nothing known") == "nothing known"


def test_a_long_line_is_cut_and_the_last_lines_are_kept() -> None:
    assert cap_line("x" * 350) == "x" * 300 + "… (50 more characters)"
    lines = [f"line {i} " + "y" * 280 for i in range(40)]
    kept = cap_output(lines)
    assert sum(len(line) + 1 for line in kept) <= 3000 + 100
    assert kept[-1] == lines[-1]
    assert kept[0].startswith("… (")
    assert kept[0].endswith("earlier lines left out)")


def test_the_config_knows_its_secrets_in_every_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULLREKUN_GITHUB_TOKEN", "ghp_token_value")
    monkeypatch.setenv("PULLREKUN_STATE_URL", "mysql+pymysql://u:p%40ss%2Fword@db/state")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws/secret+key")
    monkeypatch.setenv("HOOK", "https://hooks.example/T0/B0/xyz")
    cfg = config_mod.parse(
        {
            "github": {"repository": "o/r"},
            "app": {"repo_url": "u", "command": "c"},
            "report": {"slack_webhook_env": "HOOK"},
        }
    )
    values = set(secret_values(cfg))
    assert {"ghp_token_value", "p@ss/word", "p%40ss%2Fword", "aws/secret+key", "aws%2Fsecret%2Bkey"} <= values
    assert (
        redactor(cfg)("posting to https://hooks.example/T0/B0/xyz failed") == f"posting to {REDACTED} failed"
    )


def _failed(message: str) -> EnvironmentView:
    return EnvironmentView(
        1, "i-1", "running", EnvStatus.FAILED, None, NOW, "", failed_task="Migrate.",
        failed_step=Step.MIGRATE, message=message,
    )  # fmt: skip


def test_failure_output_is_capped_or_hidden_in_what_is_posted() -> None:
    pr = PullRequest(1, "a" * 40, NOW)
    huge = "non-zero return code\n" + "z" * 100_000 + "\nlast line"
    (shown,) = build_views([pr], Plan(()), {1: _failed(huge)}, {}, NOW).values()
    assert shown.output_tail[-1] == "last line"
    assert all(len(line) < 400 for line in shown.output_tail)
    (hidden,) = build_views([pr], Plan(()), {1: _failed(huge)}, {}, NOW, show_output=False).values()
    assert (hidden.failed_message, hidden.output_tail) == (OUTPUT_HIDDEN, ())
    assert hidden.failed_task == "Migrate."


def test_a_secret_is_also_taken_out_in_its_common_encodings() -> None:
    import base64
    from urllib.parse import quote, quote_plus

    secret = "pass word/+é~42"
    redact = Redactor.of([secret])
    raw = secret.encode()
    for text in (
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode(),
        base64.b64encode(b"user:" + raw).decode(),
        base64.urlsafe_b64encode(b"ab" + raw + b"cd").decode(),
    ):
        assert "[redacted]" in redact(text), text
        assert text not in redact(text)
    assert Redactor.of(["short1"])("c2hvcnQx 73686f727431") == "c2hvcnQx 73686f727431", "short: raw only"
