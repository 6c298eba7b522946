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


def test_a_change_of_config_environment_or_package_restarts_what_runs_the_passes() -> None:
    restart = "Reload systemd and restart what runs the passes"
    tasks = REPO / "roles" / "controller" / "tasks"
    notifying = {}
    for name in ("configure.yml", "install.yml"):
        for task in yaml.safe_load((tasks / name).read_text()):
            for step in task.get("block", [task]):
                notifying[step["name"]] = step.get("notify")
    assert notifying["Ensure pullrekun.toml is in place."] == restart
    assert notifying["Ensure the secrets file is in place."] == restart
    assert notifying["Ensure pullrekun is installed from the wheel."] == restart
    handlers = yaml.safe_load((REPO / "roles" / "controller" / "handlers" / "main.yml").read_text())
    assert [h["name"] for h in handlers] == ["Reinstall pullrekun", restart], "a reinstall comes first"
    assert handlers[0]["notify"] == restart
