#!/usr/bin/env bash
# Regenerate the GitHub Action's hash-pinned installs from pyproject.toml:
#
#   action/requirements-redteam.txt  the core, the extras the default policy's checks need
#                                    (signing, sbom, formats, data), garak (the redteam extra)
#                                    and the build backend: one resolution of everything;
#   action/requirements.txt          the same without garak, constrained to the versions above,
#                                    so the action can add the red-team lock on top of it.
#
# uv resolves (from a throwaway virtual environment, so it never becomes a dependency of the
# project) for every platform and Python version at once (`--universal`: GitHub's Linux, macOS
# and Windows runners), against PyPI alone, with the sha256 of every file PyPI serves.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
EXTRAS=(--extra signing --extra sbom --extra formats --extra data)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet uv
compile() {
  UV_NO_CONFIG=1 UV_INDEX_URL=https://pypi.org/simple "$tmp/venv/bin/uv" pip compile --quiet \
    --universal --python-version 3.11 --generate-hashes \
    --custom-compile-command scripts/lock_action_requirements.sh "$@" \
    pyproject.toml action/requirements.in
}
compile "${EXTRAS[@]}" --extra redteam --output-file action/requirements-redteam.txt
compile "${EXTRAS[@]}" --constraint action/requirements-redteam.txt --output-file action/requirements.txt
echo "wrote action/requirements-redteam.txt and action/requirements.txt"
