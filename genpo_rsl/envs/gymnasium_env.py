"""rsl_rl ``VecEnv`` adapter for any continuous-action gymnasium environment, vectorised by gymnasium itself.

The sub-environments run in gymnasium's own :class:`~gymnasium.vector.SyncVectorEnv` or
:class:`~gymnasium.vector.AsyncVectorEnv` (built by :func:`gymnasium.make_vec`) with
``autoreset_mode=AutoresetMode.SAME_STEP``: an environment that terminates or truncates is reset inside the same
``step`` call and the returned observation is already the first observation of its next episode. That is what
rsl_rl expects (Isaac Lab resets in place too); gymnasium's default ``NEXT_STEP`` mode would instead return the
final observation and spend the next ``step`` on the reset, ignoring that step's action.

Reward normalisation and clipping, as MuJoCo PPO users know them (CleanRL, SB3's VecNormalize), are gymnasium's own
vector wrappers ``NormalizeReward`` (rewards divided by the running std of the discounted return) and ``ClipReward``.
They shape only what PPO trains on: the episode returns logged and evaluated stay the environment's raw ones.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers.vector import ClipReward, NormalizeReward, TransformReward
from tensordict import TensorDict

from rsl_rl.env import VecEnv

from .errors import NonFiniteEnvError
from .toy import TOY_ENVS, EpisodeLog, EpisodeStatistics

# Episode limit assumed for a task registered without ``max_episode_steps`` (rsl_rl needs a finite number).
DEFAULT_MAX_EPISODE_LENGTH = 1_000_000

VECTORIZATIONS = ("sync", "async")


@contextlib.contextmanager
def _each_mujoco_warning_once():
    """MuJoCo's C-level warnings (e.g. HalfCheetah's deprecated 'settotalmass', printed at every model compile) are
    printed once each while building the sub-envs; nothing changes where MuJoCo is not installed."""
    try:
        import mujoco
    except ImportError:
        yield
        return
    previous, seen = mujoco.get_mju_user_warning(), set()

    def once(message: str) -> None:
        if message not in seen:
            seen.add(message)
            print(f"WARNING: {message}", file=sys.stderr)

    mujoco.set_mju_user_warning(once)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


class GymnasiumVecEnv(EpisodeLog, VecEnv):
    """A batch of ``num_envs`` copies of a gymnasium task, exposed through rsl_rl's ``VecEnv`` interface.

    Args:
        task: A registered gymnasium id (``"HalfCheetah-v5"``), optionally ``"module:Id"`` to import the module that
            registers it first.
        num_envs: Number of parallel environments (>= 1).
        seed: Environment ``i`` is reset with seed ``seed + i`` once at construction.
        device: Device of the returned tensors (the simulation itself runs on the CPU).
        vectorization: ``"sync"`` (one process, best for cheap envs) or ``"async"`` (one subprocess per env).
        clip_actions: Clip actions to the action space's bounds before they reach the environment.
        render_mode: Passed to every sub-environment; ``"rgb_array"`` enables :meth:`render`.
        env_kwargs: Extra keyword arguments for the environment constructor (``gymnasium.make``).
        max_episode_steps: Override the registered time limit (episodes ending there are time-outs).
        wrappers: Callables ``gym.Env -> gym.Env`` applied to every sub-environment, e.g.
            ``[gymnasium.wrappers.FlattenObservation]``.
        normalize_reward: Divide the rewards PPO trains on by the running std of their discounted return
            (``gymnasium.wrappers.vector.NormalizeReward`` with ``reward_gamma``; use PPO's gamma).
        reward_gamma: Discount of the return whose std normalises the rewards.
        clip_reward: Clip the (normalised) training rewards to ``[-clip_reward, clip_reward]``
            (``gymnasium.wrappers.vector.ClipReward``); ``None``: no clipping.

    Outputs of :meth:`step`:
        * observations: ``TensorDict({"policy": (num_envs, obs_dim) float32}, batch_size=[num_envs])``; use
          ``obs_groups = {"actor": ["policy"], "critic": ["policy"]}`` (``"policy"`` for rsl_rl 3.x's actor key).
        * rewards: ``(num_envs,)`` float32, normalised / clipped if asked (raw inside :meth:`raw_rewards`).
          dones: ``(num_envs,)`` long, ``terminated | truncated``.
        * extras: ``"time_outs"`` (bool, ``truncated & ~terminated``) so PPO bootstraps time-limited episodes;
          ``"log"`` with ``"/episode_return"`` and ``"/episode_length"`` (one entry per episode that finished on
          this step), present only when an episode finished.

    ``episode_returns`` / ``episode_lengths`` list every finished episode's undiscounted return and length, always
    of the raw rewards (so does ``"/episode_return"``).
    """

    def __init__(
        self,
        task: str,
        num_envs: int = 16,
        seed: int = 0,
        device: torch.device | str = "cpu",
        vectorization: str = "sync",
        clip_actions: bool = True,
        render_mode: str | None = None,
        env_kwargs: dict[str, Any] | None = None,
        max_episode_steps: int | None = None,
        wrappers: Sequence[Callable[[gym.Env], gym.Env]] | None = None,
        normalize_reward: bool = False,
        reward_gamma: float = 0.99,
        clip_reward: float | None = None,
    ):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs: must be an integer >= 1, got {num_envs!r}")
        if vectorization not in VECTORIZATIONS:
            raise ValueError(f"vectorization: must be one of {list(VECTORIZATIONS)}, got {vectorization!r}")
        if max_episode_steps is not None and (not isinstance(max_episode_steps, int) or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps: must be None or an integer >= 1, got {max_episode_steps!r}")
        if not isinstance(normalize_reward, bool):
            raise ValueError(f"normalize_reward: must be True or False, got {normalize_reward!r}")
        if (isinstance(reward_gamma, bool) or not isinstance(reward_gamma, (int, float))
                or not 0.0 <= reward_gamma <= 1.0):
            raise ValueError(f"reward_gamma: must be a number in [0, 1] (PPO's gamma), got {reward_gamma!r}")
        if clip_reward is not None and (isinstance(clip_reward, bool) or not isinstance(clip_reward, (int, float))
                                        or not clip_reward > 0):
            raise ValueError(f"clip_reward: must be None (no clipping) or a number > 0, got {clip_reward!r}")
        env_kwargs = dict(env_kwargs or {})
        for key in ("render_mode", "max_episode_steps"):
            if key in env_kwargs:
                raise ValueError(f"env_kwargs: pass {key!r} as the argument GymnasiumVecEnv({key}=...) instead")
        spec = _find_spec(task)

        make_kwargs = dict(env_kwargs)
        if render_mode is not None:
            make_kwargs["render_mode"] = render_mode
        if max_episode_steps is not None:
            make_kwargs["max_episode_steps"] = max_episode_steps
        with _each_mujoco_warning_once():  # every sub-env compiles the same model: one warning, not num_envs
            self._raw_vec = gym.make_vec(
                spec.id,
                num_envs=num_envs,
                vectorization_mode=vectorization,
                vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
                wrappers=wrappers,
                **make_kwargs,
            )
        try:
            _check_spaces(spec.id, self._raw_vec.single_observation_space, self._raw_vec.single_action_space)
        except ValueError:
            self._raw_vec.close()
            raise
        # Seconds per env step (IsaacLab's step_dt, which rsl_rl's RND scales its weight by): the env's own dt
        # (MuJoCo: frame_skip x timestep, 0.05 s for HalfCheetah), 1.0 for an env that has none.
        try:
            self.step_dt = float(self._raw_vec.get_attr("dt")[0])
        except (AttributeError, TypeError, ValueError, IndexError):
            self.step_dt = 1.0
        # Training rewards: raw -> (kept for the episode log) -> NormalizeReward -> ClipReward.
        self._vec = self._raw_vec
        self._reward_normalizer: NormalizeReward | None = None
        self._last_raw_rewards: np.ndarray | None = None
        self._train_rewards = True
        if normalize_reward or clip_reward is not None:
            self._vec = TransformReward(self._vec, self._keep_raw_rewards)
            if normalize_reward:
                self._vec = self._reward_normalizer = NormalizeReward(self._vec, gamma=float(reward_gamma))
            if clip_reward is not None:
                self._vec = ClipReward(self._vec, -float(clip_reward), float(clip_reward))

        self.task = spec.id
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.clip_actions = clip_actions
        self.render_mode = render_mode
        action_space = self._vec.single_action_space
        self.num_actions = int(action_space.shape[0])
        self.obs_dim = int(self._vec.single_observation_space.shape[0])
        self._action_dtype = action_space.dtype
        self.action_low = torch.as_tensor(action_space.low, dtype=torch.float32, device=self.device)
        self.action_high = torch.as_tensor(action_space.high, dtype=torch.float32, device=self.device)
        limit = max_episode_steps if max_episode_steps is not None else spec.max_episode_steps
        self.max_episode_length = int(limit) if limit is not None else DEFAULT_MAX_EPISODE_LENGTH
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.stats = EpisodeStatistics(num_envs, "cpu")
        self.cfg = {
            "task": self.task,
            "num_envs": num_envs,
            "seed": seed,
            "vectorization": vectorization,
            "obs_dim": self.obs_dim,
            "num_actions": self.num_actions,
            "action_low": action_space.low.tolist(),
            "action_high": action_space.high.tolist(),
            "clip_actions": clip_actions,
            "max_episode_length": self.max_episode_length,
            "env_kwargs": env_kwargs,
            "normalize_reward": normalize_reward,
            "reward_gamma": float(reward_gamma),
            "clip_reward": None if clip_reward is None else float(clip_reward),
        }
        self._closed = False

        obs, _ = self._vec.reset(seed=seed)
        self._obs = self._to_obs_tensor(obs)

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """Step every environment with ``actions`` (num_envs, num_actions); finished ones reset in place."""
        if tuple(actions.shape) != (self.num_envs, self.num_actions):
            raise ValueError(
                f"actions: expected shape ({self.num_envs}, {self.num_actions}) for {self.task}, "
                f"got {tuple(actions.shape)}"
            )
        actions = actions.detach().to(self.device, torch.float32)
        if not bool(torch.isfinite(actions).all()):
            raise NonFiniteEnvError(f"{self.task}: the policy produced non-finite actions (NaN or inf): {actions}")
        if self.clip_actions:
            actions = torch.clamp(actions, self.action_low, self.action_high)

        obs, rewards, terminated, truncated, _ = self._vec.step(actions.cpu().numpy().astype(self._action_dtype))
        raw_rewards = rewards if self._last_raw_rewards is None else self._last_raw_rewards
        if not self._train_rewards:
            rewards = raw_rewards
        self.episode_length_buf += 1
        # rsl_rl may set episode_length_buf ahead (learn(init_at_random_ep_len=True)) to spread episode ends; honour
        # it by cutting those episodes short as time-outs, like Isaac Lab does.
        over_limit = (self.episode_length_buf >= self.max_episode_length).cpu().numpy() & ~(terminated | truncated)
        if over_limit.any():
            # The raw env, so that only these envs' discounted returns restart (NormalizeReward.reset clears all).
            obs, _ = self._raw_vec.reset(options={"reset_mask": over_limit})
            if self._reward_normalizer is not None:
                self._reward_normalizer.accumulated_reward[over_limit] = 0.0
            truncated = truncated | over_limit

        self._obs = self._to_obs_tensor(obs)
        raw_rewards = torch.as_tensor(raw_rewards, dtype=torch.float32)
        self._check_finite("reward", raw_rewards)
        rewards = torch.as_tensor(rewards, dtype=torch.float32)
        terminated = torch.as_tensor(terminated, dtype=torch.bool)
        truncated = torch.as_tensor(truncated, dtype=torch.bool)
        dones = terminated | truncated

        extras: dict[str, Any] = {"time_outs": (truncated & ~terminated).to(self.device)}
        log = self.stats.update(raw_rewards, dones)
        if log is not None:
            extras["log"] = log
        dones = dones.to(self.device)
        self.episode_length_buf[dones] = 0
        return self.get_observations(), rewards.to(self.device), dones.long(), extras

    @contextlib.contextmanager
    def raw_rewards(self) -> Iterator[None]:
        """Inside this block ``step`` returns the raw rewards and the reward normaliser's statistics stay frozen
        (for evaluation: a score must not depend on the normaliser)."""
        frozen = self._reward_normalizer is not None and self._reward_normalizer.update_running_mean
        previous, self._train_rewards = self._train_rewards, False
        if frozen:
            self._reward_normalizer.update_running_mean = False
        try:
            yield
        finally:
            self._train_rewards = previous
            if frozen:
                self._reward_normalizer.update_running_mean = True

    def state_dict(self) -> dict:
        """The reward normaliser's running statistics (what a resumed run needs to train on the same reward scale).

        The MuJoCo simulation itself is not included: a restored env starts its episodes from a reset.
        """
        if self._reward_normalizer is None:
            return {}
        rms = self._reward_normalizer.return_rms
        # Plain floats (the statistics are scalars): a checkpoint must load with torch.load(weights_only=True).
        return {"return_rms": {"mean": float(rms.mean), "var": float(rms.var), "count": float(rms.count)}}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved (nothing for an env without reward normalisation)."""
        saved = state.get("return_rms")
        if (saved is None) != (self._reward_normalizer is None):
            raise ValueError(f"load_state_dict: the saved env state {'has' if saved is not None else 'lacks'} reward "
                             f"normalisation statistics but this env was built with normalize_reward="
                             f"{self._reward_normalizer is not None}; build the env with the run's settings")
        if saved is not None:
            rms = self._reward_normalizer.return_rms
            rms.mean, rms.var = np.float64(saved["mean"]), np.float64(saved["var"])
            rms.count = float(saved["count"])

    def _keep_raw_rewards(self, rewards: np.ndarray) -> np.ndarray:
        self._last_raw_rewards = np.array(rewards, copy=True)
        return rewards

    @property
    def metadata(self) -> dict[str, Any]:
        """gymnasium's env metadata (render modes, ``render_fps``)."""
        return self._raw_vec.metadata

    def render(self) -> np.ndarray:
        """An RGB frame (H, W, 3) of environment 0; needs ``render_mode="rgb_array"``."""
        if self.render_mode != "rgb_array":
            raise RuntimeError(
                f"render: {self.task} was created with render_mode={self.render_mode!r}; "
                "create GymnasiumVecEnv(..., render_mode='rgb_array') to get frames"
            )
        if isinstance(self._raw_vec, SyncVectorEnv):
            return self._raw_vec.envs[0].render()
        return self._raw_vec.render()[0]

    def close(self) -> None:
        """Close every sub-environment (and subprocess, for ``"async"``). Safe to call twice."""
        if not self._closed:
            self._vec.close()  # closes the wrapped raw env too
            self._closed = True

    def _to_obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        obs = torch.as_tensor(obs, dtype=torch.float32)
        self._check_finite("observation", obs)
        return obs.to(self.device)

    def _check_finite(self, quantity: str, values: torch.Tensor) -> None:
        """Raise if the environment returned NaN/inf; rsl_rl would otherwise train on it silently."""
        bad = self._non_finite_envs(values)
        if bad:
            raise NonFiniteEnvError(
                f"{self.task}: the environment returned a non-finite {quantity} (NaN or inf) in env index(es) {bad}. "
                "The simulation likely diverged; check the environment and the range of the actions sent to it.")


def _find_spec(task: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of ``task`` (``"Id"`` or ``"module:Id"``), or a ValueError listing close ids."""
    if not isinstance(task, str) or not task:
        raise ValueError(f"task: must be a gymnasium environment id such as 'HalfCheetah-v5', got {task!r}")
    if ":" in task:
        module, _, task = task.partition(":")
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ValueError(f"task: cannot import {module!r}, the module before ':' in the task id ({error}). Fix: "
                             f"install it or put it on PYTHONPATH, or give a registered id without 'module:'") from None
    try:
        return gym.spec(task)
    except gym.error.Error as err:
        from .genesis_go2 import TASKS as GENESIS_TASKS  # the package's own task names (imports no Genesis)

        ours = sorted({*TOY_ENVS, *GENESIS_TASKS})
        close = [name for name in ours if name.split("/", 1)[-1].lower() == task.lower()]
        close += difflib.get_close_matches(task, [*gym.registry, *ours], n=5, cutoff=0.6)
        close = list(dict.fromkeys(close))[:5]
        hint = f" Did you mean one of {close}?" if close else ""
        raise ValueError(
            f"task: {task!r} is not a registered gymnasium environment ({err}).{hint} "
            "Use an id from gymnasium.registry (e.g. 'HalfCheetah-v5', 'Pendulum-v1'), or 'module:Id' to import "
            "the module that registers a custom environment."
        ) from None


def _check_spaces(task: str, observation_space: gym.Space, action_space: gym.Space) -> None:
    if not isinstance(action_space, gym.spaces.Box) or len(action_space.shape) != 1:
        raise ValueError(
            f"action space: GenPO needs a continuous (Box) action space with a 1-D shape; {task} has "
            f"{action_space}. Use a continuous-control task (e.g. 'MountainCarContinuous-v0' instead of "
            "'MountainCar-v0', or a MuJoCo task)."
        )
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(
            f"observation space: GymnasiumVecEnv needs a flat 1-D Box observation space; {task} has "
            f"{observation_space}. Flatten it with wrappers=[gymnasium.wrappers.FlattenObservation]."
        )
