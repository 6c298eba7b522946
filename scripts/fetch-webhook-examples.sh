#!/usr/bin/env bash
# Unpack GitHub's webhook example payloads (npm package @octokit/webhooks-examples) into .cache/,
# for the tests that deliver them to `pullrekun serve`. Pinned for repeatable runs.
set -euo pipefail
cd "$(dirname "$0")/.."
version="7.6.1"
dest=".cache/octokit-webhooks-examples"
if [ -f "$dest/package/api.github.com/index.json" ] && [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$version" ]; then
  exit 0
fi
rm -rf "$dest" && mkdir -p "$dest"
tarball=$(cd "$dest" && npm pack --silent "@octokit/webhooks-examples@${version}" 2>/dev/null | tail -n 1)
tar -xzf "$dest/$tarball" -C "$dest" package/api.github.com/index.json package/package.json
rm -f "$dest/$tarball"
echo "$version" > "$dest/VERSION"
echo "GitHub webhook examples $version unpacked into $dest"
