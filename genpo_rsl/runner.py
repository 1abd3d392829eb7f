"""``GenPORunner``: the installed rsl_rl's ``OnPolicyRunner`` plus evaluation, export and checked loading.

The base class is chosen when this module is imported: whatever ``rsl_rl.runners.OnPolicyRunner`` the installed
rsl-rl-lib (3.x or 4.x/5.x) provides. ``GenPORunner`` only adds methods and wraps ``save``/``load``; training is the
stock runner's. Every convenience is also a module-level function taking any ``OnPolicyRunner`` (IsaacLab's
scripts build the stock class), e.g. ``genpo_rsl.runner.evaluate(runner, 10)``. They work for GenPO and for rsl_rl's
own Gaussian PPO policies, so baselines can be evaluated the same way.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
from tensordict import TensorDict

from rsl_rl.runners import OnPolicyRunner

from .checkpoint import check_loaded_dict, genpo_stamp, read_checkpoint
from .compat import rsl_rl_major
from .export import DeterministicFlowPolicy

EXPORT_FORMATS = ("jit", "onnx")


# ---------------------------------------------------------------------------------------------- helpers
def _is_v3(runner: Any) -> bool:
    return hasattr(runner.alg, "policy") and not hasattr(runner.alg, "actor")


def _policy_module(runner: Any) -> nn.Module:
    """The module holding the policy: the 3.x ActorCritic, or the 4.x/5.x actor model."""
    return runner.alg.policy if _is_v3(runner) else runner.alg.get_policy()


def _set_eval(runner: Any) -> None:
    if hasattr(runner, "eval_mode"):  # 3.x runner
        runner.eval_mode()
    else:  # 5.x: the algorithm switches its models
        runner.alg.eval_mode()


def _set_train(runner: Any) -> None:
    if hasattr(runner, "train_mode"):  # 3.x runner
        runner.train_mode()
    else:
        runner.alg.train_mode()


def _live_models(runner: Any) -> dict[str, nn.Module]:
    if _is_v3(runner):
        return {"policy": runner.alg.policy}
    return {"actor": runner.alg._raw_actor if hasattr(runner.alg, "_raw_actor") else runner.alg.actor,
            "critic": runner.alg._raw_critic if hasattr(runner.alg, "_raw_critic") else runner.alg.critic}


# ---------------------------------------------------------------------------------------------- inference
def inference_policy(runner: Any, deterministic: bool = True, device: str | torch.device | None = None
                     ) -> Callable[[TensorDict], torch.Tensor]:
    """A callable ``obs TensorDict -> (num_envs, A) action`` in either rsl_rl world, policy in eval mode.

    ``deterministic``: GenPO at zero base noise / a Gaussian policy's mean; otherwise a sample (for GenPO the
    average of a sampled dummy action, i.e. what the env receives in training). Runs under ``torch.no_grad``.
    """
    _set_eval(runner)
    module = _policy_module(runner)
    if device is not None:
        module.to(device)
    if _is_v3(runner):
        if hasattr(module, "flow"):  # GenPOActorCritic: act_inference takes the noise mode
            def act(obs: TensorDict) -> torch.Tensor:
                return module.act_inference(obs, deterministic=deterministic)
        elif deterministic:
            act = module.act_inference
        else:
            act = module.act  # Gaussian ActorCritic: a sample
    else:
        if hasattr(module, "flow"):  # GenPOActor
            def act(obs: TensorDict) -> torch.Tensor:
                return module.act(obs, deterministic=deterministic)
        else:  # rsl_rl MLPModel
            def act(obs: TensorDict) -> torch.Tensor:
                return module(obs, stochastic_output=not deterministic)

    target = device if device is not None else runner.device

    def policy(obs: TensorDict) -> torch.Tensor:
        with torch.no_grad():
            return act(obs.to(target))

    return policy


def evaluate(runner: Any, num_episodes: int = 10, deterministic: bool = True, max_steps: int | None = None,
             reset: bool = True) -> dict[str, Any]:
    """Mean and std of the undiscounted return of ``num_episodes`` complete episodes on ``runner.env``.

    Rewards and dones are accumulated here from ``env.step`` (raw env rewards, no PPO bootstrap terms). Only
    complete episodes count: if the env has ``reset()`` (IsaacLab's wrapper) and ``reset`` is true it is reset
    first; otherwise each env's episode in progress is skipped. Each env contributes its first
    ``ceil(num_episodes / num_envs)`` complete episodes and the result takes them in env order, so short episodes
    are not favoured over long ones. Training can continue afterwards (``learn`` re-reads the observations).

    Returns ``{"mean", "std", "num_episodes", "returns", "lengths", "steps"}``.
    """
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes: must be an integer >= 1, got {num_episodes!r}")
    env = runner.env
    was_training = _policy_module(runner).training
    policy = inference_policy(runner, deterministic)  # switches to eval mode
    num_envs = env.num_envs
    per_env = math.ceil(num_episodes / num_envs)
    if max_steps is None:
        episode = getattr(env, "max_episode_length", None)
        episode = int(episode.max()) if isinstance(episode, torch.Tensor) else episode
        max_steps = (per_env + 1) * int(episode) + 1 if episode else 100_000

    device = runner.device
    if reset and callable(getattr(env, "reset", None)):
        result = env.reset()
        obs = result[0] if isinstance(result, tuple) else result
        counting = torch.ones(num_envs, dtype=torch.bool, device=device)
    else:
        obs = env.get_observations()
        counting = torch.zeros(num_envs, dtype=torch.bool, device=device)  # skip the episodes in progress
    returns = torch.zeros(num_envs, dtype=torch.float64, device=device)
    lengths = torch.zeros(num_envs, dtype=torch.long, device=device)
    done_count = torch.zeros(num_envs, dtype=torch.long, device=device)
    finished: list[list[tuple[float, int]]] = [[] for _ in range(num_envs)]
    steps = 0
    try:
        # Episodes are taken in env order (env 0's, then env 1's, ...), so the first `needed` envs must finish theirs.
        needed = math.ceil(num_episodes / per_env)
        while not bool((done_count[:needed] >= per_env).all()):
            if steps >= max_steps:
                raise RuntimeError(
                    f"evaluate: the episodes did not finish within max_steps={max_steps} env steps "
                    f"({int(done_count.clamp(max=per_env).sum())} of {num_episodes} done). Pass a larger max_steps "
                    "(episodes may never terminate).")
            actions = policy(obs)
            obs, rewards, dones, _ = env.step(actions.to(env.device))
            rewards = rewards.to(device).view(-1).to(torch.float64)
            dones = dones.to(device).view(-1).bool()
            returns += rewards
            lengths += 1
            steps += 1
            for index in (dones & counting).nonzero(as_tuple=False).view(-1).tolist():
                if len(finished[index]) < per_env:
                    finished[index].append((float(returns[index]), int(lengths[index])))
            done_count += (dones & counting).long()
            returns[dones] = 0.0
            lengths[dones] = 0
            counting |= dones
    finally:
        if was_training:
            _set_train(runner)
    episodes = [episode for per in finished for episode in per][:num_episodes]
    values = torch.tensor([r for r, _ in episodes], dtype=torch.float64)
    return {
        "mean": float(values.mean()),
        "std": float(values.std(unbiased=False)) if len(episodes) > 1 else 0.0,
        "num_episodes": len(episodes),
        "returns": [r for r, _ in episodes],
        "lengths": [n for _, n in episodes],
        "steps": steps,
    }


# ---------------------------------------------------------------------------------------------- export
class _GaussianMeanPolicy(nn.Module):
    """rsl_rl 3.x ActorCritic's deterministic policy (normaliser + actor MLP), for export."""

    def __init__(self, normalizer: nn.Module, actor: nn.Module) -> None:
        super().__init__()
        self.normalizer = normalizer
        self.actor = actor

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(self.normalizer(obs))

    @torch.jit.export
    def reset(self) -> None:
        pass


def export(runner: Any, path: str | os.PathLike, format: str = "jit") -> str:
    """Write the deterministic policy (obs -> A-dim action, normalisation inside) to ``path``; return the path.

    rsl_rl 4.x/5.x: the runner's own ``export_policy_to_jit`` / ``export_policy_to_onnx``. rsl_rl 3.x (which has
    no export): the policy's actor and observation normaliser, TorchScript-scripted or exported to ONNX (opset 18,
    input "obs", output "actions"), the same graph the 5.x path produces. ONNX needs ``onnxscript``.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format: must be one of {list(EXPORT_FORMATS)}, got {format!r}")
    path = os.fspath(path)
    directory, filename = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    _set_eval(runner)
    if not _is_v3(runner):
        if format == "jit":
            runner.export_policy_to_jit(directory, filename)
        else:
            runner.export_policy_to_onnx(directory, filename)
        return path
    policy = runner.alg.policy
    normalizer = copy.deepcopy(policy.actor_obs_normalizer)
    if hasattr(policy, "flow"):
        module: nn.Module = DeterministicFlowPolicy(normalizer, copy.deepcopy(policy.flow))
        obs_dim = policy.flow.context_dim
    elif not getattr(policy, "is_recurrent", False) and not getattr(policy, "state_dependent_std", False):
        module = _GaussianMeanPolicy(normalizer, copy.deepcopy(policy.actor))
        obs_dim = policy.actor[0].in_features
    else:
        raise NotImplementedError(f"export: {type(policy).__name__} (recurrent or state-dependent std) is not "
                                  "supported here; use isaaclab_rl.rsl_rl.export_policy_as_jit/onnx.")
    module.to("cpu").eval()
    if format == "jit":
        torch.jit.script(module).save(path)
    else:
        torch.onnx.export(module, (torch.zeros(1, obs_dim),), path, export_params=True, opset_version=18,
                          input_names=["obs"], output_names=["actions"])
    return path


# ---------------------------------------------------------------------------------------------- loading
def check_checkpoint(runner: Any, path: str | os.PathLike, strict: bool = True,
                     models: dict[str, nn.Module] | None = None) -> dict:
    """Read ``path`` and check it fits ``runner`` (rsl_rl major, GenPO vs Gaussian, sizes, config); return it.

    ``models`` restricts the check to some of the runner's models ({"policy"} in 3.x, {"actor", "critic"} in 5.x).
    """
    loaded = read_checkpoint(path, map_location="cpu")
    models = _live_models(runner) if models is None else models
    check_loaded_dict(loaded, path=os.fspath(path), strict=strict, **models)
    return loaded


class GenPORunner(OnPolicyRunner):
    """The installed rsl_rl's ``OnPolicyRunner`` with GenPO conveniences; construction and training unchanged.

    Added: :meth:`evaluate`, :meth:`export`, :meth:`inference_policy`; ``load`` checks the checkpoint first
    (clear errors for another rsl_rl major, a Gaussian/GenPO mismatch, other obs/action sizes, truncated files);
    ``save`` records the genpo_rsl and rsl-rl-lib versions in ``infos["genpo_rsl"]``.
    """

    RSL_RL_MAJOR = rsl_rl_major()

    def save(self, path: str, infos: dict | None = None) -> None:
        if infos is None or isinstance(infos, dict):
            infos = {**(infos or {}), "genpo_rsl": genpo_stamp()}
        if self.RSL_RL_MAJOR == 3 and not hasattr(self, "logger_type"):
            # rsl_rl 3.x's save() reads logger_type, which only learn() sets: saving before training would fail.
            # No writer exists yet, so there is nothing to upload either.
            self.logger_type = "tensorboard"
        super().save(path, infos)

    def load(self, path: str, *args, **kwargs) -> dict:
        """The base ``load`` (3.x: load_optimizer, map_location; 5.x: load_cfg, strict, map_location), checked first."""
        models = None
        strict = True
        if self.RSL_RL_MAJOR >= 4:
            load_cfg = kwargs.get("load_cfg", args[0] if args else None)
            strict = bool(kwargs.get("strict", args[1] if len(args) > 1 else True))
            if load_cfg is not None:  # check only the models that will be loaded
                models = {name: model for name, model in _live_models(self).items() if load_cfg.get(name)}
        check_checkpoint(self, path, strict=strict, models=models)
        return super().load(path, *args, **kwargs)

    def inference_policy(self, deterministic: bool = True, device: str | torch.device | None = None
                         ) -> Callable[[TensorDict], torch.Tensor]:
        return inference_policy(self, deterministic, device)

    def evaluate(self, num_episodes: int = 10, deterministic: bool = True, max_steps: int | None = None,
                 reset: bool = True) -> dict[str, Any]:
        return evaluate(self, num_episodes, deterministic, max_steps, reset)

    def export(self, path: str | os.PathLike, format: str = "jit") -> str:
        return export(self, path, format)


__all__ = ["GenPORunner", "check_checkpoint", "evaluate", "export", "inference_policy"]
