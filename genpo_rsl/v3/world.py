"""rsl_rl 3.x (one ``ActorCritic`` policy, logging on the runner): what the shared code needs to know of this world.

``genpo_rsl.world.adapter()`` returns this module when rsl-rl-lib 3.x is installed; ``genpo_rsl.v5.world`` has the
same functions for 4.x/5.x.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

MAJOR = 3
POLICY_SECTION = "policy"
POLICY_STATE_KEY = "model_state_dict"
ACTOR_NORMALIZATION_FLAG = "actor_obs_normalization"
WANDB_LOGGER = "wandb"
#: Keys of the 3.x ActorCritic's state dict that belong to the critic.
CRITIC_PREFIXES = ("critic.", "critic_obs_normalizer.")
#: The same setting under each world's name: (5.x model, field) -> 3.x policy field.
V5_TO_V3_NAMES = {("actor", "hidden_dims"): "actor_hidden_dims", ("critic", "hidden_dims"): "critic_hidden_dims",
             ("actor", "obs_normalization"): "actor_obs_normalization",
             ("critic", "obs_normalization"): "critic_obs_normalization"}

SHARED_ACTOR_CRITIC = True


def is_actor_key(key: str) -> bool:
    """Whether a key of the ActorCritic's state dict is the actor's (not the critic's or its normaliser's)."""
    return not key.startswith(CRITIC_PREFIXES)


def register() -> None:
    """Attach GenPO's classes to rsl_rl's packages: 3.x ``eval``s class names inside its runner module."""
    import rsl_rl.algorithms
    import rsl_rl.modules

    from . import GenPO, GenPOActorCritic

    rsl_rl.modules.GenPOActorCritic = GenPOActorCritic
    rsl_rl.algorithms.GenPO = GenPO


def runner_sections(algo: str, settings: dict[str, Any], algorithm: dict[str, Any], flow: dict[str, Any]) -> dict:
    """The ``algorithm`` and ``policy`` sections of a 3.x runner config.

    rsl_rl 3.x eval()s class names inside its runner module: only names reachable from there resolve, and
    :func:`register` puts GenPO's classes into rsl_rl.modules / rsl_rl.algorithms.
    """
    algorithm = {**algorithm, "class_name": "rsl_rl.algorithms.GenPO" if algo == "genpo" else "PPO"}
    policy = {
        "actor_hidden_dims": list(settings["hidden_dims"]),
        "critic_hidden_dims": list(settings["hidden_dims"]),
        "activation": settings["activation"],
        "actor_obs_normalization": settings["obs_normalization"],
        "critic_obs_normalization": settings["obs_normalization"],
    }
    if algo == "genpo":
        policy.update(class_name="rsl_rl.modules.GenPOActorCritic", **flow)
    else:
        policy.update(class_name="ActorCritic", init_noise_std=settings["init_noise_std"])
    return {"algorithm": algorithm, "policy": policy}


def override_path(model: str, field: str, style: str, flow_fields) -> str:
    """The config path of a model field (5.x name) for an override hint: 3.x keeps everything under ``policy``."""
    return "policy." + V5_TO_V3_NAMES.get((model, field), field)


# ---------------------------------------------------------------------------------------------- a built runner
def policy_module(runner: Any) -> nn.Module:
    """The module that holds the policy: the ActorCritic."""
    return runner.alg.policy


actor_module = policy_module


def live_models(runner: Any) -> dict[str, nn.Module]:
    return {"policy": runner.alg.policy}


def normalizing_models(runner: Any) -> list[nn.Module]:
    return [runner.alg.policy]


def actor_parameters(runner: Any) -> list[nn.Parameter]:
    return [p for name, p in runner.alg.policy.named_parameters() if not name.startswith(CRITIC_PREFIXES)]


def set_mode(runner: Any, train: bool) -> None:
    runner.train_mode() if train else runner.eval_mode()


def act_function(module: nn.Module, deterministic: bool) -> Callable:
    """``obs -> action``: GenPO's ActorCritic takes the noise mode; a Gaussian ActorCritic's mean or a sample."""
    if hasattr(module, "flow"):
        return lambda obs: module.act_inference(obs, deterministic=deterministic)
    return module.act_inference if deterministic else module.act


def gaussian_log_prob(module: nn.Module, obs, actions: torch.Tensor) -> torch.Tensor:
    normalized = module.actor_obs_normalizer(module.get_actor_obs(obs))
    update = getattr(module, "_update_distribution", None) or module.update_distribution
    update(normalized)
    return module.get_actions_log_prob(actions)


def log_dir(runner: Any) -> str | None:
    return runner.log_dir


def writer(runner: Any) -> Any:
    return getattr(runner, "writer", None)


def after_each_iteration(runner: Any, hook: Callable[[], None]) -> None:
    """Call ``hook`` once per iteration, after the update and the counter (the 3.x runner's own ``log``)."""
    log = runner.log

    def log_then_hook(*args, **kwargs):
        log(*args, **kwargs)
        hook()

    runner.log = log_then_hook


def log_diagnostics_apart(runner: Any, keys: tuple[str, ...], emit: Callable[[dict, int], None]) -> None:
    """Take ``keys`` out of the losses the 3.x runner's ``log`` prints and tags (``Loss/<key>``), and hand them to
    ``emit(diagnostics, iteration)`` after it."""
    log = runner.log

    def log_apart(locs: dict, *args, **kwargs):
        losses = dict(locs.get("loss_dict") or {})
        diagnostics = {key: losses.pop(key) for key in keys if key in losses}
        log({**locs, "loss_dict": losses}, *args, **kwargs)
        emit(diagnostics, locs.get("it", 0))

    runner.log = log_apart


def checkpoint_dict(runner: Any) -> dict:
    saved = {"model_state_dict": runner.alg.policy.state_dict(),
             "optimizer_state_dict": runner.alg.optimizer.state_dict()}
    if getattr(runner.alg, "rnd", None):
        saved["rnd_state_dict"] = runner.alg.rnd.state_dict()
        saved["rnd_optimizer_state_dict"] = runner.alg.rnd_optimizer.state_dict()
    return saved


def upload(runner: Any, path: str) -> None:
    if getattr(runner, "logger_type", None) in ("neptune", "wandb") and not runner.disable_logs:
        runner.writer.save_model(path, runner.current_learning_iteration)


def load_plan(runner: Any, args: tuple, kwargs: dict) -> tuple[dict | None, bool, bool]:
    """The 3.x runner checks every model strictly and always restores the iteration."""
    return None, True, True


def after_load(runner: Any, args: tuple, kwargs: dict) -> None:
    """3.x restores the optimizer's rate but not PPO's ``learning_rate``, which its adaptive schedule writes back
    into the optimizer; copy it over, as 5.x does."""
    if bool(kwargs.get("load_optimizer", args[0] if args else True)):
        runner.alg.learning_rate = runner.alg.optimizer.param_groups[0]["lr"]


def set_multi_process(runner: Any, multi_gpu: dict) -> None:
    runner.multi_gpu_cfg = multi_gpu
