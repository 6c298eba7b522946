"""Text from a PR cannot form a link or a mention in chat.

As an attacker would: a PR titled with a bare URL, a bare domain, an e-mail address and
mentions (and a branch and risk note alike) gets a preview; the chat message pullrekun posts
shows them as text that Slack and Google Chat do not turn into links or pings, while the
preview URL pullrekun built itself stays a link.
"""

from __future__ import annotations

import re

import pytest
from pullrekun_sandbox.sandbox import Sandbox

from tests.conftest import run_pass
from tests.receiver import Receiver

TITLE = "Log in at https://evil.example/login or www.evil.example, mail boss@evil.example @here @channel"
#: What Slack and Google Chat turn into a link or a mention in plain text.
LINKY = re.compile(r"https?://evil|www\.evil|evil\.example|@\w")


def test_a_prs_title_forms_no_link_and_no_mention_in_chat(
    local_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = local_sandbox
    hook = Receiver()
    try:
        monkeypatch.setenv("SLACK_HOOK", hook.url("/slack"))
        monkeypatch.setenv("GCHAT_HOOK", hook.url("/chat"))
        sb.extra_config = {
            "report": {"slack_webhook_env": "SLACK_HOOK", "google_chat_webhook_env": "GCHAT_HOOK"}
        }
        sb.write_config()
        sb.open_pr("links", "hello", title=TITLE)
        assert run_pass(sb).ok
        assert len(hook.posts) == 2
        for post in hook.posts:
            text = post["text"]
            assert text.startswith("Preview ready"), text
            assert LINKY.findall(text) == [], text
            assert "evil[.]example" in text, "still readable"
            own = re.search(rf"http://127\.0\.0\.\d+:{sb.app_port}/", text)
            assert own is not None, "pullrekun's own URL stays a link"
    finally:
        hook.close()
