"""pullrekun: per-pull-request preview environments on a warm pool of your own EC2 instances.

The package is layered (import-linter enforces it; see pyproject.toml):

- ``pullrekun.core``: the pure core (model, planner, trust, database policy, views, validation);
- ``pullrekun.config``: the configuration file, parsed into typed sections;
- ``pullrekun.adapters``: GitHub, EC2, the Ansible runner, the schema clone, chat, the state DB;
- ``pullrekun.app``: one pass, reporting, the read model;
- ``pullrekun.cli``: the command line (the web surfaces join it at this level).
"""


def __getattr__(name: str) -> str:
    """``pullrekun.__version__``, read from the installed metadata when first asked for."""
    if name != "__version__":
        raise AttributeError(name)
    from importlib import metadata  # not at import time: the pure core must load no I/O module

    try:
        return metadata.version("pullrekun")
    except metadata.PackageNotFoundError:  # pragma: no cover - a tree that was never installed
        return "0+unknown"
