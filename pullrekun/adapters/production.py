"""Production's sha from an address that answers it (pullre-kun's way): plain text or a JSON field.

The answer is checked before it is believed: a commit sha (7 to 40 hex digits) and nothing else,
read from at most 64 KiB. Anything else (unreachable, an error status, HTML, a missing field) is
:class:`ProductionUnreadable`, which ends no pass and announces nothing.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

from pullrekun.adapters.github.history import ProductionUnreadable

SHORT_SHA_RE = re.compile(r"\A[0-9a-fA-F]{7,40}\Z")
MAX_ANSWER = 64 * 1024


def read_url_sha(url: str, json_field: str, timeout: int) -> str:
    """The sha ``url`` answers (lower case); ``json_field``: a dotted path into a JSON answer."""
    req = urllib.request.Request(url, headers={"Accept": "application/json, text/plain"})  # noqa: S310 - http(s) only (config)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - see above
            raw = resp.read(MAX_ANSWER + 1)
    except urllib.error.HTTPError as exc:
        raise ProductionUnreadable(f"{url} answered {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProductionUnreadable(f"{url} could not be read: {reason}") from exc
    if len(raw) > MAX_ANSWER:
        raise ProductionUnreadable(f"{url} answered more than {MAX_ANSWER // 1024} KiB")
    text = raw.decode("utf-8", errors="replace").strip()
    value: object = text
    if json_field:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ProductionUnreadable(f"{url} did not answer JSON") from None
        for name in json_field.split("."):
            if not isinstance(value, dict) or name not in value:
                raise ProductionUnreadable(f"{url}: its JSON answer has no {json_field}")
            value = value[name]
    sha = str(value).strip() if isinstance(value, str) else ""
    if not SHORT_SHA_RE.match(sha):
        shown = sha[:40] if sha else str(value)[:40]
        raise ProductionUnreadable(f"{url} answered {shown!r}, not a commit sha")
    return sha.lower()
