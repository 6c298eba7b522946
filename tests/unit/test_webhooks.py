"""Webhook deliveries judged: GitHub's signature, well-formed headers, our repository's news."""

from __future__ import annotations

import json

import pytest

from pullrekun.core.webhooks import BadDelivery, check_headers, judge, sign, signature_ok

SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"


def test_githubs_documented_example_signature_verifies() -> None:
    # From GitHub's "Validating webhook deliveries" documentation.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(SECRET, BODY) == expected
    assert signature_ok(SECRET, BODY, expected)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d",
        "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17",
        "sha256=" + "0" * 64,
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
    ],
)
def test_a_missing_or_wrong_signature_is_refused(header: str | None) -> None:
    assert not signature_ok(SECRET, BODY, header)


def test_without_a_secret_nothing_verifies() -> None:
    assert not signature_ok(b"", BODY, sign(b"", BODY))


def test_a_truncated_body_does_not_verify() -> None:
    assert not signature_ok(SECRET, BODY[:-1], sign(SECRET, BODY))


@pytest.mark.parametrize(
    ("event", "delivery"), [(None, "d1"), ("push", None), ("pu sh", "d1"), ("push", "a/b")]
)
def test_malformed_headers_are_refused(event: str | None, delivery: str | None) -> None:
    with pytest.raises(BadDelivery):
        check_headers(event, delivery)


def payload(**kw: object) -> bytes:
    return json.dumps({"repository": {"full_name": "Acme/WebApp"}, **kw}).encode()


def test_only_news_about_our_repository_triggers() -> None:
    assert judge("push", payload(), "acme/webapp").trigger
    assert judge("pull_request", payload(action="synchronize", number=3), "acme/webapp").reason == (
        "pull_request.synchronize #3"
    )
    assert not judge("pull_request", payload(action="assigned"), "acme/webapp").trigger
    assert not judge("push", payload(), "acme/other").trigger
    assert not judge("issues", payload(action="opened"), "acme/webapp").trigger
    assert not judge("ping", payload(), "acme/webapp").trigger
    assert judge("installation", b'{"action": "created"}', "acme/webapp").trigger
    retitled = judge(
        "pull_request", payload(action="edited", number=5, changes={"title": {"from": "x"}}), "acme/webapp"
    )
    assert (retitled.trigger, retitled.reason) == (False, "pull_request.edited without a base change")
    rebased = payload(action="edited", number=5, changes={"base": {"ref": {"from": "main"}}})
    assert judge("pull_request", rebased, "acme/webapp").trigger, "a new base branch may change trust"
    review = judge("pull_request_review", payload(action="submitted", number=4), "acme/webapp")
    assert (review.trigger, review.reason) == (True, "pull_request_review.submitted #4")


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b"\xff\xfe"])
def test_a_signed_body_that_is_not_a_json_object_is_malformed(body: bytes) -> None:
    with pytest.raises(BadDelivery):
        judge("push", body, "acme/webapp")


def test_a_successful_deployment_to_production_wakes_a_pass_and_nothing_else_does() -> None:
    def delivery(environment: str, state: str, repo: str = "acme/webapp") -> bytes:
        return json.dumps(
            {
                "action": "created",
                "deployment_status": {"state": state},
                "deployment": {"environment": environment},
                "repository": {"full_name": repo},
            }
        ).encode()

    assert judge("deployment_status", delivery("production", "success"), "acme/webapp", "production").trigger
    for body in (
        delivery("production", "in_progress"),
        delivery("preview/pr-7", "success"),  # pullrekun's own: a pass would wake itself
        delivery("production", "success", "other/repo"),
    ):
        assert not judge("deployment_status", body, "acme/webapp", "production").trigger
    assert not judge("deployment_status", delivery("production", "success"), "acme/webapp").trigger
