"""rsl_rl 3.x adapter: ``GenPOActorCritic`` (policy) and ``GenPO`` (algorithm), built by the stock 3.x runner.

The classes load on first use (they import rsl_rl 3.x), so :mod:`genpo_rsl.v3.world`'s config helpers import in
either world.
"""

from __future__ import annotations

import importlib

_CLASSES = {"FlowActor": ".actor_critic", "GenPOActorCritic": ".actor_critic", "GenPO": ".algorithm"}


def __getattr__(name: str):
    if name in _CLASSES:
        return getattr(importlib.import_module(_CLASSES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FlowActor", "GenPO", "GenPOActorCritic"]
