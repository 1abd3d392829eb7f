"""What every exact flow policy shares: base noise, the time grid, densities, sampling and shape checks.

A flow maps base noise e in R^(2A) (A = the environment's action size) to a "dummy" action in R^(2A) by
``num_steps`` invertible steps whose Jacobian determinant is a constant, so

    log pi(dummy | s) = log N(f^-1(dummy); 0, diag(sigma^2)) - log|det J|

is exact and needs no Jacobian at run time. A subclass defines ``forward``, ``inverse``, ``log_abs_det_jacobian``
and ``executed_action`` (the A-dim part of the dummy action the environment receives).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from .fields import Field
from .folded import FoldedFlow, UnfoldedFlow
from .networks import VelocityNet, bounded_log_scale, make_activation, mlp

NOISE_SCALE_MODES = ("fixed", "learned", "state")
# noise_scale="state" clamps log sigma(s) here: the density stays exact (sigma is any function of s) and a far-off
# observation cannot make the base degenerate (sigma -> 0) or explode.
STATE_LOG_SCALE_MIN = -5.0
STATE_LOG_SCALE_MAX = 2.0
#: The largest max_noise_scale (e^2, the hard clamp): below it the upper bound is smooth (see max_noise_scale).
HARD_MAX_NOISE_SCALE = math.exp(STATE_LOG_SCALE_MAX)


#: The settings every flow takes (a flow's own are its class's ``own_fields``).
COMMON_FIELDS: tuple[Field, ...] = (
    Field("num_steps", 5, "N flow steps, t_i = i / N (the paper: 5 for every task).", low=1, high=1000),
    Field("time_embed_dim", 32, "Size of the sinusoidal time embedding (the paper: 32).", low=2, even=True),
    Field("time_hidden_dims", [64, 64], "Hidden sizes of the MLP on the time embedding (the released code: "
          "[256, 256])."),
    Field("noise_scale", "fixed", "Base noise: 'fixed' N(0, I) (the paper); 'learned', a state-independent sigma "
          "in R^2A, so the entropy bonus has a true gradient; 'state', log sigma(s) = W s + b, a linear head on the "
          "normalised observation (starts at W = 0, clamped to [-5, 2]); log pi stays closed form.",
          choices=NOISE_SCALE_MODES),
    Field("init_noise_scale", 1.0, "Initial base-noise scale sigma (the constant scale when noise_scale is "
          "'fixed').", low=0.0, low_open=True),
    Field("max_noise_scale", HARD_MAX_NOISE_SCALE, "noise_scale='state' only: the upper bound of sigma(s). Below "
          "e^2 (the default, a hard clamp) it is smooth, log sigma = log max - softplus(log max - raw), so the "
          "entropy bonus cannot inflate sigma past it and PPO's gradient never vanishes there; must exceed "
          "init_noise_scale.", low=0.0, low_open=True, high=HARD_MAX_NOISE_SCALE),
    Field("head_dims", [], "Encode once: hidden sizes of a small velocity head run at every flow step, while "
          "hidden_dims become an observation encoder run once per sample, whose output enters the head's first "
          "layer (as the observation enters today's). Empty: no encoder, the whole MLP runs per velocity call (the "
          "paper's network). The likelihood stays exact: the encoder is part of the condition."),
)


def time_grid(num_steps: int, dtype: torch.dtype) -> torch.Tensor:
    """t_i = i / N, i = 0 .. N-1, computed in ``dtype`` (exact in float64; float32 as it always was)."""
    return torch.arange(num_steps, dtype=dtype) / num_steps


class ExactFlow(nn.Module):
    """Base class of the flows: a velocity net, the time grid and a Gaussian base in R^(2A).

    Args:
        action_dim: A, the environment's action size. The flow works in R^(2A).
        context_dim: size of the conditioning vector (the, usually normalised, observation).
        num_steps: N flow steps, t_i = i / N, dt = 1 / N.
        hidden_dims: hidden sizes of the velocity MLP.
        activation: activation name (see ``ACTIVATIONS``).
        time_embed_dim: size of the sinusoidal time embedding (and of the time MLP's output).
        time_hidden_dims: hidden sizes of the MLP applied to the time embedding.
        noise_scale: "fixed" (base N(0, I), the paper's), "learned" (base N(0, diag(sigma^2)) with a learnable,
            state-independent sigma in R^(2A), so the policy's entropy has a true, closed-form gradient) or "state"
            (log sigma(s) = W s + b, a linear head on the context: the flow can be precise in some states and
            explore in others; the base density, hence log pi, stays closed form, the entropy is per state).
        init_noise_scale: initial sigma (for "state": at W = 0, where the head starts).
        head_dims: empty (the paper's network: the velocity MLP of ``hidden_dims`` reads the observation, half and
            time at every call) or the hidden sizes of a small velocity head; then an encoder MLP of ``hidden_dims``
            maps the observation once per flow call (sample, inverse, log-prob) and its output conditions the head,
            which runs 2N (coupled) or N (multistep) times. The encoder is part of the condition, so log|det J|
            and the closed-form likelihood are unchanged.
    """

    #: The ``flow`` config name of the subclass ("coupled" | "multistep").
    kind: str = ""
    #: Whether the executed action is a projection of the dummy action that a compression loss must keep faithful
    #: (the coupled flow's average of two halves), or a flow sample itself (the multistep flow's x_N).
    needs_compression: bool = True
    #: The setting that makes an ill-conditioned flow (an inverse that divides by a small number) better, for messages.
    conditioning_fix: str = ""
    #: The settings only this flow takes (beyond :data:`COMMON_FIELDS`), each declared once here.
    own_fields: tuple[Field, ...] = ()
    #: One line on what the flow is, for the ``flow`` setting's help.
    summary: str = ""
    #: A state-dict entry (relative to the flow's prefix) that only this flow's checkpoints hold; None for the one
    #: flow whose checkpoints carry no marker (see ``genpo_rsl.flow.flow_kind_of_state_dict``).
    marker_key: str | None = None
    #: Demonstration likelihood (``genpo_rsl.demos``): whether the latent part of a dummy action sits near the
    #: executed action (so a proposal centres there) or near zero, and the proposal's initial scale.
    latent_centred_at_action: bool = False
    latent_init_scale: float = 1.0

    def __init__(
        self,
        action_dim: int,
        context_dim: int,
        num_steps: int = 5,
        hidden_dims: list[int] | tuple[int, ...] = (256, 256, 256),
        activation: str = "elu",
        time_embed_dim: int = 32,
        time_hidden_dims: list[int] | tuple[int, ...] = (64, 64),
        noise_scale: str = "fixed",
        init_noise_scale: float = 1.0,
        head_dims: list[int] | tuple[int, ...] = (),
        max_noise_scale: float = HARD_MAX_NOISE_SCALE,
    ) -> None:
        super().__init__()
        check_int("action_dim", action_dim, 1)
        check_int("context_dim", context_dim, 1)
        hidden_dims = list(hidden_dims)
        if not hidden_dims or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden_dims):
            raise ValueError(f"hidden_dims: must be a non-empty list of positive integers, got {hidden_dims!r}")
        given = {"num_steps": num_steps, "time_embed_dim": time_embed_dim, "time_hidden_dims": time_hidden_dims,
                 "noise_scale": noise_scale, "init_noise_scale": init_noise_scale, "head_dims": head_dims,
                 "max_noise_scale": max_noise_scale}
        for field in COMMON_FIELDS:
            field.check(given[field.name])
        if noise_scale == "state" and not init_noise_scale < max_noise_scale:
            raise ValueError(f"init_noise_scale: must be below max_noise_scale={max_noise_scale:g} (sigma starts "
                             f"inside its bound), got {init_noise_scale!r}")
        time_hidden_dims = list(time_hidden_dims)
        make_activation(activation)  # validate early, with the field's name in the message

        self.action_dim = int(action_dim)
        self.context_dim = int(context_dim)
        self.num_steps = int(num_steps)
        self.dt = 1.0 / self.num_steps
        self.head_dims = [int(h) for h in head_dims]
        if self.head_dims:  # encode once: hidden_dims are the encoder's, head_dims the per-step velocity net's
            self.encoder: nn.Module = mlp(self.context_dim, hidden_dims, activation)
            self.velocity = VelocityNet(self.action_dim, hidden_dims[-1], self.head_dims, activation, time_embed_dim,
                                        time_hidden_dims)
        else:
            self.encoder = nn.Identity()  # no weights: today's state dicts load unchanged
            self.velocity = VelocityNet(
                self.action_dim, self.context_dim, hidden_dims, activation, time_embed_dim, time_hidden_dims
            )
        self.register_buffer("times", time_grid(self.num_steps, torch.get_default_dtype()))
        log_scale = torch.full((2 * self.action_dim,), math.log(init_noise_scale))
        self.noise_scale_head: nn.Linear | None = None
        self.log_scale_min, self.log_scale_max = STATE_LOG_SCALE_MIN, STATE_LOG_SCALE_MAX  # TorchScript reads these
        self.max_noise_scale = float(max_noise_scale)
        self.soft_bound = self.max_noise_scale < HARD_MAX_NOISE_SCALE  # a bool and a float: TorchScript reads them
        self.log_scale_bound = math.log(self.max_noise_scale)
        if noise_scale == "learned":
            self.log_noise_scale = nn.Parameter(log_scale)
        elif noise_scale == "state":
            # Starts state-independent at init_noise_scale; PPO's gradients then make it depend on the state.
            self.noise_scale_head = nn.Linear(self.context_dim, 2 * self.action_dim)
            raw = log_scale
            if self.soft_bound:  # the raw value whose bounded log sigma is log(init_noise_scale)
                raw = torch.full_like(log_scale, self.log_scale_bound - math.log(
                    math.expm1(self.log_scale_bound - math.log(init_noise_scale))))
            with torch.no_grad():
                self.noise_scale_head.weight.zero_()
                self.noise_scale_head.bias.copy_(raw)
        else:
            self.register_buffer("log_noise_scale", log_scale)
        self.noise_scale_mode = noise_scale

    # ---------------------------------------------------------------- dtype of the time grid
    def _apply(self, fn, recurse: bool = True):
        # .double() would cast the float32 grid (0.2f -> 0.2000000030); recompute it in the new dtype instead.
        super()._apply(fn, recurse)
        self._reset_time_grid()
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._reset_time_grid()  # a float32 checkpoint loaded into a float64 flow keeps the exact grid

    def _reset_time_grid(self) -> None:
        self.times = time_grid(self.num_steps, self.times.dtype).to(self.times.device)

    # ---------------------------------------------------------------- conditioning
    def context_features(self, context: torch.Tensor) -> torch.Tensor:
        """The condition's contribution to the velocity net's first layer, computed once per flow call (through
        the encoder when ``head_dims`` is set)."""
        return self.velocity.in_context(self.encoder(context))

    def step_conditions(self, context: torch.Tensor) -> list[torch.Tensor]:
        """What the velocity net's first layer gets from the context and the time at each flow step, N tensors
        (B, H) computed once per flow call; step i's velocity is ``self.velocity(state, conditions[i])``.

        Unbound, not indexed: the backward of N index ops would zero-fill N full (N, B, H) gradients; unbind's is
        one stack."""
        if torch.jit.is_scripting() or torch.is_grad_enabled():
            step_bias = self.velocity.step_bias(self.times)
        else:
            step_bias = self._inference_step_bias()
        return self.velocity.conditions(self.context_features(context), step_bias).unbind(0)

    def __getstate__(self) -> dict:
        # deepcopy / pickle: the cache is rebuilt on demand (and may hold an inference-mode tensor).
        state = dict(super().__getstate__())
        state.pop("_step_bias_cache", None)
        return state

    @torch.jit.unused
    def _inference_step_bias(self) -> torch.Tensor:
        """The time part of every step's condition, kept between calls while no gradient is recorded.

        It depends only on the weights and the time grid, not on the observation: a rollout step at a small batch
        would otherwise rerun the time embedding and its MLP (about a tenth of the call's ops) for the same N rows.
        The key holds each tensor's storage and in-place version, so an optimizer step, a loaded state dict or a
        dtype/device move recomputes it.
        """
        key = self.velocity.step_bias_key(self.times)
        if key is None:
            return self.velocity.step_bias(self.times)
        cached = self.__dict__.get("_step_bias_cache")
        if cached is None or cached[0] != key:
            cached = (key, self.velocity.step_bias(self.times))
            self.__dict__["_step_bias_cache"] = cached
        return cached[1]

    def observation_layer(self) -> nn.Linear:
        """The first Linear that reads the observation (rsl_rl 3.x's ``actor[0]``)."""
        return self.encoder[0] if self.head_dims else self.velocity.in_context

    # ---------------------------------------------------------------- constants of the flow
    @property
    def log_abs_det_jacobian(self) -> float:
        """log|det d f / d e|, a constant of the flow (subclasses give the closed form)."""
        raise NotImplementedError

    @property
    def state_dependent_noise(self) -> bool:
        return self.noise_scale_head is not None

    def log_scale(self, context: torch.Tensor | None = None) -> torch.Tensor:
        """log sigma of the base: (2A,) for a state-independent base, (B, 2A) for noise_scale="state"."""
        if self.noise_scale_head is None:
            return self.log_noise_scale
        if context is None:
            raise ValueError("noise_scale='state': the base-noise scale depends on the observation; pass the context")
        return self._bounded(self.noise_scale_head(context))

    def _bounded(self, raw: torch.Tensor) -> torch.Tensor:
        """log sigma of the state head's raw output: under the smooth bound (max_noise_scale < e^2), then clamped."""
        return bounded_log_scale(raw, self.soft_bound, self.log_scale_bound, self.log_scale_min, self.log_scale_max)

    @property
    def noise_scale(self) -> torch.Tensor:
        """sigma (2A,); for noise_scale="state" the scale at a zero (normalised: the mean) context."""
        if self.noise_scale_head is None:
            return self.log_noise_scale.exp()
        return self._bounded(self.noise_scale_head.bias).exp()

    def entropy(self, context: torch.Tensor | None = None) -> torch.Tensor:
        """Exact differential entropy of the dummy action: H(base) + log|det J|.

        A scalar without ``context`` (state-independent bases only); (B,) with it.
        """
        log_scale = self.log_scale(context)
        base = log_scale.sum(-1) + self.action_dim * (1.0 + math.log(2.0 * math.pi))
        entropy = base + self.log_abs_det_jacobian
        return entropy if context is None or entropy.dim() else entropy.expand(context.shape[0])

    def settings(self) -> dict:
        """The settings a state dict does not carry as weights, stamped into checkpoints and compared on load:
        ``num_steps``, ``noise_scale``, ``head_dims``, ``max_noise_scale`` and the flow's own fields (the kind is
        read from the weights themselves; a stamp without a key, from an older version, is not compared on it)."""
        own = {f.name: getattr(self, f.name) for f in self.own_fields}
        return {"num_steps": int(self.num_steps), "noise_scale": self.noise_scale_mode, "head_dims": self.head_dims,
                "max_noise_scale": self.max_noise_scale, **own}

    def folded(self) -> FoldedFlow | UnfoldedFlow:
        """The deployment form: ``(context, standard noise or None) -> executed action`` with every constant of
        these weights folded in (see :mod:`genpo_rsl.flow.folded`), a frozen copy. A flow without one is wrapped
        as it is."""
        return UnfoldedFlow(self)

    # ---------------------------------------------------------------- maps (subclasses)
    def forward(self, context: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Map base noise (B, 2A) to the dummy action (B, 2A) given context (B, C)."""
        raise NotImplementedError

    def inverse(self, context: torch.Tensor, dummy: torch.Tensor) -> torch.Tensor:
        """Map a dummy action (B, 2A) back to the base noise (B, 2A) that produces it, exactly."""
        raise NotImplementedError

    def executed_action(self, dummy: torch.Tensor) -> torch.Tensor:
        """The environment action (..., A) of dummy actions (..., 2A), a new tensor (never a view of ``dummy``)."""
        return self.split_dummy(dummy)[0]

    def split_dummy(self, dummy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(executed action (..., A), latent (..., A)) of dummy actions (..., 2A), by a map of unit |det J|.

        A demonstration records only the executed action; the latent is what the demos likelihood integrates out.
        """
        raise NotImplementedError

    def join_dummy(self, action: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """The dummy action (..., 2A) with executed part ``action`` and latent ``latent``: the inverse of
        :meth:`split_dummy`."""
        raise NotImplementedError

    def action_parts(self, dummy: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The parts of dummy actions (..., 2A) that are points of the action space, each (..., A): the two halves
        (coupled: x and y; multistep: x_N and x_{N-1}).

        A map of the action space that the flow commutes with (a task's left-right mirror, a signed permutation)
        maps each part alike; symmetry augmentation mirrors a doubled action this way (``join_action_parts``).
        """
        half = dummy.shape[-1] // 2
        return dummy[..., :half], dummy[..., half:]

    def join_action_parts(self, parts: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The dummy action (..., 2A) of its :meth:`action_parts`."""
        return torch.cat(list(parts), dim=-1)

    # ---------------------------------------------------------------- densities and sampling
    def base_log_prob(self, noise: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """log N(noise; 0, diag(sigma^2)) summed over the 2A dimensions, shape (B,) (``context``: for "state")."""
        log_scale = self.log_scale(context)
        return self._standard_log_prob(noise * torch.exp(-log_scale), log_scale)

    def _standard_log_prob(self, standard: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        """log N(sigma * standard; 0, diag(sigma^2)) summed over the 2A dimensions, from the standardised point."""
        return -0.5 * standard.pow(2).sum(-1) - log_scale.sum(-1) - self.action_dim * math.log(2.0 * math.pi)

    def log_prob(self, context: torch.Tensor, dummy: torch.Tensor) -> torch.Tensor:
        """Exact log-density of dummy actions, shape (B,): log N(f^-1(dummy)) - log|det J|."""
        return self.base_log_prob(self.inverse(context, dummy), context) - self.log_abs_det_jacobian

    def sample_noise(self, batch_size: int, device: torch.device | str | None = None,
                     context: torch.Tensor | None = None) -> torch.Tensor:
        """Base noise (B, 2A) ~ N(0, diag(sigma^2)); ``context`` (B, C) is needed for noise_scale="state"."""
        device = self.times.device if device is None else device
        noise = torch.randn(batch_size, 2 * self.action_dim, device=device, dtype=self.times.dtype)
        return noise * self.log_scale(context).exp().to(device)

    def sample(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw dummy actions (B, 2A) and their exact log-probabilities (B,); the noise is known, so no inverse.

        sigma(s) is computed once, and the base density is read off the standard normal draw itself (noise = eps *
        sigma): the same draw and value as :meth:`sample_noise`, fewer ops per rollout step.
        """
        log_scale = self.log_scale(context)
        eps = torch.randn(context.shape[0], 2 * self.action_dim, device=context.device, dtype=self.times.dtype)
        noise = eps * log_scale.exp()
        return self.forward(context, noise), self._standard_log_prob(eps, log_scale) - self.log_abs_det_jacobian

    def act(self, context: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """The environment action (B, A) (see :meth:`executed_action`); deterministic means zero base noise."""
        if deterministic:
            noise = context.new_zeros(context.shape[0], 2 * self.action_dim)
        else:
            noise = self.sample_noise(context.shape[0], context.device, context)
        return self.executed_action(self.forward(context, noise))

    def _check_shapes(self, context: torch.Tensor, points: torch.Tensor, name: str) -> None:
        if context.dim() != 2 or context.shape[-1] != self.context_dim:
            raise ValueError(f"context: expected shape (B, {self.context_dim}), got {tuple(context.shape)}")
        if points.dim() != 2 or points.shape[-1] != 2 * self.action_dim or points.shape[0] != context.shape[0]:
            raise ValueError(
                f"{name}: expected shape ({context.shape[0]}, {2 * self.action_dim}) (batch, 2 x action_dim), "
                f"got {tuple(points.shape)}"
            )


def check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
