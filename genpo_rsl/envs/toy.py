"""Pure-torch batched toy environments implementing rsl_rl's ``VecEnv`` contract.

They need no simulator, run entirely on ``device``, and are deterministic given ``seed`` (each owns a
``torch.Generator``). They follow the same conventions as :class:`~genpo_rsl.envs.GymnasiumVecEnv`:

* observations: ``TensorDict({"policy": (num_envs, obs_dim) float32}, batch_size=[num_envs])``;
* ``step`` returns ``(obs, rewards float32 (num_envs,), dones long (num_envs,), extras)``; the observation of an
  environment that is done is already the first observation of its next episode (rsl_rl resets in place);
* ``extras["time_outs"]`` (bool) marks episodes cut by the time limit, so PPO bootstraps them;
* ``extras["log"]`` holds ``"/episode_return"`` and ``"/episode_length"`` (1-D tensors, one entry per episode that
  finished on this step) and is present only on steps where an episode finished.

:class:`EpisodeStatistics` is the bookkeeping shared with the gymnasium adapter.
"""

from __future__ import annotations

import math
from abc import abstractmethod

import torch
from tensordict import TensorDict

from rsl_rl.env import VecEnv


class EpisodeStatistics:
    """Undiscounted return and length of every episode, accumulated from ``(rewards, dones)`` step by step.

    ``episode_returns`` / ``episode_lengths`` keep every finished episode in order of completion, so evaluation code
    can read true returns (the rsl_rl logger only keeps a rolling window, and PPO adds bootstrap terms to the
    rewards it stores).
    """

    def __init__(self, num_envs: int, device: torch.device | str):
        self.current_returns = torch.zeros(num_envs, dtype=torch.float64, device=device)
        self.current_lengths = torch.zeros(num_envs, dtype=torch.long, device=device)
        self.episode_returns: list[float] = []
        self.episode_lengths: list[int] = []

    def update(self, rewards: torch.Tensor, dones: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """Add one step; return the rsl_rl ``extras["log"]`` entries for episodes that just ended, or ``None``.

        The logged values are 1-D tensors with one entry per finished episode: rsl_rl's logger concatenates the
        per-step tensors before taking the mean, so the logged mean is the exact mean over episodes. ``None`` when
        nothing finished, because rsl_rl 3.x takes the keys to log from the first collected entry (an empty dict
        there would hide the statistics for the whole iteration).
        """
        self.current_returns += rewards.to(torch.float64)
        self.current_lengths += 1
        if not bool(dones.any()):
            return None
        finished = dones.bool()
        returns = self.current_returns[finished]
        lengths = self.current_lengths[finished]
        self.episode_returns.extend(returns.tolist())
        self.episode_lengths.extend(lengths.tolist())
        self.current_returns[finished] = 0.0
        self.current_lengths[finished] = 0
        return {"/episode_return": returns.float(), "/episode_length": lengths.float()}

    def recent_returns(self, n: int | None = None) -> list[float]:
        """The last ``n`` finished episode returns (all of them if ``n`` is ``None``), oldest first."""
        return list(self.episode_returns if n is None else self.episode_returns[-n:])


class EpisodeLog:
    """Accessors shared by this package's VecEnvs: finished episodes (from ``self.stats``) and observations."""

    stats: EpisodeStatistics
    _obs: torch.Tensor
    #: Seconds of simulated time per env step (IsaacLab's ``step_dt``; rsl_rl's RND scales its weight by it).
    step_dt: float = 1.0

    @property
    def unwrapped(self):
        """The env itself: rsl_rl reads ``env.unwrapped`` (RND's ``step_dt``), as IsaacLab's wrapper provides it."""
        return self

    def _non_finite_envs(self, values: torch.Tensor) -> list[int]:
        """Indices of the envs whose row of ``values`` holds NaN or inf ([] when all is finite)."""
        finite = torch.isfinite(values)
        if bool(finite.all()):
            return []
        return (~finite).reshape(self.num_envs, -1).any(dim=1).nonzero().flatten().tolist()

    @property
    def episode_returns(self) -> list[float]:
        """Undiscounted returns of all finished episodes, in order of completion."""
        return self.stats.episode_returns

    @property
    def episode_lengths(self) -> list[int]:
        """Lengths of all finished episodes, in order of completion."""
        return self.stats.episode_lengths

    def recent_episode_returns(self, n: int | None = None) -> list[float]:
        """The last ``n`` finished episode returns (all if ``None``)."""
        return self.stats.recent_returns(n)

    def get_observations(self) -> TensorDict:
        """The current observations, ``{"policy": (num_envs, obs_dim) float32}``."""
        return TensorDict({"policy": self._obs}, batch_size=[self.num_envs], device=self.device)


class _TorchVecEnv(EpisodeLog, VecEnv):
    """Shared episode bookkeeping of the toy environments; subclasses define dynamics, reward and observation."""

    obs_dim: int

    def __init__(self, num_envs: int, num_actions: int, episode_length: int, action_bound: float,
                 device: torch.device | str, seed: int):
        if num_envs < 1:
            raise ValueError(f"num_envs: must be >= 1, got {num_envs}")
        if episode_length < 1:
            raise ValueError(f"episode_length: must be >= 1, got {episode_length}")
        self.num_envs = num_envs
        self.num_actions = num_actions
        self.max_episode_length = episode_length
        self.device = torch.device(device)
        self.seed = seed
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.action_low = torch.full((num_actions,), -action_bound, device=self.device)
        self.action_high = torch.full((num_actions,), action_bound, device=self.device)
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.stats = EpisodeStatistics(num_envs, self.device)
        self._reset_envs(torch.ones(num_envs, dtype=torch.bool, device=self.device))
        self._obs = self._make_obs()
        self.cfg = {
            "task": type(self).__name__,
            "num_envs": num_envs,
            "seed": seed,
            "obs_dim": self.obs_dim,
            "num_actions": num_actions,
            "action_low": [-action_bound] * num_actions,
            "action_high": [action_bound] * num_actions,
            "max_episode_length": episode_length,
        }

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """Clip ``actions`` to the action bounds, advance one step, reset finished environments in place."""
        if actions.shape != (self.num_envs, self.num_actions):
            raise ValueError(
                f"actions: expected shape ({self.num_envs}, {self.num_actions}), got {tuple(actions.shape)}"
            )
        actions = torch.clamp(actions.to(self.device, torch.float32), self.action_low, self.action_high)
        self.episode_length_buf += 1
        rewards, terminated = self._advance(actions)
        truncated = (self.episode_length_buf >= self.max_episode_length) & ~terminated
        dones = terminated | truncated
        extras: dict = {"time_outs": truncated}
        log = self.stats.update(rewards, dones)
        if log is not None:  # some episode finished
            extras["log"] = log
            self._reset_envs(dones)
            self.episode_length_buf[dones] = 0
        # A fresh tensor every step: rsl_rl keeps a reference to the previous observations until it stores them.
        self._obs = self._make_obs()
        return self.get_observations(), rewards, dones.long(), extras

    def close(self) -> None:
        """Nothing to release; present for interface parity with :class:`GymnasiumVecEnv`."""

    def state_dict(self) -> dict:
        """Everything the next steps depend on (RNG, bodies, episode clocks, observations), for exact resume."""
        tensors = {name: value.clone() for name, value in vars(self).items() if isinstance(value, torch.Tensor)}
        stats = {"current_returns": self.stats.current_returns.clone(),
                 "current_lengths": self.stats.current_lengths.clone()}
        return {"generator": self.generator.get_state(), "tensors": tensors, "stats": stats}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"].cpu())
        for name, value in state["tensors"].items():
            setattr(self, name, value.to(self.device).clone())
        for name, value in state["stats"].items():
            setattr(self.stats, name, value.to(self.stats.current_returns.device).clone())

    @abstractmethod
    def _reset_envs(self, mask: torch.Tensor) -> None:
        """Start a new episode in the environments selected by the bool ``mask``."""

    @abstractmethod
    def _advance(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply clipped ``actions``; return ``(rewards float32, terminated bool)``."""

    @abstractmethod
    def _make_obs(self) -> torch.Tensor:
        """The (num_envs, obs_dim) float32 observation of the current state, as a new tensor."""


class ZeroCostVecEnv(_TorchVecEnv):
    """An environment whose step costs next to nothing, for timing runs where the policy dominates.

    Observations are standard-normal noise, the reward is ``-mean(a^2)`` (actions clipped to [-1, 1]), and every
    episode is truncated after ``episode_length`` steps.
    """

    def __init__(self, num_envs: int, obs_dim: int, action_dim: int, episode_length: int = 1000,
                 device: torch.device | str = "cpu", seed: int = 0):
        if obs_dim < 1 or action_dim < 1:
            raise ValueError(f"obs_dim and action_dim: must be >= 1, got obs_dim={obs_dim}, action_dim={action_dim}")
        self.obs_dim = obs_dim
        super().__init__(num_envs, action_dim, episode_length, 1.0, device, seed)

    def _reset_envs(self, mask: torch.Tensor) -> None:
        pass  # stateless

    def _advance(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rewards = -(actions * actions).mean(dim=1)
        return rewards, torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def _make_obs(self) -> torch.Tensor:
        return torch.randn(self.num_envs, self.obs_dim, generator=self.generator, device=self.device)


class PointReachVecEnv(_TorchVecEnv):
    """A 2-D point mass that must reach a random goal; small and quickly learnable by PPO.

    * Observation (6): position (2), velocity (2), goal (2). Start and goal are uniform in [-1, 1]^2 per episode.
    * Action (2): a force, clipped to [-1, 1]^2.
    * Dynamics (``dt = 0.1``): ``v <- 0.7 v + 0.6 a``, ``p <- clip(p + 0.1 v, -2, 2)`` (velocity is zeroed at the
      wall). Full force gives a top speed of 2 units/s, so any goal is reachable in well under an episode.
    * Reward: ``-||p - goal|| - 0.01 ||a||^2`` per step; episodes are truncated after ``episode_length`` steps.

    Zero actions score about ``-1 * episode_length`` (the mean start-goal distance is ~1) and random actions worse,
    while steering to the goal scores about -10 for the default 50 steps, so learning shows clearly.
    """

    obs_dim = 6
    DT = 0.1
    step_dt = DT
    DAMPING = 0.7
    ACCEL = 6.0
    ARENA = 2.0
    ACTION_COST = 0.01

    def __init__(self, num_envs: int, device: torch.device | str = "cpu", seed: int = 0, episode_length: int = 50):
        self.pos = torch.zeros(num_envs, 2, device=device)
        self.vel = torch.zeros(num_envs, 2, device=device)
        self.goal = torch.zeros(num_envs, 2, device=device)
        super().__init__(num_envs, 2, episode_length, 1.0, device, seed)

    def _uniform(self, n: int) -> torch.Tensor:
        return 2.0 * torch.rand(n, 2, generator=self.generator, device=self.device) - 1.0

    def _reset_envs(self, mask: torch.Tensor) -> None:
        n = int(mask.sum())
        self.pos[mask] = self._uniform(n)
        self.goal[mask] = self._uniform(n)
        self.vel[mask] = 0.0

    def _advance(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.vel = self.DAMPING * self.vel + self.ACCEL * self.DT * actions
        new_pos = self.pos + self.DT * self.vel
        self.pos = new_pos.clamp(-self.ARENA, self.ARENA)
        self.vel = torch.where(new_pos == self.pos, self.vel, torch.zeros_like(self.vel))
        distance = torch.linalg.vector_norm(self.pos - self.goal, dim=1)
        rewards = -distance - self.ACTION_COST * (actions * actions).sum(dim=1)
        return rewards, torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def _make_obs(self) -> torch.Tensor:
        return torch.cat([self.pos, self.vel, self.goal], dim=1)


class TwoGoalReachVecEnv(_TorchVecEnv):
    """A multimodal task with two equally good, separated optima, to test whether a policy can represent both.

    The action is a 2-D point (clipped to [-2, 2]^2). Each step pays ``max_k exp(-||a - g_k||^2 / (2 sigma^2))``
    with goals ``g = (-1, 0)`` and ``(+1, 0)`` and ``sigma = 0.25``: 1 at either goal, ~3e-4 at their midpoint, so
    a unimodal Gaussian policy that averages the two modes earns almost nothing. The observation is
    ``(1, t / episode_length)``: constant apart from the elapsed-time fraction, which makes the episode end (a
    termination, not a time-out, since time is observed) Markov. With the default ``episode_length=1`` every step
    is a one-shot bandit.

    ``goals`` holds the goal positions and :meth:`mode_fractions` measures how samples split between them.
    """

    obs_dim = 2
    SIGMA = 0.25

    def __init__(self, num_envs: int, device: torch.device | str = "cpu", seed: int = 0, episode_length: int = 1):
        self.goals = torch.tensor([[-1.0, 0.0], [1.0, 0.0]], device=device)
        super().__init__(num_envs, 2, episode_length, 2.0, device, seed)

    def _reset_envs(self, mask: torch.Tensor) -> None:
        pass  # the only state is episode_length_buf, reset by the base class

    def _advance(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sq_dist = torch.cdist(actions, self.goals).square()
        rewards = torch.exp(-sq_dist / (2 * self.SIGMA**2)).amax(dim=1)
        return rewards, self.episode_length_buf >= self.max_episode_length

    def _make_obs(self) -> torch.Tensor:
        elapsed = self.episode_length_buf.float() / self.max_episode_length
        return torch.stack([torch.ones_like(elapsed), elapsed], dim=1)

    def mode_fractions(self, points: torch.Tensor, radius: float = 0.5) -> torch.Tensor:
        """Fraction of ``points`` (N, 2) within ``radius`` of each goal, shape (num_goals,).

        With the default radius (half the goal separation) the balls are disjoint, so the entries sum to at most 1;
        the remainder is the fraction of samples near neither mode.
        """
        if radius <= 0 or not math.isfinite(radius):
            raise ValueError(f"radius: must be a positive finite number, got {radius}")
        near = torch.cdist(points.to(self.goals), self.goals) <= radius
        return near.float().mean(dim=0)


def point_reach_symmetric_states(env=None, obs: TensorDict | None = None, actions: torch.Tensor | None = None):
    """rsl_rl's ``data_augmentation_func`` for toy/PointReach: each batch followed by its mirror image in x -> -x
    (the task is symmetric under it: position, velocity, goal and force change the sign of their x).

    Args:
        env: unused; obs: a TensorDict of (B, 6) groups, or None; actions: (B, 2), or None.

    Returns:
        (obs, actions) of batch 2B, the originals first; None where the input was None.
    """
    obs_sign = torch.tensor([-1.0, 1.0, -1.0, 1.0, -1.0, 1.0])
    out_obs = None if obs is None else obs.apply(
        lambda group: torch.cat([group, group * obs_sign.to(group)], dim=0), batch_size=[2 * int(obs.batch_size[0])])
    out_actions = None if actions is None else torch.cat([actions, actions * actions.new_tensor([-1.0, 1.0])], dim=0)
    return out_obs, out_actions


#: The toy tasks by name (``genpo_rsl.envs.make_env("toy/PointReach", ...)``).
TOY_ENVS = {"toy/PointReach": PointReachVecEnv, "toy/TwoGoalReach": TwoGoalReachVecEnv, "toy/ZeroCost": ZeroCostVecEnv}
