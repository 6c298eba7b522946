"""The Ansible project pullrekun runs (playbooks, roles, inventory) and its message templates.

They live at the top of the repository and ship inside the wheel as ``pullrekun/_project``
(see ``[tool.hatch.build.targets.wheel.force-include]`` in pyproject.toml), so an installed
pullrekun needs no checkout. An editable install from a checkout finds them at its top.
``ansible.project_dir`` in the config overrides the whole project.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGED = "_project"
#: The file that proves a directory is a pullrekun project.
MARKER = Path("playbooks") / "reconcile.yml"


class ProjectMissing(RuntimeError):
    """Neither the package nor a checkout around it holds the playbooks (a broken install)."""


def shipped() -> Path:
    """The project this pullrekun came with: inside the wheel, or the checkout it runs from."""
    packaged = resources.files("pullrekun") / PACKAGED
    if isinstance(packaged, Path) and (packaged / MARKER).is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / MARKER).is_file() and (checkout / "pyproject.toml").is_file():
        return checkout
    raise ProjectMissing(
        f"pullrekun's playbooks are missing: neither {packaged} nor {checkout} has {MARKER} "
        "(reinstall pullrekun from its wheel)"
    )


def project_dir(override: str = "") -> Path:
    """The Ansible project to run: the configured override, else the shipped one."""
    return Path(override) if override else shipped()


def templates_dir() -> Path:
    """The built-in message templates (comment, check run, chat)."""
    return shipped() / "templates"
