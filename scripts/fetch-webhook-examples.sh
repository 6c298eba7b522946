#!/usr/bin/env bash
# Unpack GitHub's webhook example payloads (npm package @octokit/webhooks-examples) into .cache/,
# for the tests that deliver them to `pullrekun serve`. Pinned for repeatable runs.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/npm-unpack.sh @octokit/webhooks-examples 7.6.1 .cache/octokit-webhooks-examples \
  package/api.github.com/index.json package/package.json
