#!/usr/bin/env bash
# npm-unpack.sh PACKAGE VERSION DEST FILE...: unpack FILEs (paths inside the npm package) of
# PACKAGE@VERSION into DEST, once: a DEST/VERSION file naming VERSION says it is done.
set -euo pipefail
package="$1" version="$2" dest="$3"
shift 3
if [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$version" ] && [ -f "$dest/$1" ]; then
  exit 0
fi
rm -rf "$dest" && mkdir -p "$dest"
tarball=$(cd "$dest" && npm pack --silent "${package}@${version}" 2>/dev/null | tail -n 1)
tar -xzf "$dest/$tarball" -C "$dest" "$@"
rm -f "$dest/$tarball"
echo "$version" > "$dest/VERSION"
echo "$package $version unpacked into $dest"
