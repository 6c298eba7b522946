"""The ``pullrekun`` command's entry point: the command line imported with the cyclic garbage
collector paused (:mod:`pullrekun.startup`)."""

from __future__ import annotations

from pullrekun.startup import collector_paused


def main() -> int:
    with collector_paused():
        from pullrekun.cli import main as cli_main
    return cli_main()
