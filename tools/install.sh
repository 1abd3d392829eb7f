#!/usr/bin/env bash
# Install genpo-rsl into ./.venv (or $VENV): the CPU torch wheel pinned exactly (any other torch request pulls
# gigabytes of CUDA), then the package with its test extras. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$root/.venv}"
python="${PYTHON:-python3}"

[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e "$root[test]"
"$venv/bin/python" -c "import torch, rsl_rl, gymnasium, genpo_rsl; print('installed: torch', torch.__version__, '| genpo_rsl', genpo_rsl.__version__)"
