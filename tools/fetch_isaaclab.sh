#!/usr/bin/env bash
# Fetch IsaacLab's Python sources (the PyPI wheels `isaaclab==2.3.2.post1` and `isaaclab==3.0.0`) for the CPU tests
# in tests/isaaclab/ (2.3.2 for the rsl-rl-lib 3.x worlds, 3.0.0 for the 5.x world).
#
# Each wheel is downloaded with `pip download --no-deps` (nothing is installed) and unpacked next to it:
#
#   <cache>/isaaclab-2.3.2.post1-cp311-none-manylinux_2_35_x86_64.whl
#   <cache>/isaaclab-2.3.2.post1/isaaclab/source/{isaaclab,isaaclab_rl,isaaclab_tasks,isaaclab_contrib,...}
#   <cache>/isaaclab-3.0.0-py3-none-any.whl
#   <cache>/isaaclab-3.0.0/{isaaclab,isaaclab_rl,isaaclab_tasks,...}   (3.x wheels are one flat tree)
#   <cache>/isaaclab-<version>/.unpacked             (marker written last: the unpack finished)
#
# <cache> is $ISAACLAB_CACHE_DIR, else the first argument, else .cache/isaaclab at the repository root (ignored
# by git: never commit the wheel). Idempotent: a second run with the sources present does nothing.
#
# Environment: PYTHON (interpreter whose pip is used; default python3), ISAACLAB_VERSION (default 2.3.2.post1),
# ISAACLAB3_VERSION (default 3.0.0).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cache="${ISAACLAB_CACHE_DIR:-${1:-$root/.cache/isaaclab}}"
python="${PYTHON:-python3}"

# fetch <version> <folder holding isaaclab_tasks/ inside the unpacked wheel> <pip platform arguments...>
fetch() {
    local version="$1" tasks_root="$2"
    shift 2
    local dest="$cache/isaaclab-$version"
    if [[ -f "$dest/.unpacked" && -d "$dest/$tasks_root/isaaclab_tasks" ]]; then
        echo "IsaacLab $version sources already at $dest"
        return 0
    fi

    mkdir -p "$cache"
    shopt -s nullglob
    local wheels
    wheels=("$cache"/isaaclab-"$version"-*.whl)
    if (( ${#wheels[@]} == 0 )); then
        echo "Downloading isaaclab==$version (no dependencies) into $cache"
        "$python" -m pip download --no-deps --only-binary=:all: "$@" --dest "$cache" "isaaclab==$version"
        wheels=("$cache"/isaaclab-"$version"-*.whl)
    fi
    if (( ${#wheels[@]} == 0 )); then
        echo "error: pip download did not produce isaaclab-$version-*.whl in $cache" >&2
        return 1
    fi

    # Unpack into a temporary folder, then move it into place, so an interrupted run never leaves a half tree.
    tmp="$(mktemp -d "$cache/.unpack.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    "$python" -m zipfile -e "${wheels[0]}" "$tmp"
    if [[ ! -d "$tmp/$tasks_root/isaaclab_tasks" ]]; then
        echo "error: ${wheels[0]} has no $tasks_root/isaaclab_tasks (unexpected wheel layout)" >&2
        return 1
    fi
    rm -rf "$dest"
    mv "$tmp" "$dest"
    trap - EXIT
    touch "$dest/.unpacked"
    echo "IsaacLab $version sources at $dest"
}

# The wheels' tags (cp311/manylinux_2_35; py3-none-any) are passed to pip explicitly: the download works from any
# interpreter (the sources are pure Python and are only put on sys.path).
fetch "${ISAACLAB_VERSION:-2.3.2.post1}" isaaclab/source/isaaclab_tasks \
    --python-version 3.11 --implementation cp --abi none --platform manylinux_2_35_x86_64
fetch "${ISAACLAB3_VERSION:-3.0.0}" . --python-version 3.12 --implementation py --abi none --platform any
