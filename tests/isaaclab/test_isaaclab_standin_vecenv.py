"""The stand-in VecEnv helper (used by the end-to-end train/play and export tests) has the paper tasks' sizes, also
under their ``-Play-`` and IsaacLab 3.0 ids, and the interface rsl_rl's runner uses. Needs neither IsaacLab nor Isaac
Sim."""

from __future__ import annotations

import pytest
import torch

from genpo_standin_vecenv import TASK_DIMS, StandInVecEnv, make_standin_env

PAPER_DIMS = {
    "Isaac-Ant-v0": (60, 8),
    "Isaac-Humanoid-v0": (87, 21),
    "Isaac-Lift-Cube-Franka-v0": (36, 8),
    "Isaac-Quadcopter-Direct-v0": (12, 4),
    "Isaac-Velocity-Flat-Anymal-D-v0": (48, 12),
    "Isaac-Velocity-Rough-Unitree-Go2-v0": (235, 12),
    "Isaac-Velocity-Rough-H1-v0": (256, 19),
    "Isaac-Repose-Cube-Shadow-Direct-v0": (157, 20),
}


def test_task_dims_are_the_papers():
    assert TASK_DIMS == PAPER_DIMS


@pytest.mark.parametrize("task_id", sorted(PAPER_DIMS))
def test_standin_env_shapes(task_id):
    num_obs, num_actions = PAPER_DIMS[task_id]
    env = make_standin_env(task_id, num_envs=5, max_episode_length=3)
    obs = env.get_observations()
    assert obs["policy"].shape == (5, num_obs) and env.num_actions == num_actions
    for step in range(1, 7):
        obs, rewards, dones, extras = env.step(torch.zeros(5, num_actions))
        assert obs["policy"].shape == (5, num_obs)
        assert rewards.shape == (5,) and rewards.dtype == torch.float32
        assert dones.dtype == torch.long and extras["time_outs"].dtype == torch.bool
        assert bool(dones.all()) == (step % 3 == 0)
    assert env.unwrapped.step_dt > 0 and env.episode_length_buf.shape == (5,)


def test_play_variant_and_critic_group():
    assert make_standin_env("Isaac-Velocity-Flat-AnymalD").num_obs == 48  # IsaacLab 3.0's id of Anymal-D flat
    env = make_standin_env("Isaac-Velocity-Rough-H1-Play-v0", num_envs=2, num_critic_obs=7)
    obs = env.get_observations()
    assert set(obs.keys()) == {"policy", "critic"} and obs["critic"].shape == (2, 7)
    with pytest.raises(ValueError):
        env.step(torch.zeros(2, 3))
    with pytest.raises(KeyError):
        make_standin_env("Isaac-Cartpole-v0")


def test_reward_rewards_the_target_action():
    env = StandInVecEnv(4, 2, num_envs=64, seed=1)
    target = torch.tanh(env._obs @ env._target)
    _, good, _, _ = env.step(target)
    env2 = StandInVecEnv(4, 2, num_envs=64, seed=1)
    _, bad, _, _ = env2.step(-target)
    assert good.mean() > bad.mean()
