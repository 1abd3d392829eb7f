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

from .base import COMMON_FIELDS, NOISE_SCALE_MODES, ExactFlow
from .coupled import CoupledFlow
from .fields import Field, defaults
from .multistep import MultistepFlow
from .networks import ACTIVATIONS, SinusoidalTimeEmbedding, VelocityNet, make_activation

#: The ``flow`` setting's allowed values and their classes, in registration order (the first is the default).
FLOWS: dict[str, type[ExactFlow]] = {}


def register_flow(cls: type[ExactFlow]) -> type[ExactFlow]:
    """Make ``cls`` selectable as ``flow=cls.kind``: its own fields join every config, validator and checkpoint check.

    A new flow is one module with an :class:`ExactFlow` subclass (its ``kind``, ``own_fields``, maps and
    ``executed_action`` / ``split_dummy`` / ``join_dummy``) plus one call of this function.
    """
    if not (isinstance(cls, type) and issubclass(cls, ExactFlow)) or not cls.kind:
        raise ValueError(f"register_flow: expected an ExactFlow subclass with a kind, got {cls!r}")
    taken = {"flow"} | {f.name for f in COMMON_FIELDS} | {
        f.name for kind, other in FLOWS.items() if kind != cls.kind for f in other.own_fields}
    clash = [f.name for f in cls.own_fields if f.name in taken]
    if clash:
        raise ValueError(f"register_flow: {cls.__name__} declares {clash}, which other flows already declare")
    FLOWS[cls.kind] = cls
    return cls


def unregister_flow(kind: str) -> None:
    """Undo :func:`register_flow` (tests register flows of their own)."""
    FLOWS.pop(kind, None)


register_flow(CoupledFlow)
register_flow(MultistepFlow)


def flow_field() -> Field:
    """The ``flow`` setting itself; its choices are the registered flows."""
    return Field("flow", next(iter(FLOWS)), "The exact flow: " + "; ".join(
        f"'{kind}', {cls.summary}" for kind, cls in FLOWS.items()) + ".", choices=tuple(FLOWS))


def policy_fields() -> tuple[Field, ...]:
    """Every policy (actor) setting GenPO adds: ``flow``, the common ones, then each flow's own."""
    return (flow_field(), *COMMON_FIELDS, *(f for cls in FLOWS.values() for f in cls.own_fields))


def field_owners() -> dict[str, str]:
    """{setting: the flow that alone takes it} for the flow-specific settings."""
    return {f.name: kind for kind, cls in FLOWS.items() for f in cls.own_fields}


def policy_defaults() -> dict[str, Any]:
    """{setting: default} of :func:`policy_fields`."""
    return defaults(policy_fields())


def flow_kind_of_state_dict(state_dict: dict) -> str | None:
    """The kind of the one flow a state dict holds (at any prefix), None when it holds none or several.

    Each flow recognises its own weights (:meth:`ExactFlow.recognizes`); a flow that marks nothing (the coupled
    flow, whose checkpoints predate the markers) is the one a flow's state dict without any marker belongs to.
    """
    suffix = "velocity.in_context.weight"
    prefixes = [key[: -len(suffix)] for key in state_dict if key.endswith(suffix)]
    if len(prefixes) != 1:
        return None
    for kind, cls in FLOWS.items():
        if cls.marker_key and prefixes[0] + cls.marker_key in state_dict:
            return kind
    unmarked = [kind for kind, cls in FLOWS.items() if not cls.marker_key]
    return unmarked[0] if unmarked else None


def make_flow(action_dim: int, context_dim: int, flow: str = "coupled", **settings: Any) -> ExactFlow:
    """The flow named ``flow`` built from ``settings``; the settings only other flows take are dropped, so one
    dict can carry every flow's defaults (reject a changed one before calling, see ``genpo_rsl.config``)."""
    flow_field().check(flow)
    others = {name for name, kind in field_owners().items() if kind != flow}
    return FLOWS[flow](action_dim, context_dim, **{k: v for k, v in settings.items() if k not in others})


__all__ = ["ACTIVATIONS", "COMMON_FIELDS", "FLOWS", "NOISE_SCALE_MODES", "CoupledFlow", "ExactFlow", "Field",
           "MultistepFlow", "SinusoidalTimeEmbedding", "VelocityNet", "field_owners", "flow_field",
           "flow_kind_of_state_dict", "make_activation", "make_flow", "policy_defaults", "policy_fields",
           "register_flow", "unregister_flow"]
