"""Shared pieces of the mjlab tests: running mjlab's console scripts from this venv, the cheap training flags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
HERE = Path(__file__).parent
# Small and cheap: 16 envs, 8 steps per env (mjlab's CPU path steps ~150-600 env steps/s).
CHEAP = ["--gpu-ids", "None", "--agent.logger", "tensorboard", "--env.scene.num-envs", "16",
         "--agent.num-steps-per-env", "8"]
CARTPOLE = "Mjlab-Cartpole-Balance"
VELOCITY = "Mjlab-Velocity-Flat-Unitree-G1"  # the cheapest velocity task (the runner that writes ONNX)


def cli_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MJLAB_WARP_QUIET": "1"}
    env.pop("GENPO_RSL_DISABLE_HOOK", None)
    env.update(extra)
    return env


def run_cli(command: str, *args: str, cwd: Path | None = None, timeout: float = 900,
            **env: str) -> subprocess.CompletedProcess:
    """Run one of mjlab's console scripts (from this venv's bin/) and return its completed process."""
    return subprocess.run([str(BIN / command), *args], cwd=cwd, env=cli_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def output(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"


def train_run(tmp_path_factory, task: str, *args: str) -> Path:
    """``train <task> <cheap flags> <args>`` in a fresh folder; returns the run's log directory."""
    cwd = tmp_path_factory.mktemp(task.replace("-", "_"))
    result = run_cli("train", task, *CHEAP, *args, cwd=cwd)
    assert result.returncode == 0, output(result)
    runs = sorted((cwd / "logs" / "rsl_rl").glob("*/*/model_*.pt"))
    assert runs, f"train wrote no checkpoint\n{output(result)}"
    return runs[-1].parent
