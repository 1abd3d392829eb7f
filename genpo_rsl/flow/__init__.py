"""Exact-likelihood flow policies. Nothing here knows rsl_rl; everything needs only torch.

Two flows with the same public API (``forward``, ``inverse``, ``log_prob``, ``sample``, ``act``, ``entropy``,
``base_log_prob``, ``sample_noise``, ``noise_scale``, ``log_abs_det_jacobian``, ``executed_action``), both over a
2A-dim "dummy" action that PPO stores and scores, with a constant log|det J| (no Jacobian at run time):

* :class:`CoupledFlow` (``flow="coupled"``, GenPO): two velocity calls per step; the env gets (x + y) / 2.
* :class:`MultistepFlow` (``flow="multistep"``, GenPO++): one velocity call per step; the env gets x_N.

:func:`make_flow` builds either from one settings dict.
"""

from __future__ import annotations

from typing import Any

from .base import NOISE_SCALE_MODES, ExactFlow
from .coupled import CoupledFlow
from .multistep import MultistepFlow
from .networks import ACTIVATIONS, SinusoidalTimeEmbedding, VelocityNet, make_activation

#: The ``flow`` setting's allowed values and their classes.
FLOWS: dict[str, type[ExactFlow]] = {"coupled": CoupledFlow, "multistep": MultistepFlow}
#: Settings that only one flow takes (every other setting is common to both).
FLOW_SPECIFIC_FIELDS: dict[str, tuple[str, ...]] = {"coupled": ("mix",),
                                                     "multistep": ("history_coef", "velocity_coef")}


def flow_kind_of_state_dict(state_dict: dict) -> str | None:
    """"coupled" or "multistep" for a state dict holding one flow (at any prefix), None when it holds none.

    Read from the weights themselves: a multistep flow's state dict has ``multistep_coefs``, a coupled one's not.
    """
    suffix = "velocity.in_context.weight"
    prefixes = [key[: -len(suffix)] for key in state_dict if key.endswith(suffix)]
    if len(prefixes) != 1:
        return None
    return "multistep" if prefixes[0] + "multistep_coefs" in state_dict else "coupled"


def make_flow(action_dim: int, context_dim: int, flow: str = "coupled", **settings: Any) -> ExactFlow:
    """The flow named ``flow`` built from ``settings``; the settings only the other flow takes are dropped, so one
    dict can carry both flows' defaults (reject a changed one before calling, see ``genpo_rsl.config``)."""
    if flow not in FLOWS:
        raise ValueError(f"flow: must be one of {list(FLOWS)}, got {flow!r}")
    others = {key for kind, keys in FLOW_SPECIFIC_FIELDS.items() if kind != flow for key in keys}
    return FLOWS[flow](action_dim, context_dim, **{k: v for k, v in settings.items() if k not in others})


__all__ = ["ACTIVATIONS", "FLOWS", "FLOW_SPECIFIC_FIELDS", "NOISE_SCALE_MODES", "CoupledFlow", "ExactFlow",
           "MultistepFlow", "SinusoidalTimeEmbedding", "VelocityNet", "flow_kind_of_state_dict", "make_activation",
           "make_flow"]
