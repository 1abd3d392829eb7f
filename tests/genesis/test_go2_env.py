"""The Genesis Go2 env honours rsl_rl's VecEnv contract: shapes and dtypes, in-place resets, time-outs vs
terminations, finite rewards, episode statistics, determinism under a seed, and clear errors for bad input."""

import math

import pytest
import torch
from tensordict import TensorDict

from genpo_rsl.envs.genesis_go2 import Go2Config, Go2VelocityVecEnv, _roll_pitch_deg, _rotate_inverse

STEPS_PER_EPISODE = 25  # conftest's 0.5 s episodes at 0.02 s per step


def test_observation_and_step_shapes(go2_env):
    env = go2_env
    env.reset()
    obs = env.get_observations()
    assert isinstance(obs, TensorDict) and obs.batch_size == torch.Size([8])
    assert obs["policy"].shape == (8, 45) and obs["policy"].dtype == torch.float32
    assert env.num_actions == 12 and env.max_episode_length == STEPS_PER_EPISODE
    obs, rewards, dones, extras = env.step(torch.zeros(8, 12))
    assert obs["policy"].shape == (8, 45)
    assert rewards.shape == (8,) and rewards.dtype == torch.float32 and bool(torch.isfinite(rewards).all())
    assert dones.shape == (8,) and dones.dtype == torch.long
    assert extras["time_outs"].dtype == torch.bool and extras["time_outs"].shape == (8,)
    # Command slots (6:9) hold the sampled command, scaled: within the Omni task's ranges x (2, 2, 0.25).
    command = obs["policy"][:, 6:9] / torch.tensor([2.0, 2.0, 0.25])
    assert bool((command[:, 0].abs() <= 1.0).all() and (command[:, 1].abs() <= 0.5).all())
    assert command[:, 0].std() > 0, "commands should be sampled per env"


def test_standing_robots_time_out_and_reset_in_place(go2_env):
    env = go2_env
    env.reset()
    initial = env.get_observations()["policy"].clone()
    seen_log = None
    for step in range(1, STEPS_PER_EPISODE + 1):
        obs, rewards, dones, extras = env.step(torch.zeros(8, 12))  # hold the default pose: nobody falls
        assert bool(torch.isfinite(rewards).all())
        if step < STEPS_PER_EPISODE:
            assert not bool(dones.any()) and "log" not in extras
            assert bool((env.episode_length_buf == step).all())
    seen_log = extras["log"]
    assert bool(dones.all()) and bool(extras["time_outs"].all()), "every episode ends at the time limit"
    assert bool((env.episode_length_buf == 0).all())
    assert seen_log["/episode_length"].tolist() == [float(STEPS_PER_EPISODE)] * 8
    assert seen_log["/episode_return"].shape == (8,)
    tracking = seen_log["/episode_reward/tracking_lin_vel"]
    assert bool(((tracking >= 0) & (tracking <= 1.0)).all())
    assert env.episode_lengths[-8:] == [STEPS_PER_EPISODE] * 8
    # The reset robots are back at the default pose with zero velocity and zero last action.
    obs = obs["policy"]
    assert torch.allclose(obs[:, 9:21], torch.zeros(8, 12), atol=1e-4)  # joint positions - default pose
    assert torch.allclose(obs[:, 21:], torch.zeros(8, 24), atol=1e-4)  # joint velocities, last action
    assert torch.allclose(obs[:, 3:6], initial[:, 3:6], atol=1e-4)  # projected gravity: upright again


def test_reset_starts_full_episodes_even_after_rsl_rl_spread_the_lengths(go2_env):
    # rsl_rl's learn(init_at_random_ep_len=True) writes episode_length_buf ahead; the env honours it as a
    # time-out. A later reset() (evaluation, play) must start every robot on a full episode again.
    env = go2_env
    env.reset()
    env.step(torch.zeros(8, 12))
    env.episode_length_buf = torch.randint(1, STEPS_PER_EPISODE, (8,))
    env.step(torch.zeros(8, 12))
    env.reset()
    assert bool((env.episode_length_buf == 0).all())
    for step in range(1, STEPS_PER_EPISODE):
        _, _, dones, _ = env.step(torch.zeros(8, 12))
        assert not bool(dones.any()), f"an episode ended {step} steps after reset(), before the time limit"
    _, _, dones, extras = env.step(torch.zeros(8, 12))
    assert bool(dones.all()) and bool(extras["time_outs"].all())


def test_a_tipped_robot_terminates_without_a_time_out(go2_env):
    env = go2_env
    env.reset()
    roll = math.radians(30.0)
    tipped = torch.tensor([[math.cos(roll / 2), math.sin(roll / 2), 0.0, 0.0]])
    with torch.inference_mode():  # the env drives Genesis in inference mode (see Go2VelocityVecEnv.step)
        env.robot.set_quat(tipped, zero_velocity=True, envs_idx=torch.tensor([2]))
    _, _, dones, extras = env.step(torch.zeros(8, 12))
    assert dones.tolist() == [0, 0, 1, 0, 0, 0, 0, 0]
    assert not bool(extras["time_outs"].any()), "a fall is a termination, not a time-out"
    assert extras["log"]["/episode_length"].tolist() == [1.0]


def test_random_actions_keep_rewards_and_observations_finite(go2_env):
    env = go2_env
    env.reset()
    generator = torch.Generator().manual_seed(0)
    for _ in range(40):
        obs, rewards, dones, _ = env.step(torch.randn(8, 12, generator=generator) * 2.0)
        assert bool(torch.isfinite(rewards).all()) and bool(torch.isfinite(obs["policy"]).all())


def test_same_seed_same_rollout_and_seeded_commands(go2_env):
    """Commands are drawn from the seed, and a second env with the same seed replays the first exactly."""
    def rollout(env, steps=30):
        env.reset()
        generator = torch.Generator().manual_seed(7)
        out = [env.get_observations()["policy"].clone()]
        for _ in range(steps):
            obs, rewards, dones, _ = env.step(torch.randn(env.num_envs, 12, generator=generator))
            out += [obs["policy"].clone(), rewards.clone(), dones.clone().float()]
        return out

    first = Go2VelocityVecEnv(num_envs=4, seed=11, lin_vel_x=(-1.0, 1.0), verbose=False)
    # The first commands are the seed's draw (so another seed draws other commands).
    draw = torch.rand(4, 3, generator=torch.Generator().manual_seed(11))
    assert torch.allclose(first.commands[:, 0], -1.0 + 2.0 * draw[:, 0])
    second = Go2VelocityVecEnv(num_envs=4, seed=11, lin_vel_x=(-1.0, 1.0), verbose=False)
    try:
        a, b = rollout(first), rollout(second)
        assert any(bool(x.any()) for x in a[3::3]), "some episode should end under random actions in 30 steps"
        for x, y in zip(a, b):
            assert torch.equal(x, y)
    finally:
        first.close()
        second.close()


def test_bad_input_is_named_before_any_build(go2_env):
    with pytest.raises(ValueError, match="num_envs"):
        Go2VelocityVecEnv(num_envs=0)
    with pytest.raises(ValueError, match="lin_vel_x"):
        Go2VelocityVecEnv(num_envs=2, lin_vel_x=(1.0, 0.0))
    with pytest.raises(ValueError, match="not a Go2 setting"):
        Go2VelocityVecEnv(num_envs=2, lin_vel=(0.0, 1.0))
    with pytest.raises(ValueError, match="reward_scales"):
        Go2VelocityVecEnv(num_envs=2, reward_scales={"feet_air_time": 1.0})
    with pytest.raises(ValueError, match="render_mode"):
        Go2VelocityVecEnv(num_envs=2, render_mode="human")
    with pytest.raises(ValueError, match="actions: expected shape"):
        go2_env.step(torch.zeros(8, 11))
    with pytest.raises(RuntimeError, match="non-finite actions"):
        go2_env.step(torch.full((8, 12), float("nan")))
    from genpo_rsl.envs import make_env

    with pytest.raises(ValueError, match="unknown Genesis task"):
        make_env("genesis/Go2-Rough")


def test_frame_helpers():
    """Body-frame rotation and roll/pitch agree with hand-computed cases (yaw 90 degrees, roll 30 degrees)."""
    yaw = math.radians(90.0)
    quat = torch.tensor([[math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]])
    body = _rotate_inverse(quat, torch.tensor([[1.0, 0.0, 0.0]]))  # world +x seen from a robot facing +y
    assert torch.allclose(body, torch.tensor([[0.0, -1.0, 0.0]]), atol=1e-6)
    roll = math.radians(30.0)
    roll_deg, pitch_deg = _roll_pitch_deg(torch.tensor([[math.cos(roll / 2), math.sin(roll / 2), 0.0, 0.0]]))
    assert abs(float(roll_deg) - 30.0) < 1e-4 and abs(float(pitch_deg)) < 1e-4
    assert Go2Config().lin_vel_x == (0.5, 0.5), "the flat task's default is the Genesis example's 0.5 m/s forward"


def test_the_mirror_is_an_involution_and_a_mirrored_rollout_of_a_mirrored_command_is_the_mirror_image(go2_env):
    from genpo_rsl.envs.genesis_go2 import compute_symmetric_states, mirror_action, mirror_observation

    generator = torch.Generator().manual_seed(0)
    obs, actions = torch.randn(5, 45, generator=generator), torch.randn(5, 12, generator=generator)
    assert torch.equal(mirror_observation(mirror_observation(obs)), obs)
    assert torch.equal(mirror_action(mirror_action(actions)), actions)
    assert not torch.allclose(mirror_observation(obs), obs) and not torch.allclose(mirror_action(actions), actions)
    augmented, mirrored = compute_symmetric_states(obs=TensorDict({"policy": obs}, batch_size=[5]), actions=actions)
    assert augmented["policy"].shape == (10, 45) and torch.equal(augmented["policy"][5:], mirror_observation(obs))
    assert torch.equal(mirrored[:5], actions) and torch.equal(mirrored[5:], mirror_action(actions))

    # Robots 2k and 2k+1 from the same reset: one follows a command and actions, the other their mirror images;
    # its observations must be the mirror image of the first's at every step (the task is left-right symmetric).
    env = go2_env
    env.reset()
    commands = torch.tensor([[0.6, 0.3, 0.5], [0.2, -0.4, -0.8], [-0.5, 0.1, 0.9], [0.8, 0.0, -0.3]])
    paired = torch.stack([commands, commands * torch.tensor([1.0, -1.0, -1.0])], dim=1).reshape(8, 3)
    env.commands = paired.to(env.commands.device)
    for _ in range(12):  # < the 25-step episode and the 4 s command period: no reset, no resample
        first = 0.3 * torch.randn(4, 12, generator=generator)
        step_actions = torch.stack([first, mirror_action(first)], dim=1).reshape(8, 12)
        obs, _, dones, _ = env.step(step_actions)
        assert not bool(dones.any())
        policy = obs["policy"]
        torch.testing.assert_close(policy[1::2], mirror_observation(policy[0::2]), atol=2e-3, rtol=0)
