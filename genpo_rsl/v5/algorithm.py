"""GenPO for rsl_rl 4.x/5.x: PPO over the flow's doubled action, built by the stock ``OnPolicyRunner``.

Differences from rsl_rl's PPO, and where they live:
- storage holds the 2A dummy action and the env receives its average (``__init__``, ``act``);
- ``act`` takes the exact log-prob from the sampled noise, so the rollout never runs the inverse flow;
- ``update`` is replaced as a whole: PPO assembles its loss inline, leaving no seam for the compression loss, and
  its stochastic forward per minibatch would sample a batch only to throw it away. Our loop reuses PPO's pieces
  (storage generator, optimizer, gradient reduction) and the shared terms of ``genpo_rsl.objective``.
"""

from __future__ import annotations

import inspect
import warnings

import torch
import torch.nn as nn
from tensordict import TensorDict

from rsl_rl.algorithms import PPO
from rsl_rl.storage import RolloutStorage

from .. import objective
from ..flow import CoupledFlow
from ..config import GENPO_ALGORITHM_DEFAULTS, check_unknown_keys, validate_genpo_algorithm
from .actor import GenPOActor

_PPO_KEYS = set(inspect.signature(PPO.__init__).parameters) - {"self", "actor", "critic", "storage"}


class GenPO(PPO):
    """PPO for a coupled-flow policy with an exact likelihood (GenPO, arXiv 2505.18763)."""

    actor: GenPOActor

    def __init__(self, actor: GenPOActor, critic: nn.Module, storage: RolloutStorage, **cfg) -> None:
        check_unknown_keys("algorithm", cfg, _PPO_KEYS | set(GENPO_ALGORITHM_DEFAULTS))
        validate_genpo_algorithm(cfg)
        if not isinstance(actor, GenPOActor):
            raise TypeError(
                f"GenPO needs a GenPOActor actor, got {type(actor).__name__}. Set the runner config's "
                "actor.class_name to 'genpo_rsl.v5:GenPOActor' (or 'rsl_rl.modules.GenPOActor' after `import genpo_rsl`)."
            )
        for field, why in (("rnd_cfg", "RND"), ("symmetry_cfg", "symmetry augmentation")):
            if cfg.get(field):
                raise ValueError(f"algorithm.{field}: {why} is not supported by GenPO; remove it from the config.")
        if cfg.get("use_mixed_precision"):
            raise ValueError("algorithm.use_mixed_precision: not supported by GenPO; bf16 breaks the exact "
                             "inverse the likelihood relies on. Set it to False.")
        genpo_cfg = {key: cfg.pop(key, default) for key, default in GENPO_ALGORITHM_DEFAULTS.items()}
        # The runner built storage for A-dim actions; GenPO stores the 2A dummy action.
        storage = RolloutStorage(storage.training_type, storage.num_envs, storage.num_transitions_per_env,
                                 storage.observations[0], [2 * actor.action_dim], storage.device)
        super().__init__(actor, critic, storage, **cfg)
        self.compression_coef = float(genpo_cfg["compression_coef"])
        self.compression_form = genpo_cfg["compression_form"]
        self.entropy_term = genpo_cfg["entropy_term"]
        self.kl_estimator = genpo_cfg["kl_estimator"]
        self.roundtrip_warn = float(genpo_cfg["roundtrip_warn"])
        self.roundtrip_fail = float(genpo_cfg["roundtrip_fail"])

    def act(self, obs: TensorDict) -> torch.Tensor:
        dummy, log_prob = self._raw_actor.sample(obs)
        self.transition.hidden_states = (None, None)
        self.transition.actions = dummy.detach()
        self.transition.values = self.critic(obs).detach()
        self.transition.actions_log_prob = log_prob.detach()
        self.transition.distribution_params = (log_prob.detach(),)
        self.transition.observations = obs
        return CoupledFlow.average(self.transition.actions)

    def update(self) -> dict[str, float]:
        flow = self._raw_actor.flow
        totals: dict[str, float] = {}
        generator = self.storage.mini_batch_generator(self.num_mini_batches, self.num_learning_epochs)
        for batch in generator:
            advantages = batch.advantages.squeeze(-1)
            if self.normalize_advantage_per_mini_batch:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            old_log_prob = batch.old_actions_log_prob.squeeze(-1)

            context = self._raw_actor.context(batch.observations)
            new_log_prob = flow.log_prob(context, batch.actions)
            values = self.critic(batch.observations)

            kl = objective.kl_estimate(old_log_prob, new_log_prob.detach(), self.kl_estimator)
            if self.desired_kl is not None and self.schedule == "adaptive":
                self._adapt_learning_rate(kl)

            surrogate, clip_fraction = objective.clipped_surrogate(new_log_prob, old_log_prob, advantages,
                                                                   self.clip_param)
            value = objective.value_loss(values, batch.values, batch.returns, self.clip_param,
                                         self.use_clipped_value_loss)
            entropy = objective.entropy_bonus_term(flow, new_log_prob, self.entropy_term)
            loss = surrogate + self.value_loss_coef * value - self.entropy_coef * entropy
            if self.compression_coef > 0.0:
                # Fresh reparameterised samples: the gradient flows through the whole flow.
                fresh, _ = flow.sample(context)
                compression = objective.compression_loss(fresh, self.compression_form)
                loss = loss + self.compression_coef * compression
            else:
                with torch.no_grad():
                    compression = objective.compression_loss(flow.sample(context)[0], self.compression_form)

            self.optimizer.zero_grad()
            loss.backward()
            if self.is_multi_gpu:
                self.reduce_parameters()
            nn.utils.clip_grad_norm_(self.actor.parameters(), self.max_grad_norm)
            nn.utils.clip_grad_norm_(self.critic.parameters(), self.max_grad_norm)
            self.optimizer.step()

            for key, val in (("value", value), ("surrogate", surrogate), ("entropy", entropy), ("kl", kl),
                             ("clip_fraction", clip_fraction), ("compression", compression)):
                totals[key] = totals.get(key, 0.0) + float(val.detach())

        num_updates = self.num_learning_epochs * self.num_mini_batches
        losses = {key: val / num_updates for key, val in totals.items()}

        # Flow health on a slice of this rollout's observations, before the normalisers move.
        obs = self.storage.observations.flatten(0, 1)
        losses["roundtrip_error"] = self._check_roundtrip(obs[:256])
        losses["noise_scale"] = flow.noise_scale.mean().item()
        losses["gap_abs"] = losses["compression"] if self.compression_form == "l2" else losses["compression"] ** 0.5

        # As in rsl_rl 5.x: normalisers move after the epochs, so the first minibatch's ratio is exactly 1.
        self._raw_actor.update_normalization(obs)
        self._raw_critic.update_normalization(obs)
        self.storage.clear()
        return losses

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

    def _check_roundtrip(self, obs: TensorDict) -> float:
        with torch.no_grad():
            error = objective.roundtrip_error(self._raw_actor.flow, self._raw_actor.context(obs))
        if not error <= self.roundtrip_fail:  # also catches NaN
            raise RuntimeError(
                f"GenPO: the flow's inversion round-trip error {error:.3g} exceeds algorithm.roundtrip_fail="
                f"{self.roundtrip_fail:g}; the likelihood is no longer exact, so training stops before saving. "
                "Raise actor.mix (p closer to 1), lower the learning rate, or raise roundtrip_fail if intended."
            )
        if error > self.roundtrip_warn:
            warnings.warn(f"GenPO: inversion round-trip error {error:.3g} > algorithm.roundtrip_warn="
                          f"{self.roundtrip_warn:g}; the flow is becoming ill-conditioned.", RuntimeWarning)
        return error
