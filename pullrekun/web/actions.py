"""What people may ask of pullrekun from the dashboard or the API, checked and recorded.

Nothing here runs Ansible or writes to EC2: each action records a request in the state DB
with who asked and pokes the trigger; the next pass's planner decides what it takes
(pullrekun.core.planner). The HTML forms and the JSON API call the same methods, so they
answer the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from pullrekun.adapters.state.notices import NoticeLedger
from pullrekun.adapters.state.store import Store
from pullrekun.config import Config
from pullrekun.core.model import EnvStatus, Instance, InstanceState, InstanceWish
from pullrekun.core.servers import Server, ServerWish
from pullrekun.core.settings import value_problem
from pullrekun.core.signoff import SignOff, note_problem
from pullrekun.core.sleep import MAX_PIN_HOURS
from pullrekun.core.validate import InvalidInput, check_instance_id, check_login, check_schema


class Poker(Protocol):
    """What asks for a pass soon (serve's trigger; nothing for the CLI: the next pass comes)."""

    def poke(self, reason: str) -> None: ...


@dataclass(frozen=True)
class Answer:
    """``status``: 202 recorded, 404 nothing to act on, 409 not now, 422 refused input."""

    status: int
    message: str

    @property
    def ok(self) -> bool:
        return self.status == 202


#: Per environment verb: what it records, and what the answer says will happen.
ENVIRONMENT_VERBS = ("redeploy", "stop", "wake", "keep-awake", "let-sleep", "reset-db")

INSTANCE_VERBS = ("start", "stop", "retire", "terminate")
SERVER_VERBS = ("start-now", "stop-now")


class Actions:
    def __init__(
        self,
        cfg: Config,
        store: Store,
        trigger: Poker,
        pool: Callable[[], Mapping[str, Instance] | None],
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        servers: Callable[[], tuple[Server, ...]] = tuple,
    ) -> None:
        self._cfg = cfg
        self._store = store
        self._trigger = trigger
        self._pool = pool
        self._clock = clock
        self._servers = servers

    def _recorded(self, message: str) -> Answer:
        self.poke()
        return Answer(202, message)

    def poke(self) -> None:
        """Ask for a pass soon (a request was recorded)."""
        self._trigger.poke("request")

    # --- environments --------------------------------------------------------------

    def environment_verbs(self) -> tuple[str, ...]:
        return tuple(v for v in ENVIRONMENT_VERBS if v != "reset-db" or self._cfg.database is not None)

    def environment(self, pr: int, verb: str, actor: str, hours: int | None = None) -> Answer:
        """``hours``: how long *Keep awake* pins (None: until removed)."""
        if verb not in self.environment_verbs():
            return Answer(404, f"no such action: {verb}")
        if verb in ("wake", "keep-awake", "let-sleep"):
            return self._sleep(pr, verb, actor, hours)
        now, store = self._clock(), self._store
        record: dict[str, tuple[Callable[[], bool], str]] = {
            "redeploy": (
                lambda: store.requests.redeploy(pr, now, actor),
                "its commit will be deployed again.",
            ),
            "stop": (
                lambda: store.requests.sleep(pr, True, now, actor),
                "its instance will be stopped (it stays this PR's until woken).",
            ),
            "reset-db": (lambda: store.requests.reset(pr, now, actor), "its database will be copied afresh."),
        }
        done, said = record[verb]
        if not done():
            return Answer(404, f"PR #{pr} holds no environment.")
        return self._recorded(f"PR #{pr}: {said}")

    def _sleep(self, pr: int, verb: str, actor: str, hours: int | None) -> Answer:
        now, sleep = self._clock(), self._store.sleep
        if verb == "let-sleep":
            if not sleep.unpin(pr, now, actor):
                return Answer(404, f"PR #{pr} is not kept awake.")
            return self._recorded(f"PR #{pr}: it sleeps by the rules again.")
        if verb == "wake":
            if not sleep.wake(pr, now, actor):
                return Answer(404, f"PR #{pr} holds no environment.")
            return self._recorded(f"PR #{pr}: it will be started, and its head deployed if it moved.")
        if hours is not None and not 1 <= hours <= MAX_PIN_HOURS:
            return Answer(422, f"hours must be between 1 and {MAX_PIN_HOURS} (or left out: until removed).")
        until = now + dt.timedelta(hours=hours) if hours is not None else None
        if not sleep.pin(pr, until, now, actor):
            return Answer(404, f"PR #{pr} holds no environment.")
        how = f"until {until:%Y-%m-%d %H:%M} UTC" if until is not None else "until someone lets it sleep"
        return self._recorded(f"PR #{pr}: kept awake {how}.")

    def lift_budget(self, actor: str) -> Answer:
        """Let instances start and launch past this month's budget (admins)."""
        if not self._cfg.cost.budget:
            return Answer(404, "no monthly budget is set here ([cost] budget).")
        self._store.usage.lift_budget(self._clock(), actor)
        return self._recorded("this month's budget is lifted: instances start and launch again.")

    def verify(self, pr: int, ok: bool, note: str, actor: str) -> Answer:
        """Sign off PR ``pr``'s preview at the commit it serves: only a ready environment serving
        the PR's head; never by the PR's author unless ``verify.allow_author``."""
        if not ok:
            problem = note_problem(note)
            if problem is not None:
                return Answer(422, f"refused: {problem}.")
        pull = next((p for p in self._store.pulls.all() if p.number == pr), None)
        if pull is None:
            return Answer(404, f"PR #{pr} is not an open pull request pullrekun knows.")
        kind, _, login = actor.partition(":")
        if kind == "github" and login.lower() == pull.author.lower() and not self._cfg.verify.allow_author:
            return Answer(403, f"refused: {login} wrote PR #{pr}; someone else signs it off.")
        if not self._serves(pr, pull.sha):
            return Answer(
                409,
                f"PR #{pr}'s preview is not ready at its head {pull.sha[:7]}: sign off once it serves it.",
            )
        now = self._clock()
        self._store.signoffs.record(SignOff(pr, pull.sha, ok, "" if ok else note.strip(), actor, now))
        said = "verified" if ok else "a problem found"
        return self._recorded(f"PR #{pr}: {said} at {pull.sha[:7]}; GitHub is told on the next pass.")

    def set_setting(self, pr: int, name: str, value: str, actor: str) -> Answer:
        """Set one of the PR's own settings ("" removes it); the next pass writes its app.env
        and restarts the app (no new checkout)."""
        if name not in self._cfg.app.pr_settings:
            allowed = ", ".join(self._cfg.app.pr_settings) or "none ([app] pr_settings is empty)"
            return Answer(422, f"refused: {name[:64]!r} is not a setting a PR may set (allowed: {allowed}).")
        problem = value_problem(value)
        if problem is not None:
            return Answer(422, f"refused: {problem}.")
        if not any(p.number == pr for p in self._store.pulls.all()):
            return Answer(404, f"PR #{pr} is not an open pull request pullrekun knows.")
        self._store.settings.set(pr, name, value or None, self._clock(), actor)
        said = f"{name}={value}" if value else f"{name} removed"
        return self._recorded(f"PR #{pr}: {said}; its app restarts with it on the next pass.")

    def _serves(self, pr: int, sha: str) -> bool:
        """PR ``pr``'s environment is ready at ``sha`` on a running instance."""
        env = next((e for e in self._store.journal.environments() if e.assignment.pr_number == pr), None)
        if env is None:
            return False
        asg, pool = env.assignment, self._pool()
        inst = pool.get(asg.instance_id) if pool is not None else None
        ready = asg.status == EnvStatus.READY and asg.deployed_sha == sha
        return ready and inst is not None and inst.state == InstanceState.RUNNING

    # --- the pool ------------------------------------------------------------------

    def _holder(self, instance_id: str) -> int | None:
        return next(
            (a.pr_number for a in self._store.journal.assignments() if a.instance_id == instance_id), None
        )

    def instance(self, instance_id: str, verb: str, actor: str) -> Answer:
        if verb not in INSTANCE_VERBS:
            return Answer(404, f"no such action: {verb}")
        pool = self._pool()
        if pool is None:
            return Answer(409, "EC2 could not be read; try again in a moment.")
        if instance_id not in pool:
            return Answer(404, f"{instance_id} is not in pool {self._cfg.ec2.pool}.")
        holder = self._holder(instance_id)
        now = self._clock()
        if verb == "terminate":
            return self._terminate(instance_id, holder, actor)
        if verb == "retire":
            self._store.requests.instance_wish(instance_id, InstanceWish.RETIRE, now, actor)
            requeued = f" PR #{holder} gets another instance." if holder is not None else ""
            return self._recorded(f"{instance_id} will be stopped and taken out of the pool.{requeued}")
        if holder is not None:
            return Answer(409, f"{instance_id} holds PR #{holder}'s environment: stop or wake that instead.")
        if verb == "start":
            self._store.requests.instance_wish(instance_id, InstanceWish.RUNNING, now, actor)
            return self._recorded(f"{instance_id} will be started and kept running until a PR needs it.")
        self._store.requests.instance_wish(instance_id, None, now, actor)
        return self._recorded(f"{instance_id} will be stopped.")

    def _terminate(self, instance_id: str, holder: int | None, actor: str) -> Answer:
        record = next((r for r in self._store.fleet.records() if r.instance_id == instance_id), None)
        if record is None:
            return Answer(
                409,
                f"{instance_id} was tagged into the pool by hand: only instances pullrekun launched are "
                "terminated (retire it instead).",
            )
        if record.protected:
            return Answer(409, f"{instance_id} has termination protection on: pullrekun leaves it.")
        self._store.requests.instance_wish(instance_id, InstanceWish.TERMINATE, self._clock(), actor)
        requeued = f" PR #{holder} gets another instance." if holder is not None else ""
        return self._recorded(f"{instance_id} will be terminated.{requeued}")

    def launch_one(self, actor: str) -> Answer:
        """Ask for one more instance from the launch template; the next pass launches it if the
        pool has room (``ec2.max_size``)."""
        if not self._cfg.ec2.launch_template:
            return Answer(404, "launching is off here (no ec2.launch_template).")
        if self._store.fleet.launch_requests():
            return Answer(409, "a launch is already asked for; the next pass makes it.")
        self._store.fleet.ask_launch(self._clock(), actor)
        return self._recorded(
            "one more instance will be launched from the launch template, if the pool has room."
        )

    def register(self, instance_id: str, actor: str) -> Answer:
        try:
            check_instance_id(instance_id)
        except InvalidInput as exc:
            return Answer(422, str(exc))
        if not self._cfg.ec2.vpc_ids and not self._cfg.ec2.subnet_ids:
            return Answer(
                409,
                "registration is off: set ec2.vpc_ids or ec2.subnet_ids in the config, so only "
                "instances there can be pulled into the pool.",
            )
        pool = self._pool()
        if pool is not None and instance_id in pool:
            return Answer(409, f"{instance_id} is already in pool {self._cfg.ec2.pool}.")
        self._store.requests.instance_wish(instance_id, InstanceWish.REGISTER, self._clock(), actor)
        return self._recorded(f"{instance_id} will be tagged into pool {self._cfg.ec2.pool}.")

    # --- developers' servers --------------------------------------------------------------

    def server(self, instance_id: str, verb: str, actor: str) -> Answer:
        """*Start now* / *Stop now* a developer's server: it holds until its schedule next changes."""
        if verb not in SERVER_VERBS:
            return Answer(404, f"no such action: {verb}")
        if instance_id not in {s.instance_id for s in self._servers()}:
            return Answer(404, f"{instance_id} is not a server on a schedule (pullrekun:schedule).")
        wish = ServerWish.START if verb == "start-now" else ServerWish.STOP
        self._store.servers.wish(instance_id, wish, self._clock(), actor)
        what = "started" if wish == ServerWish.START else "stopped"
        return self._recorded(f"{instance_id} will be {what}, until its schedule next changes.")

    # --- release notices ----------------------------------------------------------------

    def pending_notice(self, actor: str) -> Answer:
        """Ask for the waiting-for-release notice: the next pass reads GitHub, renders and posts it."""
        if self._cfg.release is None:
            return Answer(404, "release notices are off here ([release] is not configured).")
        ledger = NoticeLedger(self._store)
        if ledger.unrendered():
            return Answer(409, "the waiting-for-release notice is already asked for; the next pass posts it.")
        now = self._clock()
        ledger.record("pending", None, None, None, (), now, actor=actor)
        self._store.events.add(now, "notice_requested", "the waiting-for-release notice", actor=actor)
        return self._recorded("the waiting-for-release notice will be posted to the release channels.")

    # --- the developer -> schema table ------------------------------------------------

    def schema_table(self) -> list[tuple[str, str, str, str | None, dt.datetime | None]]:
        """Every developer's schema: (login, schema, "config" | "edited", who, when)."""
        db = self._cfg.database
        table: dict[str, tuple[str, str, str | None, dt.datetime | None]] = {}
        if db is not None:
            table = {login.lower(): (schema, "config", None, None) for login, schema in db.authors.items()}
        for login, schema, who, when in self._store.requests.schema_sources():
            table[login] = (schema, "edited", who, when)
        return [(login, *row) for login, row in sorted(table.items())]

    def set_schema(self, login: str, schema: str, actor: str) -> Answer:
        db = self._cfg.database
        if db is None:
            return Answer(404, "environments have no databases here ([database] is not configured).")
        try:
            check_login(login)
            check_schema(schema)
        except InvalidInput as exc:
            return Answer(422, str(exc))
        problem = self._cfg.source_rule.problem(schema)
        if problem is not None:
            return Answer(422, f"refused: {problem}.")
        self._store.requests.set_schema_source(login, schema, self._clock(), actor)
        return Answer(202, f"{login.lower()}'s next environments are cloned from {schema}.")

    def reset_schema(self, login: str, actor: str) -> Answer:
        if self._cfg.database is None:
            return Answer(404, "environments have no databases here ([database] is not configured).")
        if login.lower() not in {row[0] for row in self._store.requests.schema_sources()}:
            return Answer(404, f"{login} has no edited schema.")
        self._store.requests.set_schema_source(login, None, self._clock(), actor)
        return Answer(202, f"{login.lower()} is back to the config's schema.")
