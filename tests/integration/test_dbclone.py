"""Schema clones on the real MariaDB: everything arrives identical, failures leave the target as it was."""

from __future__ import annotations

import itertools
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pullrekun_sandbox.mariadb import MariaDB

from pullrekun.adapters.mysql import Server, Session, q
from pullrekun.adapters.schema_clone import NEW_SUFFIX, clone_schema
from pullrekun.adapters.schema_copy import CloneError
from pullrekun.core.validate import InvalidInput

_n = itertools.count(1)

SOURCE_DDL = [
    "CREATE TABLE authors (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, "
    "UNIQUE KEY uq_name (name)) ENGINE=InnoDB",
    "CREATE TABLE posts (id BIGINT AUTO_INCREMENT PRIMARY KEY, author_id INT NOT NULL, title VARCHAR(200), "
    "body TEXT, words INT AS (CHAR_LENGTH(body)) VIRTUAL, slug VARCHAR(210) AS (LOWER(title)) PERSISTENT, "
    "KEY idx_author (author_id), KEY idx_slug (slug), "
    "CONSTRAINT fk_author FOREIGN KEY (author_id) REFERENCES authors (id) ON DELETE CASCADE) ENGINE=InnoDB",
    "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, post_id BIGINT NOT NULL) ENGINE=InnoDB",
    "INSERT INTO authors (name) VALUES ('Zoë ✓ 日本語 🚀'), ('bob'), ('carol')",
    "INSERT INTO posts (author_id, title, body) "
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
    "SELECT 1 + i % 3, CONCAT('Title ', i, ' ☃'), REPEAT('x', i % 50) FROM n",
    "DELETE FROM posts WHERE id > 1990",  # an AUTO_INCREMENT gap
    "CREATE VIEW post_titles AS SELECT p.id, a.name, p.title "
    "FROM posts p JOIN authors a ON a.id = p.author_id",
    "CREATE VIEW bob_titles AS SELECT * FROM post_titles WHERE name = 'bob'",
    "CREATE TRIGGER posts_ai AFTER INSERT ON posts FOR EACH ROW INSERT INTO audit (post_id) VALUES (NEW.id)",
    "CREATE PROCEDURE add_author(IN n VARCHAR(100)) BEGIN INSERT INTO authors (name) VALUES (n); END",
    "CREATE FUNCTION post_count(a INT) RETURNS INT READS SQL DATA "
    "RETURN (SELECT COUNT(*) FROM posts WHERE author_id = a)",
]


@pytest.fixture
def server(mariadb: MariaDB) -> Server:
    return Server(unix_socket=str(mariadb.socket), user="root")


def run(server: Server, sql: str, schema: str | None = None) -> list[tuple[Any, ...]]:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION max_recursive_iterations = 1000000")  # MariaDB's CTE limit
            if schema:
                cur.execute(f"USE {q(schema)}")
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def make_source(server: Server, name: str, ddl: list[str] = SOURCE_DDL) -> None:
    run(server, f"DROP DATABASE IF EXISTS {q(name)}")
    run(server, f"CREATE DATABASE {q(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    for sql in ddl:
        run(server, sql, name)


@pytest.fixture
def names(server: Server) -> tuple[str, str]:
    n = next(_n)
    return f"dev_alice_{n}", f"clonetest_stage_{n}"  # apart from the e2e tests' stage_N_* schemas


def structure(server: Server, schema: str) -> dict[str, str]:
    out = {}
    for table, _kind in run(server, f"SHOW FULL TABLES FROM {q(schema)} WHERE Table_type = 'BASE TABLE'"):
        out[table] = run(server, f"SHOW CREATE TABLE {q(schema)}.{q(table)}")[0][1]
    return out


def checksums(server: Server, schema: str) -> dict[str, int]:
    tables = structure(server, schema)
    return {t: run(server, f"CHECKSUM TABLE {q(schema)}.{q(t)}")[0][1] for t in tables}


def test_everything_arrives_identical(server: Server, names: tuple[str, str]) -> None:
    source, target = names
    make_source(server, source)
    result = clone_schema(server, source, target)
    assert (result.tables, result.views, result.triggers, result.routines) == (3, 2, 1, 2)
    assert result.rows == 3 + 1990

    assert structure(server, target) == structure(server, source), "DDL incl. FKs, indexes, generated cols"
    assert checksums(server, target) == checksums(server, source)
    counter_sql = (
        "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA=DATABASE() AND TABLE_NAME='posts'"
    )
    (counter,) = run(server, counter_sql, source)[0]
    assert counter > 1991, "the source has an AUTO_INCREMENT gap"
    assert run(server, counter_sql, target) == [(counter,)]
    assert run(server, "SELECT name FROM authors WHERE id = 1", target) == [("Zoë ✓ 日本語 🚀",)]
    assert run(server, "SELECT COUNT(*) FROM bob_titles", target) == run(
        server, "SELECT COUNT(*) FROM bob_titles", source
    )
    view = run(server, f"SHOW CREATE VIEW {q(target)}.post_titles")[0][1]
    assert q(source) not in view, "the view reads the target's tables, not the source's"

    # Trigger, procedure and function act on the target only.
    run(server, "CALL add_author('dave')", target)
    run(server, "INSERT INTO posts (author_id, title, body) VALUES (4, 'new', 'b')", target)
    assert run(server, "SELECT MAX(id) FROM posts", target) == [(counter,)], "the gap survived"
    assert run(server, "SELECT post_id FROM audit", target) == [(counter,)]
    assert run(server, "SELECT COUNT(*) FROM audit", source) == [(0,)]
    assert run(server, "SELECT post_count(4)", target) == [(1,)]
    assert run(server, "SELECT COUNT(*) FROM authors WHERE name = 'dave'", source) == [(0,)]
    leftovers = run(server, f"SHOW DATABASES LIKE '{target}\\_\\_prk%'")
    assert leftovers == []


def test_the_copy_keeps_each_tables_statistics_setting_and_has_fresh_statistics(
    server: Server, names: tuple[str, str]
) -> None:
    """The copies load with InnoDB's automatic statistics off (its background task kept retrying
    a table held by a bulk insert); each gets its source's setting back and is analysed."""
    source, target = names
    gen = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {}) "
    make_source(
        server,
        source,
        [
            "CREATE TABLE plain (id INT AUTO_INCREMENT PRIMARY KEY, v INT, KEY idx_v (v))",
            "CREATE TABLE never (id INT AUTO_INCREMENT PRIMARY KEY, v INT) STATS_AUTO_RECALC=0",
            "CREATE TABLE always (id INT AUTO_INCREMENT PRIMARY KEY, v INT) STATS_AUTO_RECALC=1",
            *(
                f"INSERT INTO {t} (v) " + gen.format(n) + "SELECT i % 7 FROM n"
                for t, n in (("plain", 30000), ("never", 3000), ("always", 5000))
            ),
        ],
    )
    clone_schema(server, source, target)

    assert structure(server, target) == structure(server, source), "STATS_AUTO_RECALC as in the source"
    stats = dict(
        run(
            server,
            f"SELECT table_name, n_rows FROM mysql.innodb_table_stats WHERE database_name = '{target}'",
        )
    )
    # InnoDB's n_rows is an estimate from sampled pages; a copy not analysed shows 0.
    assert stats == pytest.approx({"plain": 30000, "never": 3000, "always": 5000}, rel=0.1)


def test_a_second_clone_replaces_the_target_whole(server: Server, names: tuple[str, str]) -> None:
    source, target = names
    make_source(server, source)
    make_source(
        server,
        target,
        [
            "CREATE TABLE stray (id INT PRIMARY KEY)",
            "CREATE TABLE posts (x INT)",
            "CREATE TRIGGER stray_bi BEFORE INSERT ON stray FOR EACH ROW SET NEW.id = 1",
            "CREATE VIEW v_stray AS SELECT * FROM stray",
        ],
    )
    clone_schema(server, source, target)
    assert structure(server, target) == structure(server, source)
    assert run(server, f"SHOW TRIGGERS FROM {q(target)}") != []
    assert [r[0] for r in run(server, f"SHOW FULL TABLES FROM {q(target)} WHERE Table_type = 'VIEW'")] == [
        "bob_titles",
        "post_titles",
    ]


def test_an_open_transaction_in_the_source_does_not_hold_up_the_clone(
    server: Server, names: tuple[str, str]
) -> None:
    """The source's owner keeps working while a PR's copy is made: a transaction left open on a
    source row does not stop the copy (it reads the committed rows, locking none of them)."""
    source, target = names
    make_source(server, source)
    writer = server.connect()
    try:
        with writer.cursor() as cur:
            cur.execute(f"USE {q(source)}")
            cur.execute("BEGIN")
            cur.execute("UPDATE posts SET title = 'not committed' WHERE id = 5")
        with ThreadPoolExecutor(max_workers=1) as pool:
            clone = pool.submit(clone_schema, server, source, target)
            try:
                # InnoDB would wait 50 s (innodb_lock_wait_timeout) for a locked row.
                result = clone.result(timeout=30)
            finally:
                writer.rollback()
        assert result.rows == 3 + 1990
        assert run(server, "SELECT title FROM posts WHERE id = 5", target) == [("Title 5 ☃",)]
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("dev_alice", "x`; DROP DATABASE mysql; --"),
        ("dev alice", "stage_1"),
        ("../etc", "stage_1"),
        ("dev_alice", "a" * 70),
        ("", "stage_1"),
    ],
)
def test_hostile_or_invalid_schema_names_are_refused(server: Server, source: str, target: str) -> None:
    with pytest.raises((InvalidInput, CloneError)):
        clone_schema(server, source, target)


def test_an_unknown_source_is_refused_and_nothing_is_created(server: Server, names: tuple[str, str]) -> None:
    _, target = names
    with pytest.raises(CloneError, match="unknown source schema"):
        clone_schema(server, "no_such_schema", target)
    assert run(server, f"SHOW DATABASES LIKE '{target}%'") == []


def test_a_clone_killed_half_way_leaves_the_old_schema_untouched(
    server: Server, names: tuple[str, str], mariadb: MariaDB
) -> None:
    source, target = names
    big = [
        *SOURCE_DDL[:3],
        SOURCE_DDL[3],
        "INSERT INTO posts (author_id, title, body) "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) "
        "SELECT 1 + i % 3, CONCAT('T', i), REPEAT('y', 200) FROM n",
    ]
    make_source(server, source, big)
    make_source(
        server, target, ["CREATE TABLE keep_me (id INT PRIMARY KEY)", "INSERT INTO keep_me VALUES (1), (2)"]
    )
    before = (structure(server, target), checksums(server, target))
    code = (
        "from pullrekun.adapters.mysql import Server\n"
        "from pullrekun.adapters.schema_clone import clone_schema\n"
        f"clone_schema(Server(unix_socket={str(mariadb.socket)!r}, user='root'), {source!r}, {target!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        busy = run(
            server, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT INTO%posts%'"
        )
        if busy[0][0]:
            break
        time.sleep(0.02)
    else:
        proc.kill()
        raise AssertionError("the clone never reached its data copy")
    proc.kill()
    proc.wait()
    assert (structure(server, target), checksums(server, target)) == before
    assert run(server, f"SHOW DATABASES LIKE '{target}{NEW_SUFFIX}'") != [], "the half-built copy is aside"
    # The next clone clears the leftover and completes.
    clone_schema(server, source, target)
    assert checksums(server, target) == checksums(server, source)


@pytest.fixture(scope="module")
def other_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    server = MariaDB(tmp_path_factory.mktemp("mariadb-other")).start()
    yield server
    server.stop()


def test_across_servers_a_streamed_dump_arrives_identical(
    server: Server, names: tuple[str, str], other_mariadb: MariaDB
) -> None:
    source, target = names
    make_source(server, source)
    # A password user on the target server, over TCP: the password goes through an option file.
    other_mariadb.sql(
        "CREATE USER 'cloner'@'127.0.0.1' IDENTIFIED BY 's3cr;et pw'; "
        "GRANT ALL ON *.* TO 'cloner'@'127.0.0.1' WITH GRANT OPTION"
    )
    remote = Server(host="127.0.0.1", port=other_mariadb.port, user="cloner", password="s3cr;et pw")
    make_source(remote, target, ["CREATE TABLE old_stuff (id INT PRIMARY KEY)"])
    # A table named like an option: the dump takes it for a table ("--" ends its options).
    run(server, "CREATE TABLE `--xml` (id INT PRIMARY KEY)", source)
    run(server, "INSERT INTO `--xml` VALUES (7)", source)
    result = clone_schema(remote, source, target, source_server=server)
    assert run(remote, "SELECT id FROM `--xml`", target) == [(7,)]
    assert result.rows == 3 + 1990 + 1
    assert structure(remote, target) == structure(server, source)
    assert checksums(remote, target) == checksums(server, source)
    assert run(remote, "SELECT COUNT(*) FROM bob_titles", target) == run(
        server, "SELECT COUNT(*) FROM bob_titles", source
    )
    run(remote, "INSERT INTO posts (author_id, title, body) VALUES (1, 'x', 'y')", target)
    assert run(remote, "SELECT COUNT(*) FROM audit", target) == [(1,)], "the trigger came along"
    assert run(remote, "SELECT post_count(1)", target)[0][0] > 0


def test_the_dump_credentials_go_through_a_pipe_quoted() -> None:
    from pullrekun.adapters.mysql import option_pipe

    fd = option_pipe(Server(user="u", password=' hunter2 "#\\\n'))
    try:
        assert stat.S_ISFIFO(os.fstat(fd).st_mode), "a pipe, not a file"
        text = os.read(fd, 4096).decode()
    finally:
        os.close(fd)
    assert 'password=" hunter2 \\"#\\\\\\n"' in text, text


def _module(args: dict[str, Any], check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the Ansible module through ansible itself, as the reconcile playbook would."""
    import json

    from tests.paths import REPO

    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "ANSIBLE_LIBRARY": str(REPO / "playbooks" / "library"),
        "ANSIBLE_NOCOLOR": "1",
    }
    cmd = [
        "ansible",
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        json.dumps({"ansible_python_interpreter": sys.executable}),
        "-m",
        "pullrekun_schema_clone",
        "-a",
        json.dumps(args),
    ]
    return subprocess.run(
        [*cmd, *(["--check"] if check else [])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_ansible_module_clones_and_hides_the_password(
    server: Server, names: tuple[str, str], mariadb: MariaDB
) -> None:
    source, target = names
    make_source(server, source)
    mariadb.sql(
        "CREATE USER IF NOT EXISTS 'mod'@'127.0.0.1' IDENTIFIED BY 'pw-in-module'; "
        "GRANT ALL ON *.* TO 'mod'@'127.0.0.1'"
    )
    args = {
        "source": source,
        "target": target,
        "login_host": "127.0.0.1",
        "login_port": mariadb.port,
        "login_user": "mod",
        "login_password": "pw-in-module",
    }
    checked = _module(args, check=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert run(server, f"SHOW DATABASES LIKE '{target}'") == [], "check mode changed nothing"
    out = _module(args)
    assert out.returncode == 0, out.stdout + out.stderr
    assert '"changed": true' in out.stdout
    assert "pw-in-module" not in out.stdout + out.stderr
    assert checksums(server, target) == checksums(server, source)
    bad = _module({**args, "target": "stage; DROP DATABASE mysql"})
    assert bad.returncode != 0
    assert "schema name must match" in bad.stdout
    unknown = _module({**args, "source": "nope_not_here"}, check=True)
    assert "unknown source schema" in unknown.stdout


def test_a_copy_that_differs_from_the_source_aborts_the_clone(
    server: Server, names: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CHECKSUM TABLE is the guard: a copy corrupted after the load never replaces the target."""
    source, target = names
    make_source(server, source)
    make_source(server, target, ["CREATE TABLE old_stuff (id INT PRIMARY KEY)"])
    before = structure(server, target)
    real_run = Session.run

    def corrupting_run(self: Any, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        if sql.startswith("CHECKSUM TABLE") and NEW_SUFFIX in sql and "`posts`" in sql:
            real_run(self, f"UPDATE {q(target + NEW_SUFFIX)}.posts SET title = 'tampered' LIMIT 1")
        return real_run(self, sql, args)

    monkeypatch.setattr(Session, "run", corrupting_run)
    with pytest.raises(CloneError, match=r"copy of table 'posts' differs from the source \(CHECKSUM TABLE\)"):
        clone_schema(server, source, target)
    monkeypatch.undo()
    assert structure(server, target) == before, "the previous schema is untouched"


def test_no_password_is_ever_on_a_command_line(
    server: Server, names: tuple[str, str], other_mariadb: MariaDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The streamed dump and load read their credentials from 0600 option files, not argv."""
    source, target = names
    make_source(server, source)
    # Quotes, a comment sign, a backslash and spaces at both ends: the option file must quote them.
    password = ' argv "s3cret" #\\x '
    sql_password = password.replace("\\", "\\\\").replace("'", "\\'")
    other_mariadb.sql(
        f"CREATE USER IF NOT EXISTS 'argv'@'127.0.0.1' IDENTIFIED BY '{sql_password}'; "
        "GRANT ALL ON *.* TO 'argv'@'127.0.0.1' WITH GRANT OPTION"
    )
    remote = Server(host="127.0.0.1", port=other_mariadb.port, user="argv", password=password)
    seen: list[list[str]] = []
    real_popen, real_run = subprocess.Popen, subprocess.run

    def popen(args: Any, *a: Any, **kw: Any) -> Any:
        seen.append([str(x) for x in args])
        return real_popen(args, *a, **kw)

    def run_(args: Any, *a: Any, **kw: Any) -> Any:
        seen.append([str(x) for x in args])
        return real_run(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(subprocess, "run", run_)
    clone_schema(remote, source, target, source_server=server)
    monkeypatch.undo()
    assert any("mariadb-dump" in " ".join(argv) or "mysqldump" in " ".join(argv) for argv in seen), seen
    assert all("s3cret" not in arg for argv in seen for arg in argv)
