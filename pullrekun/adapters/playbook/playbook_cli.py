"""``python -m pullrekun.adapters.playbook.playbook_cli ARGS...``: ``ansible-playbook ARGS...``
with Ansible imported while the cyclic garbage collector is paused.

The playbook guard runs this in place of the ``ansible-playbook`` script. Ansible's imports
allocate a great deal and free next to none, so the collections they set off find nothing:
measured here, ``ansible-playbook --syntax-check`` of the reconcile playbook took 0.55 s and
takes 0.43 s. What the imports made then goes to the permanent generation (``gc.freeze``): the
collections of the run and of its forked workers no longer walk it (nor touch its pages, which
the workers share with this process until written).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence

#: What ``ansible-playbook`` imports before it reads its first file.
_ANSIBLE = (
    "ansible.cli.playbook",
    "ansible.executor.playbook_executor",
    "ansible.executor.task_queue_manager",
    "ansible.plugins.strategy.linear",
)


def main(argv: Sequence[str]) -> int:
    gc.disable()
    try:
        for name in _ANSIBLE:
            __import__(name)
    finally:
        gc.freeze()
        gc.enable()
    from ansible.cli.playbook import main as playbook_main

    sys.argv = ["ansible-playbook", *argv]
    code = playbook_main()  # exits through SystemExit with the run's code
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
