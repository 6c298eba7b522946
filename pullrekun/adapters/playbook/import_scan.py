"""Ansible's scan of a module payload's imports, without parsing what was parsed before.

Before a module runs, Ansible builds its payload: it parses the module and every module_util it
imports into a syntax tree (``compile(..., PyCF_ONLY_AST)``) and walks the tree for the imports
that bring in more module_utils. Its payload cache lasts one run, so every run parses
``ansible.module_utils.basic`` and the rest again for each module it uses: measured with py-spy,
the parsing was 40% of the payload building (1.2 s of 2.9 s over the runs of one
``bench/deploy_latency.py`` round; 5.4 s of the end-to-end reporting file's 96 s of CPU).

The walk (``ModuleDepFinder``) reads nothing but the ``import`` statements and whether each stands
at the top of the module (a required import) or inside something (a ``try``, an ``if``: an
optional one). So each source's import statements are kept, by the source's content and
Python's version, in ``pullrekun-imports`` beside the bytecode
(:mod:`pullrekun.adapters.playbook.bytecode`), and a later run gets a small tree made of them:
the top-level imports at the top, the others inside an ``if``. The walk finds in it what it finds
in the whole tree (``tests/unit/test_import_scan.py`` compares them over every module_util
installed). A changed source is a new key, parsed as before; a source that does not parse is
never kept, so Ansible reports it as it would have. Where Ansible's experimental module metadata
is on (it reads assignments from the tree too), nothing is replaced.

Installed with the bytecode by :mod:`pullrekun.adapters.playbook.playbook_cli`, by wrapping
``_compile_module_ast`` in ``ansible.executor.module_common``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import os
from typing import Any

from pullrekun.adapters.playbook.bytecode import cache_root, keep

_MARK = "_pullrekun_import_scan"


def _statement(node: ast.Import | ast.ImportFrom) -> dict[str, Any]:
    names = [[alias.name, alias.asname] for alias in node.names]
    if isinstance(node, ast.Import):
        return {"names": names}
    return {"from": node.module, "level": node.level, "names": names}


def imports_of(tree: ast.Module) -> dict[str, list[dict[str, Any]]]:
    """The import statements of ``tree``: those at its top, and those inside something."""
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    ids = {id(n) for n in top}
    inner = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in ids]
    return {"top": [_statement(n) for n in top], "inner": [_statement(n) for n in inner]}


def _node(statement: dict[str, Any]) -> ast.stmt:
    names = [ast.alias(name=name, asname=asname) for name, asname in statement["names"]]
    if "from" not in statement:
        return ast.Import(names=names)
    return ast.ImportFrom(module=statement["from"], names=names, level=statement["level"])


def tree_of(imports: dict[str, list[dict[str, Any]]]) -> ast.Module:
    """A module holding just these imports, each where the walk tells required from optional."""
    body = [_node(s) for s in imports["top"]]
    if imports["inner"]:
        body.append(
            ast.If(test=ast.Constant(value=True), body=[_node(s) for s in imports["inner"]], orelse=[])
        )
    return ast.Module(body=body, type_ignores=[])


def _path(code: str | bytes) -> str:
    source = code.encode("utf-8", "surrogateescape") if isinstance(code, str) else bytes(code)
    key = hashlib.sha256(importlib.util.MAGIC_NUMBER + b"imports\0" + source).hexdigest()
    return os.path.join(cache_root(), "pullrekun-imports", key + ".json")


def _kept(path: str) -> ast.Module | None:
    try:
        with open(path, encoding="utf-8") as kept:
            return tree_of(json.load(kept))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def install() -> None:
    """Wrap ``_compile_module_ast`` of ``ansible.executor.module_common`` (once per process)."""
    from ansible import constants
    from ansible.executor import module_common

    parse = module_common._compile_module_ast
    if getattr(parse, _MARK, False) or constants.config.get_config_value("_MODULE_METADATA"):
        return

    @functools.wraps(parse)
    def imports_only(module_name: str, source_code: str | bytes) -> ast.Module:
        path = _path(source_code)
        tree = _kept(path)
        if tree is not None:
            return tree
        parsed: ast.Module = parse(module_name, source_code)  # a source that does not parse raises
        keep(path, json.dumps(imports_of(parsed)).encode())
        return parsed

    setattr(imports_only, _MARK, True)
    module_common._compile_module_ast = imports_only
