"""The instances' records of what they serve (pullrekun:pr, pullrekun:sha), written and cleared
by the pass after the playbook run against moto's EC2: a deploy's tags only when it succeeded, a
missing tag without a deploy, a stopped instance's tags cleared only when its stop succeeded,
stale tags on a stopped instance cleared without a playbook run, and a write that fails (EC2
unreachable) answered with the reason (the pass says it in the activity log and undoes
nothing)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.app.bookkeeping import write_tags
from pullrekun.core import tags as tag
from pullrekun.core.model import TagInstance, UntagInstance
from tests.conftest import LOCAL_FIRST_HOST, run_pass, status_of


def test_a_missing_tag_is_written_without_a_deploy_and_a_refused_write_is_said(tmp_path: Path) -> None:
    sb = Sandbox(root=tmp_path / "world", hosts=1, first_host=LOCAL_FIRST_HOST).start()
    try:
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
    finally:
        sb.stop()


def test_a_stop_clears_the_tags_and_stale_tags_on_a_stopped_instance_need_no_run(tmp_path: Path) -> None:
    sb = Sandbox(root=tmp_path / "world", hosts=1, first_host=LOCAL_FIRST_HOST).start()
    try:
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
    finally:
        sb.stop()
