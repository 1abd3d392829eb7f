"""The likelihood of a demonstrated (executed) action under a GenPO flow, whose sample is a doubled action.

A GenPO flow samples a 2A "dummy" action and the environment executes an A-dim function of it. A demonstration
records only the executed action a, so the rest of the dummy action is a latent z, and

    log pi(a | s) = log  integral  p_flow(join(a, z) | s) dz,

where join is the unit-Jacobian map (a, z) -> dummy of the flow's layout:

* coupled flow, dummy (x, y), executed (x + y) / 2: z = x - y, join(a, z) = (a + z/2, a - z/2). The matrix of
  (x, y) -> ((x + y)/2, x - y) is [[1/2, 1/2], [1, -1]] per dimension, determinant -1, so p(a, z) = p_flow(x, y).
* multistep flow, dummy (x_N, x_{N-1}), executed x_N: z = x_{N-1}, join(a, z) = (a, z) (a plain split).

The integral has no closed form, so the objective is the importance-weighted lower bound (IWAE, Burda et al.
2016) with a learned Gaussian proposal q(z | a, s):

    L_K = E_{z_1..K ~ q} [ log (1/K) sum_k p_flow(join(a, z_k) | s) / q(z_k | a, s) ]  <=  log pi(a | s).

It is a bound for every proposal and every K (Jensen), L_K grows with K and reaches log pi(a | s) as K -> inf; at
K = 1 it is the usual evidence lower bound. Training maximises L_K over the flow and the proposal together; the
same estimator with many samples measures the log-likelihood. Every p_flow term is the flow's exact closed-form
density (one inverse pass, no Jacobian), so the only approximation is the integral over z.

This module knows the flows, not rsl_rl.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..flow import ExactFlow


def split_dummy(flow: nn.Module, dummy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(executed action (..., A), latent z (..., A)) of dummy actions (..., 2A); the flow's own unit-Jacobian split."""
    return _flow(flow).split_dummy(dummy)


def join_dummy(flow: nn.Module, action: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
    """The dummy action (..., 2A) with executed part ``action`` and latent ``latent``; inverse of split_dummy."""
    return _flow(flow).join_dummy(action, latent)


def _flow(flow: nn.Module) -> ExactFlow:
    if not isinstance(flow, ExactFlow):
        raise TypeError(f"no demonstration likelihood for a {type(flow).__name__}; expected a flow of "
                        "genpo_rsl.flow (an ExactFlow)")
    return flow


class LatentProposal(nn.Module):
    """q(z | a, s) = N(centre + mu(a, s), diag sigma(a, s)^2): the importance proposal over the latent half.

    The centre is the action itself where the flow says its latent sits near it (``latent_centred_at_action``:
    the multistep flow's x_{N-1}), else 0 (the coupled flow's x - y, kept small by compression). The MLP's last layer starts at zero, so the initial
    proposal is N(centre, init_scale^2) whatever the inputs. Training-only: it is not part of the policy.
    """

    def __init__(self, action_dim: int, context_dim: int, centre_at_action: bool, init_scale: float,
                 hidden_dims: tuple[int, ...] = (64, 64)) -> None:
        super().__init__()
        self.action_dim = action_dim
        self.centre_at_action = bool(centre_at_action)
        layers: list[nn.Module] = []
        width = context_dim + action_dim
        for h in hidden_dims:
            layers += [nn.Linear(width, h), nn.ELU()]
            width = h
        head = nn.Linear(width, 2 * action_dim)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        self.net = nn.Sequential(*layers, head)
        self.log_scale_offset = math.log(init_scale)

    @classmethod
    def for_flow(cls, flow: nn.Module, **kwargs) -> "LatentProposal":
        flow = _flow(flow)
        kwargs.setdefault("init_scale", flow.latent_init_scale)
        return cls(flow.action_dim, flow.context_dim, flow.latent_centred_at_action, **kwargs)

    def forward(self, context: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_std) of q(z | a, s), each (B, A)."""
        out = self.net(torch.cat([context, action], dim=-1))
        mean, log_std = out[..., : self.action_dim], out[..., self.action_dim :]
        if self.centre_at_action:
            mean = mean + action
        return mean, (log_std + self.log_scale_offset).clamp(-7.0, 3.0)


def importance_log_likelihood(flow: nn.Module, proposal: LatentProposal, context: torch.Tensor,
                              action: torch.Tensor, num_samples: int) -> torch.Tensor:
    """L_K per demo (B,): the importance-weighted lower bound of log pi(action | context), K = ``num_samples``.

    Differentiable in the flow and the proposal (reparameterised z). Memory grows with K x B flow passes.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples: must be an integer >= 1, got {num_samples!r}")
    batch, dim = action.shape
    mean, log_std = proposal(context, action)
    eps = torch.randn(num_samples, batch, dim, device=action.device, dtype=action.dtype)
    latent = mean + log_std.exp() * eps  # (K, B, A)
    log_q = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2.0 * math.pi)).sum(-1)  # (K, B)
    dummy = join_dummy(flow, action.expand(num_samples, batch, dim), latent)
    log_p = flow.log_prob(context.repeat(num_samples, 1), dummy.reshape(num_samples * batch, 2 * dim))
    log_w = log_p.view(num_samples, batch) - log_q
    return torch.logsumexp(log_w, dim=0) - math.log(num_samples)


@torch.no_grad()
def estimate_log_likelihood(flow: nn.Module, proposal: LatentProposal, context: torch.Tensor, action: torch.Tensor,
                            num_samples: int = 1024, chunk: int = 256) -> torch.Tensor:
    """L_K with many samples (default 1024), in chunks of ``chunk`` samples: a tight estimate of log pi(a | s), (B,).

    Still a lower bound in expectation; the gap to the true value shrinks as ``num_samples`` grows.
    """
    parts = []
    done = 0
    while done < num_samples:
        k = min(chunk, num_samples - done)
        # logsumexp over all K samples = logsumexp of the chunks' (bound + log k) terms.
        parts.append(importance_log_likelihood(flow, proposal, context, action, k) + math.log(k))
        done += k
    return torch.logsumexp(torch.stack(parts), dim=0) - math.log(num_samples)
