#!/usr/bin/env bash
# Regenerate the GitHub Action's hash-pinned installs from pyproject.toml:
#
#   action/requirements-redteam.txt  the core, the extras the default policy's checks need
#                                    (signing, sbom, formats, data), garak (the redteam extra)
#                                    and the build backend: one resolution of everything,
#                                    without torch and what only its CUDA build pulls in;
#   action/requirements-torch.txt    torch (TORCH_VERSION) from PyTorch's CPU wheel index, with
#                                    the sha256 of each of its wheels there (lock_torch_cpu.py);
#   action/requirements.txt          the same without garak, constrained to the versions above,
#                                    so the action can add the red-team locks on top of it.
#
# uv resolves (from a throwaway virtual environment, so it never becomes a dependency of the
# project) for every platform and Python version at once (`--universal`: GitHub's Linux, macOS
# and Windows runners), against PyPI alone, with the sha256 of every file PyPI serves.
#
# TORCH_LISTING=FILE takes the CPU wheels' hashes from FILE (sha256sum lines) instead of the
# index page, where download.pytorch.org is not reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
# torch's version: the one the project's own setup installs as a CPU build (Makefile).
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
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
echo "torch==${TORCH_VERSION}" > "$tmp/torch.txt"
compile "${EXTRAS[@]}" --extra redteam --constraint "$tmp/torch.txt" --output-file action/requirements-redteam.txt
listing=()
if [[ -n "${TORCH_LISTING:-}" ]]; then listing=(--listing "$TORCH_LISTING"); fi
"$PYTHON" scripts/lock_torch_cpu.py split action/requirements-redteam.txt "$TORCH_VERSION" "${listing[@]}" \
  > action/requirements-torch.txt
compile "${EXTRAS[@]}" --constraint action/requirements-redteam.txt --output-file action/requirements.txt
echo "wrote action/requirements-redteam.txt, action/requirements-torch.txt and action/requirements.txt"
