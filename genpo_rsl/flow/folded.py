"""Deployment forms of the flows: the sampling map with every constant of a trained flow folded into its weights.

A deployed policy runs one sample per control step at batch 1, where an ONNX runtime pays per graph node rather
than per multiply-add. The training form of a flow spends nodes on things that are constants once the weights are
frozen: the time rows of every step (already folded by the exporter), the slicing of the per-step conditions,
the c dt (multistep) or dt (coupled) scale of the velocity, and the mixing sums after each velocity call. Here:

* every step's condition comes out of one Linear on the encoded observation (its weight the context part of the
  first layer, repeated N times; its bias the N time rows) and one split;
* each velocity call ends in matrix multiplies whose weights stack the scaled output layer and the mixing
  coefficients, so the update of the flow's states is one or two of them (coupled: one Linear over
  ``cat([features, states...])``; multistep: z_{i+1} = H z_i + F features + offset, no concatenation);
* deterministic sampling (zero base noise) starts from known zeros, so the first calls drop the state inputs;
* an affine observation normaliser can be absorbed into the layers that read the observation (:meth:`fold_input`).

The result equals ``flow.executed_action(flow(context, sigma * noise))`` up to float rounding (tested in float64
for both flows); each flow builds its own (:meth:`ExactFlow.folded`). A flow without a folded form is wrapped as is
(:class:`UnfoldedFlow`). TorchScript-scriptable and ONNX-exportable.
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
import torch.nn as nn

from .networks import bounded_log_scale


def linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    """A frozen Linear with these weight (out, in) and bias (out,)."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer.requires_grad_(False)


def stacked_linear(blocks: list[torch.Tensor], bias: torch.Tensor) -> nn.Linear:
    """A Linear whose weight is the column blocks ``blocks`` (each (out, in_k)) side by side: ``cat(inputs) -> out``."""
    return linear(torch.cat(blocks, dim=1), bias)


class _NoiseScale(nn.Module):
    """log sigma of the base, as the flow computes it (fixed, learned or state-dependent with its bound)."""

    def __init__(self, flow: nn.Module) -> None:
        super().__init__()
        self.state_dependent = flow.noise_scale_head is not None
        self.head = copy.deepcopy(flow.noise_scale_head) if self.state_dependent else nn.Identity()
        self.register_buffer("fixed", flow.log_noise_scale.detach().clone() if not self.state_dependent
                             else torch.zeros(0, dtype=flow.times.dtype, device=flow.times.device))
        self.soft_bound = bool(flow.soft_bound)
        self.bound = float(flow.log_scale_bound)
        self.low, self.high = float(flow.log_scale_min), float(flow.log_scale_max)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        if not self.state_dependent:
            return self.fixed
        return bounded_log_scale(self.head(context), self.soft_bound, self.bound, self.low, self.high)


class FoldedFlow(nn.Module):
    """``(context (B, C), noise (B, 2A) ~ N(0, I) or None) -> executed action (B, A)``; None means zero noise.

    The base-noise scale (fixed, learned or state-dependent) is applied inside, as in the flow's own sampling.
    Subclasses add the flow's state updates (its folded Linears) and :meth:`unroll`.

    Args:
        flow: a trained :class:`~genpo_rsl.flow.base.ExactFlow`; its weights are copied, it is not changed.
    """

    def __init__(self, flow: nn.Module) -> None:
        super().__init__()
        velocity = flow.velocity
        self.action_dim = int(flow.action_dim)
        self.width = int(velocity.in_half.out_features)
        self.encoder = copy.deepcopy(flow.encoder)
        with torch.no_grad():
            step_bias = velocity.step_bias(flow.times)  # (N, H): time rows and the first layer's bias
            self.conditions = linear(velocity.in_context.weight.repeat(flow.num_steps, 1), step_bias.reshape(-1))
            self.register_buffer("state_weight", velocity.in_half.weight.detach().clone())
        self.activation = copy.deepcopy(velocity.in_activation)
        self.hidden = copy.deepcopy(velocity.trunk[:-1])  # the head's layers after the first, but the output
        self.noise_scale = _NoiseScale(flow)
        for p in self.parameters():
            p.requires_grad_(False)

    def fold_input(self, scale: torch.Tensor, shift: torch.Tensor) -> None:
        """Absorb an elementwise affine map of the input, context = scale * obs + shift (an observation
        normaliser), into the Linears that read the context: the encoder's first layer (or the conditions) and the
        state-dependent noise head."""
        first = self.encoder[0] if isinstance(self.encoder, nn.Sequential) else self.conditions
        readers = [first] + ([self.noise_scale.head] if self.noise_scale.state_dependent else [])
        with torch.no_grad():
            for layer in readers:
                weight = layer.weight
                layer.bias.add_(weight @ shift.to(weight))
                layer.weight.mul_(scale.to(weight))

    def output_layer(self, flow: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight (A, F), bias (A,)) of the velocity's output layer, detached."""
        last = flow.velocity.trunk[-1]
        return last.weight.detach(), last.bias.detach()

    def features(self, state: Optional[torch.Tensor], condition: torch.Tensor) -> torch.Tensor:
        """The velocity head's last hidden features at ``state`` (None: a zero state) for one step's condition."""
        pre = condition if state is None else torch.addmm(condition, state, self.state_weight.t())
        return self.hidden(self.activation(pre))

    def forward(self, context: torch.Tensor, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        conditions = torch.split(self.conditions(self.encoder(context)), self.width, dim=-1)
        if noise is not None:
            noise = noise * self.noise_scale(context).exp()
        return self.unroll(conditions, noise)

    def unroll(self, conditions: list[torch.Tensor], noise: Optional[torch.Tensor]) -> torch.Tensor:
        """The flow's steps from the scaled base noise (None: zero) to the executed action."""
        raise NotImplementedError


class UnfoldedFlow(nn.Module):
    """A flow without a folded form, behind the same interface: ``executed_action(flow(context, sigma noise))``."""

    def __init__(self, flow: nn.Module) -> None:
        super().__init__()
        self.flow = copy.deepcopy(flow)

    def forward(self, context: torch.Tensor, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        if noise is None:
            noise = torch.zeros(context.shape[0], 2 * self.flow.action_dim, dtype=context.dtype, device=context.device)
        else:
            noise = noise * self.flow.log_scale(context).exp()
        return self.flow.executed_action(self.flow(context, noise))
