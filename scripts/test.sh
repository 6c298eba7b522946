#!/usr/bin/env bash
# Everything CI runs: the test world's packages, the Python environment, linters, the tests.
# Real parts only: sshd hosts on loopback, MariaDB, moto's EC2 server, the GitHub simulator
# (checked against GitHub's OpenAPI description). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
[ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
[ -x /usr/sbin/mariadbd ] || need_pkgs+=(mariadb-server)
command -v mariadb >/dev/null || need_pkgs+=(mariadb-client)
command -v git >/dev/null || need_pkgs+=(git)
command -v npm >/dev/null || need_pkgs+=(npm)
# The staging unit is checked with systemd-analyze verify (no systemd needs to run).
command -v systemd-analyze >/dev/null || need_pkgs+=(systemd)
# The dashboard's browser tests drive Debian's Chromium through Playwright (no browser download).
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
# The wheel test and the controller role's Molecule scenario create fresh venvs.
python3 -c 'import ensurepip' 2>/dev/null || need_pkgs+=(python3-venv)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${need_pkgs[*]} (install them as root: apt-get install ${need_pkgs[*]})" >&2
    exit 2
  fi
  echo "== installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

echo "== Python environment"
# Let Python cache the bytecode of what the tests import (pullrekun's own code, its libraries, the
# tests): without it every CLI, pass and ansible-playbook process compiles its imports again. So
# setup.sh leaves the compiling to the first import of each module.
unset PYTHONDONTWRITEBYTECODE
# GitHub's OpenAPI description and webhook examples (npm packages, pinned) are fetched meanwhile:
# mostly waiting on the network, about 5 s.
fetch_log="$(mktemp)"
{ bash scripts/fetch-openapi.sh && bash scripts/fetch-webhook-examples.sh; } > "$fetch_log" 2>&1 & fetch_pid=$!
bash scripts/setup.sh dev
echo "== GitHub's OpenAPI description and webhook examples"
fetched=0
wait "$fetch_pid" || fetched=$?
cat "$fetch_log"; rm -f "$fetch_log"
[ "$fetched" -eq 0 ] || exit "$fetched"
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff";          ruff check .
ruff format --check .
echo "== import-linter"; lint-imports
# mypy (about 27 s on one core with no cache, as on a fresh clone) and ansible-lint (about 8 s)
# run beside pytest: on their own they left a core idle for 20 s, which pytest's workers now fill.
# Their output and verdict come after pytest's; either failing fails the run.
lint_logs="$(mktemp -d)"
mypy > "$lint_logs/mypy" 2>&1 & mypy_pid=$!
ansible-lint > "$lint_logs/ansible-lint" 2>&1 & ansible_lint_pid=$!
trap 'kill "$mypy_pid" "$ansible_lint_pid" 2>/dev/null; rm -rf "$lint_logs"' EXIT

echo "== pytest"
export PULLREKUN_REQUIRE_WORLD=1
# Three workers, one test file each at a time (a file's tests share its world). Measured on a
# 2-core machine: one process needed over 20 min; two workers 909 s for the whole of .ci/run and
# three 875 s (the tests wait on subprocesses and sockets: two workers left a third of the CPU
# idle). Files go out longest first (tests/durations.json, written from a run's JUnit XML by
# scripts/test-durations.py; PULLREKUN_JUNIT names where this run writes its own); xdist's own
# reordering by test count would undo that. `-n 0` runs in one process.
junit=()
[ -z "${PULLREKUN_JUNIT:-}" ] || junit=(--junitxml "$PULLREKUN_JUNIT")
pytest_rc=0
pytest -p no:cacheprovider -n 3 --dist loadfile --no-loadscope-reorder "${junit[@]}" "$@" || pytest_rc=$?

lint_failed=0
wait "$mypy_pid" || lint_failed=1
echo "== mypy"; cat "$lint_logs/mypy"
wait "$ansible_lint_pid" || lint_failed=1
trap 'rm -rf "$lint_logs"' EXIT  # both reaped: their PIDs are no longer theirs to signal
echo "== ansible-lint"; cat "$lint_logs/ansible-lint"
[ "$lint_failed" -eq 0 ] || { echo "== lint failed (see above)" >&2; exit 1; }
exit "$pytest_rc"
