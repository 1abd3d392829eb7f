"""rsl_rl 4.x/5.x (actor and critic models, a logger object): what the shared code needs to know of this world.

``genpo_rsl.world.adapter()`` returns this module when rsl-rl-lib >= 4 is installed; ``genpo_rsl.v3.world`` has the
same functions for rsl-rl-lib 3.x. Shared code (runner, checkpoints, demos, configs) calls these instead of asking
which world it is in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

MAJOR = 5
#: The policy section of a runner config, and the name the checkpoint stores the policy's state dict under.
POLICY_SECTION = "actor"
POLICY_STATE_KEY = "actor_state_dict"
#: The policy flag that lets the actor's observation statistics update.
ACTOR_NORMALIZATION_FLAG = "obs_normalization"
#: The runner config's ``logger`` value for Weights & Biases.
WANDB_LOGGER = {"class_name": "WandbLogWriter"}

#: Whether one module (and one state dict) holds actor and critic.
SHARED_ACTOR_CRITIC = False


def is_actor_key(key: str) -> bool:
    """Whether a key of the policy module's state dict is the actor's (all of the 5.x actor model's are)."""
    return True


def register() -> None:
    """Attach GenPO's classes to rsl_rl's packages, so "rsl_rl.algorithms.GenPO" resolves here too."""
    import rsl_rl.algorithms
    import rsl_rl.modules

    from . import GenPO, GenPOActor

    rsl_rl.modules.GenPOActor = GenPOActor
    rsl_rl.algorithms.GenPO = GenPO


def runner_sections(algo: str, settings: dict[str, Any], algorithm: dict[str, Any], flow: dict[str, Any]) -> dict:
    """The model and algorithm sections of a runner config (``algorithm``, ``actor``, ``critic``)."""
    net = {"hidden_dims": list(settings["hidden_dims"]), "activation": settings["activation"]}
    algorithm = {**algorithm, "class_name": "genpo_rsl.v5:GenPO" if algo == "genpo" else "rsl_rl.algorithms:PPO"}
    critic = {"class_name": "rsl_rl.models:MLPModel", **net, "obs_normalization": settings["obs_normalization"]}
    if algo == "genpo":
        actor = {"class_name": "genpo_rsl.v5:GenPOActor", **net, "obs_normalization": settings["obs_normalization"],
                 **flow}
    else:
        actor = {**critic, "distribution_cfg": {"class_name": "rsl_rl.modules:GaussianDistribution",
                                                "init_std": settings["init_noise_std"]}}
    return {"algorithm": algorithm, "actor": actor, "critic": critic}


def override_path(model: str, field: str, style: str, flow_fields) -> str:
    """The config path of a model field (5.x name) for an override hint."""
    if style == "genpo" and model == "actor" and field in flow_fields:
        return "policy." + field  # genpo-train's name for a flow field in both worlds
    return f"{model}.{field}"


# ---------------------------------------------------------------------------------------------- a built runner
def policy_module(runner: Any) -> nn.Module:
    """The module that holds the policy: the actor model."""
    return runner.alg.get_policy()


def actor_module(runner: Any) -> nn.Module:
    """The raw (uncompiled) actor model, whose parameters are the policy's."""
    return getattr(runner.alg, "_raw_actor", runner.alg.actor)


def live_models(runner: Any) -> dict[str, nn.Module]:
    """The models a checkpoint restores, by their checkpoint name."""
    return {"actor": actor_module(runner), "critic": getattr(runner.alg, "_raw_critic", runner.alg.critic)}


def normalizing_models(runner: Any) -> list[nn.Module]:
    """The models whose observation normalisers see the actor's and critic's observations."""
    return list(live_models(runner).values())


def actor_parameters(runner: Any) -> list[nn.Parameter]:
    return list(actor_module(runner).parameters())


def set_mode(runner: Any, train: bool) -> None:
    """Models to train or eval mode (the 5.x algorithm switches its models)."""
    runner.alg.train_mode() if train else runner.alg.eval_mode()


def act_function(module: nn.Module, deterministic: bool) -> Callable:
    """``obs -> action`` of the policy module: GenPO's actor (zero noise or a sample) or rsl_rl's MLPModel."""
    if hasattr(module, "flow"):
        return lambda obs: module.act(obs, deterministic=deterministic)
    return lambda obs: module(obs, stochastic_output=not deterministic)


def gaussian_log_prob(module: nn.Module, obs, actions: torch.Tensor) -> torch.Tensor:
    """log pi(actions | obs) of rsl_rl's Gaussian actor model, (B,)."""
    module.distribution.update(module.mlp(module.get_latent(obs)))
    return module.distribution.log_prob(actions)


def log_dir(runner: Any) -> str | None:
    return runner.logger.log_dir


def writer(runner: Any) -> Any:
    return runner.logger.writer


def after_each_iteration(runner: Any, hook: Callable[[], None]) -> None:
    """Call ``hook`` once per iteration, after the update and the iteration counter (the logger's ``log``)."""
    log = runner.logger.log

    def log_then_hook(*args, **kwargs):
        log(*args, **kwargs)
        hook()

    runner.logger.log = log_then_hook


def log_diagnostics_apart(runner: Any, keys: tuple[str, ...], emit: Callable[[dict, int], None]) -> None:
    """Take ``keys`` out of the losses the stock logger prints ("Mean <key> loss") and tags (``Loss/<key>``), and
    hand them to ``emit(diagnostics, iteration)`` after it."""
    log = runner.logger.log

    def log_apart(*args, **kwargs):
        losses = dict(kwargs.get("loss_dict") or {})
        diagnostics = {key: losses.pop(key) for key in keys if key in losses}
        log(*args, **{**kwargs, "loss_dict": losses})
        emit(diagnostics, kwargs.get("it", 0))

    runner.logger.log = log_apart


def checkpoint_dict(runner: Any) -> dict:
    """The dict the stock ``save`` writes (models, optimizer, RND), without ``iter`` and ``infos``."""
    return runner.alg.save()


def upload(runner: Any, path: str) -> None:
    """Hand a saved checkpoint to wandb/neptune, as the stock ``save`` does."""
    runner.logger.save_model(path, runner.current_learning_iteration)


def load_plan(runner: Any, args: tuple, kwargs: dict) -> tuple[dict | None, bool, bool]:
    """(models to check or None for all, strict, whether the training state is restored) of a ``load`` call."""
    load_cfg = kwargs.get("load_cfg", args[0] if args else None)
    strict = bool(kwargs.get("strict", args[1] if len(args) > 1 else True))
    models = None
    if load_cfg is not None:  # only the models that will be loaded
        models = {name: model for name, model in live_models(runner).items() if load_cfg.get(name)}
    return models, strict, load_cfg is None or bool(load_cfg.get("iteration"))


def after_load(runner: Any, args: tuple, kwargs: dict) -> None:
    """Nothing: 5.x restores PPO's learning rate with the optimizer."""


def set_multi_process(runner: Any, multi_gpu: dict) -> None:
    runner.cfg["multi_gpu"] = multi_gpu
