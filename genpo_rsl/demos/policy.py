"""What behaviour cloning and fine-tuning touch in a runner's policy, in either rsl_rl world, GenPO or Gaussian.

rsl_rl 3.x keeps actor and critic in one ``ActorCritic`` (``runner.alg.policy``: ``actor.*``, ``std``/``log_std``,
``actor_obs_normalizer.*``, ``critic.*``, ``critic_obs_normalizer.*``); 4.x/5.x keeps two models
(``runner.alg.actor`` / ``critic``). :class:`PolicyView` hides that difference; :func:`load_actor` copies only the
actor (and its observation normaliser) of a checkpoint into a runner, so a fine-tuning run starts from a
pretrained policy with a fresh critic; :func:`frozen_actor` holds the actor still while the critic warms up.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.nn as nn
from tensordict import TensorDict

from ..checkpoint import CheckpointError, check_loaded_dict, read_checkpoint
from ..world import adapter

class PolicyView:
    """The actor of a built runner: its parameters, normalisers and log-likelihood of demonstrated actions."""

    def __init__(self, runner) -> None:
        self.runner = runner
        self.world = adapter()
        self.module: nn.Module = self.world.actor_module(runner)
        self.flow: nn.Module | None = getattr(self.module, "flow", None)

    @property
    def is_genpo(self) -> bool:
        return self.flow is not None

    def actor_parameters(self) -> list[nn.Parameter]:
        return self.world.actor_parameters(self.runner)

    def fit_normalizers(self, obs: TensorDict) -> None:
        """Set the actor's and critic's observation statistics from the demonstrations in one batch (exact)."""
        for model in self.world.normalizing_models(self.runner):
            was_training = model.training
            model.train()  # EmpiricalNormalization only learns in train mode
            model.update_normalization(obs)
            model.train(was_training)

    def context(self, obs: TensorDict) -> torch.Tensor:
        """GenPO: the flow's conditioning vector (the normalised observation)."""
        return self.module.context(obs)

    def gaussian_log_prob(self, obs: TensorDict, actions: torch.Tensor) -> torch.Tensor:
        """rsl_rl's Gaussian policy: exact log pi(actions | obs), (B,)."""
        return self.world.gaussian_log_prob(self.module, obs, actions)


def load_actor(runner, path: str | os.PathLike) -> dict:
    """Copy a checkpoint's actor and actor normaliser into ``runner``; the critic and optimizer stay as built.

    The checkpoint is checked first (rsl_rl major, GenPO vs Gaussian, observation/action sizes, flow settings, the
    actor's parameter shapes), so a wrong file fails before any weight is copied. Returns the checkpoint dict.
    """
    path = os.fspath(path)
    loaded = read_checkpoint(path, map_location="cpu")
    view = PolicyView(runner)
    # The actor's keys only: in 3.x one state dict holds actor and critic (the critic may even differ in size).
    info = check_loaded_dict(loaded, **{view.world.POLICY_SECTION: view.module}, path=path,
                             strict=not view.world.SHARED_ACTOR_CRITIC)
    found = loaded[view.world.POLICY_STATE_KEY]
    wanted = {k: v for k, v in view.module.state_dict().items() if view.world.is_actor_key(k)}
    missing = [k for k in wanted if k not in found]
    wrong = [f"{k}: {tuple(found[k].shape)} in the checkpoint vs {tuple(v.shape)} here"
             for k, v in wanted.items() if k in found and tuple(found[k].shape) != tuple(v.shape)]
    if missing or wrong:
        raise CheckpointError(
            f"{path!r} ({info.writer}) has an actor of another architecture: "
            + "; ".join((["missing " + ", ".join(missing[:5])] if missing else []) + wrong[:5])
            + ". Fix: the policy settings it was trained with (hidden_dims, activation, flow fields; see its run.json)")
    nn.Module.load_state_dict(view.module, {k: found[k] for k in wanted}, strict=False)
    return loaded


def _actor_normalization_flag(view: PolicyView) -> str:
    # The flag the models check before updating their running statistics; the normaliser itself stays applied.
    return view.world.ACTOR_NORMALIZATION_FLAG


def hold_actor_normalizer(runner) -> None:
    """Stop the actor's observation statistics from updating for the rest of the run (they are still applied).

    A pretrained actor was fitted on inputs normalised with the demonstrations' statistics; fine-tuning rollouts
    visit other states, and letting the running statistics follow them shifts every input the actor was fitted on.
    """
    view = PolicyView(runner)
    setattr(view.module, _actor_normalization_flag(view), False)


@contextlib.contextmanager
def frozen_actor(runner) -> Iterator[None]:
    """Within the block PPO updates only the critic: actor parameters get no gradient, its normaliser is held, and
    the learning rate is fixed (an adaptive schedule would see KL = 0 and raise it for the whole run)."""
    view = PolicyView(runner)
    params = view.actor_parameters()
    flags = [p.requires_grad for p in params]
    name = _actor_normalization_flag(view)
    normalization = getattr(view.module, name)
    schedule, learning_rate = runner.alg.schedule, runner.alg.learning_rate
    try:
        for p in params:
            p.requires_grad_(False)
        setattr(view.module, name, False)
        runner.alg.schedule = "fixed"
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
        setattr(view.module, name, normalization)
        runner.alg.schedule = schedule
        runner.alg.learning_rate = learning_rate
        for group in runner.alg.optimizer.param_groups:
            group["lr"] = learning_rate


def warm_up_critic(runner, iterations: int) -> None:
    """``iterations`` PPO iterations on fresh rollouts that train only the critic (the actor is frozen)."""
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"critic warm-up: must be an integer >= 0, got {iterations!r}")
    if iterations:
        with frozen_actor(runner):
            runner.learn(num_learning_iterations=iterations, init_at_random_ep_len=False)
        # rsl_rl's learn() leaves current_learning_iteration at the last iteration it ran, and the next learn()
        # starts there again: step past it, so the fine-tuning iterations (and their model_<it>.pt) come after.
        runner.current_learning_iteration += 1
        if hasattr(runner, "_completed_current_iteration"):  # GenPORunner: the next iteration is the current one
            runner._completed_current_iteration = False


POLICY_OVERRIDE_PREFIXES = ("policy.", "actor.", "agent.policy.", "agent.actor.")

# GenPO algorithm settings a fine-tuning run (--init) starts from; the command line's overrides win. Maximum
# likelihood leaves the coupled flow's dummy half free, and it fits sharp demonstrations by spreading the halves
# apart (mean ||x - y|| 12-14 on Hopper); the compression term then pulls them together within the first two actor
# updates and undoes the fit (return 540 -> 43 in bench/demos.py, docs/results/demos/README.md). The multistep flow
# has no compression term, so this changes nothing there.
GENPO_FINETUNE_DEFAULTS = {"compression_coef": 0.0}  # GenPO algorithm settings, by name


def policy_overrides_of(checkpoint: str | os.PathLike) -> dict:
    """The policy (actor) KEY=VALUE overrides recorded in the run.json beside ``checkpoint`` ({} without one).

    A fine-tuning run must build the actor the checkpoint was trained with; applying these first (the command
    line's own overrides after them) makes ``genpo-train --init CKPT`` match a pretraining run's policy settings.
    """
    import json

    path = os.path.join(os.path.dirname(os.path.abspath(os.fspath(checkpoint))), "run.json")
    if not os.path.isfile(path):
        return {}
    try:
        with open(path) as f:
            overrides = json.load(f).get("overrides") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: v for k, v in overrides.items() if isinstance(k, str) and k.startswith(POLICY_OVERRIDE_PREFIXES)}


def init_overrides(init: str | None, critic_warmup: int = 0, resume: str | None = None, algo: str = "genpo") -> dict:
    """genpo-train's --init / --critic-warmup, checked; returns the overrides to apply before the user's: the
    pretrained actor's policy settings, and for GenPO the fine-tuning defaults (GENPO_FINETUNE_DEFAULTS)."""
    if isinstance(critic_warmup, bool) or not isinstance(critic_warmup, int) or critic_warmup < 0:
        raise ValueError(f"--critic-warmup: must be an integer >= 0, got {critic_warmup!r}")
    if critic_warmup and not init:
        raise ValueError("--critic-warmup: needs --init CKPT (it warms a fresh critic up for a pretrained actor)")
    if init and resume:
        raise ValueError("--init and --resume: use one. --resume continues a run (actor, critic, optimizer, "
                         "iteration); --init starts a new run from a checkpoint's actor")
    if not init:
        return {}
    if not os.path.isfile(init):
        raise ValueError(f"--init: no file at {init!r}")
    if algo != "genpo":
        return policy_overrides_of(init)
    return {**{f"algorithm.{name}": value for name, value in GENPO_FINETUNE_DEFAULTS.items()},
            **policy_overrides_of(init)}
