"""The multistep flow: a reversible two-step (linear multistep) solver whose state is two consecutive points.

The authors' follow-up to GenPO (GenPO++, arXiv 2606.06967) replaces the coupled flow's two velocity calls per
step by one. The latent is a pair z = (x_0, x_-1) ~ N(0, sigma^2 I_2A); for i = 0 .. N-1, t_i = i / N, dt = 1 / N:

    x_{i+1} = (1 - b) x_i + b x_{i-1} + c dt v(x_i, s, t_i)
    x_{i-1} = (x_{i+1} - (1 - b) x_i - c dt v(x_i, s, t_i)) / b          (the exact inverse)

The step (x_{i-1}, x_i) -> (x_i, x_{i+1}) has the block Jacobian [[0, I], [b I, (1 - b) I + c dt dv/dx]], whose
|det| is b^A whatever v is, so log|det J| = N A log b and the likelihood of the pair (x_N, x_{N-1}) is closed form.
The dummy action is cat([x_N, x_{N-1}]) (2A, stored and scored by PPO); the environment executes x_N itself, an
actual flow sample, so there is no average and no compression loss.

b (``history_coef``) in (0, 1] weighs the history state; the inverse divides by b^N. c (``velocity_coef``) > 0
scales the velocity. Defaults b = 0.97, c = 1: the authors' IsaacLab configs (b = 0.97 on all but Ant, c = 1 on
all; their class default is b = 0.95). The project page writes c = 1 + b; we keep c = 1 because it is what their
trained policies used, and because c only rescales the velocity net's output (a learnable scale anyway), so it
changes the initial step size, not what the flow can represent.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from .base import ExactFlow
from .fields import Field
from .folded import FoldedFlow, linear
from .networks import lerp

HISTORY_COEF = Field("history_coef", 0.97, "b, the weight of the previous state x_{i-1} in every step (the authors' "
                     "IsaacLab configs: 0.97; their class default 0.95). The inverse divides by b^N.",
                     low=0.0, low_open=True, high=1.0)
VELOCITY_COEF = Field("velocity_coef", 1.0, "c, the scale of the velocity term c dt v (the authors' configs: 1.0; "
                      "their page writes 1 + b).", low=0.0, low_open=True)


class MultistepFlow(ExactFlow):
    """Invertible N-step multistep flow over (x_N, x_{N-1}), one velocity call per step, closed-form likelihood.

    Args (``common``: those of :class:`~genpo_rsl.flow.base.ExactFlow`):
        history_coef: b in (0, 1], the weight of the history state x_{i-1} (authors' IsaacLab configs: 0.97).
        velocity_coef: c > 0, the scale of the velocity term c dt v (authors' configs: 1.0; the page writes 1 + b).
    """

    kind = "multistep"
    needs_compression = False  # the env executes x_N, a flow sample; nothing to compress
    conditioning_fix = "raise the policy's history_coef (b closer to 1)"
    own_fields = (HISTORY_COEF, VELOCITY_COEF)
    summary = "the GenPO++ multistep flow: one velocity call per step, the env executes x_N"
    marker_key = "multistep_coefs"
    latent_centred_at_action = True  # x_{N-1} is one flow step from x_N
    latent_init_scale = 1.0  # about as wide as the base noise

    def __init__(self, action_dim: int, context_dim: int, history_coef: float = 0.97, velocity_coef: float = 1.0,
                 **common) -> None:
        HISTORY_COEF.check(history_coef)
        VELOCITY_COEF.check(velocity_coef)
        super().__init__(action_dim, context_dim, **common)
        self.history_coef = float(history_coef)
        self.velocity_coef = float(velocity_coef)
        # (b, c) in the state dict: any checkpoint of this flow says what it is, even one written without
        # genpo_rsl's stamp (a stock OnPolicyRunner.save), and loading checks them (_load_from_state_dict).
        self.register_buffer("multistep_coefs", torch.tensor([self.history_coef, self.velocity_coef]))

    @property
    def log_abs_det_jacobian(self) -> float:
        """log|det d f / d e| = N A log b: each step scales volume by b^A, whatever the velocity net is."""
        return self.num_steps * self.action_dim * math.log(self.history_coef)

    def forward(self, context: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Map the latent (x_0, x_-1) (B, 2A) to the dummy action (x_N, x_{N-1}) (B, 2A) given context (B, C)."""
        if not torch.jit.is_scripting():
            self._check_shapes(context, noise, "noise")
        conditions = self.step_conditions(context)
        b, h = self.history_coef, self.velocity_coef * self.dt
        current, previous = noise[..., : self.action_dim], noise[..., self.action_dim :]
        for i in range(self.num_steps):
            # (1 - b) x_i + b x_{i-1} + c dt v(x_i), in two ops (lerp: x_i + b (x_{i-1} - x_i))
            following = torch.add(lerp(current, previous, b), self.velocity(current, conditions[i]), alpha=h)
            previous = current
            current = following
        return torch.cat([current, previous], dim=-1)

    def inverse(self, context: torch.Tensor, dummy: torch.Tensor) -> torch.Tensor:
        """Map a dummy action (x_N, x_{N-1}) (B, 2A) back to the latent (x_0, x_-1) (B, 2A), exactly."""
        if not torch.jit.is_scripting():
            self._check_shapes(context, dummy, "dummy")
        conditions = self.step_conditions(context)
        b, h = self.history_coef, self.velocity_coef * self.dt
        # current = x_{i+1}, previous = x_i; each step recovers x_{i-1}.
        current, previous = dummy[..., : self.action_dim], dummy[..., self.action_dim :]
        for i in range(self.num_steps - 1, -1, -1):
            velocity = self.velocity(previous, conditions[i])
            # (x_{i+1} - (1 - b) x_i - c dt v(x_i)) / b, in two ops (lerp: x_i + (x_{i+1} - x_i) / b)
            earlier = torch.sub(lerp(previous, current, 1.0 / b), velocity, alpha=h / b)
            current = previous
            previous = earlier
        return torch.cat([current, previous], dim=-1)

    def executed_action(self, dummy: torch.Tensor) -> torch.Tensor:
        """x_N, the first half of dummy actions (..., 2A): what the environment receives (a copy, not a view)."""
        return dummy[..., : dummy.shape[-1] // 2].clone()

    def split_dummy(self, dummy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_N, x_{N-1}): a plain split."""
        half = dummy.shape[-1] // 2
        return dummy[..., :half], dummy[..., half:]

    def join_dummy(self, action: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """(x_N, x_{N-1}) = (action, latent)."""
        return torch.cat([action, latent], dim=-1)

    def folded(self) -> FoldedMultistep:
        """The deployment form (:class:`FoldedMultistep`)."""
        return FoldedMultistep(self)

    # ---------------------------------------------------------------- checkpoints
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        key = prefix + "multistep_coefs"
        if key in state_dict:
            found = [float(v) for v in state_dict[key].flatten()]
            mine = [self.history_coef, self.velocity_coef]
            if len(found) == 2 and any(not math.isclose(f, m, rel_tol=1e-6) for f, m in zip(found, mine)):
                raise ValueError(
                    f"history_coef/velocity_coef: the state dict was written by a multistep flow with history_coef="
                    f"{found[0]:.6g}, velocity_coef={found[1]:.6g}, this flow has {mine[0]:.6g}, {mine[1]:.6g}; "
                    f"they are not weights, so loading would silently change the policy. Fix: set history_coef="
                    f"{found[0]:.6g}, velocity_coef={found[1]:.6g}.")
        elif prefix + "velocity.in_half.weight" in state_dict:
            raise ValueError(
                f"flow: the state dict holds a coupled flow (no {key!r}), but this is a multistep flow; the weights "
                "of one do not give the other's policy. Fix: set flow='coupled' to load it.")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)


class FoldedMultistep(FoldedFlow):
    """The multistep flow for deployment. Its state is the pair z_i = (x_i, x_{i-1}) itself (the scaled base noise
    is z_0), so a step is the head at x_i (whose first layer reads z_i through [W_x, 0]) and
    z_{i+1} = H z_i + F features + c dt b_out: two matrix multiplies, no slicing or concatenation; the last step
    gives x_N alone. With zero noise the first step starts from the rest state and skips the H z_i term."""

    def __init__(self, flow: MultistepFlow) -> None:
        super().__init__(flow)
        weight, bias = self.output_layer(flow)
        scale, b = flow.velocity_coef * flow.dt, flow.history_coef
        a = flow.action_dim
        eye = torch.eye(a, dtype=weight.dtype, device=weight.device)
        zeros = torch.zeros_like(eye)
        with torch.no_grad():
            self.state_weight = torch.cat([self.state_weight, torch.zeros_like(self.state_weight)], dim=1)
            # x_{i+1} = (1 - b) x_i + b x_{i-1} + c dt (W f + b_out);  the new history is x_i.
            history = torch.cat([torch.cat([(1.0 - b) * eye, b * eye], 1), torch.cat([eye, zeros], 1)])
            velocity = torch.cat([scale * weight, torch.zeros_like(weight)])
            offset = torch.cat([scale * bias, torch.zeros_like(bias)])
            self.history = linear(history, offset)
            self.history_last = linear(history[:a], offset[:a])
            # F transposed, for addmm; the last step's rows (x_N alone) kept apart, not sliced per call.
            self.register_buffer("velocity_weight_t", velocity.t().contiguous())
            self.register_buffer("velocity_weight_last_t", velocity[:a].t().contiguous())
            self.from_rest = linear(velocity, offset)
            self.from_rest_last = linear(velocity[:a], offset[:a])

    def unroll(self, conditions: list[torch.Tensor], noise: Optional[torch.Tensor]) -> torch.Tensor:
        state = noise  # z_0 = (x_0, x_-1); None: zero
        last = len(conditions) - 1
        for i, condition in enumerate(conditions):
            features = self.features(state, condition)
            if state is None:
                state = self.from_rest_last(features) if i == last else self.from_rest(features)
            elif i == last:
                state = torch.addmm(self.history_last(state), features, self.velocity_weight_last_t)
            else:
                state = torch.addmm(self.history(state), features, self.velocity_weight_t)
        assert state is not None
        return state
