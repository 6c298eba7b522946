#!/usr/bin/env bash
# Unpack GitHub's official OpenAPI description (npm package @octokit/openapi) into .cache/,
# for the tests that check the GitHub simulator against it. Pinned for repeatable runs.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/npm-unpack.sh @octokit/openapi 23.0.2 .cache/octokit-openapi \
  package/generated/api.github.com.json package/LICENSE package/package.json
