#!/usr/bin/env bash
# Unpack GitHub's official OpenAPI description (npm package @octokit/openapi) into .cache/,
# for the tests that check the GitHub simulator against it. Pinned for repeatable runs.
set -euo pipefail
cd "$(dirname "$0")/.."
version="23.0.2"
dest=".cache/octokit-openapi"
if [ -f "$dest/package/generated/api.github.com.json" ] && [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$version" ]; then
  exit 0
fi
rm -rf "$dest" && mkdir -p "$dest"
tarball=$(cd "$dest" && npm pack --silent "@octokit/openapi@${version}" 2>/dev/null | tail -n 1)
tar -xzf "$dest/$tarball" -C "$dest" package/generated/api.github.com.json package/LICENSE package/package.json
rm -f "$dest/$tarball"
echo "$version" > "$dest/VERSION"
echo "GitHub OpenAPI description $version unpacked into $dest"
