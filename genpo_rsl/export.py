"""Exportable GenPO policies: observation normalisation + the N-step coupled flow unrolled into one graph.

These modules are what TorchScript and ONNX see. They take the concatenated actor observation and return the
A-dim action (x + y) / 2. The deterministic policy uses zero base noise; the stochastic one takes standard-normal
noise (B, 2A) as a second input so the deployment side owns its random numbers.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .flow import CoupledFlow


class DeterministicFlowPolicy(nn.Module):
    """obs (B, O) -> action (B, A) at zero base noise."""

    is_recurrent: bool = False

    def __init__(self, obs_normalizer: nn.Module, flow: CoupledFlow) -> None:
        super().__init__()
        self.obs_normalizer = obs_normalizer
        self.flow = flow
        self.obs_dim = flow.context_dim
        self.action_dim = flow.action_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        context = self.obs_normalizer(obs)
        noise = torch.zeros(obs.shape[0], 2 * self.action_dim, dtype=obs.dtype, device=obs.device)
        dummy = self.flow(context, noise)
        return 0.5 * (dummy[:, : self.action_dim] + dummy[:, self.action_dim :])

    @torch.jit.export
    def reset(self) -> None:
        """No recurrent state; present because rsl_rl's and IsaacLab's exported policies expose reset()."""
        pass

    # ONNX export contract of rsl_rl 5.x (OnPolicyRunner.export_policy_to_onnx).
    def get_dummy_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(1, self.obs_dim),)

    @property
    def input_names(self) -> list[str]:
        return ["obs"]

    @property
    def output_names(self) -> list[str]:
        return ["actions"]


class StochasticFlowPolicy(DeterministicFlowPolicy):
    """(obs (B, O), noise (B, 2A) ~ N(0, I)) -> action (B, A); the learned noise scale, if any, is applied inside."""

    def forward(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        context = self.obs_normalizer(obs)
        dummy = self.flow(context, noise * self.flow.log_noise_scale.exp())
        return 0.5 * (dummy[:, : self.action_dim] + dummy[:, self.action_dim :])

    def get_dummy_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(1, self.obs_dim), torch.zeros(1, 2 * self.action_dim))

    @property
    def input_names(self) -> list[str]:
        return ["obs", "noise"]


# rsl_rl 5.x asks the actor for separate JIT and ONNX modules; the deterministic policy serves as both.
OnnxFlowPolicy = DeterministicFlowPolicy
