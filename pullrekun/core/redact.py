"""Secrets out of everything pullrekun writes down or posts, and output cut to a readable size.

A failing task's output comes from code in the pull request (its migrations, its health
check): it may print the database password on purpose or by accident, and one huge line
would make every comment update fail. What pullrekun records (state DB, logs) and posts
(GitHub, chat) passes through a :class:`Redactor` that knows the controller's secret values.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

REDACTED = "[redacted]"
#: Shorter values cannot be told apart from ordinary text (and replacing them would garble it).
MIN_SECRET_LENGTH = 4
#: A secret this long or longer is also looked for in its encodings (shorter ones would match
#: ordinary text once encoded).
MIN_ENCODED_LENGTH = 8
#: At most this many characters of one output line are kept ...
LINE_LIMIT = 300
#: ... and this many characters of output in all (the last lines win).
TOTAL_LIMIT = 3000


@dataclass(frozen=True)
class Redactor:
    """Replaces every known secret value with ``[redacted]`` (callers add other spellings of a
    value, such as its URL-quoted form, as values of their own)."""

    secrets: tuple[str, ...] = ()
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        forms = {s for s in self.secrets if len(s) >= MIN_SECRET_LENGTH}
        if forms:
            # Longest first: a secret that contains another is replaced whole.
            alternatives = sorted(forms, key=len, reverse=True)
            object.__setattr__(self, "_pattern", re.compile("|".join(map(re.escape, alternatives))))

    @classmethod
    def of(cls, values: Iterable[str | None]) -> Redactor:
        """A redactor for ``values`` and each one's common encodings (see :func:`encodings`)."""
        forms: set[str] = set()
        for value in values:
            if value:
                forms.add(value)
                forms |= encodings(value)
        return cls(tuple(sorted(forms)))

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def lines(self, lines: Iterable[str]) -> tuple[str, ...]:
        return tuple(self(line) for line in lines)


def _base64_cores(raw: bytes, encode: Callable[[bytes], bytes]) -> set[str]:
    """The characters of ``raw``'s base64 that do not depend on what surrounds it: for each of the
    three alignments it can have inside a longer encoded text (``user:password`` in a Basic
    header, say), the run of characters made of its bits alone."""
    cores = set()
    for offset in range(3):
        text = encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
        first = (offset * 8 + 5) // 6  # characters that hold a bit of the zero prefix
        last = (offset + len(raw)) * 8 // 6  # the last character may hold bits of what follows
        cores.add(text[first:last])
    return cores


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def _percent(raw: bytes, space: str = "%20") -> str:
    """URL-encoding as ``urllib.parse.quote(safe="")`` spells it (``quote_plus`` with "+")."""
    return "".join(chr(b) if b in _UNRESERVED else space if b == 0x20 else f"%{b:02X}" for b in raw)


def encodings(secret: str) -> set[str]:
    """The spellings a secret is commonly printed in besides its own: URL-quoted, hex (either
    case), and base64 / base64url anywhere in a longer encoded text."""
    if len(secret) < MIN_ENCODED_LENGTH:
        return set()
    raw = secret.encode("utf-8")
    forms = {_percent(raw), _percent(raw, "+"), raw.hex(), raw.hex().upper()}
    forms |= _base64_cores(raw, base64.b64encode) | _base64_cores(raw, base64.urlsafe_b64encode)
    return {f for f in forms if f != secret and len(f) >= MIN_SECRET_LENGTH}


def cap_line(line: str, limit: int = LINE_LIMIT) -> str:
    if len(line) <= limit:
        return line
    return f"{line[:limit]}… ({len(line) - limit} more characters)"


def cap_output(
    lines: Sequence[str], line_limit: int = LINE_LIMIT, total: int = TOTAL_LIMIT
) -> tuple[str, ...]:
    """The last lines that fit in ``total`` characters, each cut to ``line_limit``."""
    kept: list[str] = []
    used = 0
    for line in reversed([cap_line(ln, line_limit) for ln in lines]):
        if used + len(line) + 1 > total:
            kept.append(f"… ({len(lines) - len(kept)} earlier lines left out)")
            break
        kept.append(line)
        used += len(line) + 1
    return tuple(reversed(kept))
