"""Environments for GenPO with rsl_rl: a gymnasium adapter and fast pure-torch toy tasks (all rsl_rl ``VecEnv``)."""

from .gymnasium_env import GymnasiumVecEnv, make_env
from .toy import EpisodeStatistics, PointReachVecEnv, TwoGoalReachVecEnv, ZeroCostVecEnv

__all__ = [
    "EpisodeStatistics",
    "GymnasiumVecEnv",
    "PointReachVecEnv",
    "TwoGoalReachVecEnv",
    "ZeroCostVecEnv",
    "make_env",
]
