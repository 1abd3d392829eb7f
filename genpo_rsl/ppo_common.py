"""What the rsl_rl 3.x and 5.x adapters share: observation sizes, config intake, one minibatch step, end-of-update
checks.

``GenPOMixin`` is mixed into each world's PPO subclass. It imports nothing of rsl_rl; it uses only attributes that
both worlds' PPO define (optimizer, clip_param, learning_rate, desired_kl, is_multi_gpu, ...), so each adapter
keeps just what differs: how batches are unpacked and where the flow and critic live.
"""

from __future__ import annotations

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
    rollout, not the base-noise scale sigma (that is ``flow.noise_scale``, logged as Loss/noise_scale)."""

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


class GenPOMixin:
    """GenPO's additions to a PPO class; call ``_take_genpo_cfg`` before ``PPO.__init__``."""

    def _take_genpo_cfg(self, cfg: dict, ppo_keys: set[str]) -> dict:
        """Validate the algorithm config, keep GenPO's fields on self, and return what PPO itself takes."""
        check_unknown_keys("algorithm", cfg, ppo_keys | set(GENPO_ALGORITHM_DEFAULTS))
        validate_genpo_algorithm(cfg)
        for key, why in (("rnd_cfg", "RND"), ("symmetry_cfg", "symmetry augmentation")):
            if cfg.get(key):
                raise ValueError(f"algorithm.{key}: {why} is not supported by GenPO; remove it from the config.")
        if cfg.get("use_mixed_precision"):
            raise ValueError("algorithm.use_mixed_precision: not supported by GenPO; bf16 breaks the exact "
                             "inverse the likelihood relies on. Set it to False.")
        cfg = dict(cfg)
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
                        clip_groups: Iterable[Iterable[nn.Parameter]]) -> dict[str, torch.Tensor]:
        """Loss, adaptive learning rate, backward and optimizer step for one minibatch; returns detached stats."""
        loss, stats = self._minibatch_loss(flow, context, actions, old_log_prob, advantages, values, old_values,
                                           returns)
        self.optimizer.zero_grad()
        loss.backward()
        if self.is_multi_gpu:
            self.reduce_parameters()
        norms = [nn.utils.clip_grad_norm_(params, self.max_grad_norm) for params in clip_groups]
        if not bool(torch.isfinite(torch.stack(norms)).all()):
            raise RuntimeError(self._non_finite_message("the gradient norm is non-finite", "", {}))
        self.optimizer.step()
        return stats

    def _minibatch_loss(self, flow: ExactFlow, context: torch.Tensor, actions: torch.Tensor,
                        old_log_prob: torch.Tensor, advantages: torch.Tensor, values: torch.Tensor,
                        old_values: torch.Tensor, returns: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One minibatch's loss (adapting the learning rate on the way) and its detached stats; no step taken."""
        if self.normalize_advantage_per_mini_batch:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        new_log_prob = self._flow_call(flow, "log_prob")(context, actions)

        kl = objective.kl_estimate(old_log_prob, new_log_prob.detach(), self.kl_estimator)
        if self.desired_kl is not None and self.schedule == "adaptive":
            self._adapt_learning_rate(kl)

        surrogate, clip_fraction = objective.clipped_surrogate(new_log_prob, old_log_prob, advantages, self.clip_param)
        value = objective.value_loss(values, old_values, returns, self.clip_param, self.use_clipped_value_loss)
        entropy = objective.entropy_bonus_term(flow, context, new_log_prob, self.entropy_term)
        loss = surrogate + self.value_loss_coef * value - self.entropy_coef * entropy
        if flow.needs_compression and self.compression_coef > 0.0:
            # Fresh reparameterised samples: the gradient flows through the whole flow. On a random subset of the
            # minibatch when compression_fraction < 1: an unbiased estimate at a fraction of the 2N passes.
            subset = objective.compression_contexts(context, self.compression_fraction)
            compression = objective.compression_loss(self._sample(flow, subset)[0], self.compression_form)
            loss = loss + self.compression_coef * compression
        else:
            # Not trained, still logged, free (no flow pass): the gap of the stored dummy actions, i.e. of the
            # rollout policy. Coupled flow with compression_coef = 0: whether the average stays a faithful action.
            # Multistep flow (the env executes x_N, nothing to compress): ||x_N - x_{N-1}||, the last step's size.
            compression = objective.compression_loss(actions, self.compression_form).detach()

        if not bool(torch.isfinite(loss)):  # stop before a NaN/inf step reaches the weights (and a checkpoint)
            raise RuntimeError(self._non_finite_message(f"the loss is {loss.item()}", flow.conditioning_fix, {
                "observations (policy context)": context, "stored actions": actions, "stored log-probs": old_log_prob,
                "advantages": advantages, "returns": returns, "stored values": old_values, "critic values": values,
                "new log-probs": new_log_prob}))
        return loss, {"value": value.detach(), "surrogate": surrogate.detach(), "entropy": entropy.detach(),
                      "kl": kl, "clip_fraction": clip_fraction, "compression": compression.detach()}

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
        if any(name in bad for name in ("observations (policy context)", "advantages", "returns", "stored values")):
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

    def _check_roundtrip(self, flow: ExactFlow, context: torch.Tensor) -> float:
        error = objective.roundtrip_error(flow, context)
        if not error <= self.roundtrip_fail:  # also catches NaN
            raise RuntimeError(
                f"GenPO: the flow's inversion round-trip error {error:.3g} exceeds algorithm.roundtrip_fail="
                f"{self.roundtrip_fail:g}; the likelihood is no longer exact, so training stops before saving. "
                f"{flow.conditioning_fix.capitalize()}, lower the learning rate, or raise roundtrip_fail if intended."
            )
        if error > self.roundtrip_warn:
            warnings.warn(f"GenPO: inversion round-trip error {error:.3g} > algorithm.roundtrip_warn="
                          f"{self.roundtrip_warn:g}; the flow is becoming ill-conditioned.", RuntimeWarning)
        return error
