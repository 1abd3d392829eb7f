"""Tests of the rsl_rl VecEnv adapters: the gymnasium wrapper and the pure-torch toy environments."""

from __future__ import annotations

import importlib.metadata

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict

from genpo_rsl.envs import GymnasiumVecEnv, PointReachVecEnv, TwoGoalReachVecEnv, ZeroCostVecEnv, make_env


class CounterEnv(gym.Env):
    """A test env whose observation reveals the step count, so resets are visible.

    obs = (t, seed); action in [-1, 1]; reward = the action actually received (shows clipping); terminates when the
    action is above 0.9. The sub-env reset with seed ``nan_seed`` emits a NaN observation at step ``nan_step``.
    ``shape`` changes the observation shape (for the non-1-D error).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, render_mode=None, nan_seed=None, nan_step=2, nan_reward=False, shape=(2,)):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape, dtype=np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self.render_mode = render_mode
        self.nan_seed, self.nan_step, self.nan_reward, self.shape = nan_seed, nan_step, nan_reward, shape
        self.t, self.reset_seed = 0, None

    def _obs(self):
        seed = -1 if self.reset_seed is None else self.reset_seed
        return np.resize(np.array([self.t, seed], dtype=np.float64), self.shape)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.reset_seed = seed
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        obs, reward = self._obs(), float(action[0])
        if self.reset_seed == self.nan_seed and self.t == self.nan_step:
            if self.nan_reward:
                reward = float("nan")
            else:
                obs[0] = np.nan
        return obs, reward, bool(action[0] > 0.9), False, {}

    def render(self):
        return np.full((4, 4, 3), self.t, dtype=np.uint8)


gym.register(id="GenpoTest/Counter-v0", entry_point=CounterEnv, max_episode_steps=5)


def test_observation_groups_shapes_dtypes():
    env = GymnasiumVecEnv("Pendulum-v1", num_envs=3, seed=1)
    obs = env.get_observations()
    assert isinstance(obs, TensorDict) and list(obs.keys()) == ["policy"]
    assert obs.batch_size == torch.Size([3]) and obs["policy"].shape == (3, 3) and obs["policy"].dtype == torch.float32
    obs, rewards, dones, extras = env.step(torch.zeros(3, 1))
    assert obs["policy"].shape == (3, 3) and obs["policy"].dtype == torch.float32
    assert rewards.shape == (3,) and rewards.dtype == torch.float32
    assert dones.shape == (3,) and dones.dtype == torch.long
    assert extras["time_outs"].dtype == torch.bool
    assert env.num_actions == 1 and env.max_episode_length == 200
    assert env.episode_length_buf.tolist() == [1, 1, 1]
    assert env.cfg["task"] == "Pendulum-v1" and env.cfg["obs_dim"] == 3 and env.cfg["action_high"] == [2.0]
    env.close()


def test_truncation_sets_time_outs_and_returns_reset_obs():
    env = GymnasiumVecEnv("GenpoTest/Counter-v0", num_envs=2, seed=10)
    assert env.max_episode_length == 5
    for t in range(1, 5):
        obs, _, dones, extras = env.step(torch.zeros(2, 1))
        assert obs["policy"][:, 0].tolist() == [t, t] and not dones.any() and not extras["time_outs"].any()
        assert "log" not in extras
    obs, _, dones, extras = env.step(torch.zeros(2, 1))
    assert dones.tolist() == [1, 1] and extras["time_outs"].tolist() == [True, True]
    # SAME_STEP autoreset: the observation on the done step is the next episode's first one.
    assert obs["policy"][:, 0].tolist() == [0, 0] and env.episode_length_buf.tolist() == [0, 0]
    assert torch.equal(env.get_observations()["policy"], obs["policy"])
    env.close()


def test_termination_is_not_a_time_out_and_episode_stats():
    env = GymnasiumVecEnv("GenpoTest/Counter-v0", num_envs=2, seed=0)
    env.step(torch.tensor([[0.5], [0.25]]))
    obs, rewards, dones, extras = env.step(torch.tensor([[1.0], [0.0]]))  # env 0 terminates (action > 0.9)
    assert dones.tolist() == [1, 0] and extras["time_outs"].tolist() == [False, False]
    assert obs["policy"][:, 0].tolist() == [0, 2]
    assert extras["log"]["/episode_return"].tolist() == [1.5] and extras["log"]["/episode_length"].tolist() == [2]
    assert env.episode_returns == [1.5] and env.episode_lengths == [2]
    for _ in range(3):  # env 1 reaches the 5-step limit; env 0 is then 3 steps into its second episode
        _, _, dones, extras = env.step(torch.tensor([[0.0], [0.5]]))
    assert dones.tolist() == [0, 1] and extras["time_outs"].tolist() == [False, True]
    assert env.episode_returns == [1.5, 1.75] and env.recent_episode_returns(1) == [1.75]
    env.step(torch.zeros(2, 1))
    _, _, dones, extras = env.step(torch.tensor([[1.0], [0.0]]))  # env 0 terminates on its time-limit step
    assert dones.tolist() == [1, 0] and extras["time_outs"].tolist() == [False, False]
    env.close()


def test_action_clipping():
    env = GymnasiumVecEnv("GenpoTest/Counter-v0", num_envs=2)
    _, rewards, _, _ = env.step(torch.tensor([[-7.0], [0.5]]))
    assert rewards.tolist() == [-1.0, 0.5]
    env.close()
    env = GymnasiumVecEnv("GenpoTest/Counter-v0", num_envs=1, clip_actions=False)
    _, rewards, _, _ = env.step(torch.tensor([[-7.0]]))
    assert rewards.tolist() == [-7.0]
    env.close()


def test_random_initial_episode_length_is_honoured():
    """rsl_rl's learn(init_at_random_ep_len=True) sets episode_length_buf ahead; those episodes end early."""
    env = GymnasiumVecEnv("GenpoTest/Counter-v0", num_envs=2)
    env.episode_length_buf = torch.tensor([3, 0])
    obs, _, dones, extras = env.step(torch.zeros(2, 1))
    assert obs["policy"][:, 0].tolist() == [1, 1]
    obs, _, dones, extras = env.step(torch.zeros(2, 1))
    assert dones.tolist() == [1, 0] and extras["time_outs"].tolist() == [True, False]
    assert obs["policy"][:, 0].tolist() == [0, 2] and env.episode_length_buf.tolist() == [0, 2]
    env.close()


def test_async_matches_sync():
    envs = [GymnasiumVecEnv("Pendulum-v1", num_envs=2, seed=4, vectorization=v) for v in ("sync", "async")]
    for i in range(5):
        actions = torch.tensor([[0.3 * i], [-0.5]])
        (o1, r1, d1, _), (o2, r2, d2, _) = (env.step(actions) for env in envs)
        assert torch.equal(o1["policy"], o2["policy"]) and torch.equal(r1, r2) and torch.equal(d1, d2)
    for env in envs:
        env.close()


def test_render_returns_a_frame_of_env_0():
    env = GymnasiumVecEnv("GenpoTest/Counter-v0", num_envs=2, render_mode="rgb_array")
    env.step(torch.zeros(2, 1))
    frame = env.render()
    assert frame.shape == (4, 4, 3) and frame[0, 0, 0] == 1
    env.close()
    env = GymnasiumVecEnv("GenpoTest/Counter-v0", num_envs=1)
    with pytest.raises(RuntimeError, match="render_mode='rgb_array'"):
        env.render()
    env.close()


def test_unknown_task_suggests_close_ids():
    message = r"task: 'Walker2D-v5' is not a registered.*Did you mean one of \[.*'Walker2d-v5'"
    with pytest.raises(ValueError, match=message):
        GymnasiumVecEnv("Walker2D-v5", num_envs=1)


def test_discrete_action_space_is_rejected():
    with pytest.raises(ValueError, match=r"continuous \(Box\) action space.*CartPole-v1 has Discrete\(2\)"):
        GymnasiumVecEnv("CartPole-v1", num_envs=1)


def test_non_flat_observation_space_is_rejected_and_flatten_fixes_it():
    with pytest.raises(ValueError, match="1-D Box observation space.*FlattenObservation"):
        GymnasiumVecEnv("GenpoTest/Counter-v0", num_envs=1, env_kwargs={"shape": (2, 2)})
    env = GymnasiumVecEnv("GenpoTest/Counter-v0", num_envs=1, env_kwargs={"shape": (2, 2)},
                          wrappers=[gym.wrappers.FlattenObservation])
    assert env.get_observations()["policy"].shape == (1, 4)
    env.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_envs": 0}, "num_envs: must be an integer >= 1"),
        ({"vectorization": "threads"}, "vectorization: must be one of"),
        ({"max_episode_steps": 0}, "max_episode_steps: must be None or an integer >= 1"),
        ({"env_kwargs": {"render_mode": "rgb_array"}}, r"GymnasiumVecEnv\(render_mode=...\) instead"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GymnasiumVecEnv("Pendulum-v1", **kwargs)


@pytest.mark.parametrize("nan_reward", [False, True])
def test_non_finite_env_output_is_reported(nan_reward):
    # Sub-env i is seeded with seed + i, so nan_seed=11 makes env index 1 emit the NaN.
    env = GymnasiumVecEnv("GenpoTest/Counter-v0", num_envs=3, seed=10,
                          env_kwargs={"nan_seed": 11, "nan_reward": nan_reward})
    env.step(torch.zeros(3, 1))
    quantity = "reward" if nan_reward else "observation"
    with pytest.raises(RuntimeError, match=rf"GenpoTest/Counter-v0: .*non-finite {quantity} .*env index\(es\) \[1\]"):
        env.step(torch.zeros(3, 1))
    env.close()


def test_non_finite_actions_are_reported():
    env = GymnasiumVecEnv("Pendulum-v1", num_envs=2)
    with pytest.raises(RuntimeError, match="non-finite actions"):
        env.step(torch.tensor([[0.0], [float("nan")]]))
    with pytest.raises(ValueError, match=r"actions: expected shape \(2, 1\)"):
        env.step(torch.zeros(2, 3))
    env.close()


@pytest.mark.parametrize(
    ("task", "obs_dim", "num_actions"),
    [("HalfCheetah-v5", 17, 6), ("Hopper-v5", 11, 3), ("Walker2d-v5", 17, 6), ("Ant-v5", 105, 8),
     ("Humanoid-v5", 348, 17), ("MountainCarContinuous-v0", 2, 1)],
)
def test_tasks_construct_and_step(task, obs_dim, num_actions):
    if task.endswith("-v5"):
        pytest.importorskip("mujoco")
    env = GymnasiumVecEnv(task, num_envs=2, seed=0)
    assert (env.num_actions, env.obs_dim) == (num_actions, obs_dim)
    for _ in range(3):
        obs, rewards, dones, _ = env.step(2 * torch.rand(2, num_actions) - 1)
    assert obs["policy"].shape == (2, obs_dim) and torch.isfinite(obs["policy"]).all()
    assert rewards.shape == (2,) and dones.shape == (2,)
    env.close()


def test_mujoco_termination_is_not_a_time_out():
    pytest.importorskip("mujoco")
    env = GymnasiumVecEnv("Hopper-v5", num_envs=2, seed=0)
    generator = torch.Generator().manual_seed(0)
    for _ in range(300):  # random actions make the hopper fall (unhealthy -> terminated) within a few dozen steps
        _, _, dones, extras = env.step(2 * torch.rand(2, 3, generator=generator) - 1)
        if dones.any():
            break
    assert dones.any() and not extras["time_outs"].any()
    assert len(env.episode_returns) == int(dones.sum()) and extras["log"]["/episode_length"].max() < 1000
    env.close()


# ----- toy environments -----


def _rollout(env, steps, policy):
    """Run ``policy(obs) -> actions``; return the stacked observations and rewards."""
    obs = env.get_observations()["policy"]
    all_obs, all_rewards = [obs], []
    for _ in range(steps):
        obs_td, rewards, _, _ = env.step(policy(obs))
        obs = obs_td["policy"]
        all_obs.append(obs)
        all_rewards.append(rewards)
    return torch.stack(all_obs), torch.stack(all_rewards)


@pytest.mark.parametrize(
    "make",
    [lambda seed: PointReachVecEnv(8, seed=seed, episode_length=10),
     lambda seed: ZeroCostVecEnv(8, obs_dim=5, action_dim=3, episode_length=10, seed=seed),
     lambda seed: TwoGoalReachVecEnv(8, seed=seed)],
)
def test_toy_envs_are_deterministic_under_seed(make):
    def policy(obs):
        return torch.tanh(obs[:, :2].sum(dim=1, keepdim=True)).expand(-1, envs[0].num_actions)

    envs = [make(0), make(0), make(1)]
    (obs_a, rew_a), (obs_b, rew_b), (obs_c, _) = (_rollout(env, 25, policy) for env in envs)
    assert torch.equal(obs_a, obs_b) and torch.equal(rew_a, rew_b)
    if not isinstance(envs[0], TwoGoalReachVecEnv):  # its observation carries no randomness
        assert not torch.equal(obs_a, obs_c)


def test_toy_env_contract_and_time_outs():
    env = PointReachVecEnv(4, seed=0, episode_length=3)
    obs = env.get_observations()
    assert obs.batch_size == torch.Size([4]) and obs["policy"].shape == (4, 6) and obs["policy"].dtype == torch.float32
    for _ in range(2):
        obs, _, dones, extras = env.step(torch.ones(4, 2))
        assert not dones.any() and "log" not in extras and (obs["policy"][:, 2:4] > 0).all()
    obs, rewards, dones, extras = env.step(torch.ones(4, 2))
    assert dones.dtype == torch.long and dones.tolist() == [1] * 4 and extras["time_outs"].all()
    assert extras["log"]["/episode_length"].tolist() == [3.0] * 4
    assert torch.allclose(extras["log"]["/episode_return"], torch.tensor(env.episode_returns, dtype=torch.float32))
    assert torch.equal(obs["policy"][:, 2:4], torch.zeros(4, 2))  # reset: velocity is zero again
    assert env.episode_length_buf.tolist() == [0] * 4 and env.cfg["obs_dim"] == 6

    env = ZeroCostVecEnv(2, obs_dim=4, action_dim=2, episode_length=2)
    _, rewards, _, _ = env.step(torch.tensor([[3.0, 0.0], [0.5, 0.5]]))
    assert torch.allclose(rewards, torch.tensor([-0.5, -0.25]))  # actions clipped to [-1, 1]


def _pointreach_return(policy, seed=0):
    env = PointReachVecEnv(64, seed=seed, episode_length=50)
    _rollout(env, 50, policy)
    return float(np.mean(env.episode_returns))


def test_pointreach_oracle_beats_zero_and_random_actions():
    generator = torch.Generator().manual_seed(0)

    def oracle(obs):  # PD control towards the goal
        return torch.clamp(3.0 * (obs[:, 4:6] - obs[:, 0:2]) - 0.5 * obs[:, 2:4], -1.0, 1.0)

    oracle_return = _pointreach_return(oracle)
    zero_return = _pointreach_return(lambda obs: torch.zeros(obs.shape[0], 2))
    random_return = _pointreach_return(lambda obs: 2 * torch.rand(obs.shape[0], 2, generator=generator) - 1)
    assert oracle_return > -15 and zero_return < -40 and random_return < -40
    assert oracle_return > 3 * max(zero_return, random_return)


def test_two_goal_reach_modes():
    env = TwoGoalReachVecEnv(4, seed=0)
    assert env.goals.tolist() == [[-1.0, 0.0], [1.0, 0.0]]
    actions = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.1, 0.1]])
    obs, rewards, dones, extras = env.step(actions)
    assert rewards[:2].tolist() == [1.0, 1.0] and rewards[2] < 1e-3 and rewards[3] > 0.8
    assert dones.tolist() == [1] * 4 and not extras["time_outs"].any()  # a terminal bandit step, not a time-out
    assert obs["policy"].tolist() == [[1.0, 0.0]] * 4
    assert env.mode_fractions(actions).tolist() == [0.25, 0.5]


def test_make_env_dispatch():
    assert isinstance(make_env("toy/PointReach", num_envs=2), PointReachVecEnv)
    assert make_env("toy/ZeroCost", num_envs=2, obs_dim=3, action_dim=2).num_actions == 2
    with pytest.raises(ValueError, match="unknown toy environment"):
        make_env("toy/Nope")
    env = make_env("gymnasium.envs.classic_control:Pendulum-v1", num_envs=2)  # "module:Id" imports the module first
    assert isinstance(env, GymnasiumVecEnv) and env.task == "Pendulum-v1"
    env.close()


# ----- rsl_rl integration -----


def _runner_cfg() -> dict:
    """A tiny PPO config in the format of the installed rsl_rl (3.x: "policy"; 4.x/5.x: "actor"/"critic")."""
    cfg = {
        "num_steps_per_env": 8,
        "save_interval": 1000,
        "algorithm": {"class_name": "PPO", "num_learning_epochs": 1, "num_mini_batches": 1},
    }
    if importlib.metadata.version("rsl-rl-lib").startswith("3."):
        cfg["obs_groups"] = {"policy": ["policy"], "critic": ["policy"]}
        cfg["policy"] = {"class_name": "ActorCritic", "init_noise_std": 1.0, "actor_hidden_dims": [16],
                         "critic_hidden_dims": [16], "activation": "elu"}
    else:
        cfg["obs_groups"] = {"actor": ["policy"], "critic": ["policy"]}
        cfg["actor"] = {"class_name": "MLPModel", "hidden_dims": [16],
                        "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0}}
        cfg["critic"] = {"class_name": "MLPModel", "hidden_dims": [16]}
    return cfg


@pytest.mark.parametrize("make", [lambda: PointReachVecEnv(4, episode_length=5),
                                  lambda: GymnasiumVecEnv("Pendulum-v1", num_envs=2, max_episode_steps=10)])
def test_rsl_rl_runner_trains_on_env(make, tmp_path):
    from rsl_rl.runners import OnPolicyRunner

    env = make()
    runner = OnPolicyRunner(env, _runner_cfg(), log_dir=str(tmp_path), device="cpu")
    runner.learn(2, init_at_random_ep_len=True)
    assert len(env.episode_returns) >= env.num_envs  # every env finished an episode in the 16 steps
    env.close()
