"""Record demonstrations from a trained policy (GenPO or rsl_rl's Gaussian PPO) on its runner's env."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import torch


def actor_observation(runner, obs) -> torch.Tensor:
    """The observation the policy reads: its observation groups concatenated (rsl_rl's obs_groups order)."""
    groups = runner.cfg.get("obs_groups", {})
    names = groups.get("actor") or groups.get("policy") or ["policy"]
    return torch.cat([obs[name] for name in names], dim=-1)


def record_episodes(runner, num_episodes: int, deterministic: bool = True, max_steps: int | None = None
                    ) -> dict[str, np.ndarray]:
    """``num_episodes`` complete episodes of ``runner``'s policy on ``runner.env``, as demonstration arrays.

    Returns ``observations`` (T, O), ``actions`` (T, A) (what the policy sent to ``env.step``, before the env's
    own clipping), ``episode_starts`` (T,), ``episode_returns`` and ``episode_lengths`` (num_episodes,). As in
    :func:`genpo_rsl.runner.evaluate`, each env contributes its first ``ceil(num_episodes / num_envs)`` complete
    episodes and they are taken in env order, so short episodes are not favoured; episodes already in progress
    when recording starts (an env without ``reset``) are skipped.
    """
    from ..runner import inference_policy

    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"--episodes: must be an integer >= 1, got {num_episodes!r}")
    env = runner.env
    num_envs = env.num_envs
    per_env = math.ceil(num_episodes / num_envs)
    needed = math.ceil(num_episodes / per_env)
    if max_steps is None:
        length = getattr(env, "max_episode_length", None)
        length = int(length.max()) if isinstance(length, torch.Tensor) else length
        max_steps = (per_env + 1) * int(length) + 1 if length else 100_000
    policy = inference_policy(runner, deterministic)
    if callable(getattr(env, "reset", None)):
        result = env.reset()
        obs = result[0] if isinstance(result, tuple) else result
        counting = [True] * num_envs
    else:
        obs = env.get_observations()
        counting = [False] * num_envs
    current: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(num_envs)]
    current_return = np.zeros(num_envs)
    finished: list[list[dict[str, Any]]] = [[] for _ in range(num_envs)]
    steps = 0
    # An env that normalises the rewards PPO trains on (GymnasiumVecEnv) gives the raw ones while recording, so
    # episode_returns are the scores evaluate() and genpo-play report.
    scoring = env.raw_rewards() if callable(getattr(env, "raw_rewards", None)) else contextlib.nullcontext()
    with scoring:
        while not all(len(finished[i]) >= per_env for i in range(needed)):
            if steps >= max_steps:
                raise RuntimeError(f"genpo-demos: the episodes did not finish within {max_steps} env steps")
            observation = actor_observation(runner, obs).cpu().numpy()
            actions = policy(obs)
            obs, rewards, dones, _ = env.step(actions.to(env.device))
            actions = actions.cpu().numpy()
            rewards = rewards.view(-1).double().cpu().numpy()
            dones = dones.view(-1).bool().cpu().numpy()
            steps += 1
            for i in range(num_envs):
                if counting[i] and len(finished[i]) < per_env:
                    current[i].append((observation[i], actions[i]))
                    current_return[i] += rewards[i]
                if dones[i]:
                    if counting[i] and current[i] and len(finished[i]) < per_env:
                        finished[i].append({"steps": current[i], "return": float(current_return[i])})
                    current[i], current_return[i], counting[i] = [], 0.0, True
    episodes = [episode for per in finished for episode in per][:num_episodes]
    observations = np.stack([o for episode in episodes for o, _ in episode["steps"]]).astype(np.float32)
    actions = np.stack([a for episode in episodes for _, a in episode["steps"]]).astype(np.float32)
    lengths = np.array([len(episode["steps"]) for episode in episodes], dtype=np.int64)
    starts = np.zeros(len(actions), dtype=bool)
    starts[np.concatenate([[0], np.cumsum(lengths)[:-1]])] = True
    return {"observations": observations, "actions": actions, "episode_starts": starts,
            "episode_returns": np.array([episode["return"] for episode in episodes]), "episode_lengths": lengths}
