"""What the rsl_rl 3.x and 5.x adapters share: observation sizes, config intake, one minibatch step, end-of-update
checks.

``GenPOMixin`` is mixed into each world's PPO subclass. It imports nothing of rsl_rl; it uses only attributes that
both worlds' PPO define (optimizer, clip_param, learning_rate, desired_kl, is_multi_gpu, ...), so each adapter
keeps just what differs: how batches are unpacked and where the flow and critic live.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import torch
import torch.nn as nn

from . import objective
from .config import GENPO_ALGORITHM_DEFAULTS, check_unknown_keys, validate_genpo_algorithm
from .flow import ExactFlow


# torch.compile modes that use CUDA graphs: a graph replay overwrites the previous call's outputs, which the
# rollout (flow, then critic) and the update (log-prob, then compression sample) still hold. rsl_rl 5.x rejects them.
CUDA_GRAPH_COMPILE_MODES = ("reduce-overhead", "max-autotune")


def check_compile_mode(mode: str | None) -> None:
    """torch_compile_mode: None (eager) or a torch.compile mode without CUDA graphs, as rsl_rl 5.x allows."""
    if mode is None:
        return
    if mode in CUDA_GRAPH_COMPILE_MODES:
        raise ValueError(f"torch_compile_mode: {mode!r} uses CUDA graphs, which GenPO's rollout and update cannot "
                         "use (a replay overwrites outputs still in use). Fix: 'default' or "
                         "'max-autotune-no-cudagraphs', or None for eager.")
    if mode not in ("default", "max-autotune-no-cudagraphs"):
        raise ValueError(f"torch_compile_mode: must be None, 'default' or 'max-autotune-no-cudagraphs', got {mode!r}")


def compile_module(module: nn.Module, mode: str | None) -> nn.Module:
    """``torch.compile(module, mode=mode)``, or the module itself for mode None (rsl_rl 5.1+'s compile_model)."""
    check_compile_mode(mode)
    return module if mode is None else torch.compile(module, mode=mode)


def observation_size(obs, groups: list[str], owner: str) -> int:
    """Total size of the observation groups a model reads; each group must be 1-D per env (no images)."""
    for group in groups:
        if obs[group].dim() != 2:
            raise ValueError(f"{owner}: observation group {group!r} must be 1-D per env, "
                             f"got shape {tuple(obs[group].shape)}")
    return sum(obs[group].shape[-1] for group in groups)


class RolloutSpreadMixin:
    """What both worlds' actors log as the action std: the spread of the actions the env received over the last
    rollout, not the base-noise scale sigma (that is ``flow.noise_scale``, logged as Diagnostics/noise_scale by
    genpo-train, Loss/noise_scale by rsl_rl's stock runner)."""

    #: (A,) std of the executed actions over the last rollout, set by GenPO.update (``record_rollout_spread``).
    rollout_action_std: torch.Tensor | None = None

    def record_rollout_spread(self, dummy_actions: torch.Tensor) -> None:
        """Keep the std over the rollout (T, N, 2A dummy actions) of the executed actions, per action dimension."""
        executed = self.flow.executed_action(dummy_actions.detach()).reshape(-1, self.action_dim)
        self.rollout_action_std = executed.std(0) if executed.shape[0] > 1 else torch.zeros_like(executed[0])

    def rollout_spread(self) -> torch.Tensor:
        """``rollout_action_std``, NaN before the first update."""
        if self.rollout_action_std is None:
            return self.flow.noise_scale.new_full((self.action_dim,), float("nan")).detach()
        return self.rollout_action_std


#: The minibatch inputs whose finite-but-absurd size names the data as the cause of a non-finite loss.
ABSURD_CHECKED = ("observations (policy context)", "advantages", "returns", "stored values")
ABSURD_MAGNITUDE = 1e15


def finite_magnitude(tensor: torch.Tensor) -> float:
    """The largest |x| among the finite entries of ``tensor`` (0.0 when none is finite)."""
    finite = tensor[torch.isfinite(tensor)]
    return float(finite.abs().max()) if finite.numel() else 0.0


class TrainingHalted(RuntimeError):
    """GenPO stopped training on purpose (a non-finite loss or gradient, an inexact inverse) before the bad step
    reached the weights or a checkpoint; the message names the cause and the fix."""


#: Fields of rsl_rl's ``rnd_cfg`` that have no default in either world's RandomNetworkDistillation.
RND_REQUIRED = ("num_outputs", "predictor_hidden_dims", "target_hidden_dims")


def check_rnd_cfg(rnd_cfg: dict | None) -> None:
    """``algorithm.rnd_cfg``: None, or a dict with the fields rsl_rl's RND cannot do without, and a finite weight."""
    if rnd_cfg is None:
        return
    if not isinstance(rnd_cfg, dict):
        raise ValueError(f"algorithm.rnd_cfg: must be a dict of RND settings or None, got {type(rnd_cfg).__name__}")
    missing = [key for key in RND_REQUIRED if rnd_cfg.get(key) is None]
    if missing:
        raise ValueError(f"algorithm.rnd_cfg: missing {', '.join(missing)}. Fix: set them, e.g. rnd_cfg.num_outputs=16 "
                         "rnd_cfg.predictor_hidden_dims=[64,64] rnd_cfg.target_hidden_dims=[64,64] (and a weight, "
                         "e.g. rnd_cfg.weight=0.5)")
    weight = rnd_cfg.get("weight", 0.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
        raise ValueError(f"algorithm.rnd_cfg.weight: must be a finite number >= 0, got {weight!r}")


class DoubledActionSymmetry:
    """rsl_rl's symmetry extension (data augmentation, mirror loss) for a flow's doubled action.

    The task's mirror function is used unchanged: it only ever sees A-dim actions, as with PPO. Augmentation mirrors
    each A-dim part of a stored doubled action (``flow.action_parts``: coupled x and y, multistep x_N and x_{N-1})
    with that function and joins the parts again, so every augmented sample is an exact doubled action of the
    mirrored state and its new log-prob is the flow's exact one. What stays rsl_rl's approximation: the mirrored
    samples reuse the originals' old log-probs, values, advantages and returns. The mirror loss compares
    deterministic (zero-noise) executed actions, the flow's counterpart of the Gaussian mean.

    Args:
        data_augmentation_func: ``func(env=, obs=, actions=) -> (obs, actions)`` returning ``k`` copies stacked along
            the batch (the original first), as rsl_rl and IsaacLab's mirror functions do; a "module:name" string
            is resolved.
        env: the environment, passed to the function (rsl_rl 5.x's resolver sets ``env``, 3.x's ``_env``).
        use_data_augmentation: add the mirrored samples to every minibatch.
        use_mirror_loss: add ``mirror_loss_coeff`` times the mirror loss to the loss (else it is only logged).
        mirror_loss_coeff: the weight of the mirror loss.
    """

    def __init__(self, data_augmentation_func, env=None, use_data_augmentation: bool = False,
                 use_mirror_loss: bool = False, mirror_loss_coeff: float = 0.0, _env=None) -> None:
        if isinstance(data_augmentation_func, str):
            data_augmentation_func = _resolve_function(data_augmentation_func)
        if not callable(data_augmentation_func):
            raise ValueError("algorithm.symmetry_cfg.data_augmentation_func: must be a callable func(env, obs, "
                             f"actions) -> (obs, actions) or a 'module:name' string, got {data_augmentation_func!r}")
        for name, value in (("use_data_augmentation", use_data_augmentation), ("use_mirror_loss", use_mirror_loss)):
            if not isinstance(value, bool):
                raise ValueError(f"algorithm.symmetry_cfg.{name}: must be true or false, got {value!r}")
        if (isinstance(mirror_loss_coeff, bool) or not isinstance(mirror_loss_coeff, (int, float))
                or not math.isfinite(mirror_loss_coeff) or mirror_loss_coeff < 0):
            raise ValueError(f"algorithm.symmetry_cfg.mirror_loss_coeff: must be a finite number >= 0, got "
                             f"{mirror_loss_coeff!r}")
        self.func = data_augmentation_func
        self.env = env if env is not None else _env
        self.use_data_augmentation = use_data_augmentation
        self.use_mirror_loss = use_mirror_loss
        self.mirror_loss_coeff = float(mirror_loss_coeff)

    def _call(self, obs, actions: torch.Tensor | None, batch: int, action_dim: int | None):
        """The mirror function, its output checked: (obs or None, actions or None, k)."""
        where = "algorithm.symmetry_cfg.data_augmentation_func"
        result = self.func(env=self.env, obs=obs, actions=actions)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ValueError(f"{where}: must return a pair (obs, actions), got {type(result).__name__}")
        new_obs, new_actions = result
        sizes = []
        if obs is not None:
            if new_obs is None:
                raise ValueError(f"{where}: returned no observations for a batch of {batch}")
            sizes.append(int(new_obs.batch_size[0]) if hasattr(new_obs, "batch_size") else int(new_obs.shape[0]))
        if actions is not None:
            if not isinstance(new_actions, torch.Tensor) or new_actions.dim() != 2 or new_actions.shape[1] != action_dim:
                shape = tuple(new_actions.shape) if isinstance(new_actions, torch.Tensor) else type(new_actions).__name__
                raise ValueError(f"{where}: must return actions of shape (k * {batch}, {action_dim}) for A-dim "
                                 f"actions of shape ({batch}, {action_dim}), got {shape}")
            sizes.append(int(new_actions.shape[0]))
        if not sizes or len(set(sizes)) != 1 or sizes[0] % batch or sizes[0] < batch:
            raise ValueError(f"{where}: must return k copies of the batch of {batch} (the original first, k >= 1) "
                             f"for observations and actions alike, got batch sizes {sizes}")
        return new_obs, new_actions, sizes[0] // batch

    def check(self, obs, action_dim: int) -> None:
        """Call the function once on a batch of 2 (before training), so a wrong shape or count fails at once."""
        probe = obs[:2] if int(obs.batch_size[0]) >= 2 else obs
        batch = int(probe.batch_size[0])
        actions = torch.zeros(batch, action_dim, device=probe.device)
        _, _, k = self._call(probe.clone(), actions, batch, action_dim)
        _, _, k_actions = self._call(None, actions, batch, action_dim)
        if k_actions != k:
            raise ValueError(f"algorithm.symmetry_cfg.data_augmentation_func: returns {k} copies with observations "
                             f"but {k_actions} for actions alone; they must agree")

    def augment(self, flow: ExactFlow, obs, dummy: torch.Tensor, *repeated: torch.Tensor):
        """(mirrored obs, mirrored doubled actions, each of ``repeated`` tiled to match); the originals come first."""
        batch, parts = dummy.shape[0], flow.action_parts(dummy)
        new_obs, first, k = self._call(obs, parts[0], batch, flow.action_dim)
        others = [self._call(None, part, batch, flow.action_dim)[1] for part in parts[1:]]
        tiled = [tensor.repeat(k, *([1] * (tensor.dim() - 1))) for tensor in repeated]
        return (new_obs, flow.join_action_parts([first, *others]), *tiled)

    def mirrored_observations(self, obs):
        """The mirrored copies of ``obs`` (the originals first), for the mirror loss without augmentation."""
        batch = int(obs.batch_size[0]) if hasattr(obs, "batch_size") else int(obs.shape[0])
        return self._call(obs, None, batch, None)[0]

    def mirror_loss(self, flow: ExactFlow, context: torch.Tensor, batch: int) -> torch.Tensor:
        """MSE between the deterministic actions on the mirrored states and the mirrored deterministic actions of the
        originals (``context``: the k * batch contexts, originals first); detached unless ``use_mirror_loss``."""
        actions = flow.act(context, deterministic=True)
        _, mirrored, _ = self._call(None, actions[:batch], batch, flow.action_dim)
        loss = nn.functional.mse_loss(actions[batch:], mirrored.detach()[batch:]) if actions.shape[0] > batch \
            else actions.new_zeros(())
        return loss if self.use_mirror_loss else loss.detach()


def _resolve_function(name: str):
    """``"module:name"`` (or ``"module.name"``) -> the object, as rsl_rl's resolve_callable does."""
    import importlib

    module, _, attribute = name.rpartition(":") if ":" in name else name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(f"algorithm.symmetry_cfg.data_augmentation_func: cannot import {name!r} ({error}). Fix: "
                         "give 'package.module:function' of an importable module") from None


class GenPOMixin:
    """GenPO's additions to a PPO class; call ``_take_genpo_cfg`` before ``PPO.__init__``."""

    #: Symmetry for the doubled action (``algorithm.symmetry_cfg``), or None.
    doubled_symmetry: DoubledActionSymmetry | None = None

    def _take_genpo_cfg(self, cfg: dict, ppo_keys: set[str]) -> dict:
        """Validate the algorithm config, keep GenPO's fields on self, and return what PPO itself takes (without
        ``symmetry_cfg``: GenPO's own :class:`DoubledActionSymmetry` takes it, as PPO's would pass 2A actions)."""
        check_unknown_keys("algorithm", cfg, ppo_keys | set(GENPO_ALGORITHM_DEFAULTS))
        validate_genpo_algorithm(cfg)
        check_rnd_cfg(cfg.get("rnd_cfg"))
        symmetry = cfg.get("symmetry_cfg")
        if symmetry is not None and not isinstance(symmetry, dict):
            raise ValueError(f"algorithm.symmetry_cfg: must be a dict or None, got {type(symmetry).__name__}")
        if symmetry:
            unknown = sorted(set(symmetry) - {"data_augmentation_func", "use_data_augmentation", "use_mirror_loss",
                                              "mirror_loss_coeff", "env", "_env"})
            if unknown:
                raise ValueError(f"algorithm.symmetry_cfg: unknown key(s) {unknown}; allowed: data_augmentation_func, "
                                 "use_data_augmentation, use_mirror_loss, mirror_loss_coeff")
            if symmetry.get("data_augmentation_func") is None:
                raise ValueError("algorithm.symmetry_cfg.data_augmentation_func: missing. Fix: the task's mirror "
                                 "function, func(env, obs, actions) -> (obs, actions), or its 'module:name'")
            self.doubled_symmetry = DoubledActionSymmetry(**symmetry)
        if cfg.get("use_mixed_precision"):
            raise ValueError("algorithm.use_mixed_precision: not supported by GenPO; bf16 breaks the exact "
                             "inverse the likelihood relies on. Set it to False.")
        cfg = dict(cfg)
        cfg.pop("symmetry_cfg", None)
        genpo = {key: cfg.pop(key, default) for key, default in GENPO_ALGORITHM_DEFAULTS.items()}
        self.compression_coef = float(genpo["compression_coef"])
        self.compression_fraction = float(genpo["compression_fraction"])
        self.compression_form = genpo["compression_form"]
        self.entropy_term = genpo["entropy_term"]
        self.kl_estimator = genpo["kl_estimator"]
        self.roundtrip_warn = float(genpo["roundtrip_warn"])
        self.roundtrip_fail = float(genpo["roundtrip_fail"])
        return cfg

    def _minibatch_step(self, flow: ExactFlow, context: torch.Tensor, actions: torch.Tensor,
                        old_log_prob: torch.Tensor, advantages: torch.Tensor, values: torch.Tensor,
                        old_values: torch.Tensor, returns: torch.Tensor,
                        clip_groups: Iterable[Iterable[nn.Parameter]], original: int | None = None,
                        symmetry_loss: torch.Tensor | None = None,
                        rnd_loss: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Loss, adaptive learning rate, backward and optimizer step for one minibatch; returns detached stats.

        Args: as :meth:`_minibatch_loss`, plus ``clip_groups`` (parameter groups whose gradient norms are clipped
        apart) and ``rnd_loss`` (RND's predictor loss, stepped by its own optimizer, as rsl_rl does).
        """
        loss, stats = self._minibatch_loss(flow, context, actions, old_log_prob, advantages, values, old_values,
                                           returns, original, symmetry_loss)
        self.optimizer.zero_grad()
        loss.backward()
        if rnd_loss is not None:
            self.rnd_optimizer.zero_grad()
            rnd_loss.backward()
            stats["rnd"] = rnd_loss.detach()
        if self.is_multi_gpu:
            self.reduce_parameters()
        norms = [nn.utils.clip_grad_norm_(params, self.max_grad_norm) for params in clip_groups]
        if not bool(torch.isfinite(torch.stack(norms)).all()):
            raise TrainingHalted(self._non_finite_message("the gradient norm is non-finite", "", {}))
        self.optimizer.step()
        if rnd_loss is not None:
            self.rnd_optimizer.step()
        return stats

    def _minibatch_loss(self, flow: ExactFlow, context: torch.Tensor, actions: torch.Tensor,
                        old_log_prob: torch.Tensor, advantages: torch.Tensor, values: torch.Tensor,
                        old_values: torch.Tensor, returns: torch.Tensor, original: int | None = None,
                        symmetry_loss: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One minibatch's loss (adapting the learning rate on the way) and its detached stats; no step taken.

        Args:
            flow: the policy's flow.
            context: (B, C) policy contexts; actions: (B, 2A) stored doubled actions; old_log_prob, advantages:
                (B,); values, old_values, returns: (B, 1) critic values now, at the rollout, and the returns.
            original: with symmetry augmentation, how many of the B samples are the rollout's own (the first
                ones); the KL estimate, entropy and compression use only those, as rsl_rl keeps distribution
                parameters and entropy of the originals only.
            symmetry_loss: the mirror loss (:class:`DoubledActionSymmetry`), added with its coefficient when it
                trains (else logged only).
        """
        n = context.shape[0] if original is None else original
        if self.normalize_advantage_per_mini_batch:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        new_log_prob = self._flow_call(flow, "log_prob")(context, actions)

        kl = objective.kl_estimate(old_log_prob[:n], new_log_prob[:n].detach(), self.kl_estimator)
        if self.desired_kl is not None and self.schedule == "adaptive":
            self._adapt_learning_rate(kl)

        surrogate, clip_fraction = objective.clipped_surrogate(new_log_prob, old_log_prob, advantages, self.clip_param)
        value = objective.value_loss(values, old_values, returns, self.clip_param, self.use_clipped_value_loss)
        entropy = objective.entropy_bonus_term(flow, context[:n], new_log_prob[:n], self.entropy_term)
        loss = surrogate + self.value_loss_coef * value - self.entropy_coef * entropy
        extra = {}
        if symmetry_loss is not None:
            if self.doubled_symmetry.use_mirror_loss:
                loss = loss + self.doubled_symmetry.mirror_loss_coeff * symmetry_loss
            extra["symmetry"] = symmetry_loss.detach()
        if flow.needs_compression and self.compression_coef > 0.0:
            # Fresh reparameterised samples: the gradient flows through the whole flow. On a random subset of the
            # minibatch when compression_fraction < 1: an unbiased estimate at a fraction of the 2N passes.
            subset = objective.compression_contexts(context[:n], self.compression_fraction)
            compression = objective.compression_loss(self._sample(flow, subset)[0], self.compression_form)
            loss = loss + self.compression_coef * compression
        else:
            # Not trained, still logged, free (no flow pass): the gap of the stored dummy actions, i.e. of the
            # rollout policy. Coupled flow with compression_coef = 0: whether the average stays a faithful action.
            # Multistep flow (the env executes x_N, nothing to compress): ||x_N - x_{N-1}||, the last step's size.
            compression = objective.compression_loss(actions[:n], self.compression_form).detach()

        if not bool(torch.isfinite(loss)):  # stop before a NaN/inf step reaches the weights (and a checkpoint)
            raise TrainingHalted(self._non_finite_message(f"the loss is {loss.item()}", flow.conditioning_fix, {
                "observations (policy context)": context, "stored actions": actions, "stored log-probs": old_log_prob,
                "advantages": advantages, "returns": returns, "stored values": old_values, "critic values": values,
                "new log-probs": new_log_prob}))
        return loss, {"value": value.detach(), "surrogate": surrogate.detach(), "entropy": entropy.detach(),
                      "kl": kl, "clip_fraction": clip_fraction, "compression": compression.detach(), **extra}

    # ---------------------------------------------------------------- torch.compile (rsl_rl 5.1+'s torch_compile_mode)
    #: The flow's maps wrapped by torch.compile (``_compile_flow``); None: eager.
    _compiled_flow: dict | None = None

    def _compile_flow(self, flow: nn.Module, mode: str | None) -> None:
        """Compile the flow calls GenPO's own loops make (the rollout's and the compression's ``forward``, the
        update's ``log_prob``), which a compiled actor module would not reach: they call the flow directly. Static
        shapes: the rollout (num_envs), the minibatch and the compression subset each get one graph. The modules
        themselves stay raw, so state dicts, checkpoints and exports are unchanged."""
        check_compile_mode(mode)
        self._compiled_flow = None if mode is None else {
            name: torch.compile(getattr(flow, name), mode=mode, dynamic=False) for name in ("forward", "log_prob")}

    def _flow_call(self, flow: nn.Module, name: str):
        return getattr(flow, name) if self._compiled_flow is None else self._compiled_flow[name]

    def _sample(self, flow: nn.Module, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``flow.sample(context)``; compiled, the noise is still drawn eagerly (the same random stream)."""
        if self._compiled_flow is None:
            return flow.sample(context)
        noise = flow.sample_noise(context.shape[0], context.device, context)
        log_prob = flow.base_log_prob(noise, context) - flow.log_abs_det_jacobian
        return self._compiled_flow["forward"](context, noise), log_prob

    def _augmented(self, flow: ExactFlow, context_of, obs, actions: torch.Tensor, *repeated: torch.Tensor):
        """A minibatch with symmetry applied: (obs, contexts, actions, *repeated, original size, mirror loss).

        Without ``symmetry_cfg`` everything passes through (mirror loss None). With data augmentation the mirrored
        samples follow the originals (``repeated``, e.g. old log-probs and advantages, tiled to match); the mirror
        loss is computed either way (logged, or trained with ``use_mirror_loss``).

        Args:
            flow: the policy's flow; context_of: the world's obs -> policy context (normalised observations).
            obs: the minibatch observations (a TensorDict); actions: its (B, 2A) stored doubled actions.
        """
        batch, symmetry = actions.shape[0], self.doubled_symmetry
        if symmetry is None:
            return (obs, context_of(obs), actions, *repeated, batch, None)
        if symmetry.use_data_augmentation:
            obs, actions, *repeated = symmetry.augment(flow, obs, actions, *repeated)
            context = context_of(obs)
            mirror_context = context
        else:
            context = context_of(obs)
            mirror_context = context_of(symmetry.mirrored_observations(obs))
        return (obs, context, actions, *repeated, batch, symmetry.mirror_loss(flow, mirror_context, batch))

    def _finish_update(self, totals: dict[str, float], flow: ExactFlow, context: torch.Tensor) -> dict[str, float]:
        """Mean losses over the update plus the flow's health, measured on ``context`` (a slice of the rollout)."""
        num_updates = self.num_learning_epochs * self.num_mini_batches
        losses = {key: val / num_updates for key, val in totals.items()}
        losses["roundtrip_error"] = self._check_roundtrip(flow, context)
        with torch.no_grad():  # a state-dependent scale: its mean over these states
            losses["noise_scale"] = flow.log_scale(context).exp().mean().item()
        losses["gap_abs"] = losses["compression"] if self.compression_form == "l2" else losses["compression"] ** 0.5
        return losses

    @staticmethod
    def _accumulate(totals: dict[str, float], stats: dict[str, torch.Tensor], rename: dict[str, str]) -> None:
        for key, val in stats.items():
            key = rename.get(key, key)
            totals[key] = totals.get(key, 0.0) + float(val.detach())

    def _adapt_learning_rate(self, kl: torch.Tensor) -> None:
        kl_mean = kl.detach().clone()
        if self.is_multi_gpu:
            torch.distributed.all_reduce(kl_mean, op=torch.distributed.ReduceOp.SUM)
            kl_mean /= self.gpu_world_size
        if self.gpu_global_rank == 0:
            self.learning_rate = objective.adapt_learning_rate(self.learning_rate, kl_mean.item(), self.desired_kl)
        if self.is_multi_gpu:
            lr = torch.tensor(self.learning_rate, device=self.device)
            torch.distributed.broadcast(lr, src=0)
            self.learning_rate = lr.item()
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate

    @staticmethod
    def _non_finite_message(what: str, conditioning_fix: str, inputs: dict[str, torch.Tensor]) -> str:
        """Why training stops on a non-finite loss or gradient, naming the minibatch inputs that are NaN/inf."""
        bad = [name for name, tensor in inputs.items() if not bool(torch.isfinite(tensor).all())]
        # Finite but absurd (rewards or observations of 1e30): the overflow is the data's, not the learning rate's.
        sizes = {name: finite_magnitude(inputs[name]) for name in ABSURD_CHECKED if name in inputs}
        huge = {name: size for name, size in sizes.items() if size > ABSURD_MAGNITUDE}
        if huge and not any(name in bad for name in ("advantages", "returns", "stored values")):
            named = ", ".join(f"{name} up to {value:.3g}" for name, value in huge.items())
            cause = (f"the rollout holds values of absurd size ({named}): the environment's rewards or observations "
                     "are broken or far out of scale. Fix: check the env's rewards and observations, rescale or "
                     "clip them (the learning rate is not the cause)")
        elif any(name in bad for name in ("observations (policy context)", "advantages", "returns", "stored values")):
            cause = ("the rollout holds NaN/inf: the environment returned non-finite observations or rewards (or "
                     "rewards so large that the returns overflow). Fix: check the env's observations and rewards "
                     "(rsl_rl 5.x's check_for_nan catches NaN but not inf), clip or rescale them")
        elif "critic values" in bad:
            cause = "the critic diverged. Fix: lower the learning rate or max_grad_norm, or normalise observations"
        elif "new log-probs" in bad:
            cause = (f"the flow's inverse overflowed (an ill-conditioned flow). Fix: {conditioning_fix} or lower the "
                     "learning rate")
        else:
            cause = ("the update itself diverged (e.g. an overflowing probability ratio). Fix: lower the learning "
                     "rate, or desired_kl with the adaptive schedule")
        found = f" Non-finite minibatch inputs: {', '.join(bad)}." if bad else ""
        return (f"GenPO: {what}; the optimizer step was skipped and training stops, so no NaN weights are written "
                f"to a checkpoint.{found} Likely cause: {cause}.")

    def _roundtrip_message(self, error: float, flow: ExactFlow, context: torch.Tensor) -> str:
        """Why an inexact inverse stops training: absurd observations, or an ill-conditioned flow."""
        size = finite_magnitude(context)
        if size > ABSURD_MAGNITUDE:
            return (f"GenPO: the flow's inversion round-trip error {error:.3g} exceeds algorithm.roundtrip_fail="
                    f"{self.roundtrip_fail:g} because the observations reach {size:.3g}: the environment's "
                    "observations are broken or far out of scale. Fix: check and rescale them (or turn on observation "
                    "normalisation); the flow's settings are not the cause. Training stops before saving.")
        return (f"GenPO: the flow's inversion round-trip error {error:.3g} exceeds algorithm.roundtrip_fail="
                f"{self.roundtrip_fail:g}; the likelihood is no longer exact, so training stops before saving. "
                f"{flow.conditioning_fix.capitalize()}, lower the learning rate, or raise roundtrip_fail if intended.")

    def _check_roundtrip(self, flow: ExactFlow, context: torch.Tensor) -> float:
        error = objective.roundtrip_error(flow, context)
        if not error <= self.roundtrip_fail:  # also catches NaN
            raise TrainingHalted(self._roundtrip_message(error, flow, context))
        if error > self.roundtrip_warn:
            warnings.warn(f"GenPO: inversion round-trip error {error:.3g} > algorithm.roundtrip_warn="
                          f"{self.roundtrip_warn:g}; the flow is becoming ill-conditioned.", RuntimeWarning)
        return error
