"""GenPO for rsl_rl 3.x: PPO over the flow's doubled action, built by the stock 3.x ``OnPolicyRunner``.

Differences from rsl_rl 3.x's PPO, and where they live:

- storage holds the 2A dummy action while the env receives the flow's A-dim executed action of it (coupled flow:
  the average (x + y) / 2; multistep flow: x_N) (``init_storage``, ``act``);
- ``act`` takes the exact log-prob from the sampled noise, so the rollout never runs the inverse flow;
- ``update`` is replaced as a whole. rsl_rl 3.x computes a closed-form Gaussian KL inline from the stored mu/sigma
  (for the adaptive learning rate) and assembles the loss inline, so there is no seam for the sample-based KL or
  the compression loss; its per-minibatch ``policy.act`` would also sample a batch only to throw it away. The loop
  below reuses PPO's storage generator, optimizer and gradient reduction and the shared terms of
  ``genpo_rsl.objective``; it mirrors ``genpo_rsl.v5.algorithm.GenPO.update`` line for line.
- observation normalisers move once per update, after the epochs (``process_env_step``, ``update``), as in
  rsl_rl 5.5 and the 5.x adapter, instead of at every env step as rsl_rl 3.x's PPO does. With per-step updates the
  rollout's log-probs (old) and the update's (new) are taken under different normaliser statistics, i.e. under
  different policies, so the first minibatch's ratio is not 1, the clipping and the KL estimate absorb normaliser
  drift, and the likelihood ratio stops being the importance weight of the behaviour policy. Updating after the
  epochs keeps the ratio exact and makes both rsl_rl worlds train the same algorithm.
"""

from __future__ import annotations

import inspect

import torch
import torch.nn as nn
from tensordict import TensorDict

from rsl_rl.algorithms import PPO

from ..ppo_common import GenPOMixin
from .actor_critic import GenPOActorCritic

_PPO_KEYS = set(inspect.signature(PPO.__init__).parameters) - {"self", "policy"}


class GenPO(GenPOMixin, PPO):
    """PPO for a flow policy (coupled or multistep) with an exact likelihood (GenPO, arXiv 2505.18763), rsl_rl 3.x
    flavour.

    Built by the runner as ``GenPO(policy, device=..., **algorithm_cfg, multi_gpu_cfg=...)``: every rsl_rl 3.x
    PPO key plus those of :data:`genpo_rsl.config.GENPO_ALGORITHM_DEFAULTS`; anything else is an error.
    """

    policy: GenPOActorCritic

    def __init__(self, policy: GenPOActorCritic, **cfg) -> None:
        if not isinstance(policy, GenPOActorCritic):
            raise TypeError(
                f"GenPO needs a GenPOActorCritic policy, got {type(policy).__name__}. Set the runner config's "
                "policy.class_name to 'rsl_rl.modules.GenPOActorCritic' (after `import genpo_rsl`)."
            )
        cfg = self._take_genpo_cfg(cfg, _PPO_KEYS)
        super().__init__(policy, **cfg)

    # ---------------------------------------------------------------- rollout
    def init_storage(self, training_type: str, num_envs: int, num_transitions_per_env: int, obs: TensorDict,
                     actions_shape: tuple[int] | list[int]) -> None:
        """The runner asks for A-dim actions; GenPO stores the 2A dummy action (and 2A mu/sigma)."""
        if list(actions_shape) != [self.policy.action_dim]:
            raise ValueError(f"GenPO.init_storage: the env has actions of shape {list(actions_shape)}, but the "
                             f"policy was built for {self.policy.action_dim} actions.")
        if self.doubled_symmetry is not None:
            self.doubled_symmetry.check(obs, self.policy.action_dim)  # a bad mirror function fails before training
        super().init_storage(training_type, num_envs, num_transitions_per_env, obs, [2 * self.policy.action_dim])

    def compile(self, mode: str | None = None) -> None:
        """torch.compile the flow's maps GenPO's rollout and update call (``forward``, ``log_prob``), as the 5.x
        adapter does for rsl_rl 5.1+'s ``torch_compile_mode``. rsl_rl 3.x has no such setting: its runner ignores
        the key and never calls this; call ``runner.alg.compile("default")`` by hand to compile. The modules stay
        raw (state dicts, checkpoints and exports unchanged)."""
        self._compile_flow(self.policy.flow, mode)

    def act(self, obs: TensorDict) -> torch.Tensor:
        if self._compiled_flow is None:
            dummy, log_prob = self.policy.sample(obs)
        else:
            dummy, log_prob = self._sample(self.policy.flow, self.policy.context(obs))
        self.transition.actions = dummy.detach()
        self.transition.values = self.policy.evaluate(obs).detach()
        self.transition.actions_log_prob = log_prob.detach()
        # Storage keeps Gaussian mu/sigma for 3.x PPO's closed-form KL. GenPO's KL is sample-based and never reads
        # them: sigma holds the base-noise scale (2A,) for reference, mu zeros (the zero-noise flow pass that
        # policy.action_mean would run is not worth one more flow evaluation per env step).
        self.transition.action_mean = dummy.new_zeros(())
        self.transition.action_sigma = self.policy.flow.noise_scale.detach()
        self.transition.observations = obs
        return self.policy.flow.executed_action(self.transition.actions)

    def process_env_step(self, obs: TensorDict, rewards: torch.Tensor, dones: torch.Tensor,
                         extras: dict[str, torch.Tensor]) -> None:
        """rsl_rl 3.x's step bookkeeping without its per-step policy-normaliser update (see the module docstring);
        RND (its normaliser and intrinsic reward) as rsl_rl 3.x does it."""
        self.transition.rewards = rewards.clone()
        self.transition.dones = dones
        if self.rnd:
            self.rnd.update_normalization(obs)
            self.intrinsic_rewards = self.rnd.get_intrinsic_reward(obs)
            self.transition.rewards += self.intrinsic_rewards
        if "time_outs" in extras:  # bootstrapping on time-outs, as rsl_rl does
            self.transition.rewards += self.gamma * torch.squeeze(
                self.transition.values * extras["time_outs"].unsqueeze(1).to(self.device), 1)
        self.storage.add_transitions(self.transition)
        self.transition.clear()
        self.policy.reset(dones)

    # ---------------------------------------------------------------- update
    def _rnd_loss(self, obs: TensorDict) -> torch.Tensor:
        """RND's predictor loss on ``obs``, as rsl_rl 3.x's PPO computes it inline."""
        with torch.no_grad():
            state = self.rnd.state_normalizer(self.rnd.get_rnd_state(obs))
        return nn.functional.mse_loss(self.rnd.predictor(state), self.rnd.target(state).detach())

    def update(self) -> dict[str, float]:
        policy, flow = self.policy, self.policy.flow
        totals: dict[str, float] = {}
        generator = self.storage.mini_batch_generator(self.num_mini_batches, self.num_learning_epochs)
        for (obs, actions, old_values, advantages, returns, old_log_prob, *_unused_mu_sigma_hidden_masks) in generator:
            rnd_loss = self._rnd_loss(obs) if self.rnd else None  # on the rollout's own samples
            # Symmetry (if configured): mirrored samples after the originals, and the mirror loss.
            obs, context, actions, old_log_prob, advantages, old_values, returns, original, symmetry_loss = (
                self._augmented(flow, policy.context, obs, actions, old_log_prob.squeeze(-1), advantages.squeeze(-1),
                                old_values, returns))
            stats = self._minibatch_step(
                flow, context, actions, old_log_prob, advantages, policy.evaluate(obs), old_values, returns,
                clip_groups=(policy.parameters(),), original=original, symmetry_loss=symmetry_loss,
                rnd_loss=rnd_loss,
            )
            # rsl_rl 3.x names the value loss "value_function" (5.x: "value"), so logs line up with its PPO's.
            self._accumulate(totals, stats, {"value": "value_function"})
        obs = self.storage.observations.flatten(0, 1)
        with torch.no_grad():
            losses = self._finish_update(totals, flow, policy.context(obs[:256]))
        # Normalisers move after the epochs, so the first minibatch's ratio is exactly 1 (module docstring).
        policy.update_normalization(obs)
        policy.record_rollout_spread(self.storage.actions)  # logged by the runner as the action std
        self.storage.clear()
        return losses
