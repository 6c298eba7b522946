"""What each open PR's environment looks like to the people on the PR. Pure: no I/O.

Built after a pass recorded what it did (the plan, the state DB's environments) and
read by every channel that reports it: the commit status or check run, the deployment,
the PR comment and the chat notifications. Text that came from GitHub (title, branch,
author) is carried as is; escaping is the renderer's job, where the target format is known.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pullrekun.core.model import CloneSchema, EnvStatus, Plan, PullRequest, QueuedPR, StartInstance
from pullrekun.core.redact import cap_line, cap_output
from pullrekun.core.scenario import Scenario, scenario_of
from pullrekun.core.signoff import SignOff
from pullrekun.core.sleep import REQUESTED_TEXT, Rest, RestKind
from pullrekun.core.steps import Step


class Phase(enum.StrEnum):
    QUEUED = "queued"
    SKIPPED = "skipped"
    DEPLOYING = "deploying"
    READY = "ready"
    FAILED = "failed"
    #: Asleep (stopped on request, idle, outside office hours): the PR keeps its instance,
    #: stopped, until woken (or gave it to a waiting PR and queues again once woken).
    ASLEEP = "asleep"


@dataclass(frozen=True)
class EnvironmentView:
    """One PR's environment as recorded (state DB) and observed (the pool): the read model's unit.

    Built in one place (``pullrekun.app.readmodel``) and read by ``status``, the reports and the
    dashboard; its JSON shape is ``pullrekun/app/status.schema.json``.
    """

    pr: int
    instance_id: str
    #: The instance's EC2 state; "gone" when it left the pool, "unknown" when EC2 was unreadable.
    instance_state: str
    status: EnvStatus
    #: The commit the environment last served ready (None before its first deploy).
    sha: str | None
    since: dt.datetime
    url: str = ""
    failed_step: str | None = None
    failed_task: str | None = None
    message: str | None = None
    db_schema: str | None = None
    db_source: str | None = None
    db_cloned_at: dt.datetime | None = None
    #: Stopped on request: the instance stays this PR's, stopped, until someone wakes it.
    asleep: bool = False
    #: The PR's title and author as the last pass read them (shown escaped and neutralised).
    title: str = ""
    author: str = ""
    #: When the instance was last started, while it runs (how long it has been up: its cost).
    running_since: dt.datetime | None = None
    #: Why it sleeps, as the last pass decided ("idle", "off_hours", "budget", "requested"), what
    #: people read of it, since when, and until when (office hours); None while awake.
    rest: str | None = None
    rest_text: str = ""
    rest_since: dt.datetime | None = None
    rest_until: dt.datetime | None = None
    #: What its migrations changed in its schema against the source (None: not compared).
    schema_changes: tuple[str, ...] | None = None
    #: A *Keep awake* pin: who set it and until when (None: until removed).
    pinned_by: str | None = None
    pinned_until: dt.datetime | None = None
    #: Its running hours and their estimated price, over all its recorded stretches.
    hours: float = 0.0
    cost: float = 0.0
    #: The PR's own settings its environment last got ([app] pr_settings), "NAME=value", sorted.
    settings: tuple[str, ...] = ()
    #: What people are shown: the status, except "asleep" (stopped on request), "sleeping" (idle,
    #: outside office hours, over budget) and "starting" (recorded ready, but its instance is not
    #: up: woken, or stopped by hand; a pass starts it).
    shown: str = field(init=False)

    def __post_init__(self) -> None:
        shown = str(self.status)
        if self.rest is not None and self.rest != RestKind.REQUESTED:
            shown = "sleeping"
        elif self.asleep:
            shown = "asleep"
        elif self.status == EnvStatus.READY and self.instance_state in ("stopped", "stopping", "pending"):
            shown = "starting"
        object.__setattr__(self, "shown", shown)


@dataclass(frozen=True)
class PullRequestView:
    """What one open PR's people are told: its environment, queue position or skip reason."""

    pr: PullRequest
    phase: Phase
    #: One line: queue position, skip reason, step in progress, or what failed.
    detail: str
    since: dt.datetime
    url: str = ""
    deployed_sha: str | None = None
    schema: str | None = None
    source: str | None = None
    failed_step: str | None = None
    failed_task: str | None = None
    failed_message: str = ""
    output_tail: tuple[str, ...] = ()
    #: "ran 6.5 h, about $0.27" ("" without recorded hours).
    cost: str = ""
    #: The test scenario in the PR's description (None: it has none).
    scenario: Scenario | None = None
    #: The newest sign-off on its preview (None: none yet).
    signoff: SignOff | None = None
    #: What its migrations changed in its schema (None: not compared, or no database).
    schema_changes: tuple[str, ...] | None = None
    #: The PR's own settings its environment got, "NAME=value" ([app] pr_settings).
    settings: tuple[str, ...] = ()

    @property
    def sha(self) -> str:
        return self.pr.head_sha


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


#: The task a PR's failure names when the launch it waits for failed.
LAUNCH_TASK = "Launch an instance from ec2.launch_template"
#: What a failure says where its output is not shown (``report.show_output = false``).
OUTPUT_HIDDEN = "its output is not shown here (report.show_output is off); the controller's run log has it"


def hidden_output(message: str | None) -> str | None:
    """A failure message as people who may not see output read it: its first line (where
    pullrekun says what failed), and that the rest is not shown."""
    if not message:
        return message
    first = message.splitlines()[0] if message.strip() else ""
    return f"{cap_line(first)}\n({OUTPUT_HIDDEN})" if "\n" in message.strip() else cap_line(first)


def _split_message(message: str | None, show_output: bool) -> tuple[str, tuple[str, ...]]:
    """The failure's first line and the last lines of output, cut to a size a comment can carry."""
    if not show_output:
        return OUTPUT_HIDDEN, ()
    lines = [line for line in (message or "").splitlines() if line.strip()]
    if not lines:
        return "", ()
    return cap_line(lines[0]), cap_output(lines[1:][-15:])


def queue_text(position: int, busy: int, shown: int) -> str:
    busy_text = f"{busy} instance{'s' if busy != 1 else ''} busy"
    if position > shown:
        return f"waiting for an instance, behind {shown}+ others; {busy_text}"
    return f"{ordinal(position)} in line, {busy_text}"


def in_progress_step(plan: Plan, instance_id: str) -> str:
    if any(a.instance_id == instance_id for a in plan.of_type(StartInstance)):
        return "starting the instance"
    if any(a.instance_id == instance_id for a in plan.of_type(CloneSchema)):
        return "cloning the database"
    return "checking out and restarting"


def build_views(
    prs: Iterable[PullRequest],
    plan: Plan,
    envs: Mapping[int, EnvironmentView],
    queued_since: Mapping[int, dt.datetime],
    now: dt.datetime,
    queue_positions: int = 10,
    show_output: bool = True,
    show_output_public: bool = False,
    scenario_heading: str = "",
) -> dict[int, PullRequestView]:
    """One view per open PR: from its environment, its queue position or its skip reason. A
    failure's output is shown where ``show_output`` allows it, and on a PR of a public repository
    only if ``show_output_public`` does too."""
    queue = {q.pr_number: q for q in plan.queue}
    skipped = {s.pr_number: s.reason for s in plan.skipped}
    resting = {r.pr_number: r for r in plan.resting}
    views: dict[int, PullRequestView] = {}
    for pr in prs:
        env = envs.get(pr.number)
        rest = resting.get(pr.number)
        if pr.number in skipped:
            views[pr.number] = PullRequestView(pr, Phase.SKIPPED, skipped[pr.number], now)
        elif rest is not None and (env is None or rest.without_instance):
            views[pr.number] = PullRequestView(pr, Phase.ASLEEP, rest_detail(rest), rest.since or now)
        elif env is None:
            queued = queue.get(pr.number)
            if queued is None:
                continue  # neither held nor queued: a pass that did not apply its plan
            views[pr.number] = _queued_view(
                pr, queued, plan.busy, queue_positions, queued_since.get(pr.number, now)
            )
        else:
            shown = show_output and (show_output_public or not pr.public_repo)
            views[pr.number] = _env_view(pr, env, plan, shown, rest)
    if scenario_heading:
        for number, view in views.items():
            views[number] = dataclasses.replace(view, scenario=scenario_of(view.pr.body, scenario_heading))
    return views


def rest_detail(rest: Rest) -> str:
    """What a sleeping environment's PR says: why it sleeps, and what wakes it."""
    if rest.without_instance:
        return f"{rest.text} (its instance went to a waiting PR; woken, it queues for one)"
    return rest.text


def _queued_view(
    pr: PullRequest, queued: QueuedPR, busy: int, shown: int, since: dt.datetime
) -> PullRequestView:
    """A PR waiting for an instance; failed when the launch it waits for failed (with why)."""
    if queued.launch_failure:
        return PullRequestView(
            pr,
            Phase.FAILED,
            queued.launch_failure,
            since,
            failed_step="launch",
            failed_task=LAUNCH_TASK,
            failed_message=cap_line(queued.launch_failure),
        )
    detail = queue_text(queued.position, busy, shown)
    if queued.held:
        detail += f"; {queued.held}"
    if queued.launching:
        detail += "; an instance is being launched for it"
    return PullRequestView(pr, Phase.QUEUED, detail, since)


def _env_view(
    pr: PullRequest, env: EnvironmentView, plan: Plan, show_output: bool, rest: Rest | None
) -> PullRequestView:
    base = PullRequestView(
        pr,
        Phase.DEPLOYING,
        in_progress_step(plan, env.instance_id),
        env.since,
        url=env.url,
        deployed_sha=env.sha,
        schema=env.db_schema,
        source=env.db_source,
        schema_changes=env.schema_changes,
        settings=env.settings,
    )
    if rest is None and env.asleep:
        rest = Rest(pr.number, RestKind.REQUESTED, text=REQUESTED_TEXT)
    if rest is not None:
        since = rest.since or env.since
        return dataclasses.replace(base, phase=Phase.ASLEEP, detail=rest_detail(rest), since=since)
    if env.status == EnvStatus.READY and env.sha == pr.head_sha:
        return dataclasses.replace(base, phase=Phase.READY, detail="ready")
    if env.status == EnvStatus.FAILED:
        step = env.failed_step or Step.DEPLOY
        first, tail = _split_message(env.message, show_output)
        return dataclasses.replace(
            base,
            phase=Phase.FAILED,
            detail=f"failed at the {step} step",
            failed_step=step,
            failed_task=env.failed_task,
            failed_message=first,
            output_tail=tail,
        )
    return base
