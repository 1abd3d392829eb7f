"""Learning from demonstrations: demo files, the likelihood of a demonstrated action under a GenPO flow,
behaviour-cloning pretraining, and the actor-only load and critic warm-up used to fine-tune with PPO.

Knows the flows and rsl_rl's models (through the runner), nothing of IsaacLab, mjlab or Genesis.
"""

from .data import DemoError, Demos, load_demos, save_demos
from .likelihood import LatentProposal, estimate_log_likelihood, importance_log_likelihood, join_dummy, split_dummy
from .policy import PolicyView, frozen_actor, hold_actor_normalizer, load_actor, warm_up_critic
from .cloning import PretrainConfig, PretrainResult, fit, prepare, pretrain, pretrain_prepared

__all__ = ["DemoError", "Demos", "LatentProposal", "PolicyView", "PretrainConfig", "PretrainResult",
           "estimate_log_likelihood", "fit", "frozen_actor", "hold_actor_normalizer", "importance_log_likelihood",
           "join_dummy", "load_actor", "load_demos", "prepare", "pretrain", "pretrain_prepared", "save_demos",
           "split_dummy", "warm_up_critic"]
