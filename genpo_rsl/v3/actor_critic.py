"""GenPO's policy for rsl_rl 3.x: an ``ActorCritic`` whose actor is one of the shared flows of :mod:`genpo_rsl.flow`.

rsl_rl 3.x builds the policy as ``cls(obs, obs_groups, num_actions, **policy_cfg)`` and PPO talks to it through
``act`` / ``get_actions_log_prob`` / ``evaluate`` / ``action_mean`` / ``action_std`` / ``entropy``. Here the
stochastic action is the flow's 2A "dummy" action; the environment action is the flow's ``executed_action`` of it
(coupled: the average (x + y) / 2, multistep: x_N), which :class:`~genpo_rsl.v3.algorithm.GenPO` sends to the env
and ``act_inference`` returns.

Layout (what IsaacLab's exporter and rsl_rl's checkpoints see):

* ``actor``: a :class:`FlowActor` (normalised obs -> A-dim action at zero noise). It owns the flow, so the flow's
  parameters appear exactly once in ``parameters()`` and ``state_dict()`` (as ``actor.flow.*``); ``flow`` is a
  property pointing at it. ``actor[0]`` is the flow's first observation-reading Linear, so IsaacLab's ONNX exporter
  (``actor[0].in_features``) finds the observation size.
* ``actor_obs_normalizer`` / ``critic_obs_normalizer`` / ``critic``: as in rsl_rl's ``ActorCritic``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from tensordict import TensorDict

from rsl_rl.modules import ActorCritic
from rsl_rl.networks import MLP, EmpiricalNormalization

from ..checkpoint import check_state_dict
from ..config import FLOW_DEFAULTS, check_unknown_keys, validate_flow_cfg
from ..export import DeterministicFlowPolicy
from ..flow import ExactFlow, make_flow
from ..ppo_common import RolloutSpreadMixin, observation_size

# rsl_rl ActorCritic keys that describe a Gaussian policy: rejected with a pointer to GenPO's counterpart instead
# of rsl_rl's print-and-ignore (IsaacLab's RslRlPpoActorCriticCfg always emits them).
GAUSSIAN_POLICY_KEYS = {
    "init_noise_std": "GenPO's base-noise scale is init_noise_scale (learned with noise_scale='learned' or 'state')",
    "noise_std_type": "GenPO has no Gaussian std; its base-noise scale is set by noise_scale ('fixed' | 'learned' | "
                      "'state')",
    "state_dependent_std": "GenPO's base-noise scale depends on the state with noise_scale='state'",
}
POLICY_KEYS = {"actor_hidden_dims", "critic_hidden_dims", "activation", "actor_obs_normalization",
               "critic_obs_normalization"}


class FlowActor(DeterministicFlowPolicy):
    """``policy.actor``: normalised obs (B, O) -> A-dim action at zero base noise (TorchScript-scriptable).

    The same module as the exported deterministic policy, with the observation normaliser left to the caller
    (rsl_rl 3.x and IsaacLab keep it apart as ``policy.actor_obs_normalizer``).
    """

    def __init__(self, flow: ExactFlow) -> None:
        super().__init__(nn.Identity(), flow)
        self.in_features = flow.context_dim

    def __getitem__(self, index: int) -> nn.Module:
        """``actor[0]`` is the first Linear reading the observation (in_features = obs size), as in an MLP."""
        if index in (0, -len(self)):
            return self.flow.observation_layer()
        raise IndexError("FlowActor only exposes actor[0] (the flow's observation-reading Linear)")

    def __len__(self) -> int:
        return 1


class GenPOActorCritic(RolloutSpreadMixin, ActorCritic):
    """rsl_rl 3.x actor-critic whose policy is a GenPO flow (``flow``: "coupled" | "multistep") over the doubled action.

    Args:
        obs, obs_groups, num_actions: as rsl_rl's runner passes them (obs sets "policy" and "critic").
        actor_hidden_dims: hidden sizes of the flow's velocity MLP.
        critic_hidden_dims, activation, actor_obs_normalization, critic_obs_normalization: as in ``ActorCritic``.
        **flow_cfg: the keys of :data:`genpo_rsl.config.FLOW_DEFAULTS` (flow, num_steps, mix, history_coef,
            velocity_coef, time_embed_dim, time_hidden_dims, noise_scale, init_noise_scale). Any other key is an
            error.
    """

    is_recurrent: bool = False

    def __init__(
        self,
        obs: TensorDict,
        obs_groups: dict[str, list[str]],
        num_actions: int,
        actor_obs_normalization: bool = False,
        critic_obs_normalization: bool = False,
        actor_hidden_dims: tuple[int, ...] | list[int] = (256, 256, 256),
        critic_hidden_dims: tuple[int, ...] | list[int] = (256, 256, 256),
        activation: str = "elu",
        **flow_cfg,
    ) -> None:
        for key, hint in GAUSSIAN_POLICY_KEYS.items():
            if key in flow_cfg:
                raise ValueError(f"policy: {key!r} is a Gaussian ActorCritic key and is not used by "
                                 f"GenPOActorCritic; {hint}. Remove it from the policy config.")
        check_unknown_keys("policy", flow_cfg, POLICY_KEYS | set(FLOW_DEFAULTS))
        validate_flow_cfg("policy", flow_cfg)
        # ActorCritic.__init__ is not called on purpose: it would build a Gaussian actor MLP and std parameter that
        # would sit, unused, in parameters() and the checkpoint. The members it sets and its methods reuse
        # (obs_groups, critic, normalisers and their flags) are set here the same way.
        nn.Module.__init__(self)
        self.obs_groups = obs_groups
        self.obs_dim = observation_size(obs, obs_groups["policy"], "GenPOActorCritic")
        num_critic_obs = observation_size(obs, obs_groups["critic"], "GenPOActorCritic")
        self.action_dim = int(num_actions)

        self.actor = FlowActor(make_flow(self.action_dim, self.obs_dim, hidden_dims=actor_hidden_dims,
                                         activation=activation, **{**FLOW_DEFAULTS, **flow_cfg}))
        self.actor_obs_normalization = actor_obs_normalization
        self.actor_obs_normalizer = EmpiricalNormalization(self.obs_dim) if actor_obs_normalization else nn.Identity()
        self.critic = MLP(num_critic_obs, 1, critic_hidden_dims, activation)
        self.critic_obs_normalization = critic_obs_normalization
        self.critic_obs_normalizer = (EmpiricalNormalization(num_critic_obs) if critic_obs_normalization
                                      else nn.Identity())
        self.distribution = None  # ActorCritic's Normal; GenPO has none
        # The last stochastic pass, read by the rsl_rl-facing properties below.
        self._context: torch.Tensor | None = None
        self._log_prob: torch.Tensor | None = None

    @property
    def flow(self) -> ExactFlow:
        return self.actor.flow

    # ---------------------------------------------------------------- observation -> context
    def context(self, obs: TensorDict) -> torch.Tensor:
        """The flow's conditioning vector: the normalised concatenation of the "policy" observation groups."""
        return self.actor_obs_normalizer(self.get_actor_obs(obs))

    # ---------------------------------------------------------------- stochastic pass (rollout, PPO interface)
    def sample(self, obs: TensorDict) -> tuple[torch.Tensor, torch.Tensor]:
        """(dummy action (B, 2A), its exact log-prob (B,)): the noise is known, so no inverse is needed."""
        context = self.context(obs)
        dummy, self._log_prob = self.flow.sample(context)
        self._context = context
        return dummy, self._log_prob

    def act(self, obs: TensorDict, **kwargs) -> torch.Tensor:
        """Sample the 2A dummy action. Takes (and ignores) masks / hidden_states (3.0.1) / hidden_state (3.1.x)."""
        return self.sample(obs)[0]

    def get_actions_log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """Exact log pi(actions | last obs) of 2A dummy actions, (B,), through the inverse flow."""
        if self._context is None:
            raise RuntimeError("GenPOActorCritic.get_actions_log_prob needs a preceding act(obs)")
        self._log_prob = self.flow.log_prob(self._context, actions)
        return self._log_prob

    @property
    def action_mean(self) -> torch.Tensor:
        """The zero-noise dummy action (B, 2A) for the last observations (the flow's 'mean-like' point)."""
        if self._context is None:
            raise RuntimeError("GenPOActorCritic.action_mean needs a preceding act(obs)")
        return self.flow(self._context, self._context.new_zeros(self._context.shape[0], 2 * self.action_dim))

    @property
    def action_std(self) -> torch.Tensor:
        """The spread of the executed actions over the last rollout, (A,) (rsl_rl 3.x logs its mean as
        Policy/mean_noise_std, "Mean action noise std"); NaN before the first update. The base-noise scale sigma is
        ``flow.noise_scale`` (logged as Diagnostics/noise_scale by genpo-train, Loss/noise_scale by rsl_rl's stock runner)."""
        return self.rollout_spread()

    @property
    def entropy(self) -> torch.Tensor:
        """Exact entropy of the doubled action, (B,) (the same for every state unless noise_scale="state")."""
        if self._context is None:
            return self.flow.entropy().expand(1)
        return self.flow.entropy(self._context)

    def get_hidden_states(self):
        return None, None

    def update_distribution(self, obs):  # ActorCritic's Gaussian hook (renamed _update_distribution in 3.1)
        raise NotImplementedError("GenPOActorCritic has no Gaussian distribution; use act() / sample()")

    _update_distribution = update_distribution

    # ---------------------------------------------------------------- inference
    def act_inference(self, obs: TensorDict, deterministic: bool = True) -> torch.Tensor:
        """The A-dim environment action (the flow's executed_action); deterministic means zero base noise."""
        return self.flow.act(self.context(obs), deterministic=deterministic)

    # ---------------------------------------------------------------- checkpoints
    def load_state_dict(self, state_dict: dict, strict: bool = True, assign: bool = False) -> bool:
        """Load a ``model_state_dict``; returns True (rsl_rl 3.x then restores the optimizer and iteration).

        With ``strict`` the dict is checked first (GenPO vs Gaussian, obs/action sizes, config), so a wrong
        checkpoint fails with a message naming cause and fix instead of a page of key mismatches.
        """
        if strict:
            check_state_dict(state_dict, self)
        nn.Module.load_state_dict(self, state_dict, strict=strict, assign=assign)
        return True
