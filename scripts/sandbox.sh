#!/usr/bin/env bash
# The whole pullrekun loop on this machine, no AWS or GitHub account needed:
# a GitHub simulator, moto's EC2 server, three staging "hosts" on 127.0.0.x and SQLite state.
# Extra arguments go to `pullrekun sandbox` (e.g. --serve to keep it up, --hosts 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh sandbox
exec .venv/bin/pullrekun sandbox "$@"
