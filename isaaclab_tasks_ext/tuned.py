"""GenPO's settings for the eight IsaacLab benchmarks of the GenPO paper (arXiv 2505.18763, NeurIPS 2025).

Every other task gets :func:`isaaclab_tasks_ext.genpo_cfg.derive_genpo_cfg` of its own rsl_rl PPO config unchanged.
For these eight, the values the paper's appendix lists (Tables 2-10, "GenPO" column) are applied on top, as a
nested dict that goes through IsaacLab's own ``cfg.from_dict`` (the mechanism Hydra overrides use, type-checked).

Sources, named in the comments:

* ``paper Tn``: the paper's hyperparameter tables as transcribed in the project's reference notes
  (``genpo_paper_and_peers.md`` section 1.8, "Paper Tables 2-10"); the PDF itself was not re-read here.
  - Per task: actor/critic hidden sizes, learning rate, gamma, entropy coefficient; for Quadcopter also the time
    embedding (16) and its MLP ([128, 128]); for Ant the activation (mish).
  - Every task: 5 flow steps, p = 0.9, compression coefficient nu = 0.01 (Table 10), and clip 0.2, desired KL 0.01,
    gradient-norm 1.0, value coefficient 1.0 ("aligned with PPO").
* ``task cfg``: not in the paper; kept from the task's IsaacLab 2.3.2 rsl_rl config (``num_steps_per_env``,
  ``max_iterations``, epochs, mini-batches, lambda, schedule, normalisation, ``num_envs`` in the env config). The
  paper lists none of these; where a paper value equals the task's, the comment says so.
* ``project default``: neither the paper nor the task gives it; :mod:`genpo_rsl.config`'s default is used.

``-Play-`` variants share their training task's settings (``play.py`` must find the checkpoints under the same
``experiment_name``), and so do the same tasks under their IsaacLab 3.0 ids (:data:`ISAACLAB3_TASK_IDS`); for
IsaacLab 3.x's ``actor``/``critic`` schema the settings are translated by
:func:`isaaclab_tasks_ext.genpo_cfg.to_model_schema`.
"""

from __future__ import annotations

import copy
from typing import Any

# Settings the paper gives for every task.
_PAPER_ALL_TASKS: dict[str, dict[str, Any]] = {
    "policy": {
        "num_steps": 5,  # paper T10: "Diffusion steps 5" (all tasks)
        "mix": 0.9,  # paper T10: mixing p = 0.9 (all tasks; the released code uses 0.95)
        "time_embed_dim": 32,  # paper T10: time embedding 32 (all tasks but Quadcopter)
    },
    "algorithm": {
        "compression_coef": 0.01,  # paper T10: nu = 0.01 (all tasks)
        "clip_param": 0.2,  # paper T2-T9: clip 0.2 (= every task cfg)
        "desired_kl": 0.01,  # paper T2-T9: desired KL 0.01 (task cfg differs only for Shadow Hand: 0.016)
        "max_grad_norm": 1.0,  # paper T2-T9: grad-norm 1.0 (= every task cfg)
        "value_loss_coef": 1.0,  # paper T2-T9: value coefficient 1.0 (task cfg differs only for Humanoid: 2.0)
    },
}

# One row per benchmark (training task ids of IsaacLab 2.3.2): the paper's table, hidden sizes (actor = critic),
# learning rate, gamma, entropy coefficient, and any further policy values. Where the task's own config differs,
# the comment says so; every other value equals the task cfg's.
_PAPER_ROWS: dict[str, tuple[str, list[int], float, float, float, dict[str, Any]]] = {
    # Ant: obs 60, actions 8 (paper App. A); task cfg AntPPORunnerCfg (32 steps/env, 1000 iterations). Task cfg
    # lr 5e-4 and entropy 0.0, as the released code; activation mish: paper T2 / released Ant config (task: elu).
    "Isaac-Ant-v0": ("T2", [400, 200, 100], 1.0e-3, 0.99, 0.01, {"activation": "mish"}),
    # Humanoid: obs 87, actions 21; task cfg HumanoidPPORunnerCfg (32 steps/env, 1000 iterations; entropy 0.0).
    "Isaac-Humanoid-v0": ("T3", [400, 200, 100], 5.0e-4, 0.99, 0.01, {}),
    # Franka lift: obs 36, actions 8; task cfg LiftCubePPORunnerCfg (24 steps/env, 1500 iterations).
    "Isaac-Lift-Cube-Franka-v0": ("T4", [256, 128, 64], 1.0e-4, 0.98, 0.006, {}),
    # Quadcopter: obs 12, actions 4; task cfg QuadcopterPPORunnerCfg (24 steps/env, 200 iterations; entropy 0.0).
    # Paper T10: time embedding 16 and time MLP [128, 128] for Quadcopter.
    "Isaac-Quadcopter-Direct-v0": ("T5", [64, 64], 5.0e-4, 0.99, 0.01,
                                   {"time_embed_dim": 16, "time_hidden_dims": [128, 128]}),
    # Anymal-D flat: obs 48, actions 12; task cfg AnymalDFlatPPORunnerCfg (24 steps/env, 300 iterations).
    "Isaac-Velocity-Flat-Anymal-D-v0": ("T6", [128, 128, 128], 1.0e-3, 0.99, 0.005, {}),
    # Go2 rough: obs 235, actions 12; task cfg UnitreeGo2RoughPPORunnerCfg (24 steps/env, 1500 iterations).
    "Isaac-Velocity-Rough-Unitree-Go2-v0": ("T7", [512, 256, 128], 1.0e-3, 0.99, 0.01, {}),
    # H1 rough: obs 256, actions 19; task cfg H1RoughPPORunnerCfg (24 steps/env, 3000 iterations).
    "Isaac-Velocity-Rough-H1-v0": ("T8", [512, 256, 128], 1.0e-3, 0.99, 0.01, {}),
    # Shadow Hand: obs 157, actions 20; task cfg ShadowHandPPORunnerCfg (16 steps/env, 10000 iterations, 8192 envs).
    "Isaac-Repose-Cube-Shadow-Direct-v0": ("T9", [512, 512, 256, 128], 5.0e-4, 0.99, 0.005, {}),
}

#: Per-task values, applied on top of :data:`_PAPER_ALL_TASKS` (built from the rows above).
_PAPER_PER_TASK: dict[str, dict[str, dict[str, Any]]] = {
    task: {"policy": {"actor_hidden_dims": list(hidden), "critic_hidden_dims": list(hidden), **extra},
           "algorithm": {"learning_rate": lr, "gamma": gamma, "entropy_coef": entropy}}
    for task, (_table, hidden, lr, gamma, entropy, extra) in _PAPER_ROWS.items()
}

#: The paper's eight benchmarks (training task ids).
PAPER_TASKS: tuple[str, ...] = tuple(_PAPER_PER_TASK)

#: Observation and action sizes of the eight benchmarks (paper App. A; cross-checked against IsaacLab 2.3.2's env
#: configs in the project's reference notes).
PAPER_TASK_DIMS: dict[str, tuple[int, int]] = {
    "Isaac-Ant-v0": (60, 8),
    "Isaac-Humanoid-v0": (87, 21),
    "Isaac-Lift-Cube-Franka-v0": (36, 8),
    "Isaac-Quadcopter-Direct-v0": (12, 4),
    "Isaac-Velocity-Flat-Anymal-D-v0": (48, 12),
    "Isaac-Velocity-Rough-Unitree-Go2-v0": (235, 12),
    "Isaac-Velocity-Rough-H1-v0": (256, 19),
    "Isaac-Repose-Cube-Shadow-Direct-v0": (157, 20),
}


#: The same benchmarks' ids in IsaacLab 3.0 (tasks renamed, no ``-v0``; ``Play`` variants replaced by a play mode),
#: None where IsaacLab 3.0.0 has no such task (its ``isaaclab_tasks`` registers no quadcopter).
ISAACLAB3_TASK_IDS: dict[str, str | None] = {
    "Isaac-Ant-v0": "Isaac-Ant",
    "Isaac-Humanoid-v0": "Isaac-Humanoid",
    "Isaac-Lift-Cube-Franka-v0": "IsaacContrib-Lift-Cube-Franka",
    "Isaac-Quadcopter-Direct-v0": None,
    "Isaac-Velocity-Flat-Anymal-D-v0": "Isaac-Velocity-Flat-AnymalD",
    "Isaac-Velocity-Rough-Unitree-Go2-v0": "Isaac-Velocity-Rough-UnitreeGo2",
    "Isaac-Velocity-Rough-H1-v0": "Isaac-Velocity-Rough-H1",
    "Isaac-Repose-Cube-Shadow-Direct-v0": "Isaac-Reorient-Cube-Shadow-Direct",
}


_PAPER_TASK_OF_ISAACLAB3 = {new: old for old, new in ISAACLAB3_TASK_IDS.items() if new is not None}


def training_task_id(task_id: str) -> str:
    """``Isaac-X-Play-v0`` -> ``Isaac-X-v0`` (a Play variant shares its training task's settings)."""
    return task_id.split(":")[-1].replace("-Play-", "-")


def paper_task_id(task_id: str) -> str:
    """The IsaacLab 2.3 training id a task id stands for: ``-Play-`` variants and IsaacLab 3.0 ids are mapped to
    it (``Isaac-Velocity-Flat-AnymalD`` -> ``Isaac-Velocity-Flat-Anymal-D-v0``); any other id is returned as is."""
    task_id = training_task_id(task_id)
    return _PAPER_TASK_OF_ISAACLAB3.get(task_id, task_id)


def tuned_overrides(task_id: str) -> dict[str, dict[str, Any]] | None:
    """The nested override dict (``{"policy": {...}, "algorithm": {...}}``, the ``policy`` schema) for a paper task
    (any id :func:`paper_task_id` maps to one), else None."""
    per_task = _PAPER_PER_TASK.get(paper_task_id(task_id))
    if per_task is None:
        return None
    merged = copy.deepcopy(_PAPER_ALL_TASKS)
    for section, values in per_task.items():
        merged.setdefault(section, {}).update(copy.deepcopy(values))
    return merged


def apply_tuned(cfg, task_id: str) -> bool:
    """Apply the paper's settings to a GenPO runner cfg in place (IsaacLab's ``from_dict``), in the cfg's schema.
    Returns whether the task is one of the paper's."""
    from .genpo_cfg import GenPOModelRunnerCfg, to_model_schema

    overrides = tuned_overrides(task_id)
    if overrides is None:
        return False
    cfg.from_dict(to_model_schema(overrides) if isinstance(cfg, GenPOModelRunnerCfg) else overrides)
    return True


def apply_recipe(cfg, name: str) -> None:
    """Apply a GenPO recipe (``genpo_rsl.config.RECIPES``: "paper", "robot") to a GenPO runner cfg in place, in the
    cfg's schema (IsaacLab's ``from_dict``). A cfg with symmetry augmentation on keeps its own values of the fields
    ``genpo_rsl.config.TASK_VALUES_WITH_AUGMENTATION`` (the task's learning epochs)."""
    from genpo_rsl.config import recipe

    from .genpo_cfg import GenPOModelRunnerCfg, to_model_schema

    symmetry = getattr(cfg.algorithm, "symmetry_cfg", None)
    sections = recipe(name, augmentation=bool(symmetry is not None and symmetry.use_data_augmentation))
    cfg.from_dict(to_model_schema(sections) if isinstance(cfg, GenPOModelRunnerCfg) else sections)
