"""The dashboard's pages speak the team's language: templates overridden from
report.templates_dir/web/ (a broken one refused at start-up, naming it), times in the team's
zone and as "12 min ago"."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pullrekun.config import ConfigError
from pullrekun.web.pages import ago, check_pages, pages, when_filter

NOW = dt.datetime(2026, 12, 5, 5, 0, tzinfo=dt.UTC)


def test_relative_times() -> None:
    assert ago(NOW - dt.timedelta(seconds=20), NOW) == "just now"
    assert ago(NOW - dt.timedelta(minutes=12), NOW) == "12 min ago"
    assert ago(NOW - dt.timedelta(hours=3), NOW) == "3 h ago"
    assert ago(NOW - dt.timedelta(days=4), NOW) == "4 days ago"
    assert ago(NOW + dt.timedelta(minutes=5), NOW) == "in 5 min"


def test_times_read_in_the_teams_zone() -> None:
    shown = when_filter("Asia/Tokyo")(dt.datetime(2026, 12, 5, 5, 0, tzinfo=dt.UTC))
    assert shown.startswith("2026-12-05 14:00 JST (")
    assert when_filter("UTC")(None) == ""


def test_a_page_template_is_overridden_and_a_broken_one_is_refused_at_start_up(tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "login.html.j2").write_text("<p>Bienvenue {{ name }}</p>")
    assert pages(str(tmp_path), "UTC").get_template("login.html.j2").render(name="<b>x</b>") == (
        "<p>Bienvenue &lt;b&gt;x&lt;/b&gt;</p>"
    ), "overridden, and still escaped"
    builtin = pages(str(tmp_path), "UTC").get_template("waking.html.j2").filename or ""
    assert builtin.endswith("templates/web/waking.html.j2"), "the others stay built in"
    check_pages(str(tmp_path))
    (web / "environments.html.j2").write_text("{% if %}")
    with pytest.raises(ConfigError, match=r"report.templates_dir: page template .*environments.html.j2"):
        check_pages(str(tmp_path))


def test_the_environment_page_lists_the_database_changes_escaped() -> None:
    import dataclasses as dc

    from pullrekun.core.model import EnvStatus
    from pullrekun.core.views import EnvironmentView

    env = EnvironmentView(3, "i-00000001", "running", EnvStatus.READY, "a" * 40, NOW, db_source="dev_alice")
    page = pages("", "UTC").get_template("environment.html.j2")
    values: dict[str, object] = {
        "repository": "a/b", "person": None, "csrf": "t", "flash": None, "flash_refused": False,
        "pr_url": lambda n: f"https://github.com/a/b/pull/{n}", "has_database": True,
        "env_link": lambda pr, url: url, "pr": 3, "pull": None, "signoffs": (), "deploys": (),
        "scenario_heading": "## Test scenario", "setting_names": (), "settings": {}, "applied": {},
    }  # fmt: skip
    changed = dc.replace(env, schema_changes=("+ table `<b>x</b>`", "+ table `invoices`"))
    html = page.render(env=changed, **values)
    assert "<li><code>+ table `&lt;b&gt;x&lt;/b&gt;`</code></li>" in html
    assert "No database changes against dev_alice." in page.render(
        env=dc.replace(env, schema_changes=()), **values
    )
    assert "Database changes" not in page.render(env=env, **values), "not compared: nothing said"
