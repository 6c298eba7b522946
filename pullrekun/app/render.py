"""Render what people read (PR comment, check run output, chat messages) from Jinja2 templates.

Templates live in ``templates/`` at the top of the repository; a team can point
``report.templates_dir`` at a directory whose files of the same names win.

Escaping is automatic: every ``{{ value }}`` is escaped for the target format unless
the value is :class:`markupsafe.Markup` (text pullrekun built itself, such as a URL it
checked). So a title like ``<!-- pullrekun:env -->`` or ``[click](javascript:…)`` or
``@everyone`` shows as text and does nothing. Markdown: backslash before every ASCII
punctuation character, ``<``/``>``/``&`` as entities, ``@`` kept from mentioning, line
breaks folded. Chat (Slack and Google Chat): ``&``, ``<``, ``>`` as entities, which is
how both mark text as text (no ``<!channel>`` / ``<users/all>`` pings); and since both also
link bare URLs, domains and e-mail addresses and may ping ``@here``, outsiders' text gets them
defanged: ``evil[.]example``, ``https[:]//``, ``@`` followed by a word joiner.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from pullrekun.adapters.github.publish import COMMENT_MARKER
from pullrekun.adapters.project import templates_dir
from pullrekun.config import ConfigError
from pullrekun.core.text import neutralise

#: Marks pullrekun's comment on a PR; it is found again by this, never by position.

# `$` too: GitHub renders $...$ as math.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:$])")
_SAFE_URL = re.compile(r"\Ahttps?://[A-Za-z0-9.:\[\]_~%/?#=&+,;@!$'*-]+\Z")


def md_escape(value: object) -> str:
    text = " ".join(neutralise(str(value)).split())  # no line breaks: one line stays one line
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("@", "@\u2060")  # a word joiner: "@team" is no longer a mention


#: A scheme, or a dot between two name parts (a domain, ``www.x``, ``user@host.tld``).
_LINKABLE = re.compile(r"(?i)(?<=[a-z0-9])\.(?=[a-z0-9])|://")


def chat_escape(value: object) -> str:
    text = " ".join(neutralise(str(value)).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _LINKABLE.sub(lambda m: "[:]//" if m.group() == "://" else "[.]", text)
    return text.replace("@", "@\u2060")  # a word joiner: no mention, no e-mail link


def safe_url(url: str) -> Markup | None:
    """A URL fit to render as a link target (http(s), no spaces or brackets), else None."""
    if url and _SAFE_URL.match(url) and "(" not in url and ")" not in url:
        return Markup(url)  # noqa: S704 - checked above: only URL characters, no markup
    return None


def _finalizer(escape: Callable[[object], str]) -> Callable[[Any], str]:
    def finalize(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, Markup):
            return str(value)
        return escape(value)

    return finalize


def _codeblock(lines: object) -> Markup:
    """Lines as a fenced code block; the fence is longer than any backtick run inside.

    Inside a fence Markdown, HTML and mentions are inert, so the text is kept verbatim.
    """
    items = [lines] if isinstance(lines, str) else list(lines)  # type: ignore[call-overload]
    text = "\n".join(neutralise(str(line)).replace("\r", "") for line in items)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return Markup(f"{fence}text\n{text}\n{fence}")  # noqa: S704 - fenced: inert in Markdown


def _quoted(text: object) -> Markup:
    """Multi-line text as a chat quote, each line escaped (a risk section keeps its lines)."""
    lines = str(text).replace("\r", "").split("\n")
    return Markup("\n".join(f"> {chat_escape(line)}".rstrip() for line in lines))  # noqa: S704 - escaped


def _when(value: dt.datetime) -> Markup:
    return Markup(value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))  # noqa: S704 - our own digits


class Renderer:
    """Jinja2 environments for Markdown and chat text over the (possibly overridden) templates."""

    def __init__(self, override_dir: str = "") -> None:
        dirs = [Path(override_dir)] if override_dir else []
        loader = jinja2.FileSystemLoader([*dirs, templates_dir()])
        self._envs = {
            flavour: jinja2.Environment(
                loader=loader,
                autoescape=False,  # noqa: S701 - finalize escapes every expression for its format
                finalize=_finalizer(escape),
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
            )
            for flavour, escape in (("markdown", md_escape), ("chat", chat_escape))
        }
        for env in self._envs.values():
            env.filters["when"] = _when
            env.filters["codeblock"] = _codeblock
            env.filters["quoted"] = _quoted
            env.filters["short"] = lambda sha: Markup(str(sha)[:12]) if sha else ""  # noqa: S704 - hex
            env.globals["marker"] = Markup(COMMENT_MARKER)  # noqa: S704 - constant

    def markdown(self, name: str, **context: Any) -> str:
        return self._envs["markdown"].get_template(name).render(**context)

    def chat(self, name: str, **context: Any) -> str:
        return self._envs["chat"].get_template(name).render(**context)

    def check(self) -> None:
        """Load every template once (a broken override fails at start-up, not mid-pass)."""
        for name in ("comment.md.j2", "check.md.j2", "draft-release.md.j2"):
            self._envs["markdown"].get_template(name)
        self._envs["chat"].get_template("notify.txt.j2")
        self._envs["chat"].get_template("release.txt.j2")
        self._envs["chat"].get_template("pending.txt.j2")
        self._envs["chat"].get_template("signoff.txt.j2")


def check_overrides(templates_dir: str) -> None:
    """Raise ConfigError naming the file and line if an override template does not load."""
    if not templates_dir:
        return
    try:
        Renderer(templates_dir).check()
    except jinja2.TemplateError as exc:
        where = f"{getattr(exc, 'filename', '') or ''}:{getattr(exc, 'lineno', '') or ''}"
        raise ConfigError("report.templates_dir", f"template {where} does not load: {exc}") from None
