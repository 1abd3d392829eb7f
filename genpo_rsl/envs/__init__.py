"""Environments for GenPO with rsl_rl (all rsl_rl ``VecEnv``): a gymnasium adapter, fast pure-torch toy tasks and
the Genesis Go2 tasks, and the one dispatcher that builds any of them by name (:func:`make_env`)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from .gymnasium_env import GymnasiumVecEnv
from .errors import MissingDependencyError, NonFiniteEnvError
from .toy import TOY_ENVS, EpisodeStatistics, PointReachVecEnv, TwoGoalReachVecEnv, ZeroCostVecEnv


#: The left-right (mirror) symmetry functions of the tasks that have one, as rsl_rl's ``symmetry_cfg`` takes them
#: (``data_augmentation_func``): ``genpo-train --symmetry`` uses them.
MIRROR_FUNCTIONS = {
    "toy/PointReach": "genpo_rsl.envs.toy:point_reach_symmetric_states",
    "genesis/Go2-Velocity-Flat": "genpo_rsl.envs.genesis_go2:compute_symmetric_states",
    "genesis/Go2-Velocity-Flat-Omni": "genpo_rsl.envs.genesis_go2:compute_symmetric_states",
}
#: How ``genpo-train --symmetry`` uses the mirror function: augmentation (IsaacLab's default), the mirror loss, both.
SYMMETRY_MODES = ("augmentation", "mirror_loss", "both")


def symmetry_cfg(task: str, mode: str, mirror_loss_coeff: float = 1.0) -> dict[str, Any]:
    """rsl_rl's ``algorithm.symmetry_cfg`` for ``task`` with its mirror function (:data:`MIRROR_FUNCTIONS`).

    Args:
        task: a task with a mirror function.
        mode: one of :data:`SYMMETRY_MODES`.
        mirror_loss_coeff: the mirror loss's weight (used by "mirror_loss" and "both").
    """
    if mode not in SYMMETRY_MODES:
        raise ValueError(f"symmetry: must be one of {list(SYMMETRY_MODES)}, got {mode!r}")
    if task not in MIRROR_FUNCTIONS:
        raise ValueError(f"symmetry: the task {task} has no mirror function; tasks with one: "
                         f"{', '.join(MIRROR_FUNCTIONS)}")
    return {"use_data_augmentation": mode in ("augmentation", "both"), "use_mirror_loss": mode in ("mirror_loss", "both"),
            "mirror_loss_coeff": float(mirror_loss_coeff), "data_augmentation_func": MIRROR_FUNCTIONS[task]}


#: toy/ZeroCost's sizes when a caller gives none: Anymal-D's observation and action (48 x 12).
ZERO_COST_SIZES = {"obs_dim": 48, "action_dim": 12}


def make_env(task: str, num_envs: int = 16, seed: int = 0, device: torch.device | str = "cpu", **kwargs: Any):
    """Build a VecEnv by name: a toy env (``"toy/PointReach"``, ``"toy/TwoGoalReach"``, ``"toy/ZeroCost"``), a
    Genesis task (``"genesis/Go2-Velocity-Flat"``, needs the ``genesis`` extra) or any gymnasium id (also
    ``module:Id``). ``kwargs`` go to the class's constructor (``ZeroCost`` needs ``obs_dim`` and ``action_dim``)."""
    if isinstance(task, str) and task.startswith("genesis/"):
        from .genesis_go2 import make_go2_env  # Genesis is optional: imported only when a Genesis task is asked for

        return make_go2_env(task, num_envs=num_envs, seed=seed, device=device, **kwargs)
    if isinstance(task, str) and task.startswith("toy/"):
        if task not in TOY_ENVS:
            raise ValueError(f"task: unknown toy environment {task!r}; choose one of {sorted(TOY_ENVS)}")
        return TOY_ENVS[task](num_envs=num_envs, device=device, seed=seed, **kwargs)
    return GymnasiumVecEnv(task, num_envs=num_envs, seed=seed, device=device, **kwargs)


def make_task_env(task: str, num_envs: int, seed: int, device: str, **kwargs: Any):
    """:func:`make_env` with the task defaults the command line and the studies share (toy/ZeroCost's sizes)."""
    if task == "toy/ZeroCost":
        kwargs = {**ZERO_COST_SIZES, **kwargs}
    return make_env(task, num_envs=num_envs, seed=seed, device=device, **kwargs)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


__all__ = ["MIRROR_FUNCTIONS", "SYMMETRY_MODES", "TOY_ENVS", "ZERO_COST_SIZES", "EpisodeStatistics",
           "GymnasiumVecEnv", "MissingDependencyError", "NonFiniteEnvError", "PointReachVecEnv", "TwoGoalReachVecEnv",
           "ZeroCostVecEnv", "make_env", "make_task_env", "seed_everything", "symmetry_cfg"]
