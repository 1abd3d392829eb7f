"""The GenPO policy core: a coupled (EDICT-style) flow over a doubled action, with an exact likelihood.

This module knows nothing of rsl_rl. It maps base noise e = (x0, y0) in R^(2A) to a "dummy" action
(x, y) in R^(2A) by ``num_steps`` invertible steps, each two additive couplings followed by a mixing step:

    x' = x + v(y, s, t) dt;  y' = y + v(x', s, t) dt;  x = p x' + (1-p) y';  y = p y' + (1-p) x

The couplings have unit Jacobian determinant and each mixing step has determinant p^(2A), so
log|det J| = 2 A N log p is a constant and log pi(x, y | s) = log N(f^-1(x, y)) - 2 A N log p.
No Jacobian is ever built at run time. The environment receives the average (x + y) / 2.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "elu": nn.ELU,
    "selu": nn.SELU,
    "relu": nn.ReLU,
    "lrelu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "mish": nn.Mish,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
}

NOISE_SCALE_MODES = ("fixed", "learned")


def make_activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name.lower()]()
    except (KeyError, AttributeError):
        raise ValueError(f"activation: unknown value {name!r}; allowed: {sorted(ACTIVATIONS)}") from None


class SinusoidalTimeEmbedding(nn.Module):
    """Fixed sin/cos features of a scalar time t in [0, 1), as in diffusion models."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"time_embed_dim must be an even integer >= 2, got {dim}")
        half = dim // 2
        # Frequencies span 1 .. 10000, the usual transformer-style geometric ladder.
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / max(half - 1, 1))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.unsqueeze(-1) * self.freqs
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class VelocityNet(nn.Module):
    """v(half_action, context, t): one MLP shared by both halves of the coupling.

    The first layer is split into half-action, context and time parts (together exactly one Linear over their
    concatenation), so the context and time contributions are computed once per flow call instead of 2N times.
    """

    def __init__(
        self,
        action_dim: int,
        context_dim: int,
        hidden_dims: list[int],
        activation: str,
        time_embed_dim: int,
        time_hidden_dims: list[int],
    ) -> None:
        super().__init__()
        first = hidden_dims[0]
        self.time_embedding = SinusoidalTimeEmbedding(time_embed_dim)
        time_layers: list[nn.Module] = []
        width = time_embed_dim
        for h in time_hidden_dims:
            time_layers += [nn.Linear(width, h), make_activation(activation)]
            width = h
        time_layers.append(nn.Linear(width, time_embed_dim))
        self.time_mlp = nn.Sequential(*time_layers)

        self.in_half = nn.Linear(action_dim, first)
        self.in_context = nn.Linear(context_dim, first, bias=False)
        self.in_time = nn.Linear(time_embed_dim, first, bias=False)
        self.in_activation = make_activation(activation)
        layers: list[nn.Module] = []
        for a, b in zip(hidden_dims[:-1], hidden_dims[1:]):
            layers += [nn.Linear(a, b), make_activation(activation)]
        layers.append(nn.Linear(hidden_dims[-1], action_dim))
        self.trunk = nn.Sequential(*layers)

    def step_features(self, times: torch.Tensor) -> torch.Tensor:
        """First-layer contribution of each flow time, shape (N, hidden_dims[0])."""
        return self.in_time(self.time_mlp(self.time_embedding(times)))

    def forward(self, half: torch.Tensor, context_features: torch.Tensor, time_features: torch.Tensor) -> torch.Tensor:
        return self.trunk(self.in_activation(self.in_half(half) + context_features + time_features))


class CoupledFlow(nn.Module):
    """Invertible N-step coupled flow from base noise to a doubled action, with a closed-form log-likelihood.

    Args:
        action_dim: A, the environment's action size. The flow works in R^(2A).
        context_dim: size of the conditioning vector (the, usually normalised, observation).
        num_steps: N flow steps, t_i = i / N, dt = 1 / N.
        mix: p in (0, 1], the mixing coefficient. Smaller p mixes more but divides by p in the inverse.
        hidden_dims: hidden sizes of the velocity MLP.
        activation: activation name (see ``ACTIVATIONS``).
        time_embed_dim: size of the sinusoidal time embedding (and of the time MLP's output).
        time_hidden_dims: hidden sizes of the MLP applied to the time embedding.
        noise_scale: "fixed" (base N(0, I), the paper's) or "learned" (base N(0, diag(sigma^2)) with a learnable,
            state-independent sigma in R^(2A), so the policy's entropy has a true, closed-form gradient).
        init_noise_scale: initial sigma.
    """

    def __init__(
        self,
        action_dim: int,
        context_dim: int,
        num_steps: int = 5,
        mix: float = 0.9,
        hidden_dims: list[int] | tuple[int, ...] = (256, 256, 256),
        activation: str = "elu",
        time_embed_dim: int = 32,
        time_hidden_dims: list[int] | tuple[int, ...] = (64, 64),
        noise_scale: str = "fixed",
        init_noise_scale: float = 1.0,
    ) -> None:
        super().__init__()
        _check_int("action_dim", action_dim, 1)
        _check_int("context_dim", context_dim, 1)
        _check_int("num_steps", num_steps, 1)
        if isinstance(mix, bool) or not isinstance(mix, (int, float)) or not 0.0 < mix <= 1.0:
            raise ValueError(f"mix: must be a number in (0, 1] (the paper uses 0.9), got {mix!r}")
        hidden_dims = list(hidden_dims)
        if not hidden_dims or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden_dims):
            raise ValueError(f"hidden_dims: must be a non-empty list of positive integers, got {hidden_dims!r}")
        time_hidden_dims = list(time_hidden_dims)
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in time_hidden_dims):
            raise ValueError(f"time_hidden_dims: must be a list of positive integers, got {time_hidden_dims!r}")
        if noise_scale not in NOISE_SCALE_MODES:
            raise ValueError(f"noise_scale: must be one of {NOISE_SCALE_MODES}, got {noise_scale!r}")
        if not init_noise_scale > 0.0:
            raise ValueError(f"init_noise_scale: must be > 0, got {init_noise_scale!r}")
        make_activation(activation)  # validate early, with the field's name in the message

        self.action_dim = int(action_dim)
        self.context_dim = int(context_dim)
        self.num_steps = int(num_steps)
        self.mix = float(mix)
        self.dt = 1.0 / self.num_steps
        self.velocity = VelocityNet(
            self.action_dim, self.context_dim, hidden_dims, activation, time_embed_dim, time_hidden_dims
        )
        self.register_buffer("times", torch.arange(self.num_steps, dtype=torch.float32) / self.num_steps)
        log_scale = torch.full((2 * self.action_dim,), math.log(init_noise_scale))
        if noise_scale == "learned":
            self.log_noise_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_noise_scale", log_scale)
        self.noise_scale_mode = noise_scale

    # ---------------------------------------------------------------- constants of the flow
    @property
    def log_abs_det_jacobian(self) -> float:
        """log|det d f / d e| = 2 A N log p: couplings are volume preserving, each mix scales volume by p^(2A)."""
        return 2 * self.action_dim * self.num_steps * math.log(self.mix)

    @property
    def noise_scale(self) -> torch.Tensor:
        return self.log_noise_scale.exp()

    def entropy(self) -> torch.Tensor:
        """Exact differential entropy of the doubled action (any state): H(base) + log|det J|, a scalar."""
        base = self.log_noise_scale.sum() + self.action_dim * (1.0 + math.log(2.0 * math.pi))
        return base + self.log_abs_det_jacobian

    # ---------------------------------------------------------------- maps
    def forward(self, context: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Map base noise (B, 2A) to the dummy action (B, 2A) given context (B, C)."""
        if not torch.jit.is_scripting():
            self._check_shapes(context, noise, "noise")
        ctx = self.velocity.in_context(context)
        steps = self.velocity.step_features(self.times)
        p, q, dt = self.mix, 1.0 - self.mix, self.dt
        x, y = noise[..., : self.action_dim], noise[..., self.action_dim :]
        for i in range(self.num_steps):
            t = steps[i]
            x = x + self.velocity(y, ctx, t) * dt
            y = y + self.velocity(x, ctx, t) * dt
            x = p * x + q * y
            y = p * y + q * x
        return torch.cat([x, y], dim=-1)

    def inverse(self, context: torch.Tensor, dummy: torch.Tensor) -> torch.Tensor:
        """Map a dummy action (B, 2A) back to the base noise (B, 2A) that produces it, exactly."""
        if not torch.jit.is_scripting():
            self._check_shapes(context, dummy, "dummy")
        ctx = self.velocity.in_context(context)
        steps = self.velocity.step_features(self.times)
        p, q, dt = self.mix, 1.0 - self.mix, self.dt
        x, y = dummy[..., : self.action_dim], dummy[..., self.action_dim :]
        for i in range(self.num_steps - 1, -1, -1):
            t = steps[i]
            y = (y - q * x) / p
            x = (x - q * y) / p
            y = y - self.velocity(x, ctx, t) * dt
            x = x - self.velocity(y, ctx, t) * dt
        return torch.cat([x, y], dim=-1)

    # ---------------------------------------------------------------- densities and sampling
    def base_log_prob(self, noise: torch.Tensor) -> torch.Tensor:
        """log N(noise; 0, diag(sigma^2)) summed over the 2A dimensions, shape (B,)."""
        z = noise * torch.exp(-self.log_noise_scale)
        return -0.5 * z.pow(2).sum(-1) - self.log_noise_scale.sum() - self.action_dim * math.log(2.0 * math.pi)

    def log_prob(self, context: torch.Tensor, dummy: torch.Tensor) -> torch.Tensor:
        """Exact log-density of dummy actions, shape (B,): log N(f^-1(dummy)) - 2 A N log p."""
        return self.base_log_prob(self.inverse(context, dummy)) - self.log_abs_det_jacobian

    def sample_noise(self, batch_size: int, device: torch.device | str | None = None) -> torch.Tensor:
        device = self.times.device if device is None else device
        return torch.randn(batch_size, 2 * self.action_dim, device=device) * self.noise_scale.to(device)

    def sample(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw dummy actions (B, 2A) and their exact log-probabilities (B,); the noise is known, so no inverse."""
        noise = self.sample_noise(context.shape[0], context.device)
        return self.forward(context, noise), self.base_log_prob(noise) - self.log_abs_det_jacobian

    def act(self, context: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """The environment action (B, A): the average of the two halves; deterministic means zero noise."""
        if deterministic:
            noise = context.new_zeros(context.shape[0], 2 * self.action_dim)
        else:
            noise = self.sample_noise(context.shape[0], context.device)
        return self.average(self.forward(context, noise))

    @staticmethod
    def average(dummy: torch.Tensor) -> torch.Tensor:
        """(x + y) / 2 of a dummy action (..., 2A)."""
        half = dummy.shape[-1] // 2
        return 0.5 * (dummy[..., :half] + dummy[..., half:])

    def _check_shapes(self, context: torch.Tensor, points: torch.Tensor, name: str) -> None:
        if context.dim() != 2 or context.shape[-1] != self.context_dim:
            raise ValueError(f"context: expected shape (B, {self.context_dim}), got {tuple(context.shape)}")
        if points.dim() != 2 or points.shape[-1] != 2 * self.action_dim or points.shape[0] != context.shape[0]:
            raise ValueError(
                f"{name}: expected shape ({context.shape[0]}, {2 * self.action_dim}) (batch, 2 x action_dim), "
                f"got {tuple(points.shape)}"
            )


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
