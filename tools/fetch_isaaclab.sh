#!/usr/bin/env bash
# Fetch IsaacLab's Python sources (the PyPI wheel `isaaclab==2.3.2.post1`) for the CPU tests in tests/isaaclab/.
#
# The wheel is downloaded with `pip download --no-deps` (nothing is installed) and unpacked next to it:
#
#   <cache>/isaaclab-2.3.2.post1-cp311-none-manylinux_2_35_x86_64.whl
#   <cache>/isaaclab-2.3.2.post1/isaaclab/source/{isaaclab,isaaclab_rl,isaaclab_tasks,isaaclab_contrib,...}
#   <cache>/isaaclab-2.3.2.post1/.unpacked          (marker written last: the unpack finished)
#
# <cache> is $ISAACLAB_CACHE_DIR, else the first argument, else .cache/isaaclab at the repository root (ignored
# by git: never commit the wheel). Idempotent: a second run with the sources present does nothing.
# The wheel is tagged cp311/manylinux_2_35, so the platform and Python version are passed to pip explicitly:
# the download works from any interpreter (its sources are pure Python and are only put on sys.path).
#
# Environment: PYTHON (interpreter whose pip is used; default python3), ISAACLAB_VERSION (default 2.3.2.post1).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
version="${ISAACLAB_VERSION:-2.3.2.post1}"
cache="${ISAACLAB_CACHE_DIR:-${1:-$root/.cache/isaaclab}}"
python="${PYTHON:-python3}"
dest="$cache/isaaclab-$version"

if [[ -f "$dest/.unpacked" && -d "$dest/isaaclab/source/isaaclab_tasks/isaaclab_tasks" ]]; then
    echo "IsaacLab $version sources already at $dest/isaaclab/source"
    exit 0
fi

mkdir -p "$cache"
shopt -s nullglob
wheels=("$cache"/isaaclab-"$version"-*.whl)
if (( ${#wheels[@]} == 0 )); then
    echo "Downloading isaaclab==$version (no dependencies) into $cache"
    "$python" -m pip download --no-deps --only-binary=:all: \
        --python-version 3.11 --implementation cp --abi none --platform manylinux_2_35_x86_64 \
        --dest "$cache" "isaaclab==$version"
    wheels=("$cache"/isaaclab-"$version"-*.whl)
fi
if (( ${#wheels[@]} == 0 )); then
    echo "error: pip download did not produce isaaclab-$version-*.whl in $cache" >&2
    exit 1
fi

# Unpack into a temporary folder, then move it into place, so an interrupted run never leaves a half tree.
tmp="$(mktemp -d "$cache/.unpack.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
"$python" -m zipfile -e "${wheels[0]}" "$tmp"
if [[ ! -d "$tmp/isaaclab/source/isaaclab_tasks/isaaclab_tasks" ]]; then
    echo "error: ${wheels[0]} has no isaaclab/source/isaaclab_tasks (unexpected wheel layout)" >&2
    exit 1
fi
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
touch "$dest/.unpacked"
echo "IsaacLab $version sources at $dest/isaaclab/source"
