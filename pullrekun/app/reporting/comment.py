"""The one pullrekun comment on each PR: edited in place, found again by its marker."""

from __future__ import annotations

from pullrekun.adapters.state.notices import Notice, NoticeLedger
from pullrekun.adapters.state.reports import Reported
from pullrekun.app.render import Renderer, safe_url
from pullrekun.app.reporting.common import COMMENT, HEADLINES, Outbox, fingerprint
from pullrekun.core.views import Phase, PullRequestView


def closed_comment(renderer: Renderer, number: int, released: Notice | None) -> str:
    """A closed PR's comment: stopped, and released (or rolled back) when production says so."""
    return renderer.markdown("comment.md.j2", view=None, closed=True, number=number, released=released)


class CommentChannel:
    def __init__(self, out: Outbox) -> None:
        self.out = out

    def body(self, view: PullRequestView | None, number: int) -> str:
        db = self.out.cfg.database
        render = self.out.renderer.markdown
        if view is None:
            released = NoticeLedger(self.out.store).last_for_pr(number)
            return closed_comment(self.out.renderer, number, released)
        icon, headline = HEADLINES[view.phase]
        return render(
            "comment.md.j2",
            view=view,
            closed=False,
            number=number,
            url=safe_url(view.url),
            icon=icon,
            headline=headline,
            reset_label=db.reset_label if db is not None else "",
            scenario_note=self.out.cfg.report.scenario_note,
            scenario_heading=self.out.cfg.report.scenario_heading,
        )

    def send(self, view: PullRequestView, prev: Reported | None) -> None:
        if prev is None and view.phase == Phase.SKIPPED:
            return  # a PR that never had an environment gets its status, not a comment
        body = self.body(view, view.pr.number)
        fp = fingerprint(body)
        if prev is not None and prev.fingerprint == fp:
            return
        self.out.save(view.pr.number, COMMENT, fp, view.sha, self._put(view.pr.number, body, prev))

    def _put(self, number: int, body: str, prev: Reported | None) -> int:
        writer = self.out.writer
        comment_id = prev.github_id if prev is not None else None
        if comment_id is None:
            comment_id = writer.find_comment(number)
        if comment_id is not None and writer.edit_comment(comment_id, body):
            return comment_id
        return writer.create_comment(number, body)

    def closed(self, number: int, prev: Reported | None) -> None:
        """The PR was closed: the comment says so."""
        if prev is not None and prev.github_id:
            self.out.writer.edit_comment(prev.github_id, self.body(None, number))
