"""rsl_rl 4.x/5.x adapter: ``GenPOActor`` (actor model) and ``GenPO`` (algorithm), built by the stock runner.

The classes load on first use (they import rsl_rl 5.x), so :mod:`genpo_rsl.v5.world`'s config helpers import in
either world.
"""

from __future__ import annotations

import importlib

_CLASSES = {"GenPOActor": ".actor", "GenPO": ".algorithm"}


def __getattr__(name: str):
    if name in _CLASSES:
        return getattr(importlib.import_module(_CLASSES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["GenPO", "GenPOActor"]
