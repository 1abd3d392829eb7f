"""Helpers shared by the IsaacLab tests (imported by name: this folder is put on sys.path by its conftest)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import standins

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]


def require_sources() -> None:
    """Skip the calling test when the IsaacLab sources have not been fetched (the only reason these tests skip)."""
    if not standins.sources_available():
        pytest.skip(standins.missing_reason())


def quiet(fn, *args, **kwargs):
    """Call ``fn`` with its stdout (IsaacLab's "[INFO]: Parsing configuration from ..." lines) swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def run_python(code: str, env_extra: dict | None = None, pythonpath: list[str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (``python -c``) with PYTHONPATH = ``pythonpath`` + the repository root +
    the caller's PYTHONPATH (which selects the rsl_rl world in tools/test.sh).

    ``GENPO_RSL_DISABLE_HOOK`` is removed from the child's environment unless ``env_extra`` sets it, so the outcome
    does not depend on the caller's shell.
    """
    env = {k: v for k, v in os.environ.items() if k != "GENPO_RSL_DISABLE_HOOK"}
    env.update(env_extra or {})
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([*(pythonpath or []), str(REPO_ROOT), *inherited])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=str(REPO_ROOT))
