"""Fixtures for the IsaacLab tests: the real IsaacLab 2.3.2 sources (fetched by ``tools/fetch_isaaclab.sh``) imported
on CPU with stand-ins for Isaac Sim's runtime only (``standins.py``).

Every test that needs the sources skips with the reason "IsaacLab ... sources not found ...; run
tools/fetch_isaaclab.sh" when they are absent; nothing else skips.

This folder has no ``__init__.py`` on purpose: with pytest's default import mode a package named ``isaaclab`` (this
folder) would shadow the real ``isaaclab``. Its helper modules therefore have names no other test folder uses
(``standins``, ``isaaclab_helpers``, ``genpo_standin_vecenv``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
for _entry in (str(REPO_ROOT), str(HERE)):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

import standins  # noqa: E402
from isaaclab_helpers import quiet, require_sources  # noqa: E402


@pytest.fixture(scope="module")
def isaaclab_tasks():
    """``isaaclab_tasks`` imported (all tasks registered) with the GenPO hook installed first, as the ``.pth`` does.

    Module-scoped; the teardown removes the stand-ins, the hook and the IsaacLab modules again, so other test
    folders in the same pytest session do not find an importable ``isaaclab``.
    """
    require_sources()
    from isaaclab_tasks_ext import _startup

    disable = os.environ.pop(_startup.DISABLE_ENV, None)  # the caller's shell must not switch the hook off here
    hook_was_installed = _startup.installed()
    standins.install()
    _startup.install()
    try:
        module = quiet(__import__, "isaaclab_tasks")
        yield module
    finally:
        if disable is not None:
            os.environ[_startup.DISABLE_ENV] = disable
        if not hook_was_installed:
            _startup.uninstall()
        standins.uninstall()
