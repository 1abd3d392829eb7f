"""Which rsl_rl world is installed, and the registration that lets one class-name string serve both.

rsl_rl 3.0-3.2 resolve ``class_name`` with ``eval`` inside the runner module, which cannot import a module; 4.x/5.x
resolve "module:Class" or dotted paths. A dotted path into rsl_rl's own packages resolves in both once the class
is attached there, so ``register()`` attaches GenPO's classes to ``rsl_rl.algorithms`` and ``rsl_rl.modules``:
"rsl_rl.algorithms.GenPO" then names the right class in either world. ``import genpo_rsl`` calls it.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache


@lru_cache(maxsize=None)
def rsl_rl_major() -> int:
    """3 for the ActorCritic world (rsl-rl-lib 3.x), 5 for the actor/critic-model world (4.x and 5.x)."""
    if importlib.util.find_spec("rsl_rl") is None:
        raise ImportError("genpo_rsl needs rsl-rl-lib (3.x or 5.x): pip install 'rsl-rl-lib==5.5.*'")
    return 5 if importlib.util.find_spec("rsl_rl.models") is not None else 3


def rsl_rl_version() -> str:
    import rsl_rl

    version = getattr(rsl_rl, "__version__", None)
    if version:
        return version
    from importlib.metadata import version as dist_version

    return dist_version("rsl-rl-lib")


def register() -> None:
    """Attach GenPO's classes to rsl_rl's packages (idempotent)."""
    import rsl_rl.algorithms
    import rsl_rl.modules

    if rsl_rl_major() >= 4:
        from .v5 import GenPO, GenPOActor

        rsl_rl.modules.GenPOActor = GenPOActor
    else:
        from .v3 import GenPO, GenPOActorCritic

        rsl_rl.modules.GenPOActorCritic = GenPOActorCritic
    rsl_rl.algorithms.GenPO = GenPO
