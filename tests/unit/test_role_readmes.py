"""Each role's README lists every variable its defaults declare."""

from __future__ import annotations

import pytest
import yaml

from tests.paths import REPO


@pytest.mark.parametrize("role", ["controller", "staging"])
def test_the_role_readme_names_every_default(role: str) -> None:
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
    readme = (REPO / "roles" / role / "README.md").read_text()
    missing = [name for name in defaults if f"`{name}`" not in readme]
    assert missing == [], f"roles/{role}/README.md does not name {missing}"
