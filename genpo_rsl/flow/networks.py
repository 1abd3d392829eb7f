"""The networks every flow shares: activations by name, a sinusoidal time embedding and the velocity MLP."""

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


def make_activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name.lower()]()
    except (KeyError, AttributeError):
        raise ValueError(f"activation: unknown value {name!r}; allowed: {sorted(ACTIVATIONS)}") from None


def time_frequencies(half: int, dtype: torch.dtype) -> torch.Tensor:
    """1 .. 1/10000 on a geometric ladder (transformer style), computed on the CPU in ``dtype``.

    Computed in the module's own dtype, not cast from float32: a float64 flow then has exact float64 frequencies,
    and a float32 flow gets exactly the values it always had.
    """
    return torch.exp(-math.log(10000.0) * torch.arange(half, dtype=dtype) / max(half - 1, 1))


def lerp(start: torch.Tensor, end: torch.Tensor, weight: float) -> torch.Tensor:
    """start + weight (end - start) with a constant weight: the flows' mixing steps.

    One op in eager mode and TorchScript (``torch.lerp``); in an ONNX export the plain sum (1 - w) start + w end,
    three nodes, where torch's ONNX lerp computes both of its rounding branches and picks one with a Where.
    """
    if torch.jit.is_scripting():
        return torch.lerp(start, end, weight)
    return _lerp_eager(start, end, weight)


@torch.jit.unused
def _lerp_eager(start: torch.Tensor, end: torch.Tensor, weight: float) -> torch.Tensor:
    if torch.onnx.is_in_onnx_export():
        return start * (1.0 - weight) + end * weight
    return torch.lerp(start, end, weight)


def bounded_log_scale(raw: torch.Tensor, soft_bound: bool, bound: float, low: float, high: float) -> torch.Tensor:
    """log sigma of a state head's raw output: under the smooth upper bound ``bound`` (when ``soft_bound``:
    bound - softplus(bound - raw)), then clamped to [low, high]."""
    if soft_bound:
        raw = bound - nn.functional.softplus(bound - raw)
    return raw.clamp(low, high)


def mlp(in_dim: int, hidden_dims: list[int], activation: str) -> nn.Sequential:
    """Linear + activation per hidden size (the activation also after the last: its output is a feature vector)."""
    layers: list[nn.Module] = []
    for h in hidden_dims:
        layers += [nn.Linear(in_dim, h), make_activation(activation)]
        in_dim = h
    return nn.Sequential(*layers)


class SinusoidalTimeEmbedding(nn.Module):
    """Fixed sin/cos features of a scalar time t in [0, 1), as in diffusion models."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2 or dim % 2:
            raise ValueError(f"time_embed_dim must be an even integer >= 2, got {dim!r}")
        self.half = dim // 2
        self.register_buffer("freqs", time_frequencies(self.half, torch.get_default_dtype()), persistent=False)

    def _apply(self, fn, recurse: bool = True):
        # .double() / .to(dtype) would cast the float32 values; recompute them in the new dtype instead.
        super()._apply(fn, recurse)
        self.freqs = time_frequencies(self.half, self.freqs.dtype).to(self.freqs.device)
        return self

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.unsqueeze(-1) * self.freqs
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class VelocityNet(nn.Module):
    """v(state, context, t): the velocity MLP of a flow (both halves of the coupled flow share one).

    The first layer is split into state, context and time parts (together exactly one Linear over their
    concatenation). The context and time parts, with the bias, are summed once per flow call for every step
    (:meth:`conditions`), so a velocity call adds only its state's part, in the same matrix multiply: at small
    batches a flow is bound by the number of ops per step, not by their arithmetic.
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

    def step_bias(self, times: torch.Tensor) -> torch.Tensor:
        """The first layer's input from the time and the bias, per flow step: (N, hidden_dims[0])."""
        return self.step_features(times) + self.in_half.bias

    def step_bias_key(self, times: torch.Tensor) -> tuple | None:
        """What :meth:`step_bias` depends on: every tensor it reads, by storage and in-place version (an optimizer
        step, a load_state_dict or a dtype/device move changes one of them). None when one of them is an
        inference-mode tensor (e.g. weights loaded inside ``torch.inference_mode()``): those keep no version, so
        a change in place could not be seen."""
        tensors = [times, self.in_half.bias, self.in_time.weight, *self.time_mlp.parameters()]
        if any(t.is_inference() for t in tensors):
            return None
        return tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)

    def conditions(self, context_features: torch.Tensor, step_bias: torch.Tensor) -> torch.Tensor:
        """The first layer's input from everything but the state, per flow step: (N, B, hidden_dims[0]).

        Args:
            context_features: the context's part (B, hidden_dims[0]) (``in_context`` of the, encoded, context).
            step_bias: :meth:`step_bias` of the flow's time grid, (N, hidden_dims[0]).
        """
        return context_features + step_bias.unsqueeze(-2)

    def forward(self, half: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """v at the state ``half`` (B, A) of one flow step, whose :meth:`conditions` entry is ``condition`` (B, H)."""
        return self.trunk(self.in_activation(torch.addmm(condition, half, self.in_half.weight.t())))
