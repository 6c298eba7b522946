"""``python -m pullrekun.adapters.playbook.playbook_cli ARGS...``: ``ansible-playbook ARGS...``
with Ansible imported while the cyclic garbage collector is paused (:mod:`pullrekun.startup`).

The playbook guard runs this in place of the ``ansible-playbook`` script: measured here,
``ansible-playbook --syntax-check`` of the reconcile playbook took 0.55 s and takes 0.43 s, and
the run's forked workers no longer collect what the imports made.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence

from pullrekun.startup import collector_paused

#: What ``ansible-playbook`` imports before it reads its first file.
_ANSIBLE = (
    "ansible.cli.playbook",
    "ansible.executor.playbook_executor",
    "ansible.executor.task_queue_manager",
    "ansible.plugins.strategy.linear",
)


def load() -> None:
    """Import what ``ansible-playbook`` needs (settings are read from the environment now)."""
    from pullrekun.adapters.playbook import bytecode, import_scan

    with collector_paused():
        for name in _ANSIBLE:
            __import__(name)
        bytecode.install()
        import_scan.install()


def preload() -> None:
    """What every run loads before its first play, done once in the warm start: the collection
    loader and ansible.builtin's routing table (about 0.15 s of YAML), the documented settings of
    every connection, shell and become plugin (the playbook executor reads them all at each
    start), and the inventory plugin. The fork finds them loaded. Callback plugins are not
    among them: they read the run's environment when they are imported."""
    from ansible.plugins.loader import (
        become_loader,
        connection_loader,
        init_plugin_loader,
        inventory_loader,
        shell_loader,
    )

    with collector_paused():
        init_plugin_loader([])
        for loader in (connection_loader, shell_loader, become_loader):
            list(loader.all(class_only=True))
        inventory_loader.get("ansible.builtin.yaml", class_only=True)


def main(argv: Sequence[str]) -> int:
    load()
    from ansible.cli.playbook import main as playbook_main

    sys.argv = ["ansible-playbook", *argv]
    code = playbook_main()  # exits through SystemExit with the run's code
    return int(code or 0)


def run_forked(argv: Sequence[str]) -> int:
    """:func:`main` in a fork of a process that ran :func:`load` (the warm start), once the fork's
    terminal is on 0, 1 and 2: output line by line again, the banner as wide as that terminal."""
    from ansible.utils.display import Display

    # The CLI configures the collection loader again: the warm start did, with the same paths.
    warnings.filterwarnings("ignore", message="AnsibleCollectionFinder has already been configured")
    if os.isatty(1):
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    Display()._set_column_width()
    return main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
