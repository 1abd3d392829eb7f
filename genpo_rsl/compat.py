"""The registration that lets one class-name string serve both rsl_rl worlds.

rsl_rl 3.0-3.2 resolve ``class_name`` with ``eval`` inside the runner module, which cannot import a module; 4.x/5.x
resolve "module:Class" or dotted paths. A dotted path into rsl_rl's own packages resolves in both once the class
is attached there, so ``register()`` attaches GenPO's classes to ``rsl_rl.algorithms`` and ``rsl_rl.modules``:
"rsl_rl.algorithms.GenPO" then names the right class in either world. ``import genpo_rsl`` calls it.
``rsl_rl_major`` / ``rsl_rl_version`` are re-exported from :mod:`genpo_rsl.world`.
"""

from __future__ import annotations

# Which world is installed lives in genpo_rsl.world, which imports no adapter (register() below does, so the
# checkpoint and config modules that the adapters import must not import this module).
from .world import adapter, rsl_rl_major, rsl_rl_version


def register() -> None:
    """Attach GenPO's classes to rsl_rl's packages (idempotent): the installed world's adapter does it."""
    adapter().register()


__all__ = ["register", "rsl_rl_major", "rsl_rl_version"]
