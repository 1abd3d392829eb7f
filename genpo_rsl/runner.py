"""``GenPORunner``: the installed rsl_rl's ``OnPolicyRunner`` plus evaluation, export and checked loading.

The base class is chosen when this module is imported: whatever ``rsl_rl.runners.OnPolicyRunner`` the installed
rsl-rl-lib (3.x or 4.x/5.x) provides. ``GenPORunner`` only adds methods and wraps ``save``/``load``; training is the
stock runner's. Every convenience is also a module-level function taking any ``OnPolicyRunner`` (IsaacLab's
scripts build the stock class), e.g. ``genpo_rsl.runner.evaluate(runner, 10)``. They work for GenPO and for rsl_rl's
own Gaussian PPO policies, so baselines can be evaluated the same way.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from tensordict import TensorDict

from rsl_rl.runners import OnPolicyRunner

from .checkpoint import check_loaded_dict, genpo_stamp, read_checkpoint, write_checkpoint
from .world import adapter
from .export import export_module, write_policy


# ---------------------------------------------------------------------------------------------- helpers
def _policy_module(runner: Any) -> nn.Module:
    """The module holding the policy: the 3.x ActorCritic, or the 4.x/5.x actor model."""
    return adapter().policy_module(runner)


# ---------------------------------------------------------------------------------------------- inference
def inference_policy(runner: Any, deterministic: bool = True, device: str | torch.device | None = None
                     ) -> Callable[[TensorDict], torch.Tensor]:
    """A callable ``obs TensorDict -> (num_envs, A) action`` in either rsl_rl world, policy in eval mode.

    ``deterministic``: GenPO at zero base noise / a Gaussian policy's mean; otherwise a sample (for GenPO the
    average of a sampled dummy action, i.e. what the env receives in training). Runs under ``torch.no_grad``.
    """
    adapter().set_mode(runner, train=False)
    module = _policy_module(runner)
    if device is not None:
        module.to(device)
    act = adapter().act_function(module, deterministic)

    target = device if device is not None else runner.device

    def policy(obs: TensorDict) -> torch.Tensor:
        with torch.no_grad():
            return act(obs.to(target))

    return policy


def run_episodes(runner: Any, num_episodes: int, deterministic: bool = True, max_steps: int | None = None,
                 reset: bool = True, on_step: Callable[..., None] | None = None,
                 name: str = "evaluate", act: Callable[[TensorDict], torch.Tensor] | None = None
                 ) -> tuple[list[list[tuple[float, int]]], int]:
    """The one episode loop: ``runner``'s policy on ``runner.env`` until ``num_episodes`` complete episodes are in.

    Rewards and dones are accumulated from ``env.step`` (raw env rewards, no PPO bootstrap terms). Only complete
    episodes count: if the env has ``reset()`` (IsaacLab's wrapper) and ``reset`` is true it is reset first;
    otherwise each env's episode in progress is skipped. Each env contributes its first
    ``ceil(num_episodes / num_envs)`` complete episodes, taken in env order, so short episodes are not favoured over
    long ones. The policy is left in the mode it was in.

    Args:
        runner: a runner of either rsl_rl world (its ``env`` and policy are used).
        num_episodes: complete episodes wanted (an integer >= 1).
        deterministic: GenPO at zero base noise / a Gaussian's mean; otherwise a sample.
        max_steps: env steps after which the loop gives up (default: from the env's ``max_episode_length``).
        reset: reset the env first when it can be reset.
        on_step: called after each step as ``on_step(obs, actions, dones, counted)``: the observations the policy
            acted on, its actions, the (num_envs,) done flags and which envs were inside an episode that counts.
        name: the caller, named in the error when the episodes do not finish.
        act: acts instead of the policy's own action (``obs TensorDict -> (num_envs, A)``; ``deterministic`` is
            then unused), e.g. a probe's mean of several sampled actions; called under ``torch.no_grad`` with the
            policy in eval mode, so studies measure other ways of acting with the same episode bookkeeping.

    Returns:
        (per env, its counted episodes as (return, length); the number of env steps taken).
    """
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes: must be an integer >= 1, got {num_episodes!r}")
    if act is not None and not callable(act):
        raise ValueError(f"act: must be a callable obs -> actions (or None for the policy's own), got {act!r}")
    env = runner.env
    was_training = _policy_module(runner).training
    policy = inference_policy(runner, deterministic)  # switches to eval mode
    if act is not None:
        policy = torch.no_grad()(act)
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
    # An env that normalises the rewards PPO trains on (GymnasiumVecEnv) returns the raw ones while scoring.
    scoring = env.raw_rewards() if callable(getattr(env, "raw_rewards", None)) else contextlib.nullcontext()
    scoring.__enter__()
    try:
        # Episodes are taken in env order (env 0's, then env 1's, ...), so the first `needed` envs must finish theirs.
        needed = math.ceil(num_episodes / per_env)
        while not bool((done_count[:needed] >= per_env).all()):
            if steps >= max_steps:
                raise RuntimeError(
                    f"{name}: the episodes did not finish within max_steps={max_steps} env steps "
                    f"({int(done_count.clamp(max=per_env).sum())} of {num_episodes} done). Pass a larger max_steps "
                    "(episodes may never terminate).")
            acted_on = obs
            actions = policy(obs)
            obs, rewards, dones, _ = env.step(actions.to(env.device))
            rewards = rewards.to(device).view(-1).to(torch.float64)
            dones = dones.to(device).view(-1).bool()
            if on_step is not None:
                on_step(acted_on, actions, dones, counting & (done_count < per_env))
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
        scoring.__exit__(None, None, None)
        if was_training:
            adapter().set_mode(runner, train=True)
    return finished, steps


def evaluate(runner: Any, num_episodes: int = 10, deterministic: bool = True, max_steps: int | None = None,
             reset: bool = True) -> dict[str, Any]:
    """Mean and std of the undiscounted return of ``num_episodes`` complete episodes on ``runner.env``.

    Args: as :func:`run_episodes`, whose episodes these are. Training can continue afterwards (``learn`` re-reads
    the observations).

    Returns ``{"mean", "std", "num_episodes", "returns", "lengths", "steps"}``.
    """
    finished, steps = run_episodes(runner, num_episodes, deterministic, max_steps, reset)
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
def export(runner: Any, path: str | os.PathLike, format: str = "jit", stochastic: bool = False) -> str:
    """Write the runner's policy (obs -> A-dim action, observation normalisation inside) to ``path``; return it.

    The same in both rsl_rl worlds (see :func:`genpo_rsl.export.write_policy`): TorchScript or ONNX (opset 18,
    dynamic batch axis, weights inside the .onnx file; needs ``onnxscript``), written atomically and checked
    against the torch module. GenPO: deterministic (zero noise; input "obs") or, with ``stochastic``, inputs "obs"
    and "noise" (B, 2A) standard normal. rsl_rl's Gaussian policies: their mean. (The stock 5.x
    ``OnPolicyRunner.export_policy_to_jit/onnx`` also work for GenPO; their ONNX has batch size 1 and a .onnx.data
    side file.)
    """
    return write_policy(exportable_policy(runner, format, stochastic), path, format).path


def exportable_policy(runner: Any, format: str = "jit", stochastic: bool = False) -> nn.Module:
    """The module :func:`export` writes: a CPU copy of the runner's policy in eval mode (see ``export_module``)."""
    adapter().set_mode(runner, train=False)
    return export_module(_policy_module(runner), format, stochastic)


# ---------------------------------------------------------------------------------------------- loading
def check_checkpoint(runner: Any, path: str | os.PathLike, strict: bool = True,
                     models: dict[str, nn.Module] | None = None) -> dict:
    """Read ``path`` and check it fits ``runner`` (rsl_rl major, GenPO vs Gaussian, sizes, config); return it.

    ``models`` restricts the check to some of the runner's models ({"policy"} in 3.x, {"actor", "critic"} in 5.x).
    """
    loaded = read_checkpoint(path, map_location="cpu")
    models = adapter().live_models(runner) if models is None else models
    check_loaded_dict(loaded, path=os.fspath(path), strict=strict, **models)
    return loaded


# ---------------------------------------------------------------------------------------------- exact resume
# infos key under which GenPORunner.save keeps what a stock checkpoint lacks for an exact resume.
RESUME_KEY = "genpo_rsl_resume"


def _rng_state() -> dict:
    """The global RNG streams: torch (CPU and, if in use, CUDA), numpy and Python's ``random``."""
    name, keys, *rest = np.random.get_state()
    # numpy's key array as a tensor: the checkpoint stays loadable with torch.load(weights_only=True).
    state = {"torch": torch.get_rng_state(), "numpy": (name, torch.from_numpy(keys.astype(np.int64)), *rest),
             "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), *rest))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _env_state(env: Any) -> dict | None:
    """The env's own state if it offers ``state_dict()`` (the toy envs' generator, bodies and observations).

    A gymnasium or IsaacLab env mid-episode (simulator state, per-sub-env ``np_random``) has no such method and
    cannot be restored bitwise; a resumed run then continues from whatever state the new env is in.
    """
    if not callable(getattr(env, "state_dict", None)):
        return None
    return {"class": type(env).__qualname__, "num_envs": int(env.num_envs), "state": env.state_dict()}


def _restore_env_state(env: Any, saved: dict | None) -> bool:
    """Load ``saved`` into ``env`` if it is the same kind of env with as many sub-envs; return whether it did."""
    if (not saved or not callable(getattr(env, "load_state_dict", None))
            or saved["class"] != type(env).__qualname__ or saved["num_envs"] != env.num_envs):
        return False
    env.load_state_dict(saved["state"])
    return True


#: What GenPO's update reports beside its losses: the sample KL (adaptive rate), the clipped fraction, the base
#: noise scale, the inverse's round-trip error and the halves' gap. GenPORunner logs them as diagnostics.
DIAGNOSTICS = ("kl", "clip_fraction", "noise_scale", "roundtrip_error", "gap_abs")


def log_diagnostics_apart(runner: Any) -> None:
    """Log a GenPO runner's :data:`DIAGNOSTICS` as what they are: tensorboard ``Diagnostics/<key>`` and one console
    line per iteration, instead of the stock logger's "Mean <key> loss" and ``Loss/<key>`` (rsl_rl's own losses keep
    their keys). GenPORunner calls it; so does mjlab's runner for a GenPO actor (``genpo_rsl.integrations.mjlab``).

    Args:
        runner: an rsl_rl ``OnPolicyRunner`` (or subclass) whose algorithm is GenPO, before its first ``learn``.
    """

    def emit(diagnostics: dict, iteration: int) -> None:
        if not diagnostics:
            return
        writer = adapter().writer(runner)
        if writer is not None:
            for key, value in diagnostics.items():
                writer.add_scalar(f"Diagnostics/{key}", value, iteration)
        if not getattr(runner, "disable_logs", False) and adapter().log_dir(runner) is not None:
            print("GenPO diagnostics: " + ", ".join(f"{key} {value:.4g}" for key, value in diagnostics.items()))

    adapter().log_diagnostics_apart(runner, DIAGNOSTICS, emit)


class TrainingStopped(Exception):
    """``learn`` stopped after :meth:`GenPORunner.request_stop`, at the end of a completed iteration.

    ``iteration``: the last completed iteration; ``checkpoint``: the ``model_<iteration>.pt`` saved then (None
    without a log directory); ``remaining``: how many of the iterations ``learn`` was asked for did not run.
    """

    def __init__(self, iteration: int, checkpoint: str | None, remaining: int, reason: str) -> None:
        where = f"saved {checkpoint}" if checkpoint else "no log directory, nothing saved"
        super().__init__(f"training stopped after iteration {iteration} ({reason}); {where}")
        self.iteration = iteration
        self.checkpoint = checkpoint
        self.remaining = remaining
        self.reason = reason


class GenPORunner(OnPolicyRunner):
    """The installed rsl_rl's ``OnPolicyRunner`` with GenPO conveniences; construction and training unchanged.

    Added: :meth:`evaluate`, :meth:`export`, :meth:`inference_policy`, and

    * ``load`` checks the checkpoint first (clear errors for another rsl_rl major, a Gaussian/GenPO mismatch,
      other obs/action sizes, other flow settings, truncated files) and resumes exactly (see :meth:`load`);
    * ``save`` writes atomically (:func:`genpo_rsl.checkpoint.write_checkpoint`), stamps ``infos["genpo_rsl"]``
      with the versions and the flow settings, and keeps the resume state in ``infos["genpo_rsl_resume"]``;
    * torchrun on CPU processes: gloo instead of rsl_rl's hard-coded nccl / ``cuda:<local_rank>``.
    """

    _stop_reason: str | None = None

    def learn(self, num_learning_iterations: int, init_at_random_ep_len: bool = False) -> None:
        """The stock ``learn``; after :meth:`request_stop` it ends after the current iteration (TrainingStopped)."""
        if num_learning_iterations > 0:
            # From now on rsl_rl's current_learning_iteration is the last *completed* iteration (it sets it after
            # each update), so the next one to run is current_learning_iteration + 1.
            self._completed_current_iteration = True
        self._learn_end = self.current_learning_iteration + num_learning_iterations
        if not getattr(self, "_stop_check_installed", False):
            # Once per iteration, after the update and after current_learning_iteration is set: the first point
            # where the models, optimizer and counter agree.
            adapter().after_each_iteration(self, self._stop_if_requested)
            log_diagnostics_apart(self)
            self._stop_check_installed = True
        super().learn(num_learning_iterations, init_at_random_ep_len)

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop ``learn`` at the end of the current iteration, after saving it (safe to call from a signal handler:
        it only sets a flag; nothing is saved with half-updated weights)."""
        self._stop_reason = reason

    @property
    def stop_requested(self) -> bool:
        return self._stop_reason is not None

    def _stop_if_requested(self) -> None:
        if self._stop_reason is None:
            return
        iteration = self.current_learning_iteration
        remaining = self._learn_end - (iteration + 1)
        if remaining <= 0:  # the last iteration: learn() ends and saves as usual
            return
        log_dir = adapter().log_dir(self)
        path = None
        if log_dir is not None and getattr(self, "gpu_global_rank", 0) == 0:
            path = os.path.join(log_dir, f"model_{iteration}.pt")  # rsl_rl's name for this iteration's checkpoint
            self.save(path)
        writer = adapter().writer(self)
        if callable(getattr(writer, "flush", None)):
            writer.flush()
        raise TrainingStopped(iteration, path, remaining, self._stop_reason)

    def _next_iteration(self) -> int:
        return self.current_learning_iteration + int(getattr(self, "_completed_current_iteration", False))

    def save(self, path: str, infos: dict | None = None) -> None:
        """Write the stock runner's checkpoint dict atomically, with GenPO's stamp and resume state in ``infos``."""
        if infos is None or isinstance(infos, dict):
            infos = {**(infos or {}), "genpo_rsl": genpo_stamp(getattr(_policy_module(self), "flow", None)),
                     RESUME_KEY: {"next_iteration": self._next_iteration(), "world_size": self.gpu_world_size,
                                  "rng": _rng_state(), "env": _env_state(self.env)}}
        # The dict rsl_rl's own save() builds; its torch.save(path) would truncate the file first, so a crash, a
        # full disk or a kill mid-write would leave a corrupt checkpoint (resuming re-runs the loaded iteration,
        # so the stock runner's first save can even overwrite the checkpoint it resumed from).
        saved = adapter().checkpoint_dict(self)
        saved["iter"] = self.current_learning_iteration
        saved["infos"] = infos
        write_checkpoint(saved, path)
        adapter().upload(self, path)  # to wandb/neptune, as the stock save() does

    def load(self, path: str, *args, resume_state: bool = True, **kwargs) -> dict:
        """The base ``load`` (3.x: load_optimizer, map_location; 5.x: load_cfg, strict, map_location), checked first.

        When the training state is loaded (3.x: always; 5.x: ``load_cfg`` None or with "iteration"), a checkpoint
        written by :meth:`save` resumes exactly: the next iteration is the one after the saved one (rsl_rl would
        re-run the saved iteration and overwrite its file), and with ``resume_state`` the torch/numpy/random RNG
        streams and the env's state (if the env has ``load_state_dict``, is of the same class and has as many
        sub-envs) come back. Not in multi-process runs, where each rank keeps its own seeded streams. Pass
        ``resume_state=False`` to keep the current seeds (e.g. to fine-tune with a new seed). rsl_rl 3.x restores
        the optimizer's learning rate but not PPO's ``learning_rate``, which its adaptive schedule writes back into
        the optimizer; this load copies it over, as rsl_rl 5.x does.
        """
        models, strict, resuming = adapter().load_plan(self, args, kwargs)
        check_checkpoint(self, path, strict=strict, models=models)
        infos = super().load(path, *args, **kwargs)
        adapter().after_load(self, args, kwargs)
        state = infos.get(RESUME_KEY) if isinstance(infos, dict) else None
        if resuming and isinstance(state, dict):
            self.current_learning_iteration = state["next_iteration"]
            self._completed_current_iteration = False
            if resume_state and self.gpu_world_size == 1 and state.get("world_size", 1) == 1:
                _set_rng_state(state["rng"])
                _restore_env_state(self.env, state.get("env"))
        return infos

    def _configure_multi_gpu(self) -> None:
        """rsl_rl's multi-process set-up; for CPU processes, gloo instead of its hard-coded nccl and CUDA device.

        rsl_rl (3.x and 5.x) requires ``device == f"cuda:{LOCAL_RANK}"`` and initialises nccl. Everything else
        on its distributed path (parameter broadcast, gradient all-reduce, the KL/learning-rate sync, 5.x's
        normaliser all-reduce) works unchanged on gloo with CPU tensors, so ``torchrun --nproc_per_node N`` with
        ``device="cpu"`` trains with N processes.
        """
        world_size = int(os.getenv("WORLD_SIZE", "1"))
        if world_size <= 1 or torch.device(self.device).type != "cpu":
            super()._configure_multi_gpu()
            return
        self.gpu_world_size = world_size
        self.is_distributed = True
        self.gpu_local_rank = int(os.getenv("LOCAL_RANK", "0"))
        self.gpu_global_rank = int(os.getenv("RANK", "0"))
        multi_gpu = {"global_rank": self.gpu_global_rank, "local_rank": self.gpu_local_rank, "world_size": world_size}
        adapter().set_multi_process(self, multi_gpu)
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend="gloo", rank=self.gpu_global_rank, world_size=world_size)

    def inference_policy(self, deterministic: bool = True, device: str | torch.device | None = None
                         ) -> Callable[[TensorDict], torch.Tensor]:
        return inference_policy(self, deterministic, device)

    def evaluate(self, num_episodes: int = 10, deterministic: bool = True, max_steps: int | None = None,
                 reset: bool = True) -> dict[str, Any]:
        return evaluate(self, num_episodes, deterministic, max_steps, reset)

    def export(self, path: str | os.PathLike, format: str = "jit", stochastic: bool = False) -> str:
        return export(self, path, format, stochastic)


__all__ = ["GenPORunner", "TrainingStopped", "check_checkpoint", "evaluate", "export", "exportable_policy",
           "inference_policy", "run_episodes"]
