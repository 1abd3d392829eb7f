"""Tests of the mjlab integration, run by tools/test_mjlab.sh in .venv-mjlab (mjlab 1.6.0, rsl-rl-lib 5.4.2).

The main suite's venv has no mjlab (its mujoco 4 and rsl-rl-lib 5.5 conflict with mjlab's pins), so there this
folder is not collected at all; tools/test_mjlab.sh is what runs it, in CI too.

Everything here is real mjlab: its ``train``/``play``/``list-envs`` console scripts in subprocesses (as a user runs
them, on the CPU: ``--gpu-ids None --agent.logger tensorboard``), its registry, runners and environments. The only
change is in ``play_driver.py``: mjlab's viewer loop, which otherwise runs until Ctrl+C, stops after a few steps.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

# origin is None for a namespace package: in the main suite, "mjlab" also finds this very folder (tests/ is on
# sys.path), which is not mjlab.
_mjlab = importlib.util.find_spec("mjlab")
if _mjlab is None or _mjlab.origin is None:
    collect_ignore_glob = ["*.py"]
else:
    from mjlab_helpers import CARTPOLE, VELOCITY, train_run


@pytest.fixture(scope="session")
def cartpole_run(tmp_path_factory) -> Path:
    """Two iterations of the Cartpole twin, saving after each. The actor keeps the twin's defaults: mjlab's play
    builds the policy from the registered config (it takes no --agent flags)."""
    return train_run(tmp_path_factory, CARTPOLE + "-GenPO", "--agent.max-iterations", "2", "--agent.save-interval",
                     "1", "--agent.algorithm.compression-coef", "0.05")


@pytest.fixture(scope="session")
def velocity_run(tmp_path_factory) -> Path:
    """One iteration of the G1 velocity twin (the robot recipe: multistep flow, encode once); its runner writes ONNX
    at every save."""
    return train_run(tmp_path_factory, VELOCITY + "-GenPO", "--agent.max-iterations", "1",
                     "--agent.actor.flow", "multistep")
