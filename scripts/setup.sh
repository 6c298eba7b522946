#!/usr/bin/env bash
# Create .venv and install pullrekun with the given extras (default: sandbox), once per change
# of pyproject.toml. Used by scripts/sandbox.sh, scripts/test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-sandbox}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "pullrekun needs Python 3.11 or newer as '$python' (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
if ! command -v git >/dev/null; then
  echo "pullrekun needs git (apt-get install git)" >&2
  exit 2
fi
stamp=".venv/.pullrekun-installed"
compiled=".venv/.pullrekun-compiled"
want="$extras $(cat pyproject.toml sandbox/pyproject.toml | sha256sum | cut -d' ' -f1)"
if ! { [ -x .venv/bin/python ] && grep -qsxF "$want" "$stamp"; }; then
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  # The sandbox is a distribution of its own (sandbox/): installed from the checkout beside the
  # product, so the `sandbox` extra that names it is met here.
  want_pkgs=(-e ".[${extras}]" -e ./sandbox)
  # uv resolves and installs the same packages as pip, side by side: 9 s against pip's 43 s for
  # the dev extra on a machine with no package cache. pip does it where uv cannot be had or fails.
  if .venv/bin/python -m pip install --quiet --disable-pip-version-check uv >/dev/null 2>&1 &&
    .venv/bin/uv pip install --quiet --python .venv/bin/python --upgrade-package pip pip "${want_pkgs[@]}"; then
    :
  else
    echo "uv could not install the packages: installing them with pip" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    # --no-compile: byte-compiling every file of ansible's collections is most of an install's
    # time (93 s -> 22 s here).
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-compile "${want_pkgs[@]}"
  fi
  echo "$want" >> "$stamp"
fi
# Neither installs bytecode: Python compiles a module when it is first imported and keeps it. But
# where PYTHONDONTWRITEBYTECODE is set (some images set it), nothing is ever kept and every process
# compiles all it imports again (2.0 s of imports per pass became 1.0 s here once compiled): there
# the libraries are compiled now, once, all but ansible's collections (their modules run from
# AnsiballZ zips). Where it is not set, only what runs gets compiled (the tests import about a third
# of the files: compiling all took 19 s, the rest of them 14 s).
if [ -n "${PYTHONDONTWRITEBYTECODE:-}" ] && ! grep -qsxF "$want" "$compiled"; then
  env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m compileall -q -j 0 -x '/ansible_collections/' \
    .venv/lib/python3*/site-packages >/dev/null
  echo "$want" >> "$compiled"
fi
