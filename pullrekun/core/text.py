"""Text written by outsiders (PR titles, branch names, task output), made safe to show.

Control characters can rewrite a terminal (``status``), and Unicode's bidirectional and
zero-width characters make a title read differently from what it is (``main`` that is
``niam``, a link text that hides its target). They are shown as ``<U+202E>`` instead.
"""

from __future__ import annotations

import re

#: Bidirectional controls and invisible characters.
_SPOOFING = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
#: C0 (but tab and line feed), DEL and C1 control characters.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def neutralise(text: str) -> str:
    """``text`` with spoofing characters made visible and control characters removed."""
    text = _SPOOFING.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)
    return _CONTROL.sub("", text)
