"""The crash world's migrate command: the sandbox app's migration in two steps.

Run on a staging host, in the release, with the environment's DB_* settings. Between the two
steps it can kill the pass that started it (the file named by argv[1] holds "<pid> <mode>",
written by the test), to leave a half-migrated schema behind. Every completed run is recorded
in the schema itself (`migration_runs`), so a test can count how often the migration for a
release ran to completion on a schema: a fresh clone starts with none.
"""

import os
import signal
import sys

import pymysql

FLAG = sys.argv[1]
RELEASE = os.path.basename(os.getcwd())

conn = pymysql.connect(
    host=os.environ["DB_HOST"],
    port=int(os.environ["DB_PORT"]),
    user=os.environ["DB_USER"],
    password=os.environ.get("DB_PASSWORD", ""),
    database=os.environ["DB_NAME"],
    autocommit=True,
)
with conn.cursor() as cur:
    cur.execute("CREATE TABLE IF NOT EXISTS migration_step1 (release_sha CHAR(40) PRIMARY KEY)")
    cur.execute("INSERT IGNORE INTO migration_step1 VALUES (%s)", (RELEASE,))
try:
    with open(FLAG) as fh:
        pid_text, mode, marker = fh.read().split()
    os.unlink(FLAG)
except FileNotFoundError:
    pass
else:
    with open(marker, "w") as fh:
        fh.write("during-migrate\n")
    pid = int(pid_text)
    if mode == "group":
        children = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        fields = fh.read().rsplit(") ", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == pid:
                    children.append(int(fields[2]))
        os.killpg(pid, signal.SIGKILL)
        for pgid in children:
            os.killpg(pgid, signal.SIGKILL)
    else:
        os.kill(pid, signal.SIGKILL)
    sys.exit("killed the pass half-way through the migration")
with conn.cursor() as cur:
    cur.execute(
        "CREATE TABLE IF NOT EXISTS migration_runs (id INT AUTO_INCREMENT PRIMARY KEY, release_sha CHAR(40))"
    )
    cur.execute("INSERT INTO migration_runs (release_sha) VALUES (%s)", (RELEASE,))
conn.close()
print("migrated")
