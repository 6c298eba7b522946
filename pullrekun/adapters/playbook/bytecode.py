"""Compiled bytecode in every module payload a run sends, beside the sources.

An Ansible module reaches its host as a zip of Python sources (AnsiballZ), imported from a fresh
temporary file at every run: Python compiles all of it each time, ``ansible.module_utils.basic``
and what it imports first (about 0.15 s of CPU per module run, measured here: over a third of
a ``command`` task on the host). The controller adds each source's bytecode as ``NAME.pyc``
(an unchecked hash-based pyc) beside ``NAME.py``; Python's zip importer takes the
``.pyc`` when its magic number is the host interpreter's, and the source otherwise (a host with
another Python version compiles as before). The sources stay in the payload: tracebacks and
Ansible's own tools read them.

Compiling costs the controller what it saves a host, so each source is compiled once: the
bytecode is kept by content (name, source, Python's magic number) in ``pullrekun-bytecode``
beside the runs' own temporary directories (under ``ANSIBLE_LOCAL_TEMP``, the state directory's
``ansible-tmp``, private to pullrekun's user), where every later run, cold or warm, reads it.

Installed by :mod:`pullrekun.adapters.playbook.playbook_cli` (cold runs and the warm start) by
wrapping the two functions of ``ansible.executor.module_common`` that write a payload's files.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import tempfile
import zipfile
from typing import Any

_MARK = "_pullrekun_bytecode"


class _WithBytecode:
    """A payload's zip file that also writes ``NAME.pyc`` for each ``NAME.py`` written to it."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self._zf = zf

    def writestr(self, zinfo: zipfile.ZipInfo, data: bytes | str, *args: Any, **kwargs: Any) -> None:
        self._zf.writestr(zinfo, data, *args, **kwargs)
        name = zinfo.filename
        if not name.endswith(".py"):
            return
        source = data.encode() if isinstance(data, str) else bytes(data)  # zipfile writes str as UTF-8
        pyc = _bytecode(name, source)
        if pyc is None:
            return  # the host compiles the source and reports its error as it would have
        compiled = zipfile.ZipInfo(name + "c", date_time=zinfo.date_time)
        compiled.compress_type = zinfo.compress_type
        compiled.external_attr = zinfo.external_attr
        self._zf.writestr(compiled, pyc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._zf, name)


def cache_root() -> str:
    """Where pullrekun keeps what runs compute alike: beside the runs' own temporary directories
    (``ANSIBLE_LOCAL_TEMP``: the state directory's ``ansible-tmp``, private to pullrekun's user)."""
    from ansible import constants

    return os.path.dirname(str(constants.DEFAULT_LOCAL_TMP))


def keep(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: runs side by side read it safely. A
    failure only means it is computed again next time."""
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".partial")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(partial, path)
    except OSError:
        pass


def _bytecode(name: str, source: bytes) -> bytes | None:
    """The unchecked hash-based pyc of ``source``: from the cache, or compiled and kept there."""
    key = hashlib.sha256(importlib.util.MAGIC_NUMBER + name.encode() + b"\0" + source).hexdigest()
    path = os.path.join(cache_root(), "pullrekun-bytecode", key + ".pyc")
    try:
        with open(path, "rb") as kept:
            return kept.read()
    except OSError:
        pass
    try:
        code = compile(source, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    pyc = bytes(
        importlib._bootstrap_external._code_to_hash_pyc(  # type: ignore[attr-defined]
            code, importlib.util.source_hash(source), checked=False
        )
    )
    keep(path, pyc)
    return pyc


def install() -> None:
    """Wrap the payload writers of ``ansible.executor.module_common`` (once per process):
    ``recursive_finder`` writes the module_utils, ``_add_module_to_zip`` the module."""
    from ansible.executor import module_common

    finder = module_common.recursive_finder
    if getattr(finder, _MARK, False):
        return
    add = module_common._add_module_to_zip

    @functools.wraps(finder)
    def finder_with_bytecode(name: Any, fqn: Any, data: Any, zf: zipfile.ZipFile, *args: Any) -> Any:
        return finder(name, fqn, data, _WithBytecode(zf), *args)

    @functools.wraps(add)
    def add_with_bytecode(zf: zipfile.ZipFile, *args: Any) -> None:
        add(_WithBytecode(zf), *args)

    setattr(finder_with_bytecode, _MARK, True)
    module_common.recursive_finder = finder_with_bytecode
    module_common._add_module_to_zip = add_with_bytecode
