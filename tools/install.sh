#!/usr/bin/env bash
# Install genpo-rsl into ./.venv (or $VENV): the CPU torch wheel pinned exactly (any other torch request pulls
# gigabytes of CUDA), then the package with its test extras. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$root/.venv}"
python="${PYTHON:-python3}"

# Mesa's software EGL lets MuJoCo render offscreen (genpo-play --video) on a machine without a display or GPU.
gl_packages=(libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libgl1)
if ! dpkg -s "${gl_packages[@]}" >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else sudo=(false); fi
    { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${gl_packages[@]}"; } \
        || echo "warning: could not install ${gl_packages[*]} (needed only for genpo-play --video)" >&2
fi

[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e "$root[test]"
"$venv/bin/python" -c "import torch, rsl_rl, gymnasium, genpo_rsl; print('installed: torch', torch.__version__, '| genpo_rsl', genpo_rsl.__version__)"
