"""Copying a schema's rows into the clone's work schema, verified with ``CHECKSUM TABLE``: on the
same server server-side, several tables at once; from another server a streamed dump and load."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pullrekun.adapters.mysql import Server, Session, option_pipe, q, session


class CloneError(RuntimeError):
    """The clone could not be made; the target schema is as it was (unless said otherwise)."""


def _copy_rows(server: Server, source: str, tmp: str, table: str) -> tuple[int, Any]:
    """Copy one table's rows into the empty copy in one statement; return the count and the
    copy's ``CHECKSUM TABLE``.

    One ``INSERT ... SELECT`` into an empty table with unique and foreign key checks off takes
    InnoDB's bulk path (indexes built sorted, no undo per row): splitting it into key ranges
    measured slower. ``READ COMMITTED`` makes the ``SELECT`` a plain consistent read, so the
    source's rows are not locked while someone works in it.
    """
    with session(server) as s:
        s.run("SET SESSION foreign_key_checks=0, unique_checks=0")
        s.run("SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'")
        s.run("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        cols = ", ".join(
            q(c)
            for c in s.names(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s AND IS_GENERATED='NEVER' "
                "ORDER BY ORDINAL_POSITION",
                source,
                table,
            )
        )
        with s.conn.cursor() as cur:
            rows = int(
                cur.execute(
                    f"INSERT INTO {q(tmp)}.{q(table)} ({cols}) SELECT {cols} FROM {q(source)}.{q(table)}"
                )
            )
        return rows, s.run(f"CHECKSUM TABLE {q(tmp)}.{q(table)}")[0][1]


def _checksum(server: Server, schema: str, table: str) -> Any:
    with session(server) as s:
        return s.run(f"CHECKSUM TABLE {q(schema)}.{q(table)}")[0][1]


def _dump_load(source_server: Server, server: Server, source: str, tmp: str, tables: list[str]) -> None:
    """Stream `mariadb-dump` of the base tables into ``tmp`` on the other server (no temp file)."""
    if not tables:
        return
    dump_bin = shutil.which("mariadb-dump") or "mysqldump"
    load_bin = shutil.which("mariadb") or "mysql"
    src_cnf, dst_cnf = option_pipe(source_server), option_pipe(server)
    try:
        dump = subprocess.Popen(
            [
                dump_bin,
                f"--defaults-extra-file=/dev/fd/{src_cnf}",
                "--single-transaction",
                "--skip-triggers",
                "--no-create-db",
                "--hex-blob",
                "--default-character-set=utf8mb4",
                "--",  # names from the source schema are never taken for options
                source,
                *tables,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(src_cnf,),
        )
        load = subprocess.run(
            [
                load_bin,
                f"--defaults-extra-file=/dev/fd/{dst_cnf}",
                "--default-character-set=utf8mb4",
                "--",
                tmp,
            ],
            stdin=dump.stdout,
            capture_output=True,
            check=False,
            pass_fds=(dst_cnf,),
        )
        assert dump.stdout is not None
        assert dump.stderr is not None
        dump.stdout.close()
        dump_err = dump.stderr.read().decode(errors="replace")
        if dump.wait() != 0:
            raise CloneError(f"dump of {source!r} failed: {dump_err.strip()[-500:]}")
        if load.returncode != 0:
            raise CloneError(
                f"load into {tmp!r} failed: {load.stderr.decode(errors='replace').strip()[-500:]}"
            )
    finally:
        os.close(src_cnf)
        os.close(dst_cnf)


def _checksums(server: Server, schema: str, tables: list[str]) -> dict[str, Any]:
    with session(server) as s:
        return {t: s.run(f"CHECKSUM TABLE {q(schema)}.{q(t)}")[0][1] for t in tables}


#: The values ``STATS_AUTO_RECALC`` is given back: nothing read from the source goes into SQL.
_RECALC = {"stats_auto_recalc=0": "0", "stats_auto_recalc=1": "1"}


def _source_tables(s: Session, source: str) -> dict[str, tuple[int, str]]:
    """Each source base table's size and ``STATS_AUTO_RECALC`` as its DDL states it
    (``DEFAULT`` when unset), in one read of ``information_schema``.

    ``CREATE_OPTIONS`` also shows the text of any made-up table option the source's owner gave
    (``IGNORE_BAD_TABLE_OPTIONS``), so only whole words the server writes for the real option
    count, mapped to constants: a spoofed one can at most change the copy's own setting.
    """
    found = {}
    for table, size, create_options in s.run(
        "SELECT TABLE_NAME, DATA_LENGTH + INDEX_LENGTH, CREATE_OPTIONS FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA=%s AND TABLE_TYPE='BASE TABLE'",
        (source,),
    ):
        words = str(create_options or "").split()
        found[str(table)] = (int(size or 0), next((_RECALC[w] for w in words if w in _RECALC), "DEFAULT"))
    return found


def copy_here(s: Session, server: Server, source: str, tmp: str, tables: list[str], workers: int) -> int:
    """Same server: tables from SHOW CREATE TABLE (which carries each AUTO_INCREMENT counter),
    rows copied and verified in parallel.

    The copies go out biggest first, each checksummed when loaded; the source's checksums queue
    behind them, so they fill the workers the small tables leave free while the biggest loads.

    The copies load with ``STATS_AUTO_RECALC=0``: while InnoDB's bulk insert holds a table,
    its background statistics task retried that table over and over (2.3-2.8 s of the server's
    CPU during a million-row clone, a third of it). Each table gets its source's setting back
    once every copy is loaded, and one ``ANALYZE TABLE`` gives the copies fresh statistics.
    """
    found = _source_tables(s, source)
    recalc = {t: found.get(t, (0, "DEFAULT"))[1] for t in tables}
    quieted = [t for t in tables if recalc[t] != "0"]  # the others load without it already
    for table in tables:
        s.run(str(s.run(f"SHOW CREATE TABLE {q(source)}.{q(table)}")[0][1]))
        if table in quieted:
            s.run(f"ALTER TABLE {q(tmp)}.{q(table)} STATS_AUTO_RECALC=0")
    ordered = sorted(tables, key=lambda t: -found.get(t, (0, ""))[0])  # biggest first
    with ThreadPoolExecutor(max_workers=max(1, min(workers, 2 * len(ordered) or 1))) as pool:
        copies = {t: pool.submit(_copy_rows, server, source, tmp, t) for t in ordered}
        sources = {t: pool.submit(_checksum, server, source, t) for t in ordered}
        rows = 0
        for table in ordered:
            count, copied = copies[table].result()
            if sources[table].result() != copied:
                raise CloneError(f"copy of table {table!r} differs from the source (CHECKSUM TABLE)")
            rows += count
    for table in quieted:
        s.run(f"ALTER TABLE {q(tmp)}.{q(table)} STATS_AUTO_RECALC={recalc[table]}")
    if tables:
        s.run("ANALYZE TABLE " + ", ".join(f"{q(tmp)}.{q(t)}" for t in tables))
    return rows


def copy_remote(
    source_server: Server, server: Server, s: Session, source: str, tmp: str, tables: list[str]
) -> int:
    """Another server: streamed dump and load, verified with CHECKSUM TABLE on both ends."""
    _dump_load(source_server, server, source, tmp, tables)
    if _checksums(source_server, source, tables) != _checksums(server, tmp, tables):
        raise CloneError("the loaded copy differs from the source (CHECKSUM TABLE)")
    return sum(int(s.run(f"SELECT COUNT(*) FROM {q(tmp)}.{q(t)}")[0][0]) for t in tables)
