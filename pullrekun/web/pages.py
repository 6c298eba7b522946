"""The dashboard's page templates: the built-in ones, or those of ``report.templates_dir/web/``
(same file names win), and how times read on them: in the team's time zone (``serve.time_zone``)
and as "12 min ago"."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from pathlib import Path

import jinja2
from markupsafe import Markup

from pullrekun.adapters.project import templates_dir
from pullrekun.config import ConfigError


def ago(then: dt.datetime, now: dt.datetime) -> str:
    """ "just now", "12 min ago", "3 h ago", "2 days ago" (or "in 5 min" for a time ahead)."""
    seconds = (now - then).total_seconds()
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        return "just now" if not ahead else "in a moment"
    if seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 2 * 86400:
        text = f"{int(seconds // 3600)} h"
    else:
        text = f"{int(seconds // 86400)} days"
    return f"in {text}" if ahead else f"{text} ago"


def when_filter(zone_name: str) -> Callable[..., Markup]:
    """The ``when`` filter: "2026-12-05 14:02 JST (12 min ago)" in the team's zone."""
    zone = zoneinfo.ZoneInfo(zone_name)

    def when(value: dt.datetime | None, seconds: bool = False) -> Markup:
        if value is None:
            return Markup("")
        local = value.astimezone(zone)
        shown = local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")
        return Markup(f"{shown} ({ago(value, dt.datetime.now(dt.UTC))})")  # noqa: S704 - our own digits

    return when


def page_loader(override_dir: str) -> jinja2.BaseLoader:
    builtin = jinja2.FileSystemLoader(str(templates_dir() / "web"))
    override = Path(override_dir) / "web" if override_dir else None
    if override is None or not override.is_dir():
        return builtin
    return jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(override)), builtin])


def pages(override_dir: str, zone_name: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=page_loader(override_dir),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    )
    env.filters["when"] = when_filter(zone_name)
    return env


def check_pages(override_dir: str) -> None:
    """Load every page template of ``<override_dir>/web/``; a ConfigError names the file and line
    of one that does not load (at start-up, not when someone opens the page)."""
    folder = Path(override_dir) / "web" if override_dir else None
    if folder is None or not folder.is_dir():
        return
    env = pages(override_dir, "UTC")
    for path in sorted(folder.glob("*.j2")):
        try:
            env.get_template(path.name)
        except jinja2.TemplateError as exc:
            where = f"{getattr(exc, 'filename', '') or path}:{getattr(exc, 'lineno', '') or ''}"
            raise ConfigError("report.templates_dir", f"page template {where} does not load: {exc}") from None
