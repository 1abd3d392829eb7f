"""Which rsl_rl world is installed: 3 (rsl-rl-lib 3.x, ``ActorCritic``) or 5 (4.x/5.x, actor/critic models).

Imports nothing of genpo_rsl, so every module (checkpoints, runner, configs, the adapters) can ask without
importing an adapter; ``genpo_rsl.compat`` re-exports both functions next to ``register()``.
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


def adapter(major: int | None = None):
    """The installed world's adapter module (``genpo_rsl.v3.world`` or ``genpo_rsl.v5.world``): the one place that
    picks it. Shared code calls its functions instead of asking which world it is in.

    Args:
        major: another world's adapter (3, or 4/5), for code that builds that world's configs; default: installed.
    """
    import importlib

    major = rsl_rl_major() if major is None else major
    return importlib.import_module("genpo_rsl.v5.world" if major >= 4 else "genpo_rsl.v3.world")


__all__ = ["adapter", "rsl_rl_major", "rsl_rl_version"]
