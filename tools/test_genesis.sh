#!/usr/bin/env bash
# Run the Genesis tests (tests/genesis) in their own venv, ./.venv-genesis (or $VENV_GENESIS): genesis-world pulls
# mujoco 4, which conflicts with mjlab's mujoco 3, so it cannot share .venv. Creates the venv when it is missing:
# the CPU torch wheel first, then the package with the genesis and test extras, torch held by the constraints
# file (Genesis declares no torch dependency, but nothing else may replace the pin either). Idempotent.
# Extra arguments go to pytest (e.g. -x, -k contract). The first run compiles Genesis' kernels (about 90 s,
# cached in ~/.cache); the whole run takes about 3-4 min cold on a 2-core CPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV_GENESIS:-$root/.venv-genesis}"
python="${PYTHON:-python3}"
cd "$root"

if ! "$venv/bin/python" -c "import genesis, genpo_rsl" >/dev/null 2>&1; then
    [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
    pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
    "${pip[@]}" "torch==2.13.0"
    "${pip[@]}" -c tools/constraints-torch.txt -e "$root[genesis,test]"
fi
"$venv/bin/python" -c "import importlib.metadata as m; print('=== genesis-world', m.version('genesis-world'), \
'| rsl-rl-lib', m.version('rsl-rl-lib'), '| torch', m.version('torch'))"
OMP_NUM_THREADS=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/genesis "$@"
