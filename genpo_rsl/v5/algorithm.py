"""GenPO for rsl_rl 4.x/5.x: PPO over the flow's doubled action, built by the stock ``OnPolicyRunner``.

Differences from rsl_rl's PPO, and where they live:
- storage holds the 2A dummy action and the env receives the flow's executed action of it (coupled flow: the
  average (x + y) / 2; multistep flow: x_N) (``__init__``, ``act``);
- ``act`` takes the exact log-prob from the sampled noise, so the rollout never runs the inverse flow;
- ``update`` is replaced as a whole: PPO assembles its loss inline, leaving no seam for the compression loss, and
  its stochastic forward per minibatch would sample a batch only to throw it away. Our loop reuses PPO's pieces
  (storage generator, optimizer, gradient reduction) and the shared terms of ``genpo_rsl.objective``.
"""

from __future__ import annotations

import inspect

import torch
import torch.nn as nn
from tensordict import TensorDict

from rsl_rl.algorithms import PPO
from rsl_rl.storage import RolloutStorage

from ..checkpoint import check_loaded_dict
from ..ppo_common import GenPOMixin, compile_module
from .actor import GenPOActor

_PPO_KEYS = set(inspect.signature(PPO.__init__).parameters) - {"self", "actor", "critic", "storage"}


class GenPO(GenPOMixin, PPO):
    """PPO for a flow policy (coupled or multistep) with an exact likelihood (GenPO, arXiv 2505.18763)."""

    actor: GenPOActor

    def __init__(self, actor: GenPOActor, critic: nn.Module, storage: RolloutStorage, **cfg) -> None:
        if not isinstance(actor, GenPOActor):
            raise TypeError(
                f"GenPO needs a GenPOActor actor, got {type(actor).__name__}. Set the runner config's "
                "actor.class_name to 'genpo_rsl.v5:GenPOActor' (or 'rsl_rl.modules.GenPOActor' after `import genpo_rsl`)."
            )
        cfg = self._take_genpo_cfg(cfg, _PPO_KEYS)
        if self.doubled_symmetry is not None:
            if critic.is_recurrent:
                raise ValueError("algorithm.symmetry_cfg: symmetry augmentation is not supported for recurrent "
                                 "policies (as in rsl_rl's PPO). Fix: a feed-forward critic, or symmetry_cfg=None")
            self.doubled_symmetry.check(storage.observations[0], actor.action_dim)  # a bad mirror fails now
        # The runner built storage for A-dim actions; GenPO stores the 2A dummy action.
        storage = RolloutStorage(storage.training_type, storage.num_envs, storage.num_transitions_per_env,
                                 storage.observations[0], [2 * actor.action_dim], storage.device)
        super().__init__(actor, critic, storage, **cfg)

    @property
    def rnd_optimizer(self):
        """RND's own optimizer (rsl_rl 5.x keeps it on the RND module), stepped beside PPO's."""
        return self.rnd.optimizer if self.rnd else None

    def compile(self, mode: str | None = None) -> None:
        """Honour the runner config's ``torch_compile_mode`` (rsl_rl 5.1+'s runner calls this after construction;
        rsl_rl 5.0's never does, and calling it by hand works there too).

        PPO.compile wraps the actor and critic modules, but GenPO's rollout and update call the flow's maps
        directly, so the flow's ``forward`` and ``log_prob`` are compiled here, plus the critic. The raw modules
        stay the ones saved, loaded and exported (``_raw_actor``, ``_raw_critic``, ``get_policy``).
        """
        self.critic = compile_module(self._raw_critic, mode)
        self._compile_flow(self._raw_actor.flow, mode)

    def act(self, obs: TensorDict) -> torch.Tensor:
        actor = self._raw_actor
        if self._compiled_flow is None:
            dummy, log_prob = actor.sample(obs)
        else:
            dummy, log_prob = self._sample(actor.flow, actor.context(obs))
        self.transition.hidden_states = (None, None)
        self.transition.actions = dummy.detach()
        self.transition.values = self.critic(obs).detach()
        self.transition.actions_log_prob = log_prob.detach()
        self.transition.distribution_params = (log_prob.detach(),)
        self.transition.observations = obs
        return self._raw_actor.flow.executed_action(self.transition.actions)

    def update(self) -> dict[str, float]:
        actor, flow = self._raw_actor, self._raw_actor.flow
        totals: dict[str, float] = {}
        for batch in self.storage.mini_batch_generator(self.num_mini_batches, self.num_learning_epochs):
            # Symmetry (if configured): mirrored samples after the originals, and the mirror loss.
            obs, context, actions, old_log_prob, advantages, values, returns, original, symmetry_loss = self._augmented(
                flow, actor.context, batch.observations, batch.actions, batch.old_actions_log_prob.squeeze(-1),
                batch.advantages.squeeze(-1), batch.values, batch.returns)
            stats = self._minibatch_step(
                flow, context, actions, old_log_prob, advantages, self.critic(obs), values, returns,
                clip_groups=(self.actor.parameters(), self.critic.parameters()),  # clipped apart, as rsl_rl 5.x does
                original=original, symmetry_loss=symmetry_loss,
                rnd_loss=self.rnd.compute_loss(batch.observations) if self.rnd else None,
            )
            self._accumulate(totals, stats, {})
        obs = self.storage.observations.flatten(0, 1)
        with torch.no_grad():
            losses = self._finish_update(totals, flow, actor.context(obs[:256]))
        # As in rsl_rl 5.x: normalisers move after the epochs, so the first minibatch's ratio is exactly 1.
        actor.update_normalization(obs)
        self._raw_critic.update_normalization(obs)
        if self.rnd:
            self.rnd.update_normalization(obs)
        actor.record_rollout_spread(self.storage.actions)  # logged by the runner as Policy/mean_std
        self.storage.clear()
        return losses

    def load(self, loaded_dict: dict, load_cfg: dict | None = None, strict: bool = True) -> bool:
        """Check that the checkpoint is a GenPO one of matching sizes before rsl_rl loads it."""
        models = {"actor": self._raw_actor, "critic": self._raw_critic}
        if load_cfg is not None:
            models = {key: model for key, model in models.items() if load_cfg.get(key)}
        check_loaded_dict(loaded_dict, strict=strict, **models)
        return super().load(loaded_dict, load_cfg, strict)
