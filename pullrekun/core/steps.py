"""The steps of a deploy a person can act on, and how a playbook task names its step.

Each task that can fail carries an Ansible tag ``step_<id>`` (``step_migrate``,
``step_health_check``). The run records the step of the first task that failed on each host
(the ``pullrekun_steps`` callback in ``playbooks/callback_plugins``), so what people are told
comes from that id, never from a task's wording.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

TAG_PREFIX = "step_"


class Step(enum.StrEnum):
    """In the order a deploy goes through them."""

    START = "start"
    #: A launched instance's first set-up (roles/staging, staging_action bootstrap).
    BOOTSTRAP = "bootstrap"
    CHECKOUT = "checkout"
    SCHEMA = "schema"
    MIGRATE = "migrate"
    RESTART = "restart"
    HEALTH_CHECK = "health check"
    #: A failure no tagged task claims (the run itself: a timeout, a cancel, a crash).
    DEPLOY = "deploy"

    @property
    def tag(self) -> str:
        return TAG_PREFIX + self.value.replace(" ", "_")


_BY_TAG = {s.tag: s for s in Step}


def step_of(tags: Iterable[str], *, unreachable: bool = False) -> Step:
    """The step a failed task belongs to; a host that does not answer fails at the start step."""
    if unreachable:
        return Step.START
    return next((_BY_TAG[t] for t in tags if t in _BY_TAG), Step.DEPLOY)
