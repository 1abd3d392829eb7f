"""GenPO's actor for rsl_rl 4.x/5.x: observation groups -> (normalised) context -> flow (coupled or multistep).

Why an actor model and not a custom ``Distribution`` inside rsl_rl's ``MLPModel``: a Distribution only sees the
MLP's output, so the velocity net could never read the observation itself (as the paper's does), and an MLP
encoder of at least one hidden layer would sit in front of the flow. A model class gets the observation, keeps
the flow exactly as specified, and is still built by the stock runner from ``actor.class_name``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from tensordict import TensorDict

from rsl_rl.modules import EmpiricalNormalization

from ..config import FLOW_DEFAULTS, check_unknown_keys, validate_flow_cfg
from ..flow import make_flow
from ..ppo_common import RolloutSpreadMixin, observation_size
from ..export import flow_policy


class GenPOActor(RolloutSpreadMixin, nn.Module):
    """Actor whose policy is an exact flow (``flow``: "coupled" | "multistep"); its stochastic output is the 2A
    dummy action.

    Called by rsl_rl 5.x as ``GenPOActor(obs, obs_groups, "actor", num_actions, **actor_cfg)``.
    ``forward(obs)`` (deterministic, the inference and export path) returns the A-dim executed action at zero noise
    (coupled: (x + y) / 2, multistep: x_N); ``forward(obs, stochastic_output=True)`` returns a sampled 2A dummy
    action, which GenPO stores.
    """

    is_recurrent: bool = False

    def __init__(
        self,
        obs: TensorDict,
        obs_groups: dict[str, list[str]],
        obs_set: str,
        output_dim: int,
        hidden_dims: tuple[int, ...] | list[int] = (256, 256, 256),
        activation: str = "elu",
        obs_normalization: bool = False,
        distribution_cfg: dict | None = None,
        **flow_cfg,
    ) -> None:
        super().__init__()
        if distribution_cfg is not None:
            raise ValueError("actor: distribution_cfg must be None for GenPOActor: its action distribution is the "
                             "flow (set flow, num_steps, mix, noise_scale, ... instead)")
        check_unknown_keys("actor", flow_cfg, FLOW_DEFAULTS)
        validate_flow_cfg("actor", flow_cfg)
        self.obs_groups = list(obs_groups[obs_set])
        self.obs_dim = observation_size(obs, self.obs_groups, "GenPOActor")
        self.action_dim = output_dim
        self.obs_normalization = obs_normalization
        self.obs_normalizer = EmpiricalNormalization(self.obs_dim) if obs_normalization else nn.Identity()
        self.flow = make_flow(output_dim, self.obs_dim, hidden_dims=hidden_dims, activation=activation,
                              **{**FLOW_DEFAULTS, **flow_cfg})
        # Last stochastic pass, read by the rsl_rl-facing properties below.
        self._context: torch.Tensor | None = None
        self._log_prob: torch.Tensor | None = None

    # ---------------------------------------------------------------- observation -> context
    def context(self, obs: TensorDict) -> torch.Tensor:
        return self.obs_normalizer(torch.cat([obs[group] for group in self.obs_groups], dim=-1))

    # ---------------------------------------------------------------- rsl_rl model interface
    def forward(self, obs: TensorDict, masks: torch.Tensor | None = None, hidden_state=None,
                stochastic_output: bool = False) -> torch.Tensor:
        if stochastic_output:
            return self.sample(obs)[0]
        return self.flow.act(self.context(obs), deterministic=True)

    def sample(self, obs: TensorDict) -> tuple[torch.Tensor, torch.Tensor]:
        """(dummy action (B, 2A), its exact log-prob (B,)) in one pass: the noise is known, no inverse needed."""
        context = self.context(obs)
        dummy, self._log_prob = self.flow.sample(context)
        self._context = context
        return dummy, self._log_prob

    def act(self, obs: TensorDict, deterministic: bool = True) -> torch.Tensor:
        """The A-dim environment action; deterministic means zero base noise."""
        return self.flow.act(self.context(obs), deterministic=deterministic)

    def get_output_log_prob(self, outputs: torch.Tensor) -> torch.Tensor:
        self._log_prob = self.flow.log_prob(self._context, outputs)
        return self._log_prob

    @property
    def output_entropy(self) -> torch.Tensor:
        if self._context is None:
            return self.flow.entropy().expand(1)
        return self.flow.entropy(self._context)

    @property
    def output_std(self) -> torch.Tensor:
        """The spread of the executed actions over the last rollout, (A,) (rsl_rl logs its mean as Policy/mean_std and
        "Mean action std"); NaN before the first update. The base-noise scale sigma is logged as Diagnostics/noise_scale by genpo-train, Loss/noise_scale by rsl_rl's stock runner."""
        return self.rollout_spread()

    @property
    def output_mean(self) -> torch.Tensor:
        return self.flow.act(self._context, deterministic=True)

    def update_normalization(self, obs: TensorDict) -> None:
        if self.obs_normalization:
            self.obs_normalizer.update(torch.cat([obs[group] for group in self.obs_groups], dim=-1))

    def reset(self, dones: torch.Tensor | None = None, hidden_state=None) -> None:
        pass

    def get_hidden_state(self):
        return None

    def detach_hidden_state(self, dones: torch.Tensor | None = None) -> None:
        pass

    # ---------------------------------------------------------------- export (OnPolicyRunner.export_policy_to_*)
    def as_jit(self) -> nn.Module:
        """obs (B, O) -> action (B, A) at zero noise, normaliser inside (a copy; see genpo_rsl.export)."""
        return flow_policy(self.obs_normalizer, self.flow)

    def as_onnx(self, verbose: bool = False) -> nn.Module:
        """The same module as :meth:`as_jit`; it carries rsl_rl's ONNX contract (dummy inputs, input/output names)."""
        return flow_policy(self.obs_normalizer, self.flow)
