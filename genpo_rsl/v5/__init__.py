"""rsl_rl 4.x/5.x adapter: ``GenPOActor`` (actor model) and ``GenPO`` (algorithm), built by the stock runner."""

from .actor import GenPOActor
from .algorithm import GenPO

__all__ = ["GenPO", "GenPOActor"]
