"""What the command-line tools share: building a task's env, seeding, and a run's saved description."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
from typing import Any

import numpy as np
import torch

RUN_FILE = "run.json"
# The zero-cost env's sizes when none are given: Anymal-D's observation and action (48 x 12).
ZERO_COST_SIZES = {"obs_dim": 48, "action_dim": 12}


def make_task_env(task: str, num_envs: int, seed: int, device: str, **kwargs: Any):
    from genpo_rsl.envs import make_env

    if task == "toy/ZeroCost":
        kwargs = {**ZERO_COST_SIZES, **kwargs}
    return make_env(task, num_envs=num_envs, seed=seed, device=device, **kwargs)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def save_run(log_dir: str, run: dict[str, Any]) -> None:
    os.makedirs(log_dir, exist_ok=True)
    tmp = os.path.join(log_dir, RUN_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(run, f, indent=2)
    os.replace(tmp, os.path.join(log_dir, RUN_FILE))


def load_run(checkpoint: str) -> dict[str, Any]:
    """The run description saved beside a checkpoint by genpo-train."""
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"--checkpoint: no file at {checkpoint!r}")
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), RUN_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"--checkpoint: {checkpoint!r} has no {RUN_FILE} beside it, so the task and config it was trained with "
            "are unknown. Use a checkpoint written by genpo-train, or copy its run.json next to it."
        )
    with open(path) as f:
        return json.load(f)


def load_runner(checkpoint: str, num_envs: int = 1, seed: int = 0, device: str = "cpu", quiet: bool = False,
                **env_kwargs: Any):
    """A GenPORunner for a genpo-train run: the env and config from its run.json, ``checkpoint`` loaded.

    The saved config is in the world that trained it; it is rebuilt for the installed world, so that the
    checkpoint loader, not the config, reports a cross-version mismatch (naming the version that wrote it).
    Returns (runner, env, run).
    """
    from genpo_rsl.compat import register, rsl_rl_major
    from genpo_rsl.train_config import build_runner_cfg

    run = load_run(checkpoint)
    env = make_task_env(run["task"], num_envs, seed, device, **env_kwargs)
    cfg = run["train_cfg"] if run.get("rsl_rl_major") == rsl_rl_major() else build_runner_cfg(
        run["algo"], run["settings"], experiment_name=run["train_cfg"].get("experiment_name", "genpo"))
    register()
    from genpo_rsl.runner import GenPORunner

    try:
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            runner = GenPORunner(env, cfg, log_dir=None, device=device)
        runner.load(checkpoint)
    except BaseException:
        env.close()
        raise
    return runner, env, run
