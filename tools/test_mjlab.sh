#!/usr/bin/env bash
# Run the mjlab tests (tests/mjlab) in their own venv, ./.venv-mjlab (or $VENV_MJLAB): mjlab 1.6.0 pins
# rsl-rl-lib==5.4.2 and mujoco~=3.11, which conflict with .venv's rsl-rl-lib 5.5 and mujoco 4. Creates the venv when
# it is missing: the CPU torch wheel first, then mjlab with torch held by tools/constraints-torch.txt (unpinned, pip
# resolves a CUDA torch through rsl-rl-lib's torchvision), then this checkout without dependencies (editable, so its
# `mjlab.tasks` entry point is registered). Idempotent: a ready venv is only re-pointed at this checkout if needed.
# Extra arguments go to pytest (e.g. -x, -k play). The first run compiles warp's CPU kernels (about 25 s per task,
# cached in ~/.cache/warp).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV_MJLAB:-$root/.venv-mjlab}"
python="${PYTHON:-python3}"
cd "$root"
log="$venv.install.log"

pip_quiet() {  # pip's output goes to $log; shown only when it fails
    if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" >>"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "test_mjlab.sh: pip install $* failed (full log: $log)" >&2
        exit 1
    fi
}

# find_spec, not import: importing mjlab alone takes ~15 s of CPU.
if ! "$venv/bin/python" -I -c "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ('mjlab', 'pytest', 'onnxruntime')))" >/dev/null 2>&1; then
    [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
    : >"$log"
    pip_quiet "torch==2.13.0"
    pip_quiet -c tools/constraints-torch.txt "mjlab==1.6.0" pytest onnxruntime
fi
# This checkout, editable, with its entry points (re-done when the venv points at another checkout or an older
# setup.py without the mjlab.tasks entry).
# -I: not from the current directory, whose genpo_rsl and genpo_rsl.egg-info (the main venv's) would pass the check.
if ! "$venv/bin/python" -I - "$root" >/dev/null 2>&1 <<'EOF'
import importlib.metadata as metadata, importlib.util, os, sys
spec = importlib.util.find_spec("genpo_rsl")
assert os.path.dirname(os.path.dirname(os.path.abspath(spec.origin))) == sys.argv[1]
assert any(e.value == "genpo_rsl.integrations.mjlab" for e in metadata.entry_points(group="mjlab.tasks"))
EOF
then
    pip_quiet --no-deps -e "$root"
fi

"$venv/bin/python" -c "import importlib.metadata as m; print('=== mjlab', m.version('mjlab'), \
'| rsl-rl-lib', m.version('rsl-rl-lib'), '| mujoco', m.version('mujoco'), '| torch', m.version('torch'))"
OMP_NUM_THREADS=1 MJLAB_WARP_QUIET=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/mjlab "$@"
