"""The sandbox app's migration: what a PR's `migrate_command` would run (idempotent)."""

import os

import pymysql

conn = pymysql.connect(
    host=os.environ["DB_HOST"],
    port=int(os.environ["DB_PORT"]),
    user=os.environ["DB_USER"],
    password=os.environ.get("DB_PASSWORD", ""),
    database=os.environ["DB_NAME"],
    autocommit=True,
)
with conn.cursor() as cur:
    cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY)")
    cur.execute("INSERT IGNORE INTO schema_migrations VALUES (1)")
    # A PR's own migration: MIGRATION.sql in its commit, one statement per line (the tests').
    if os.path.exists("MIGRATION.sql"):
        with open("MIGRATION.sql") as fh:
            for statement in (line.strip() for line in fh):
                if statement:
                    cur.execute(statement)
conn.close()
print("migrated")
