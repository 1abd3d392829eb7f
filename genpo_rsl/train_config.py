"""Runner configurations for the command line and the benchmarks: per-task defaults, in either rsl_rl world.

GenPO and the Gaussian PPO baseline share every setting (env, steps, network sizes, PPO hyperparameters) except the
policy itself, so a comparison between them is fair by construction.
"""

from __future__ import annotations

import copy
from typing import Any

from .world import adapter
from .config import FLOW_DEFAULTS, GENPO_ALGORITHM_DEFAULTS, TASK_VALUES_WITH_AUGMENTATION, recipe

ALGOS = ("genpo", "ppo")

# Settings common to every task; TASK_DEFAULTS overrides them per task.
BASE_SETTINGS: dict[str, Any] = {
    "num_envs": 16,
    "num_steps_per_env": 64,
    "max_iterations": 300,
    "save_interval": 50,
    "hidden_dims": [256, 256],
    "activation": "elu",
    "obs_normalization": True,
    "ppo": {
        "num_learning_epochs": 5,
        "num_mini_batches": 4,
        "clip_param": 0.2,
        "gamma": 0.99,
        "lam": 0.95,
        "value_loss_coef": 1.0,
        "entropy_coef": 0.0,
        "learning_rate": 3e-4,
        "max_grad_norm": 1.0,
        "use_clipped_value_loss": True,
        "schedule": "adaptive",
        "desired_kl": 0.01,
    },
    # Training rewards divided by the running std of their discounted return, then clipped (gymnasium's
    # NormalizeReward / ClipReward, gamma = PPO's gamma); logged and evaluated returns stay raw. Gymnasium tasks only.
    "normalize_reward": False,
    "clip_reward": None,
    "flow": {},  # GenPO policy fields beyond FLOW_DEFAULTS
    "genpo": {},  # GenPO algorithm fields beyond GENPO_ALGORITHM_DEFAULTS (and PPO fields set for GenPO only)
    "init_noise_std": 1.0,  # Gaussian PPO's initial action std
}

# Gymnasium MuJoCo, shared by GenPO and PPO (bench/returns.py measures them at 1M env steps; the numbers are in
# docs/results/returns/ and README "Evidence"). rsl_rl's adaptive rule (desired_kl 0.01) adapts on every minibatch
# against the rollout policy: with 16 x 64 steps and 5 epochs x 4 minibatches it sawed inside every update (early
# minibatches raise the rate, late epochs cut it), and the rate sat at its 1e-5 floor for half of each update.
# So: CleanRL's MuJoCo recipe in rsl_rl's terms (2,048 samples per update, 10 epochs, lr 3e-4 fixed, training rewards
# normalised by the discounted return's std and clipped to +-10), with 8 minibatches of 256 instead of CleanRL's 32
# of 64 (PPO scored alike with both; 8 minibatches halve PPO's update time and cut GenPO's flow passes 4x). The
# adaptive rule stays available (ppo.schedule = "adaptive").
# GenPO's base noise on MuJoCo is state-dependent (noise_scale="state"): with the paper's fixed N(0, I) base the
# executed action can sharpen only by spreading the two halves apart, which compression fights; at 1M steps the
# state-dependent scale beat the fixed base on Hopper and Walker2d and matched it on HalfCheetah, with no poor seed,
# at the same cost per iteration. The paper's base stays one field away (flow.noise_scale = "fixed").
MUJOCO_SETTINGS: dict[str, Any] = {
    "num_envs": 16,
    "num_steps_per_env": 128,  # 2,048 env steps per iteration (CleanRL: 1 env x 2,048)
    "max_iterations": 50,  # genpo-train's default, 102k steps (minutes); the returns study trains 1M (489 iterations)
    "normalize_reward": True,
    "clip_reward": 10.0,
    "ppo": {"num_learning_epochs": 10, "num_mini_batches": 8, "schedule": "fixed", "learning_rate": 3e-4},
    "flow": {"noise_scale": "state"},
}


def _mujoco(**extra: Any) -> dict[str, Any]:
    settings = copy.deepcopy(MUJOCO_SETTINGS)
    for key, value in extra.items():
        settings[key] = {**settings[key], **value} if isinstance(value, dict) else value
    return settings


def recipe_settings(name: str) -> dict[str, Any]:
    """A GenPO recipe (:data:`genpo_rsl.config.RECIPES`) as task settings: its policy fields under ``flow``, its
    algorithm fields (GenPO's own, and PPO's where GenPO's value differs) under ``genpo``, which only GenPO reads."""
    chosen = recipe(name)
    return {"flow": dict(chosen.get("policy", {})), "genpo": dict(chosen.get("algorithm", {}))}


def with_augmentation(settings: dict[str, Any]) -> dict[str, Any]:
    """Task settings for a run with symmetry augmentation: GenPO takes the task's (PPO's) values of the recipe
    fields :data:`genpo_rsl.config.TASK_VALUES_WITH_AUGMENTATION` (only recipes set them in the genpo section).

    Args:
        settings: :func:`task_settings`' result (not changed; a copy is returned).
    """
    out = copy.deepcopy(settings)
    out["genpo"] = {k: v for k, v in out.get("genpo", {}).items() if k not in TASK_VALUES_WITH_AUGMENTATION}
    return out


def _robot(**task: Any) -> dict[str, Any]:
    """A robot task's settings: ``task``'s own, with GenPO's robot recipe in the flow/genpo/ppo sections."""
    settings = copy.deepcopy(task)
    for section, values in recipe_settings("robot").items():
        settings[section] = {**settings.get(section, {}), **values}
    return settings


# Budgets are sized for a 2-core CPU: a few minutes to tens of minutes per run.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "HalfCheetah-v5": _mujoco(),
    "Hopper-v5": _mujoco(),
    "Walker2d-v5": _mujoco(),
    "Ant-v5": _mujoco(),
    "Humanoid-v5": _mujoco(hidden_dims=[256, 256, 256]),
    "Pendulum-v1": {"max_iterations": 100, "num_steps_per_env": 200, "hidden_dims": [64, 64]},
    "toy/PointReach": {"num_envs": 64, "num_steps_per_env": 50, "max_iterations": 60, "hidden_dims": [64, 64],
                   "ppo": {"learning_rate": 1e-3}},
    "toy/TwoGoalReach": {"num_envs": 256, "num_steps_per_env": 8, "max_iterations": 100, "hidden_dims": [64, 64],
                     "ppo": {"learning_rate": 1e-3}},
    "toy/ZeroCost": {"num_envs": 1024, "num_steps_per_env": 24, "max_iterations": 10},
    # Genesis' Go2 example's PPO settings (rsl_rl schema): 24 steps/env, 512-256-128 ELU, lr 1e-3, entropy 0.01.
    # 1024 envs (the example uses 4096), a CPU-sized budget (docs/results/go2 has the measured cost per iteration).
    # GenPO gets the robot recipe (genpo_rsl.config.RECIPES; --recipe paper gives the paper's GenPO).
    "genesis/Go2-Velocity-Flat": _robot(num_envs=1024, num_steps_per_env=24, max_iterations=100, save_interval=25,
                                        hidden_dims=[512, 256, 128],
                                        ppo={"learning_rate": 1e-3, "entropy_coef": 0.01}),
}
TASK_DEFAULTS["genesis/Go2-Velocity-Flat-Omni"] = TASK_DEFAULTS["genesis/Go2-Velocity-Flat"]  # sampled commands


def task_settings(task: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """BASE_SETTINGS, then the task's defaults, then ``overrides`` (nested dicts merged key by key)."""
    settings = copy.deepcopy(BASE_SETTINGS)
    for layer in (TASK_DEFAULTS.get(task, {}), overrides or {}):
        for key, value in layer.items():
            if key not in settings:
                raise ValueError(f"unknown setting {key!r}; allowed: {sorted(settings)}")
            if isinstance(settings[key], dict):
                settings[key].update(value)
            else:
                settings[key] = copy.deepcopy(value)
    return settings


def env_kwargs(task: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The env-constructor arguments ``settings`` imply for ``task`` (``genpo_rsl.envs.make_env(task, **these)``)."""
    wants = settings["normalize_reward"] or settings["clip_reward"] is not None
    if task.startswith(("toy/", "genesis/")):
        if wants:
            raise ValueError(f"normalize_reward / clip_reward: only gymnasium tasks support them, not {task!r}; "
                             "set normalize_reward=False and clip_reward=None")
        return {}
    if not wants:
        return {}
    return {"normalize_reward": bool(settings["normalize_reward"]), "reward_gamma": float(settings["ppo"]["gamma"]),
            "clip_reward": settings["clip_reward"]}


def build_runner_cfg(algo: str, settings: dict[str, Any], experiment_name: str = "genpo",
                     logger: str = "tensorboard", major: int | None = None) -> dict[str, Any]:
    """The ``train_cfg`` dict that rsl_rl's stock ``OnPolicyRunner`` takes, for the installed (or given) world."""
    if algo not in ALGOS:
        raise ValueError(f"algo: must be one of {list(ALGOS)}, got {algo!r}")
    cfg: dict[str, Any] = {
        "num_steps_per_env": settings["num_steps_per_env"],
        "max_iterations": settings["max_iterations"],
        "save_interval": settings["save_interval"],
        "experiment_name": experiment_name,
        "logger": logger,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
    }
    algorithm = dict(settings["ppo"])
    flow = {**FLOW_DEFAULTS, **settings["flow"]}
    if algo == "genpo":
        algorithm.update({**GENPO_ALGORITHM_DEFAULTS, **settings["genpo"]})
    world = adapter(major)
    cfg.update(world.runner_sections(algo, settings, algorithm, flow))
    return cfg
