"""Benchmark: pullrekun's schema clone against pullre-kun's `mysqldump src | mysql dst`.

Prints figures, asserts nothing. Starts its own MariaDB in a temp dir, builds a source
schema of about 1 million rows over three tables with secondary indexes, a foreign key,
a view and a trigger, then clones it both ways in the same run, alternating for a few rounds
(medians printed), and checks every copy against the source with CHECKSUM TABLE. The server
has MariaDB's default 128 MB buffer pool unless told otherwise.

    .venv/bin/python -m bench.schema_clone [--rows 1000000] [--rounds 3] [--buffer-pool 128M]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pullrekun_sandbox.mariadb import MariaDB, available

from pullrekun.adapters.mysql import Server, q
from pullrekun.adapters.schema_clone import CloneResult, clone_schema

SCHEMA = [
    "CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(120) NOT NULL, "
    "name VARCHAR(120), created DATETIME NOT NULL, UNIQUE KEY uq_email (email), KEY idx_created (created))",
    "CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, "
    "total DECIMAL(10,2) NOT NULL, status VARCHAR(16) NOT NULL, placed DATETIME NOT NULL, "
    "KEY idx_customer (customer_id), KEY idx_status_placed (status, placed), "
    "CONSTRAINT fk_customer FOREIGN KEY (customer_id) REFERENCES customers (id))",
    "CREATE TABLE events (id BIGINT AUTO_INCREMENT PRIMARY KEY, order_id BIGINT NOT NULL, "
    "kind VARCHAR(20) NOT NULL, note TEXT, at DATETIME NOT NULL, "
    "KEY idx_order (order_id), KEY idx_kind (kind))",
]


def sql(server: MariaDB, statement: str, schema: str | None = None) -> None:
    prefix = "SET SESSION max_recursive_iterations = 100000000; "
    if schema:
        prefix += f"USE {q(schema)}; "
    out = server.sql(prefix + statement)
    if out.returncode != 0:
        raise SystemExit(out.stderr)


def checksums(server: Server, schema: str) -> dict[str, int]:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SHOW FULL TABLES FROM {q(schema)} WHERE Table_type = 'BASE TABLE'")
            tables = [r[0] for r in cur.fetchall()]
            result = {}
            for t in tables:
                cur.execute(f"CHECKSUM TABLE {q(schema)}.{q(t)}")
                result[t] = cur.fetchone()[1]  # type: ignore[index]
            return result
    finally:
        conn.close()


def build_source(db: MariaDB, rows: int) -> None:
    customers, orders = rows // 10, rows * 6 // 10
    events = rows - customers - orders
    sql(db, "CREATE DATABASE src CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    for ddl in SCHEMA:
        sql(db, ddl, "src")
    gen = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {}) "
    sql(
        db,
        "INSERT INTO customers (email, name, created) "
        + gen.format(customers)
        + "SELECT CONCAT('user', i, '@example.com'), CONCAT('Ünïcode name ', i), "
        "'2026-01-01' + INTERVAL i MINUTE FROM n",
        "src",
    )
    sql(
        db,
        "INSERT INTO orders (customer_id, total, status, placed) "
        + gen.format(orders)
        + f"SELECT 1 + i % {customers}, (i % 997) / 7, ELT(1 + i % 4, 'new', 'paid', 'sent', 'done'), "
        "'2026-02-01' + INTERVAL i SECOND FROM n",
        "src",
    )
    sql(
        db,
        "INSERT INTO events (order_id, kind, note, at) "
        + gen.format(events)
        + f"SELECT 1 + i % {orders}, ELT(1 + i % 3, 'created', 'mailed', 'closed'), REPEAT('n', i % 40), "
        "'2026-03-01' + INTERVAL i SECOND FROM n",
        "src",
    )
    sql(db, "CREATE VIEW open_orders AS SELECT id, customer_id FROM orders WHERE status <> 'done'", "src")
    sql(
        db,
        "CREATE TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW SET NEW.status = LOWER(NEW.status)",
        "src",
    )


def dump_pipe(db: MariaDB, source: str, target: str) -> float:
    sql(db, f"DROP DATABASE IF EXISTS {q(target)}; CREATE DATABASE {q(target)}")
    client = ["--no-defaults", f"--socket={db.socket}", "-uroot"]
    start = time.perf_counter()
    dump = subprocess.Popen(
        ["mariadb-dump", *client, "--single-transaction", "--routines", "--triggers", source],
        stdout=subprocess.PIPE,
    )
    load = subprocess.run(["mariadb", *client, target], stdin=dump.stdout, capture_output=True, check=False)
    assert dump.stdout is not None
    dump.stdout.close()
    if dump.wait() != 0 or load.returncode != 0:
        raise SystemExit(f"dump | load failed: {load.stderr.decode()}")
    return time.perf_counter() - start


def clone_once(server: Server, workers: int = 4) -> tuple[CloneResult, list[tuple[str, float]]]:
    """pullrekun's clone of ``src`` into ``dst_clone``, with the time each phase began."""
    marks: list[tuple[str, float]] = []

    def mark(name: str) -> None:
        marks.append((name, time.perf_counter()))

    result = clone_schema(server, "src", "dst_clone", on_step=mark, workers=workers)
    marks.append(("end", time.perf_counter()))
    return result, marks


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--buffer-pool", default="128M", help="innodb_buffer_pool_size of the benchmark's server"
    )
    parser.add_argument("--rounds", type=int, default=3, help="clones each way, alternating")
    args = parser.parse_args()
    reason = available()
    if reason:
        print(f"schema_clone: cannot run: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pullrekun-bench-db-") as tmp:
        db = MariaDB(Path(tmp), extra_args=(f"--innodb-buffer-pool-size={args.buffer_pool}",)).start()
        try:
            t0 = time.perf_counter()
            build_source(db, args.rows)
            built = time.perf_counter() - t0
            server = Server(unix_socket=str(db.socket), user="root")
            want = checksums(server, "src")
            pipes, clones, same = [], [], True
            for _ in range(args.rounds):
                pipes.append(dump_pipe(db, "src", "dst_dump"))
                clones.append(clone_once(server))
                same = same and checksums(server, "dst_dump") == want == checksums(server, "dst_clone")
        finally:
            db.stop()
    pipe = statistics.median(pipes)
    result, marks = sorted(clones, key=lambda c: c[0].seconds)[len(clones) // 2]
    print(
        f"schema_clone ({result.rows} rows in {result.tables} tables; source built in {built:.1f} s; "
        f"innodb_buffer_pool_size={args.buffer_pool}; medians of {args.rounds} rounds)"
    )
    print(f"  mysqldump | mysql (pullre-kun):  {pipe:6.2f} s   ({' '.join(f'{x:.2f}' for x in pipes)})")
    print(
        f"  pullrekun server-side clone:     {result.seconds:6.2f} s   "
        f"({' '.join(f'{c.seconds:.2f}' for c, _ in clones)})"
    )
    print(f"  every copy identical to source:  {same}")
    print(f"  speed-up:                        {pipe / result.seconds:6.2f}x  (target >= 3x)")
    print(
        "  clone phases (median round):  "
        + ", ".join(f"{a} {tb - ta:.2f} s" for (a, ta), (_, tb) in itertools.pairwise(marks))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
