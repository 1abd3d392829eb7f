"""A CPU stand-in for an IsaacLab task behind ``RslRlVecEnvWrapper``: an rsl_rl ``VecEnv`` with the task's sizes.

For tests that run rsl_rl's stock ``OnPolicyRunner(env, agent_cfg.to_dict(), ...)`` and isaaclab_rl's exporter on
a GenPO config resolved through IsaacLab (``--agent genpo``) without a simulator. It mirrors what the wrapper hands
rsl_rl: a TensorDict of observation groups (``"policy"``, optionally ``"critic"``), rewards of shape (num_envs,),
``dones`` as ``torch.long``, ``extras["time_outs"]`` and ``extras["log"]``, ``episode_length_buf`` /
``max_episode_length`` (the runner randomises the first for ``init_at_random_ep_len``), ``clip_actions``, ``cfg``,
``device``, ``unwrapped.step_dt`` and the ``observation_manager.active_terms`` IsaacLab's symmetry functions read.

The dynamics are a toy with a learnable signal: observations follow a stable linear system driven by the action,
the reward is ``-mean((action - tanh(obs @ W))^2)`` for a fixed random ``W``; episodes time out after
``max_episode_length`` steps.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from tensordict import TensorDict

from rsl_rl.env import VecEnv

from isaaclab_tasks_ext.tuned import PAPER_TASK_DIMS, paper_task_id

#: (observation size, action size) of the GenPO paper's eight IsaacLab tasks (paper App. A):
#: Ant 60x8, Humanoid 87x21, Franka 36x8, Quadcopter 12x4, Anymal-D 48x12, Go2 235x12, H1 256x19, Shadow 157x20.
TASK_DIMS: dict[str, tuple[int, int]] = dict(PAPER_TASK_DIMS)


class StandInVecEnv(VecEnv):
    """rsl_rl ``VecEnv`` with ``num_obs`` policy observations and ``num_actions`` actions (see module docstring)."""

    def __init__(self, num_obs: int, num_actions: int, num_envs: int = 8, num_critic_obs: int | None = None,
                 max_episode_length: int = 32, clip_actions: float | None = None, device: str = "cpu",
                 seed: int = 0, task_id: str | None = None) -> None:
        self.num_obs = int(num_obs)
        self.num_actions = int(num_actions)
        self.num_envs = int(num_envs)
        self.num_critic_obs = None if num_critic_obs is None else int(num_critic_obs)
        self.max_episode_length = int(max_episode_length)
        self.clip_actions = clip_actions
        self.device = device
        self.step_dt = 0.02
        self.task_id = task_id
        self.cfg = {"task": task_id, "num_envs": self.num_envs, "standin": True}
        self._gen = torch.Generator(device="cpu").manual_seed(seed)
        self._target = torch.randn(self.num_obs, self.num_actions, generator=self._gen) / self.num_obs**0.5
        self._drive = torch.randn(self.num_actions, self.num_obs, generator=self._gen) / self.num_actions**0.5
        self._privileged = torch.randn(self.num_obs, self.num_critic_obs or 1, generator=self._gen)
        self.episode_length_buf = torch.zeros(self.num_envs, dtype=torch.long, device=device)
        self._obs = self._sample_obs(self.num_envs)
        # What IsaacLab's symmetry functions read of the env (anymal.py: is a height scan among the policy terms?).
        terms = ["base_lin_vel", "base_ang_vel", "projected_gravity", "velocity_commands", "joint_pos", "joint_vel",
                 "actions"] + (["height_scan"] if self.num_obs > 48 else [])
        self.observation_manager = SimpleNamespace(active_terms={"policy": terms})

    @property
    def unwrapped(self) -> StandInVecEnv:
        return self

    def _sample_obs(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.num_obs, generator=self._gen).to(self.device)

    def get_observations(self) -> TensorDict:
        groups = {"policy": self._obs.clone()}
        if self.num_critic_obs is not None:
            groups["critic"] = torch.tanh(self._obs @ self._privileged.to(self.device))
        return TensorDict(groups, batch_size=[self.num_envs], device=self.device)

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        if actions.shape != (self.num_envs, self.num_actions):
            raise ValueError(f"StandInVecEnv.step: actions of shape {tuple(actions.shape)}, expected "
                             f"{(self.num_envs, self.num_actions)}")
        actions = actions.to(self.device)
        if self.clip_actions is not None:
            actions = torch.clamp(actions, -self.clip_actions, self.clip_actions)
        target = torch.tanh(self._obs @ self._target.to(self.device))
        rewards = -((actions - target) ** 2).mean(dim=-1)
        noise = torch.randn(self.num_envs, self.num_obs, generator=self._gen).to(self.device)
        self._obs = 0.8 * self._obs + 0.1 * torch.tanh(actions) @ self._drive.to(self.device) + 0.3 * noise
        self.episode_length_buf += 1
        time_outs = self.episode_length_buf >= self.max_episode_length
        if time_outs.any():
            ids = time_outs.nonzero(as_tuple=False).flatten()
            self._obs[ids] = self._sample_obs(len(ids))
            self.episode_length_buf[ids] = 0
        extras = {"time_outs": time_outs.clone(), "log": {"/standin/reward": rewards.mean().item()}}
        return self.get_observations(), rewards, time_outs.to(torch.long), extras

    def close(self) -> None:
        pass


def make_standin_env(task_id: str, num_envs: int = 8, **kwargs) -> StandInVecEnv:
    """A stand-in with the sizes of one of the paper's tasks (its ``-Play-`` variant and IsaacLab 3.0 id too)."""
    key = paper_task_id(task_id)
    if key not in TASK_DIMS:
        raise KeyError(f"no stand-in sizes for {task_id!r}; known: {sorted(TASK_DIMS)}")
    num_obs, num_actions = TASK_DIMS[key]
    return StandInVecEnv(num_obs, num_actions, num_envs=num_envs, task_id=task_id, **kwargs)
