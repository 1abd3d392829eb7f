#!/usr/bin/env bash
# Run the test suite in every rsl_rl world the plugin supports: rsl-rl-lib 5.5.x (installed in the venv), then
# 3.0.1 and 3.1.2. The 3.x copies are pure Python, installed with --no-deps beside the venv (their torchvision
# dependency is a CUDA build that breaks next to the CPU torch) and put in front of 5.5.x with PYTHONPATH.
# Then the real clients, each in a venv of its own (their pins conflict with .venv and with each other):
# mjlab 1.6.0 (tools/test_mjlab.sh, tests/mjlab) and Genesis (tools/test_genesis.sh, tests/genesis).
# Extra arguments go to every pytest run (e.g. -x, -k flow). GENPO_TEST_WORLDS picks worlds, e.g. "5.5 mjlab".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$root/.venv}"
py="$venv/bin/python"
cd "$root"
worlds="${GENPO_TEST_WORLDS:-5.5 3.0.1 3.1.2 mjlab genesis}"
clients=(mjlab genesis)

is_client() { [[ " ${clients[*]} " == *" $1 "* ]]; }

for world in $worlds; do
    is_client "$world" && continue
    if [[ "$world" != 5.* && ! -d ".cache/rsl_rl-$world/rsl_rl" ]]; then
        "$py" -m pip install -q --disable-pip-version-check --no-deps --target ".cache/rsl_rl-$world" "rsl-rl-lib==$world"
    fi
done
PYTHON="$py" bash tools/fetch_isaaclab.sh >/dev/null
"$py" -m pip install -q --disable-pip-version-check -r tests/isaaclab/requirements.txt

status=0
for world in $worlds; do
    if is_client "$world"; then
        bash "tools/test_$world.sh" "$@" || status=1
        continue
    fi
    if [[ "$world" == 5.* ]]; then path=""; else path="$root/.cache/rsl_rl-$world"; fi
    version=$(PYTHONPATH="$path" "$py" -c "import importlib.metadata as m; print(m.version('rsl-rl-lib'))")
    echo "=== rsl-rl-lib $version"
    PYTHONPATH="$path" "$py" -m pytest -q -p no:cacheprovider tests \
        --ignore=tests/mjlab --ignore=tests/genesis "$@" || status=1
done
exit $status
