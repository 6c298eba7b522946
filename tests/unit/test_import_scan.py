"""The kept import statements stand in for a whole syntax tree: Ansible's walk for a payload's
module_utils finds the same in both, for every module and module_util installed here."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import ansible
import ansible_collections
from ansible.executor.module_common import ModuleDepFinder

from pullrekun.adapters.playbook.import_scan import imports_of, tree_of

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = Path(ansible.__file__).parent
AMAZON = next(
    Path(p) / "amazon" / "aws" for p in ansible_collections.__path__ if (Path(p) / "amazon" / "aws").is_dir()
)


AWS = ("ansible_collections", "amazon", "aws", "plugins")
Found = tuple[set[tuple[str, ...]], set[tuple[str, ...]]]


def _sources() -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of what a payload may carry: ansible-core's and amazon.aws's modules and
    module_utils, and pullrekun's own modules."""
    roots = [
        (ANSIBLE / "module_utils", ("ansible", "module_utils")),
        (ANSIBLE / "modules", ("ansible", "modules")),
        (
            AMAZON / "plugins" / "module_utils",
            ("ansible_collections", "amazon", "aws", "plugins", "module_utils"),
        ),
        (AMAZON / "plugins" / "modules", ("ansible_collections", "amazon", "aws", "plugins", "modules")),
        (REPO / "playbooks" / "library", ("ansible", "modules")),
    ]
    for root, package in roots:
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(package + parts), path


SOURCES = list(_sources())


def _found(
    fqn: str, tree: ast.Module, is_pkg_init: bool
) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    finder = ModuleDepFinder(fqn, tree, is_pkg_init)
    return finder.submodules, finder.optional_imports


def test_there_are_sources_to_compare() -> None:
    assert len(SOURCES) > 300
    names = {name for name, _ in SOURCES}
    assert {
        "ansible.module_utils.basic",
        "ansible_collections.amazon.aws.plugins.modules.ec2_instance",
    } <= names


def test_the_walk_finds_the_same_in_the_kept_imports_as_in_the_whole_tree() -> None:
    """For each source read as a module and as a package's ``__init__`` (relative imports
    resolve differently)."""
    differ = []
    optional = 0
    for fqn, path in SOURCES:
        whole = ast.parse(path.read_bytes())
        kept = tree_of(json.loads(json.dumps(imports_of(whole))))
        for is_pkg_init in (False, True):
            want = _found(fqn, whole, is_pkg_init)
            optional += len(want[1])
            if _found(fqn, kept, is_pkg_init) != want:
                differ.append((fqn, is_pkg_init))
    assert differ == []
    assert optional > 20, "optional imports (inside try/if) were among those compared"


def test_a_module_without_imports_keeps_nothing() -> None:
    assert imports_of(ast.parse("x = 1\n")) == {"top": [], "inner": []}
    assert ModuleDepFinder("ansible.modules.x", tree_of({"top": [], "inner": []})).submodules == set()
