"""Behaviour cloning by maximum likelihood: fit a task's policy to demonstrations, save it as a runner checkpoint.

The policy is built by the installed rsl_rl's stock runner (through :class:`~genpo_rsl.runner.GenPORunner`) from
the same config ``genpo-train`` would use, and saved by it, so the checkpoint has that world's normal layout and
everything downstream (genpo-play, genpo-export, genpo-train --init, rsl_rl's own runner) reads it.

* GenPO (``algo="genpo"``): maximise the importance-weighted bound L_K on log pi(a | s) of each demonstrated
  action (:mod:`genpo_rsl.demos.likelihood`), jointly over the flow and a latent proposal that is discarded after.
* Gaussian BC (``algo="ppo"``): maximise rsl_rl's Gaussian policy's exact log-likelihood (mean MLP and std).

Observation normalisation (actor and critic) is fitted on the demonstrations once, before training, and held.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from tensordict import TensorDict

from .data import Demos, load_demos
from .likelihood import LatentProposal, estimate_log_likelihood, importance_log_likelihood, split_dummy
from .policy import PolicyView

PRETRAIN_KEY = "genpo_rsl_pretrain"  # infos key in the checkpoint, and run.json key
CHECKPOINT_NAME = "model_final.pt"


@dataclass
class PretrainConfig:
    epochs: int = 100
    batch_size: int = 256
    learning_rate: float = 1e-3
    num_samples: int = 8  # K of the training bound (GenPO)
    eval_samples: int = 256  # K of the held-out estimate (GenPO)
    validation_fraction: float = 0.1  # held out for the reported log-likelihood (0: none)
    max_grad_norm: float = 1.0

    def check(self) -> None:
        for name in ("epochs", "batch_size", "num_samples", "eval_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')}: must be an integer >= 1, got {value!r}")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ValueError(f"--learning-rate: must be > 0, got {self.learning_rate!r}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction: must be in [0, 1), got {self.validation_fraction!r}")


@dataclass
class PretrainResult:
    checkpoint: str
    log_dir: str
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    runner: Any = None
    env: Any = None


def _obs(tensor: torch.Tensor) -> TensorDict:
    return TensorDict({"policy": tensor}, batch_size=[tensor.shape[0]])


def task_sizes(env) -> tuple[int, int]:
    """(observation size of the "policy" group, action size) of a built env."""
    return int(env.get_observations()["policy"].shape[-1]), int(env.num_actions)


def split_validation(demos: Demos, fraction: float, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices): whole episodes when ``episode_starts`` is given, else single steps."""
    count = len(demos)
    if fraction <= 0 or count < 20:
        return np.arange(count), np.arange(0)
    if demos.episode_starts is not None and demos.num_episodes and demos.num_episodes >= 5:
        episode = np.cumsum(demos.episode_starts) - (1 if demos.episode_starts[0] else 0)
        order = torch.randperm(int(episode.max()) + 1, generator=generator).numpy()
        held = set(order[: max(1, int(round(fraction * len(order))))].tolist())
        mask = np.isin(episode, list(held))
    else:
        mask = np.zeros(count, dtype=bool)
        mask[torch.randperm(count, generator=generator).numpy()[: max(1, int(round(fraction * count)))]] = True
    return np.nonzero(~mask)[0], np.nonzero(mask)[0]


class DemoLikelihood:
    """log pi(a | s) of demonstrated actions for the runner's policy: the bound (GenPO) or exact (Gaussian)."""

    def __init__(self, runner, config: PretrainConfig) -> None:
        self.view = PolicyView(runner)
        self.config = config
        self.proposal = None
        if self.view.is_genpo:
            self.proposal = LatentProposal.for_flow(self.view.flow).to(runner.device)

    def parameters(self) -> list[torch.nn.Parameter]:
        params = self.view.actor_parameters()
        return params + (list(self.proposal.parameters()) if self.proposal is not None else [])

    def training_objective(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        if self.proposal is None:
            return self.view.gaussian_log_prob(_obs(obs), actions)
        context = self.view.context(_obs(obs))
        return importance_log_likelihood(self.view.flow, self.proposal, context, actions, self.config.num_samples)

    @torch.no_grad()
    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor, chunk: int = 512) -> float:
        """Mean log pi(a | s) over the given demos (GenPO: the K = eval_samples estimate)."""
        values = []
        for start in range(0, len(obs), chunk):
            o, a = obs[start:start + chunk], actions[start:start + chunk]
            if self.proposal is None:
                values.append(self.view.gaussian_log_prob(_obs(o), a))
            else:
                values.append(estimate_log_likelihood(self.view.flow, self.proposal, self.view.context(_obs(o)), a,
                                                      self.config.eval_samples))
        return float(torch.cat(values).mean())

    @torch.no_grad()
    def half_gap(self, obs: torch.Tensor) -> float | None:
        """GenPO: mean |latent| of the flow's own samples (||x - y|| for the coupled flow), as PPO logs gap_abs."""
        if self.proposal is None:
            return None
        dummy, _ = self.view.flow.sample(self.view.context(_obs(obs)))
        return float(split_dummy(self.view.flow, dummy)[1].norm(dim=-1).mean())


def fit(runner, demos: Demos, config: PretrainConfig, seed: int = 0,
        log: Callable[[str], None] | None = print) -> tuple[list[dict], dict]:
    """Maximum likelihood of ``demos`` for the runner's policy, in place. Returns (per-epoch history, summary)."""
    config.check()
    device = runner.device
    generator = torch.Generator().manual_seed(seed)
    train_idx, held_idx = split_validation(demos, config.validation_fraction, generator)
    observations = torch.as_tensor(demos.observations, device=device)
    actions = torch.as_tensor(demos.actions, device=device)
    objective = DemoLikelihood(runner, config)
    objective.view.fit_normalizers(_obs(observations))
    params = [p for p in objective.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.learning_rate)
    train_obs, train_actions = observations[train_idx], actions[train_idx]
    held_obs, held_actions = observations[held_idx], actions[held_idx]
    module = objective.view.module
    module.train()
    history = []
    start = time.perf_counter()
    for epoch in range(config.epochs):
        order = torch.randperm(len(train_idx), generator=generator).to(device)
        total, count = 0.0, 0
        for first in range(0, len(order), config.batch_size):
            batch = order[first:first + config.batch_size]
            log_likelihood = objective.training_objective(train_obs[batch], train_actions[batch])
            loss = -log_likelihood.mean()
            if not bool(torch.isfinite(loss)):
                raise RuntimeError(f"pretrain: the loss became {loss.item()} in epoch {epoch}; no checkpoint is "
                                   "written. Fix: lower --learning-rate, or raise the policy's mix")
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            total += float(log_likelihood.detach().sum())
            count += len(batch)
        record = {"epoch": epoch, "train_log_likelihood": total / count, "elapsed_s": time.perf_counter() - start}
        last = epoch == config.epochs - 1
        if len(held_idx) and (last or epoch % max(1, config.epochs // 10) == 0):
            module.eval()
            record["heldout_log_likelihood"] = objective.evaluate(held_obs, held_actions)
            module.train()
        history.append(record)
        if log is not None and (last or epoch % max(1, config.epochs // 10) == 0):
            held = record.get("heldout_log_likelihood")
            log(f"  epoch {epoch + 1}/{config.epochs}: "
                f"log-likelihood per demo step {record['train_log_likelihood']:.3f}"
                + (f" (held out {held:.3f})" if held is not None else ""))
    module.eval()
    summary = {
        "demos": demos.path, "steps": len(demos), "episodes": demos.num_episodes, "train_steps": int(len(train_idx)),
        "heldout_steps": int(len(held_idx)), "objective": "iwae_bound" if objective.proposal is not None else "exact",
        "latent": objective.view.flow.kind if objective.proposal is not None else None,
        "final_train_log_likelihood": history[-1]["train_log_likelihood"],
        "heldout_log_likelihood": history[-1].get("heldout_log_likelihood"),
        "half_gap": objective.half_gap(held_obs if len(held_idx) else train_obs[:1024]),
        "train_s": history[-1]["elapsed_s"], "config": vars(config).copy(),
    }
    return history, summary


@dataclass
class Prepared:
    """A built runner for the task and its checked demonstrations: everything that can fail on bad input."""

    task: str
    algo: str
    seed: int
    demos: Demos
    runner: Any
    env: Any
    run: dict  # what run.json records (task, algo, settings, overrides, train_cfg, rsl_rl version)


def prepare(task: str, demos_path: str, algo: str = "genpo", overrides: dict | None = None,
            cfg_overrides: dict | None = None, seed: int = 0, device: str = "cpu") -> Prepared:
    """Build the task's runner (``overrides``: task settings; ``cfg_overrides``: KEY=VALUE of the runner config, as
    genpo-train takes them) and read and check the demonstrations against its sizes. Nothing is trained."""
    from ..compat import register
    from ..overrides import apply_overrides
    from ..rundir import run_record
    from ..envs import make_task_env, seed_everything
    from ..train_config import build_runner_cfg, task_settings

    settings = task_settings(task, overrides)
    cfg = build_runner_cfg(algo, settings, experiment_name=f"{task}_{algo}_pretrain")
    cfg = apply_overrides(cfg, cfg_overrides or {})
    seed_everything(seed)
    env = make_task_env(task, 1, seed, device)  # the runner needs an env to size its models; never stepped here
    try:
        obs_dim, action_dim = task_sizes(env)
        demos = load_demos(demos_path, obs_dim, action_dim, task)  # every file check happens before training
        register()
        from ..runner import GenPORunner

        run = run_record(task, algo, seed, settings, dict(cfg_overrides or {}), copy.deepcopy(cfg))
        with contextlib.redirect_stdout(io.StringIO()):  # the runner prints its models
            runner = GenPORunner(env, cfg, log_dir=None, device=device)
        if hasattr(runner, "disable_logs"):
            runner.disable_logs = True
    except BaseException:
        env.close()
        raise
    return Prepared(task, algo, seed, demos, runner, env, run)


def pretrain_prepared(prepared: Prepared, config: PretrainConfig | None = None, log_dir: str | None = None,
                      log: Callable[[str], None] | None = print, keep_runner: bool = False) -> PretrainResult:
    """Fit ``prepared``'s policy to its demonstrations; save DIR/model_final.pt (the runner's own save) and run.json."""
    from ..compat import rsl_rl_version
    from ..rundir import save_run

    config = config or PretrainConfig()
    runner, env, demos, task = prepared.runner, prepared.env, prepared.demos, prepared.task
    try:
        config.check()
        log_dir = log_dir or os.path.join("logs", task.replace("/", "_"), f"pretrain_{prepared.algo}",
                                          time.strftime("%Y-%m-%d_%H-%M-%S") + f"_s{prepared.seed}")
        if log is not None:
            kind = (f"GenPO (importance-weighted bound, K = {config.num_samples})" if prepared.algo == "genpo"
                    else "Gaussian BC (exact likelihood)")
            log(f"genpo-pretrain: {kind} on {task}, {len(demos)} demo steps from {demos.path}, {config.epochs} "
                f"epochs x batch {config.batch_size}, rsl-rl-lib {rsl_rl_version()}, logs in {log_dir}")
        history, summary = fit(runner, demos, config, prepared.seed, log)
        os.makedirs(log_dir, exist_ok=True)
        checkpoint = os.path.join(log_dir, CHECKPOINT_NAME)
        # The env only sized the models and was never stepped: the checkpoint carries no env state to restore.
        env_of_runner, runner.env = runner.env, None
        try:
            runner.save(checkpoint, infos={PRETRAIN_KEY: summary})
        finally:
            runner.env = env_of_runner
        save_run(log_dir, {**prepared.run, PRETRAIN_KEY: {**summary, "history": history}})
        if log is not None:
            held = summary["heldout_log_likelihood"]
            log(f"genpo-pretrain: saved {checkpoint} (log-likelihood per demo step: train "
                f"{summary['final_train_log_likelihood']:.3f}" + (f", held out {held:.3f}" if held is not None else "")
                + ")")
    except BaseException:
        env.close()
        raise
    if not keep_runner:
        env.close()
        runner = env = None
    return PretrainResult(checkpoint, log_dir, history, summary, runner, env)


def pretrain(task: str, demos_path: str, algo: str = "genpo", overrides: dict | None = None,
             config: PretrainConfig | None = None, seed: int = 0, log_dir: str | None = None, device: str = "cpu",
             log: Callable[[str], None] | None = print, keep_runner: bool = False,
             cfg_overrides: dict | None = None) -> PretrainResult:
    """:func:`prepare` then :func:`pretrain_prepared`: behaviour cloning of ``demos_path`` on ``task``."""
    (config or PretrainConfig()).check()
    prepared = prepare(task, demos_path, algo, overrides, cfg_overrides, seed, device)
    return pretrain_prepared(prepared, config, log_dir, log, keep_runner)


__all__ = ["DemoLikelihood", "Prepared", "PretrainConfig", "PretrainResult", "fit", "prepare", "pretrain",
           "pretrain_prepared", "split_validation"]
