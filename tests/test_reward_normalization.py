"""Reward normalisation (gymnasium's NormalizeReward + ClipReward inside GymnasiumVecEnv) changes only what PPO trains
on: the logged episode returns and the evaluated returns are the environment's raw ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genpo_rsl  # noqa: F401
from genpo_rsl.envs import GymnasiumVecEnv
from genpo_rsl.runner import GenPORunner, evaluate
from genpo_rsl.train_config import build_runner_cfg, env_kwargs, task_settings

TASK = "HalfCheetah-v5"
EPISODE = 25  # short episodes: several finish within the test's steps


def _env(**kwargs) -> GymnasiumVecEnv:
    return GymnasiumVecEnv(TASK, num_envs=3, seed=7, max_episode_steps=EPISODE, **kwargs)


def _rollout(env: GymnasiumVecEnv, steps: int) -> tuple[np.ndarray, list[float]]:
    """Step with a fixed pseudo-random action sequence; return the step rewards and the logged episode returns."""
    generator = torch.Generator().manual_seed(0)
    rewards, logged = [], []
    for _ in range(steps):
        actions = torch.rand(env.num_envs, env.num_actions, generator=generator) * 2 - 1
        _, reward, _, extras = env.step(actions)
        rewards.append(reward.numpy().copy())
        if "log" in extras:
            logged.extend(torch.as_tensor(extras["log"]["/episode_return"]).view(-1).tolist())
    return np.stack(rewards), logged


def test_training_rewards_are_normalised_but_logged_returns_are_raw():
    raw_env, norm_env = _env(), _env(normalize_reward=True, reward_gamma=0.99, clip_reward=0.5)
    try:
        raw_rewards, raw_logged = _rollout(raw_env, 3 * EPISODE)
        norm_rewards, norm_logged = _rollout(norm_env, 3 * EPISODE)
        assert not np.allclose(raw_rewards, norm_rewards)  # PPO does see other rewards...
        assert np.abs(norm_rewards).max() <= 0.5 + 1e-6  # ...clipped ones
        assert len(raw_env.episode_returns) == 3 * raw_env.num_envs
        # ...but every finished episode's return, in the env's list and in rsl_rl's log, is the raw sum.
        np.testing.assert_allclose(norm_env.episode_returns, raw_env.episode_returns, rtol=1e-6)
        np.testing.assert_allclose(norm_logged, raw_logged, rtol=1e-6)
        per_episode = raw_rewards.reshape(3, EPISODE, raw_env.num_envs).sum(axis=1).T.reshape(-1)
        np.testing.assert_allclose(sorted(norm_env.episode_returns), sorted(per_episode), rtol=1e-5)
    finally:
        raw_env.close()
        norm_env.close()


def test_evaluation_scores_raw_returns_and_leaves_the_normaliser_alone():
    settings = task_settings(TASK, {"num_envs": 2, "num_steps_per_env": 8, "normalize_reward": True,
                                    "clip_reward": 10.0})
    assert env_kwargs(TASK, settings) == {"normalize_reward": True, "reward_gamma": 0.99, "clip_reward": 10.0}
    cfg = build_runner_cfg("ppo", settings)
    envs = {name: GymnasiumVecEnv(TASK, num_envs=2, seed=3, max_episode_steps=EPISODE, **kwargs)
            for name, kwargs in (("normalised", env_kwargs(TASK, settings)), ("raw", {}))}
    try:
        torch.manual_seed(0)
        runner = GenPORunner(envs["normalised"], cfg, log_dir=None, device="cpu")
        runner.disable_logs = True  # rsl_rl 3.x writes its code state even without a log_dir
        runner.learn(num_learning_iterations=2)  # the normaliser has statistics now
        rms = envs["normalised"]._reward_normalizer.return_rms
        before = (float(rms.mean), float(rms.var), float(rms.count))
        assert abs(np.sqrt(before[1]) - 1.0) > 0.1  # normalised returns would differ visibly from raw ones
        scored = evaluate(runner, 4, deterministic=True)
        assert (float(rms.mean), float(rms.var), float(rms.count)) == before
        runner.env = envs["raw"]  # the same policy on an env without normalisation scores the same
        reference = evaluate(runner, 4, deterministic=True)
        np.testing.assert_allclose(scored["returns"], reference["returns"], rtol=1e-5)
    finally:
        for env in envs.values():
            env.close()


def test_normaliser_statistics_survive_a_checkpoint():
    env = _env(normalize_reward=True)
    try:
        _rollout(env, 10)
        state = env.state_dict()
        fresh = _env(normalize_reward=True)
        fresh.load_state_dict(state)
        assert fresh.state_dict() == state and state["return_rms"]["count"] > 1
        with pytest.raises(ValueError, match="normalize_reward"):
            _env().load_state_dict(state)
        fresh.close()
    finally:
        env.close()


@pytest.mark.parametrize("field,value", [("reward_gamma", 1.5), ("clip_reward", 0.0), ("normalize_reward", "yes")])
def test_bad_normalisation_settings_fail_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        _env(**{field: value})


def test_toy_tasks_refuse_reward_normalisation():
    with pytest.raises(ValueError, match="normalize_reward"):
        env_kwargs("toy/PointReach", task_settings("toy/PointReach", {"normalize_reward": True}))
