"""rsl_rl 3.x adapter: ``GenPOActorCritic`` (policy) and ``GenPO`` (algorithm), built by the stock 3.x runner."""

from .actor_critic import FlowActor, GenPOActorCritic
from .algorithm import GenPO

__all__ = ["FlowActor", "GenPO", "GenPOActorCritic"]
