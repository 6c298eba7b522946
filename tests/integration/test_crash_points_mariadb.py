"""The crash rounds with MariaDB as the state DB (its pass lock is a connection), in a file of
their own so the test workers run them beside the SQLite rounds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pullrekun_sandbox.mariadb import MariaDB
from pullrekun_sandbox.sshd import SshdHosts

from tests.integration.test_crash_points import SCHEDULES, CrashWorld, _round, _world


@pytest.fixture(scope="module")
def crash_world_mariadb(
    tmp_path_factory: pytest.TempPathFactory, sshd_hosts: SshdHosts, mariadb: MariaDB
) -> Iterator[CrashWorld]:
    yield from _world(tmp_path_factory, sshd_hosts, mariadb, "mariadb")


@pytest.mark.parametrize(("kind", "point", "mode"), SCHEDULES["mariadb"])
def test_a_pass_killed_at_any_step_is_finished_by_the_next_with_mariadb_state(
    crash_world_mariadb: CrashWorld, kind: str, point: str, mode: str
) -> None:
    _round(crash_world_mariadb, kind, point, mode)
