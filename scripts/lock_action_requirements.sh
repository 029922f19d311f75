#!/usr/bin/env bash
# Regenerate action/requirements.txt: the GitHub Action's hash-pinned core install.
#
# pip-tools runs from a throwaway virtual environment so that it never becomes a dependency
# of the project. The hashes cover every file PyPI serves for each pinned version (all
# platforms and Python versions), because the action runs on Linux, macOS and Windows runners.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet pip-tools
# Local wheel folders would add hashes PyPI never served: resolve from the index alone.
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL
(cd action && PIP_CONFIG_FILE=/dev/null "$tmp/venv/bin/pip-compile" --quiet --generate-hashes \
  --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
  --output-file requirements.txt requirements.in)
echo "wrote action/requirements.txt"
