"""Record demonstrations from a trained policy (GenPO or rsl_rl's Gaussian PPO) on its runner's env."""

from __future__ import annotations


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

    The episodes are those :func:`genpo_rsl.runner.run_episodes` counts (each env's first
    ``ceil(num_episodes / num_envs)``, in env order; episodes in progress when recording starts on an env without
    ``reset`` are skipped), with each step's observation and action kept.

    Returns ``observations`` (T, O), ``actions`` (T, A) (what the policy sent to ``env.step``, before the env's
    own clipping), ``episode_starts`` (T,), ``episode_returns`` and ``episode_lengths`` (num_episodes,).
    """
    from ..runner import run_episodes

    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"--episodes: must be an integer >= 1, got {num_episodes!r}")
    num_envs = runner.env.num_envs
    current: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(num_envs)]
    steps_of: list[list[list[tuple[np.ndarray, np.ndarray]]]] = [[] for _ in range(num_envs)]

    def keep(obs, actions, dones, counted) -> None:
        observation = actor_observation(runner, obs).cpu().numpy()
        actions, dones, counted = actions.cpu().numpy(), dones.cpu().numpy(), counted.cpu().numpy()
        for i in range(num_envs):
            if counted[i]:
                current[i].append((observation[i], actions[i]))
                if dones[i]:
                    steps_of[i].append(current[i])
            if dones[i]:
                current[i] = []

    # Raw rewards while recording (an env that normalises them for PPO), so episode_returns are the scores
    # evaluate() and genpo-play report.
    finished, _ = run_episodes(runner, num_episodes, deterministic, max_steps, reset=True, on_step=keep,
                               name="genpo-demos")
    episodes = [{"steps": steps, "return": ret} for per_steps, per in zip(steps_of, finished)
                for steps, (ret, _) in zip(per_steps, per)][:num_episodes]
    observations = np.stack([o for episode in episodes for o, _ in episode["steps"]]).astype(np.float32)
    actions = np.stack([a for episode in episodes for _, a in episode["steps"]]).astype(np.float32)
    lengths = np.array([len(episode["steps"]) for episode in episodes], dtype=np.int64)
    starts = np.zeros(len(actions), dtype=bool)
    starts[np.concatenate([[0], np.cumsum(lengths)[:-1]])] = True
    return {"observations": observations, "actions": actions, "episode_starts": starts,
            "episode_returns": np.array([episode["return"] for episode in episodes]), "episode_lengths": lengths}
