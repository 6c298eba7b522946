"""The instances' records of what they serve (pullrekun:pr, pullrekun:sha), written and cleared
by the pass after the playbook run against moto's EC2: a deploy's tags only when it succeeded, a
missing tag without a deploy, a stopped instance's tags cleared only when its stop succeeded (EC2
refusing the stop in a real pass leaves them, and the next pass finishes both), stale tags on a
stopped instance cleared without a playbook run, and a write that fails (EC2 unreachable)
answered with the reason (the pass says it in the activity log and undoes nothing)."""

from __future__ import annotations

import dataclasses
import http.client
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.app.bookkeeping import write_tags
from pullrekun.core import tags as tag
from pullrekun.core.model import TagInstance, UntagInstance
from tests.conftest import LOCAL_FIRST_HOST, run_pass, status_of

#: Its tests each make a world and run several passes in it: a warm start per test.
pytestmark = pytest.mark.usefixtures("warm_per_test")


@pytest.fixture
def sb(tmp_path: Path) -> Iterator[Sandbox]:
    """A world of one host on a loopback address of its own."""
    world = Sandbox(root=tmp_path / "world", hosts=1, first_host=LOCAL_FIRST_HOST).start()
    try:
        yield world
    finally:
        world.stop()


def test_a_missing_tag_is_written_without_a_deploy_and_a_refused_write_is_said(sb: Sandbox) -> None:
    pr, head = sb.open_pr("tagged", "served and recorded")
    assert run_pass(sb).ok
    (iid,) = sb.instance_ids
    assert {k: v for k, v in sb.instance_tags(iid).items() if k in (tag.PR, tag.SHA)} == {
        tag.PR: str(pr),
        tag.SHA: head,
    }
    cfg = config_mod.load(sb.config_path)
    store = Store.open(cfg.state_url)
    try:
        deploys = len(store.journal.deployments(pr))
        # As if the write after the deploy had failed: the tags are not there.
        sb.ec2().delete_tags(Resources=[iid], Tags=[{"Key": tag.PR}, {"Key": tag.SHA}])
        assert run_pass(sb).ok
        assert sb.instance_tags(iid)[tag.SHA] == head
        assert len(store.journal.deployments(pr)) == deploys, "written back without a deploy"

        failed_deploy = TagInstance(iid, pr, "b" * 40, deployed=True)
        assert write_tags(cfg, (failed_deploy,), deployed=frozenset(), stopped=frozenset()) == {}
        assert sb.instance_tags(iid)[tag.SHA] == head, "a deploy that failed leaves the tags alone"
        unreachable = dataclasses.replace(
            cfg, ec2=dataclasses.replace(cfg.ec2, endpoint_url="http://127.0.0.1:9")
        )
        problems = write_tags(
            unreachable, (TagInstance(iid, pr, head),), deployed=frozenset(), stopped=frozenset()
        )
        assert "create_tags failed" in problems[iid]
    finally:
        store.close()


def test_a_stop_clears_the_tags_and_stale_tags_on_a_stopped_instance_need_no_run(sb: Sandbox) -> None:
    pr, _ = sb.open_pr("closing", "served, then closed")
    assert run_pass(sb).ok
    (iid,) = sb.instance_ids
    sb.github.close(pr)
    closed = run_pass(sb)
    assert closed.ok
    assert closed.run_status == "successful"
    assert sb.instance_state(iid) == "stopped"
    assert not {tag.PR, tag.SHA} & set(sb.instance_tags(iid)), "cleared once stopped"

    cfg = config_mod.load(sb.config_path)
    stale = [{"Key": tag.PR, "Value": "77"}, {"Key": tag.SHA, "Value": "c" * 40}]
    sb.ec2().create_tags(Resources=[iid], Tags=stale)
    after_failed_stop = UntagInstance(iid)
    assert write_tags(cfg, (after_failed_stop,), deployed=frozenset(), stopped=frozenset()) == {}
    assert sb.instance_tags(iid)[tag.PR] == "77", "a stop that failed leaves the tags alone"

    swept = run_pass(sb)
    assert swept.ok
    assert swept.run_status is None, "no playbook run for it"
    assert not {tag.PR, tag.SHA} & set(sb.instance_tags(iid))
    said = [s["message"] for s in status_of(sb)["sweeps"] if s["kind"] == "swept"]
    assert said == [
        "tags cleared: tagged for PR #77, which holds no instance (closed, or unknown to the state DB)"
    ]

    unreachable = dataclasses.replace(
        cfg, ec2=dataclasses.replace(cfg.ec2, endpoint_url="http://127.0.0.1:9")
    )
    problems = write_tags(unreachable, (UntagInstance(iid, after_stop=False),), frozenset(), frozenset())
    assert "delete_tags failed" in problems[iid]


@contextmanager
def ec2_refusing(upstream: str, action: str) -> Iterator[str]:
    """An EC2 endpoint that answers ``action`` with UnauthorizedOperation and hands every other
    call to ``upstream`` (moto), as an IAM policy without that action would."""
    target = urllib.parse.urlsplit(upstream)
    refused: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if f"Action={action}&".encode() in body + b"&":
                refused.append(action)
                answer = (
                    "<Response><Errors><Error><Code>UnauthorizedOperation</Code>"
                    f"<Message>not allowed to {action}</Message></Error></Errors>"
                    "<RequestID>1</RequestID></Response>"
                ).encode()
                self.send_response(403)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                return
            conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request("POST", self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            finally:
                conn.close()
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in {"content-length", "transfer-encoding", "connection", "server", "date"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert refused, f"{action} was never called"


def test_a_stop_ec2_refuses_keeps_the_tags_and_the_next_pass_finishes_it(sb: Sandbox) -> None:
    pr, head = sb.open_pr("refused", "served, then closed while EC2 refuses stops")
    assert run_pass(sb).ok
    (iid,) = sb.instance_ids
    sb.github.close(pr)
    with ec2_refusing(sb.ec2_url, "StopInstances") as endpoint:
        sb.extra_config = {"ec2": {"endpoint_url": endpoint}}
        sb.write_config()
        refused = run_pass(sb)
    sb.extra_config = {}
    sb.write_config()
    assert not refused.ok
    assert sb.instance_state(iid) == "running"
    tags = sb.instance_tags(iid)
    assert (tags[tag.PR], tags[tag.SHA]) == (str(pr), head), "a stop that failed keeps its records"

    assert run_pass(sb).ok
    assert sb.instance_state(iid) == "stopped"
    assert not {tag.PR, tag.SHA} & set(sb.instance_tags(iid)), "cleared once the stop succeeded"
