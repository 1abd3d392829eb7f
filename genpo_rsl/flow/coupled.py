"""GenPO's coupled (EDICT-style) flow over a doubled action (Ding et al., arXiv 2505.18763).

Base noise e = (x0, y0) in R^(2A) goes to a "dummy" action (x, y) in R^(2A) by ``num_steps`` invertible steps,
each two additive couplings followed by a mixing step:

    x' = x + v(y, s, t) dt;  y' = y + v(x', s, t) dt;  x = p x' + (1-p) y';  y = p y' + (1-p) x

The couplings have unit Jacobian determinant and each mixing step has determinant p^(2A), so
log|det J| = 2 A N log p is a constant and log pi(x, y | s) = log N(f^-1(x, y)) - 2 A N log p.
The environment receives the average (x + y) / 2; two velocity calls per step.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from .base import ExactFlow
from .fields import Field
from .folded import FoldedFlow, stacked_linear
from .networks import lerp

MIX = Field("mix", 0.9, "p, the mixing coefficient of the two halves after every step (the paper: 0.9; the released "
            "code: 0.95). A small p is ill-conditioned: the inverse divides by p.", low=0.0, low_open=True, high=1.0)


class CoupledFlow(ExactFlow):
    """Invertible N-step coupled flow from base noise to a doubled action, with a closed-form log-likelihood.

    Args (``common``: those of :class:`~genpo_rsl.flow.base.ExactFlow`):
        mix: p in (0, 1], the mixing coefficient. Smaller p mixes more but divides by p in the inverse.
    """

    kind = "coupled"
    conditioning_fix = "raise the policy's mix (p closer to 1)"
    own_fields = (MIX,)
    summary = "GenPO's coupled flow (the paper): two velocity calls per step, the env gets (x + y) / 2"
    # marker_key None: coupled checkpoints predate the markers; a flow state dict without one is coupled.
    latent_centred_at_action = False  # the latent x - y: compression keeps it near zero
    latent_init_scale = 0.5  # x - y starts shrunk by the mixing steps (p^(2N))

    def __init__(self, action_dim: int, context_dim: int, mix: float = 0.9, **common) -> None:
        MIX.check(mix)
        super().__init__(action_dim, context_dim, **common)
        self.mix = float(mix)

    @property
    def log_abs_det_jacobian(self) -> float:
        """log|det d f / d e| = 2 A N log p: couplings are volume preserving, each mix scales volume by p^(2A)."""
        return 2 * self.action_dim * self.num_steps * math.log(self.mix)

    def forward(self, context: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Map base noise (B, 2A) to the dummy action (B, 2A) given context (B, C)."""
        if not torch.jit.is_scripting():
            self._check_shapes(context, noise, "noise")
        conditions = self.step_conditions(context)
        p, dt = self.mix, self.dt
        x, y = noise[..., : self.action_dim], noise[..., self.action_dim :]
        for i in range(self.num_steps):
            x = torch.add(x, self.velocity(y, conditions[i]), alpha=dt)
            y = torch.add(y, self.velocity(x, conditions[i]), alpha=dt)
            x = lerp(y, x, p)  # p x + (1 - p) y
            y = lerp(x, y, p)  # p y + (1 - p) x, with the new x
        return torch.cat([x, y], dim=-1)

    def inverse(self, context: torch.Tensor, dummy: torch.Tensor) -> torch.Tensor:
        """Map a dummy action (B, 2A) back to the base noise (B, 2A) that produces it, exactly."""
        if not torch.jit.is_scripting():
            self._check_shapes(context, dummy, "dummy")
        conditions = self.step_conditions(context)
        unmix, dt = 1.0 / self.mix, self.dt
        x, y = dummy[..., : self.action_dim], dummy[..., self.action_dim :]
        for i in range(self.num_steps - 1, -1, -1):
            y = lerp(x, y, unmix)  # (y - (1 - p) x) / p, one op
            x = lerp(y, x, unmix)  # (x - (1 - p) y) / p, with the old y
            y = torch.sub(y, self.velocity(x, conditions[i]), alpha=dt)
            x = torch.sub(x, self.velocity(y, conditions[i]), alpha=dt)
        return torch.cat([x, y], dim=-1)

    def executed_action(self, dummy: torch.Tensor) -> torch.Tensor:
        """(x + y) / 2 of dummy actions (..., 2A): what the environment receives."""
        half = dummy.shape[-1] // 2
        return 0.5 * (dummy[..., :half] + dummy[..., half:])

    def split_dummy(self, dummy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """((x + y) / 2, x - y): the matrix [[1/2, 1/2], [1, -1]] per dimension has determinant -1."""
        half = dummy.shape[-1] // 2
        first, second = dummy[..., :half], dummy[..., half:]
        return 0.5 * (first + second), first - second

    def join_dummy(self, action: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """(a + z / 2, a - z / 2), the inverse of :meth:`split_dummy`."""
        return torch.cat([action + 0.5 * latent, action - 0.5 * latent], dim=-1)

    def folded(self) -> FoldedCoupled:
        """The deployment form (:class:`FoldedCoupled`)."""
        return FoldedCoupled(self)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        if prefix + "multistep_coefs" in state_dict:
            raise ValueError(
                f"flow: the state dict holds a multistep flow ({prefix + 'multistep_coefs'!r}), but this is a "
                "coupled flow; the weights of one do not give the other's policy. Fix: set flow='multistep' to load "
                "it.")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class FoldedCoupled(FoldedFlow):
    """The coupled flow for deployment. Per step: x' = x + dt v(y) is one Linear over ``cat([features, x])``; the
    second coupling y' = y + dt v(x') and both mixing steps are linear in (features, x', y), so one Linear gives
    the next (x, y) (at the last step, the executed action (x + y) / 2 directly)."""

    def __init__(self, flow: CoupledFlow) -> None:
        super().__init__(flow)
        weight, bias = self.output_layer(flow)
        dt, p = flow.dt, flow.mix
        q = 1.0 - p
        eye = torch.eye(flow.action_dim, dtype=weight.dtype, device=weight.device)
        # With u = dt v(x'):  y' = y + u;  x'' = p x' + q y';  y'' = p y' + q x'' = r (y + u) + p q x',  r = p + q^2.
        r = p + q * q
        rows_x, rows_y = (q, p, q), (r, p * q, r)  # coefficients of (u, x', y) in x'' and in y''
        rows_action = tuple(0.5 * (cx + cy) for cx, cy in zip(rows_x, rows_y))  # (x'' + y'') / 2

        def mixing(rows: list[tuple[float, float, float]], with_y: bool):
            blocks = [torch.cat([c[0] * dt * weight for c in rows]), torch.cat([c[1] * eye for c in rows])]
            if with_y:
                blocks.append(torch.cat([c[2] * eye for c in rows]))
            return stacked_linear(blocks, torch.cat([c[0] * dt * bias for c in rows]))

        with torch.no_grad():
            self.coupling = stacked_linear([dt * weight, eye], dt * bias)  # x' from (features, x)
            self.coupling_from_rest = stacked_linear([dt * weight], dt * bias)  # x = 0
            self.mixing = mixing([rows_x, rows_y], True)
            self.mixing_no_y = mixing([rows_x, rows_y], False)
            self.action = mixing([rows_action], True)
            self.action_no_y = mixing([rows_action], False)

    def step(self, x: Optional[torch.Tensor], y: Optional[torch.Tensor], condition: torch.Tensor) -> torch.Tensor:
        """The two couplings of one step, up to the mixing Linear's input: cat([features at x', x', y]) (without y
        when it is zero)."""
        features = self.features(y, condition)
        if x is None:
            x = self.coupling_from_rest(features)
        else:
            x = self.coupling(torch.cat([features, x], dim=-1))
        features = self.features(x, condition)
        if y is None:
            return torch.cat([features, x], dim=-1)
        return torch.cat([features, x, y], dim=-1)

    def unroll(self, conditions: list[torch.Tensor], noise: Optional[torch.Tensor]) -> torch.Tensor:
        x: Optional[torch.Tensor] = None
        y: Optional[torch.Tensor] = None
        if noise is not None:
            x, y = noise[:, : self.action_dim], noise[:, self.action_dim:]
        for condition in conditions[:-1]:
            joined = self.step(x, y, condition)
            mixed = self.mixing_no_y(joined) if y is None else self.mixing(joined)
            x, y = torch.split(mixed, self.action_dim, dim=-1)
        joined = self.step(x, y, conditions[-1])
        return self.action_no_y(joined) if y is None else self.action(joined)
