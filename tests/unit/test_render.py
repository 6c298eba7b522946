"""Escaping and templates: text from GitHub shows as text, whatever it contains."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullrekun.adapters.github.publish import COMMENT_MARKER
from pullrekun.app.render import Renderer, chat_escape, md_escape, safe_url
from pullrekun.core.model import PullRequest
from pullrekun.core.releases import ReleasedPR
from pullrekun.core.sleep import Rest, RestKind
from pullrekun.core.views import Phase, PullRequestView

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
HOSTILE = f"{COMMENT_MARKER} [x](javascript:alert(1)) <img src=x> @org/everyone `rm -rf` | *b* \n# h"


def view(
    title: str = HOSTILE, head_ref: str = "evil/`$(id)`|x", phase: Phase = Phase.FAILED
) -> PullRequestView:
    pr = PullRequest(5, "a" * 40, NOW, author="eve", title=title, head_ref=head_ref)
    return PullRequestView(
        pr,
        phase,
        "failed at the health check step",
        NOW,
        url="http://127.0.0.2:8000/",
        schema="stage_i_1",
        source="dev_bob",
        failed_step="health check",
        failed_task="Restart the app",
        failed_message="health check failed: <b>x</b> @here",
        output_tail=("line ``` 1", "@here <script>"),
    )


def render_comment(v: PullRequestView, renderer: Renderer | None = None) -> str:
    return (renderer or Renderer()).markdown(
        "comment.md.j2",
        view=v,
        closed=False,
        number=v.pr.number,
        url=safe_url(v.url),
        icon="x",
        headline="failed",
        reset_label="db:reset",
        scenario_note=True,
        scenario_heading="## Test scenario",
    )


def test_markdown_escaping_leaves_no_markup_links_or_mentions() -> None:
    out = md_escape(HOSTILE)
    assert "<" not in out
    assert ">" not in out
    assert "](" not in out
    assert "`" not in out.replace("\\`", "")
    assert "@org" not in out  # a word joiner sits between @ and the name
    assert "\n" not in out


@given(st.text())
def test_escaped_text_never_contains_raw_markup_characters(text: str) -> None:
    out = md_escape(text)
    for i, c in enumerate(out):
        if c in "[]()`*_|#":
            # Escaped: preceded by an odd run of backslashes (an even run escapes itself).
            run = len(out[:i]) - len(out[:i].rstrip("\\"))
            assert run % 2 == 1, (text, out)
    assert "<" not in out
    assert ">" not in out
    chat = chat_escape(text)
    assert "<" not in chat
    assert ">" not in chat


def test_the_comment_has_one_marker_and_the_hostile_title_and_branch_as_text() -> None:
    out = render_comment(view(head_ref=HOSTILE))
    assert out.count(COMMENT_MARKER) == 1
    assert out.startswith(COMMENT_MARKER)
    assert "<img" not in out
    assert "javascript:alert(1))" not in out
    assert "[http://127.0.0.2:8000/](http://127.0.0.2:8000/)" in out
    assert "````text\nline ``` 1\n@here <script>\n````" in out  # verbatim, inert inside the fence
    assert "health check failed\\: &lt;b&gt;x&lt;/b&gt;" in out


def test_a_url_that_could_break_out_of_a_link_is_not_linked() -> None:
    assert safe_url("http://h/a) [x](javascript:y") is None
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://pr-12.preview.example.com/") == "https://pr-12.preview.example.com/"


def test_chat_text_escapes_slack_and_google_chat_control_sequences() -> None:
    out = Renderer().chat("notify.txt.j2", view=view(title="<!channel> & <users/all>"), url=None, pr_url="u")
    assert "&lt;!channel&gt; &amp; &lt;users/all&gt;" in out
    assert "<!channel>" not in out


def test_a_team_override_wins_and_the_rest_come_from_the_built_ins(tmp_path: Path) -> None:
    (tmp_path / "comment.md.j2").write_text("{{ marker }}\nOurs: {{ view.pr.title }}\n")
    renderer = Renderer(str(tmp_path))
    out = render_comment(view(title="a*b"), renderer)
    assert out == f"{COMMENT_MARKER}\nOurs: a\\*b\n"
    assert "Preview failed" in renderer.chat("notify.txt.j2", view=view(), url=None, pr_url="u")


def test_an_undefined_variable_in_a_template_is_an_error(tmp_path: Path) -> None:
    import jinja2

    (tmp_path / "comment.md.j2").write_text("{{ nonsense }}")
    with pytest.raises(jinja2.UndefinedError):
        render_comment(view(), Renderer(str(tmp_path)))


SPOOF = "Fix login\u202egnp.exe\u200b $x^2$ \x1b[2J"


def test_bidi_zero_width_and_control_characters_are_shown_not_obeyed() -> None:
    for out in (md_escape(SPOOF), chat_escape(SPOOF)):
        assert "\u202e" not in out
        assert "\u200b" not in out
        assert "\x1b" not in out
        assert "202E" in out, "shown as <U+202E>"
    assert "\\$x^2\\$" in md_escape(SPOOF), "no $...$ math on GitHub"
    comment = render_comment(view(title=SPOOF, head_ref="main\u2066evil"))
    assert "\u202e" not in comment
    assert "\u2066" not in comment
    fenced = render_comment(dataclasses.replace(view(), output_tail=("out\u202eput", "\x07bell")))
    assert "out<U+202E>put" in fenced
    assert "\x07" not in fenced


@given(st.text())
def test_no_spoofing_or_control_character_survives_escaping(text: str) -> None:
    for out in (md_escape(text), chat_escape(text)):
        assert not any(
            c in out for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200e\u200f"
        )
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in out)


def test_status_prints_no_control_characters_from_task_output_or_tags() -> None:
    from pullrekun.app.readmodel import GitHubFacts, InstanceView, Snapshot
    from pullrekun.cli.render import status_table
    from pullrekun.core.model import EnvStatus
    from pullrekun.core.tagpolicy import Refusal
    from pullrekun.core.views import EnvironmentView

    env = EnvironmentView(
        7, "i-00000007", "running", EnvStatus.FAILED, None, NOW, "http://h/\x1b]8;;x",
        failed_step="migrate", failed_task="Migrate.", message="boom \x1b[2J\x1b[H\u202eevil\nmore",
    )  # fmt: skip
    snap = Snapshot(
        pool="default",
        environments=(env,),
        instances=(InstanceView("i-00000007", "running", 7),),
        queue=(),
        github=GitHubFacts(),
        refused=(Refusal("i-00000008", "pullrekun:url=\x1b[31mred does not name a host"),),
    )
    out = status_table(snap)
    assert "\x1b" not in out
    assert "\u202e" not in out
    assert "boom [2J[H<U+202E>evil" in out
    assert "refused: i-00000008: pullrekun:url=[31mred" in out


def test_an_environment_asleep_is_reported_as_sleeping_with_why_everywhere() -> None:
    from pullrekun.app.reporting.status import commit_status
    from pullrekun.core.model import EnvStatus, Plan
    from pullrekun.core.views import EnvironmentView, build_views

    pr = PullRequest(number=3, head_sha="a" * 40, created_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    env = EnvironmentView(
        pr=3,
        instance_id="i-00000001",
        instance_state="stopped",
        status=EnvStatus.READY,
        sha="a" * 40,
        since=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        url="http://127.0.0.2:8000/",
        asleep=True,
    )
    (v,) = build_views([pr], Plan(actions=()), {3: env}, {}, queue_positions=10, now=env.since).values()
    assert v.phase is Phase.ASLEEP
    state, description, url = commit_status(v)
    assert (state, url) == ("success", None), "no link to a URL that does not answer"
    assert description == "Preview sleeping: stopped on request; wake it from the dashboard"
    assert "stopped on request" in render_comment(v)
    idle = Rest(3, RestKind.IDLE, env.since, text="idle for 8 h; a push or a visit of its link wakes it")
    (w,) = build_views([pr], Plan(resting=(idle,)), {3: env}, {}, queue_positions=10, now=env.since).values()
    assert commit_status(w)[1] == "Preview sleeping: idle for 8 h; a push or a visit of its link wakes it"
    assert "idle for 8 h" in render_comment(w)
    handed = dataclasses.replace(idle, without_instance=True)
    (h,) = build_views([pr], Plan(resting=(handed,)), {}, {}, queue_positions=10, now=env.since).values()
    assert h.phase is Phase.ASLEEP
    assert "its instance went to a waiting PR" in commit_status(h)[1]


def _release(kind: str, prs: tuple[ReleasedPR, ...], previews: dict[int, str] | None = None) -> str:
    return Renderer().chat(
        "release.txt.j2",
        kind=kind,
        previous="a" * 40,
        current="b" * 40,
        prs=prs,
        links={p.number: safe_url(f"https://github.com/acme/shop/pull/{p.number}") for p in prs},
        previews={n: safe_url(url) for n, url in (previews or {}).items()},
    )


def test_the_released_notice_lists_each_pr_linked_with_its_risk_and_preview() -> None:
    prs = (
        ReleasedPR(7, "Cart", "alice", risk="Locks orders for\n5 minutes"),
        ReleasedPR(8, "Search", "bob", reverted=True),
    )
    out = _release("release", prs, {7: "http://127.0.0.7:8000/"})
    assert out.startswith("Released to production (bbbbbbbbbbbb): 2 pull requests:")
    assert (
        "- <https://github.com/acme/shop/pull/7|#7> Cart by alice, previewed at http://127.0.0.7:8000/" in out
    )
    assert "> Locks orders for\n> 5 minutes" in out
    assert "#8> Search by bob (reverted)" in out


def test_a_rollback_is_said_as_one_and_never_as_an_empty_release() -> None:
    out = _release("rollback", ())
    assert out.strip() == "Production rolled back from aaaaaaaaaaaa to bbbbbbbbbbbb."
    assert "Released" not in out


def test_hostile_titles_and_risk_notes_stay_inert_in_the_notice() -> None:
    hostile = ReleasedPR(9, "<!channel> <https://evil.example|click>", "mallory", risk="<!here> & <@U123>")
    out = _release("release", (hostile,))
    assert "<!channel>" not in out
    assert "<!here>" not in out
    assert "<https://evil" not in out
    assert "&lt;!channel&gt; &lt;https[:]//evil[.]example|click&gt;" in out
    assert "> &lt;!here&gt; &amp; &lt;@\u2060U123&gt;" in out
