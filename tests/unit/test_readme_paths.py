"""Every file or folder of the repository the README names exists (a rename leaves no stale name)."""

from __future__ import annotations

import re

from tests.paths import REPO

#: Named by the README but made elsewhere: the wheel's copy of the project; not paths: the
#: sign-off's status context.
BUILT = {"pullrekun/_project/", "pullrekun/verified"}


def named_paths() -> set[str]:
    text = (REPO / "README.md").read_text()
    top = {p.name for p in REPO.iterdir() if not p.name.startswith(".")}
    found = set()
    for token in re.findall(r"`([^`\s]+)`", text) + re.findall(r"\]\(([^)\s#]+)", text):
        token = token.rstrip(",.:;")
        if "/" in token and token.split("/")[0] in top and not set(token) & set("<>*{}$"):
            found.add(token.split("::")[0])
    return found


def test_every_path_the_readme_names_exists() -> None:
    paths = named_paths()
    assert len(paths) > 30, "the README's paths were not found: the pattern is wrong"
    missing = sorted(p for p in paths - BUILT if not (REPO / p).exists())
    assert missing == []
