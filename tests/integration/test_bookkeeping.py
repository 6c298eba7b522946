"""The instances' records of what they serve (pullrekun:pr, pullrekun:sha), written by the pass
after the playbook run against moto's EC2: a deploy's tags only when it succeeded, a missing
tag without a deploy, and a write that fails (EC2 unreachable) answered with the reason (the pass
says it in the activity log and undoes nothing)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.app.bookkeeping import write_tags
from pullrekun.core import tags as tag
from pullrekun.core.model import TagInstance
from tests.conftest import LOCAL_FIRST_HOST, run_pass


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
            assert write_tags(cfg, (failed_deploy,), deployed=frozenset()) == {}
            assert sb.instance_tags(iid)[tag.SHA] == head, "a deploy that failed leaves the tags alone"
            unreachable = dataclasses.replace(
                cfg, ec2=dataclasses.replace(cfg.ec2, endpoint_url="http://127.0.0.1:9")
            )
            problems = write_tags(unreachable, (TagInstance(iid, pr, head),), deployed=frozenset())
            assert "create_tags failed" in problems[iid]
        finally:
            store.close()
    finally:
        sb.stop()
