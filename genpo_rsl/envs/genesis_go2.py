"""Unitree Go2 velocity tracking on flat ground, simulated by Genesis (``pip install 'genpo-rsl[genesis]'``).

An rsl_rl ``VecEnv`` written for this package. It follows the documented design of Genesis' own rsl_rl example
(``examples/locomotion/go2_env.py`` / ``go2_train.py`` in github.com/Genesis-Embodied-AI/Genesis), not its code:

* robot and scene: the Go2 URDF and the ground plane that ship in the ``genesis-world`` wheel
  (``urdf/go2/urdf/go2.urdf``, ``urdf/plane/plane.urdf``); base spawned at (0, 0, 0.42), upright; Newton constraint
  solver, collisions and joint limits on; 0.02 s control step (50 Hz) with 2 physics substeps.
* control: 12 joint position targets, ``target = default_pose + 0.25 * action`` (actions clipped to +-100), tracked
  by Genesis' PD controller with kp = 20, kd = 0.5; the action reaches the motors one step late (the real robot's
  latency). Default pose: hips 0, front thighs 0.8, rear thighs 1.0, calves -1.5 rad.
* observation (45): base angular velocity x 0.25, projected gravity, command (vx, vy, wz) x (2, 2, 0.25), joint
  positions minus the default pose, joint velocities x 0.05, the last action.
* reward, each term times dt: 1.0 exp(-|v_xy - cmd_xy|^2 / 0.25), 0.2 exp(-(w_z - cmd_wz)^2 / 0.25),
  -1.0 v_z^2, -50 (base height - 0.3)^2, -0.005 |a - a_prev|^2, -0.1 |q - q_default|_1.
* commands resampled every 4 s; the example's command is a fixed 0.5 m/s forward (``lin_vel_x=(0.5, 0.5)``);
  here any ranges can be given (``Go2Config`` / keyword arguments), sampled uniformly per env from ``seed``.
* termination when |roll| or |pitch| exceeds 10 degrees; time-out after 20 s (1000 steps).

Where this env differs from the example, on purpose: rewards and terminations are computed on the state the step
reached *before* finished envs are reset (the example scores the freshly reset state), the observation of a reset
env is read back from the simulator, an episode lasts exactly ``max_episode_length`` steps, and time-outs are
``truncated and not terminated`` booleans.

Conventions shared with :class:`~genpo_rsl.envs.GymnasiumVecEnv` and the toy envs: observations
``TensorDict({"policy": (num_envs, 45)})``; ``extras["time_outs"]``; ``extras["log"]`` holds ``/episode_return``,
``/episode_length`` and ``/episode_reward/<term>`` (a term's episode sum divided by the 20 s episode length, the
example's and IsaacLab's normalisation: ``tracking_lin_vel`` is 1.0 for perfect tracking through a full episode)
for the episodes that finished on the step. ``episode_returns`` / ``episode_lengths`` / ``episode_reward_terms``
keep every finished episode.

Genesis is initialised once per process (``gs.init``): the GPU backend when torch sees CUDA, else the CPU backend
(``backend=`` overrides). The first scene build on a machine JIT-compiles Genesis' kernels (about 90 s on a CPU;
cached under ``~/.cache``, later builds take 10-60 s); the env prints a line saying so before it builds.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any

import torch
from tensordict import TensorDict

from rsl_rl.env import VecEnv

from .errors import MissingDependencyError, NonFiniteEnvError
from .toy import EpisodeLog, EpisodeStatistics

GO2_URDF = "urdf/go2/urdf/go2.urdf"
PLANE_URDF = "urdf/plane/plane.urdf"
# Motor order of the action and observation vectors (the example's).
JOINT_NAMES = (
    "FR_hip_joint", "FR_thigh_joint", "FR_calf_joint",
    "FL_hip_joint", "FL_thigh_joint", "FL_calf_joint",
    "RR_hip_joint", "RR_thigh_joint", "RR_calf_joint",
    "RL_hip_joint", "RL_thigh_joint", "RL_calf_joint",
)
BACKENDS = ("auto", "cpu", "gpu")
RENDER_MODES = (None, "rgb_array")


@dataclasses.dataclass
class Go2Config:
    """Every number of the task; the defaults are the Genesis example's (see the module docstring)."""

    dt: float = 0.02
    substeps: int = 2
    kp: float = 20.0
    kd: float = 0.5
    action_scale: float = 0.25
    clip_actions: float = 100.0
    action_latency: bool = True
    default_joint_angles: dict[str, float] = dataclasses.field(default_factory=lambda: {
        "FL_hip_joint": 0.0, "FR_hip_joint": 0.0, "RL_hip_joint": 0.0, "RR_hip_joint": 0.0,
        "FL_thigh_joint": 0.8, "FR_thigh_joint": 0.8, "RL_thigh_joint": 1.0, "RR_thigh_joint": 1.0,
        "FL_calf_joint": -1.5, "FR_calf_joint": -1.5, "RL_calf_joint": -1.5, "RR_calf_joint": -1.5,
    })
    base_init_pos: tuple[float, float, float] = (0.0, 0.0, 0.42)
    episode_length_s: float = 20.0
    resampling_time_s: float = 4.0
    termination_roll_deg: float = 10.0
    termination_pitch_deg: float = 10.0
    # Command ranges (low, high), sampled uniformly: forward and lateral velocity (m/s), yaw rate (rad/s).
    lin_vel_x: tuple[float, float] = (0.5, 0.5)
    lin_vel_y: tuple[float, float] = (0.0, 0.0)
    ang_vel_z: tuple[float, float] = (0.0, 0.0)
    # Observation scales, named as the example's obs_cfg["obs_scales"] (lin_vel scales the command's vx, vy).
    obs_scales: dict[str, float] = dataclasses.field(default_factory=lambda: {
        "lin_vel": 2.0, "ang_vel": 0.25, "dof_pos": 1.0, "dof_vel": 0.05})
    tracking_sigma: float = 0.25
    base_height_target: float = 0.3
    reward_scales: dict[str, float] = dataclasses.field(default_factory=lambda: {
        "tracking_lin_vel": 1.0, "tracking_ang_vel": 0.2, "lin_vel_z": -1.0, "base_height": -50.0,
        "action_rate": -0.005, "similar_to_default": -0.1,
    })

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        for name in ("dt", "kp", "action_scale", "clip_actions", "episode_length_s", "resampling_time_s",
                     "termination_roll_deg", "termination_pitch_deg", "tracking_sigma"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"Go2Config.{name}: must be a number > 0, got {value!r}")
        if not isinstance(self.substeps, int) or self.substeps < 1:
            raise ValueError(f"Go2Config.substeps: must be an integer >= 1, got {self.substeps!r}")
        for name in ("lin_vel_x", "lin_vel_y", "ang_vel_z"):
            value = getattr(self, name)
            if (not isinstance(value, (tuple, list)) or len(value) != 2
                    or not all(isinstance(v, (int, float)) for v in value) or value[0] > value[1]):
                raise ValueError(f"Go2Config.{name}: must be a (low, high) pair with low <= high, got {value!r}")
        missing = sorted(set(JOINT_NAMES) - set(self.default_joint_angles))
        if missing:
            raise ValueError(f"Go2Config.default_joint_angles: missing joints {missing}")
        if sorted(self.obs_scales) != sorted(OBS_SCALES):
            raise ValueError(f"Go2Config.obs_scales: must have exactly the keys {sorted(OBS_SCALES)}, got "
                             f"{sorted(self.obs_scales)}")
        unknown = sorted(set(self.reward_scales) - set(REWARD_TERMS))
        if unknown:
            raise ValueError(f"Go2Config.reward_scales: unknown terms {unknown}; known: {sorted(REWARD_TERMS)}")


# The command ranges of the named tasks (genpo_rsl.envs.make_env).
TASKS: dict[str, dict[str, Any]] = {
    # The Genesis example's task: walk forward at 0.5 m/s.
    "genesis/Go2-Velocity-Flat": {},
    # Sampled commands: forward/backward, sideways and turning.
    "genesis/Go2-Velocity-Flat-Omni": {"lin_vel_x": (-1.0, 1.0), "lin_vel_y": (-0.5, 0.5), "ang_vel_z": (-1.0, 1.0)},
}


def init_genesis(backend: str = "auto", seed: int = 0) -> str:
    """Initialise Genesis once per process; return the backend in use ("cpu" or "gpu").

    ``"auto"`` takes the GPU backend when torch sees CUDA, else the CPU backend. Genesis allows one ``gs.init``
    per process, so a later call with another backend raises instead of silently keeping the first.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: must be one of {list(BACKENDS)}, got {backend!r}")
    if not os.environ.get("DISPLAY"):
        # Headless: Genesis' rasteriser (render_mode="rgb_array") talks to OpenGL through PyOpenGL, which picks
        # its platform once, when Genesis imports it. EGL works with Mesa's software driver and NVIDIA's.
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    try:
        import genesis as gs

        if not hasattr(gs, "init"):  # a folder named genesis on sys.path (a namespace package), not Genesis
            raise ImportError(f"'genesis' resolves to {list(getattr(gs, '__path__', []))}, not the Genesis package")
    except ImportError as error:
        raise MissingDependencyError(f"genesis/Go2 tasks need Genesis ({error}). Fix: pip install 'genpo-rsl[genesis]' "
                          "(a pinned genesis-world; keep the CPU torch pin with -c tools/constraints-torch.txt)"
                          ) from None
    wanted = ("gpu" if torch.cuda.is_available() else "cpu") if backend == "auto" else backend
    if getattr(gs, "_initialized", False):
        current = "cpu" if gs.backend == gs.cpu else "gpu"
        if backend != "auto" and current != wanted:
            raise RuntimeError(f"backend: Genesis already runs on the {current} backend in this process "
                               f"(gs.init is once per process); cannot switch to {wanted!r}")
        return current
    gs.init(backend=gs.gpu if wanted == "gpu" else gs.cpu, precision="32", logging_level="warning", seed=seed,
            performance_mode=True)
    return wanted


class Go2VelocityVecEnv(EpisodeLog, VecEnv):
    """``num_envs`` Go2 robots tracking a velocity command on flat ground (one Genesis scene, batched).

    Args:
        num_envs: Parallel robots (>= 1).
        seed: Seeds the command sampler (and Genesis, if this is the first env of the process).
        device: Device of the returned tensors; the simulation runs on the Genesis backend's device.
        backend: ``"auto"`` (GPU when CUDA is available, else CPU), ``"cpu"`` or ``"gpu"``.
        render_mode: ``"rgb_array"`` adds a camera following robot 0; :meth:`render` returns its frame.
        config: A :class:`Go2Config`; keyword arguments named like its fields override single fields
            (``lin_vel_x=(0.0, 1.0)``, ``episode_length_s=5.0``).
        verbose: Print the build notice (kernel compilation) and the build time.
    """

    def __init__(self, num_envs: int = 1024, seed: int = 0, device: torch.device | str = "cpu",
                 backend: str = "auto", render_mode: str | None = None, config: Go2Config | None = None,
                 verbose: bool = True, **overrides: Any):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs: must be an integer >= 1, got {num_envs!r}")
        if render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode: must be one of {list(RENDER_MODES)}, got {render_mode!r}")
        config = dataclasses.replace(config or Go2Config())
        fields = {f.name for f in dataclasses.fields(Go2Config)}
        for key, value in overrides.items():
            if key not in fields:
                raise ValueError(f"{key}: not a Go2 setting; the settings are Go2Config's fields: {sorted(fields)}")
            setattr(config, key, tuple(value) if isinstance(value, list) else value)
        config.validate()
        self.config = config
        self.backend = init_genesis(backend, seed)
        import genesis as gs

        self.num_envs = num_envs
        self.num_actions = len(JOINT_NAMES)
        self.obs_dim = 45
        self.device = torch.device(device)
        self.sim_device = gs.device
        self.render_mode = render_mode
        self.seed = seed
        self.step_dt = config.dt
        self.max_episode_length = int(math.ceil(config.episode_length_s / config.dt))
        self.resampling_steps = max(1, int(round(config.resampling_time_s / config.dt)))
        self.metadata = {"render_fps": int(round(1.0 / config.dt))}

        self.scene = gs.Scene(
            sim_options=gs.options.SimOptions(dt=config.dt, substeps=config.substeps),
            rigid_options=gs.options.RigidOptions(constraint_solver=gs.constraint_solver.Newton,
                                                  enable_collision=True, enable_joint_limit=True),
            vis_options=gs.options.VisOptions(rendered_envs_idx=[0]),
            show_viewer=False,
        )
        self.scene.add_entity(gs.morphs.URDF(file=PLANE_URDF, fixed=True))
        self.robot = self.scene.add_entity(gs.morphs.URDF(file=GO2_URDF, pos=config.base_init_pos,
                                                          quat=(1.0, 0.0, 0.0, 0.0)))
        self.camera = (self.scene.add_camera(res=(640, 480), pos=(2.0, -2.0, 1.0), lookat=(0.0, 0.0, 0.3), fov=40,
                                             GUI=False) if render_mode == "rgb_array" else None)
        if verbose:
            print(f"genesis_go2: building {num_envs} Go2 envs on Genesis' {self.backend} backend; the first build on "
                  "a machine compiles Genesis' kernels (about 90 s on a CPU, then cached in ~/.cache)", flush=True)
        start = time.perf_counter()
        self.scene.build(n_envs=num_envs)
        self.build_s = time.perf_counter() - start
        if verbose:
            print(f"genesis_go2: scene built in {self.build_s:.0f} s", flush=True)

        dev, f32 = self.sim_device, torch.float32
        self.motor_dofs = [self.robot.get_joint(name).dofs_idx_local[0] for name in JOINT_NAMES]
        self.robot.set_dofs_kp([config.kp] * self.num_actions, self.motor_dofs)
        self.robot.set_dofs_kv([config.kd] * self.num_actions, self.motor_dofs)
        self.default_dof_pos = torch.tensor([config.default_joint_angles[n] for n in JOINT_NAMES], device=dev, dtype=f32)
        self.base_init_pos = torch.tensor(config.base_init_pos, device=dev, dtype=f32)
        self.base_init_quat = torch.tensor([1.0, 0.0, 0.0, 0.0], device=dev, dtype=f32)
        self.command_low = torch.tensor([config.lin_vel_x[0], config.lin_vel_y[0], config.ang_vel_z[0]], device=dev)
        self.command_high = torch.tensor([config.lin_vel_x[1], config.lin_vel_y[1], config.ang_vel_z[1]], device=dev)
        self.command_obs_scale = torch.tensor(
            [config.obs_scales["lin_vel"], config.obs_scales["lin_vel"], config.obs_scales["ang_vel"]], device=dev)
        self.generator = torch.Generator(device=dev)
        self.generator.manual_seed(seed)

        n = num_envs
        self.commands = torch.zeros(n, 3, device=dev)
        self.actions = torch.zeros(n, self.num_actions, device=dev)
        self.last_actions = torch.zeros_like(self.actions)
        self.sim_episode_length = torch.zeros(n, dtype=torch.long, device=dev)
        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=self.device)
        self.term_sums = {name: torch.zeros(n, device=dev) for name in config.reward_scales}
        self.episode_reward_terms: dict[str, list[float]] = {name: [] for name in config.reward_scales}
        self.stats = EpisodeStatistics(n, "cpu")
        self.cfg = {"task": "genesis/Go2-Velocity", "num_envs": n, "seed": seed, "backend": self.backend,
                    "obs_dim": self.obs_dim, "num_actions": self.num_actions,
                    "max_episode_length": self.max_episode_length, **dataclasses.asdict(config)}
        self._closed = False

        with torch.inference_mode():
            self._reset_envs(torch.ones(n, dtype=torch.bool, device=dev))
            self._read_state()
            self._obs = self._make_obs()

    # ---------------------------------------------------------------- VecEnv
    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """Send 12 joint-position actions to every robot, advance 0.02 s, reset finished robots in place."""
        # Genesis keeps torch buffers of its own (e.g. the PD targets), created on first use. rsl_rl collects
        # rollouts under torch.inference_mode while evaluation and play may not; a buffer made in one mode cannot be
        # written in place in the other. So the simulation always runs in inference mode, and what leaves the env
        # is copied out as ordinary tensors.
        with torch.inference_mode():
            obs, rewards, dones, extras = self._step(actions)
        self.episode_length_buf = self.episode_length_buf.clone()  # rsl_rl may read and replace it
        return _plain(obs), rewards.clone(), dones.clone(), _plain(extras)

    def _step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        if tuple(actions.shape) != (self.num_envs, self.num_actions):
            raise ValueError(f"actions: expected shape ({self.num_envs}, {self.num_actions}) for Go2, "
                             f"got {tuple(actions.shape)}")
        actions = actions.detach().to(self.sim_device, torch.float32)
        if not bool(torch.isfinite(actions).all()):
            raise NonFiniteEnvError("Go2: the policy produced non-finite actions (NaN or inf)")
        cfg = self.config
        self.actions = actions.clamp(-cfg.clip_actions, cfg.clip_actions)
        executed = self.last_actions if cfg.action_latency else self.actions
        self.robot.control_dofs_position(executed * cfg.action_scale + self.default_dof_pos, self.motor_dofs)
        self.scene.step()
        self.sim_episode_length = self.sim_episode_length + 1
        self._read_state()

        terms = self._reward_terms()
        rewards = torch.zeros(self.num_envs, device=self.sim_device)
        for name, scale in cfg.reward_scales.items():
            scaled = terms[name] * (scale * cfg.dt)
            rewards = rewards + scaled
            self.term_sums[name] = self.term_sums[name] + scaled
        roll, pitch = _roll_pitch_deg(self.base_quat)
        terminated = (roll.abs() > cfg.termination_roll_deg) | (pitch.abs() > cfg.termination_pitch_deg)
        # rsl_rl may set episode_length_buf ahead (learn(init_at_random_ep_len=True)): honour it as a time-out.
        self.sim_episode_length = torch.maximum(self.sim_episode_length, self.episode_length_buf.to(self.sim_device))
        truncated = (self.sim_episode_length >= self.max_episode_length) & ~terminated
        dones = terminated | truncated
        self._check_finite("reward", rewards)
        self.last_actions = self.actions.clone()

        extras: dict[str, Any] = {"time_outs": truncated.to(self.device)}
        log = self.stats.update(rewards.cpu(), dones.cpu())
        if log is not None:
            for name, sums in self.term_sums.items():
                values = (sums[dones] / cfg.episode_length_s).cpu()
                self.episode_reward_terms[name].extend(values.tolist())
                log[f"/episode_reward/{name}"] = values
                self.term_sums[name] = torch.where(dones, 0.0, sums)
            extras["log"] = log
            self._reset_envs(dones)
            self._read_state()
        resample = (self.sim_episode_length % self.resampling_steps == 0) & ~dones
        if bool(resample.any()):
            self._sample_commands(resample)
        self._obs = self._make_obs()
        self.episode_length_buf = self.sim_episode_length.to(self.device)
        return (self.get_observations(), rewards.to(self.device), dones.to(self.device).long(), extras)

    def reset(self) -> tuple[TensorDict, dict]:
        """Reset every robot (new episodes, new commands); return the observations and empty extras."""
        with torch.inference_mode():
            self._reset_all()
        return self.get_observations(), {}

    def get_observations(self) -> TensorDict:
        """The current observations, ``{"policy": (num_envs, 45) float32}`` (ordinary tensors, see :meth:`step`)."""
        return TensorDict({"policy": self._obs.clone()}, batch_size=[self.num_envs], device=self.device)

    def _reset_all(self) -> None:
        self._reset_envs(torch.ones(self.num_envs, dtype=torch.bool, device=self.sim_device))
        self.stats.current_returns.zero_()
        self.stats.current_lengths.zero_()
        self.term_sums = {name: torch.zeros_like(sums) for name, sums in self.term_sums.items()}
        # The next step takes max(own count, episode_length_buf) (rsl_rl may set the buffer ahead): left at the old
        # episodes' lengths, it would time the new episodes out early.
        self.episode_length_buf = self.sim_episode_length.to(self.device)
        self._read_state()
        self._obs = self._make_obs()

    def render(self):
        """An RGB frame (480, 640, 3) uint8 of robot 0, from a camera that follows it; needs render_mode="rgb_array"."""
        if self.camera is None:
            raise RuntimeError("render: the Go2 env was created with render_mode=None; create it with "
                               "render_mode='rgb_array' to get frames")
        import numpy as np

        base = self.base_pos[0].detach().cpu().numpy().astype(np.float64)
        with torch.inference_mode():
            self.camera.set_pose(pos=base + np.array([1.2, -1.2, 0.6]), lookat=base)
            rgb = self.camera.render(rgb=True)[0]
        return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))

    def close(self) -> None:
        """Release the scene; safe to call twice. (Genesis itself stays initialised for the process.)"""
        if not self._closed:
            destroy = getattr(self.scene, "destroy", None)
            if callable(destroy):
                destroy()
            self._closed = True

    # ---------------------------------------------------------------- internals
    def _reset_envs(self, mask: torch.Tensor) -> None:
        idx = mask.nonzero().flatten()
        if idx.numel() == 0:
            return
        count = idx.numel()
        self.robot.set_dofs_position(self.default_dof_pos.expand(count, -1), self.motor_dofs, zero_velocity=True,
                                     envs_idx=idx)
        self.robot.set_pos(self.base_init_pos.expand(count, -1), zero_velocity=False, envs_idx=idx)
        self.robot.set_quat(self.base_init_quat.expand(count, -1), zero_velocity=False, envs_idx=idx)
        self.robot.zero_all_dofs_velocity(envs_idx=idx)
        # Functional updates, no in-place writes: rsl_rl steps the env under torch.inference_mode, and a buffer
        # made there cannot be written in place outside it (evaluation, play).
        keep = ~mask[:, None]
        self.last_actions = torch.where(keep, self.last_actions, 0.0)
        self.actions = torch.where(keep, self.actions, 0.0)
        self.sim_episode_length = torch.where(mask, 0, self.sim_episode_length)
        self._sample_commands(mask)

    def _sample_commands(self, mask: torch.Tensor) -> None:
        # Drawn for every env and kept where masked: the stream depends only on the seed and the step count.
        draw = torch.rand(self.num_envs, 3, generator=self.generator, device=self.sim_device)
        sampled = self.command_low + (self.command_high - self.command_low) * draw
        self.commands = torch.where(mask[:, None], sampled, self.commands)

    def _read_state(self) -> None:
        self.base_pos = self.robot.get_pos().to(torch.float32)
        self.base_quat = self.robot.get_quat().to(torch.float32)
        self.base_lin_vel = _rotate_inverse(self.base_quat, self.robot.get_vel().to(torch.float32))
        self.base_ang_vel = _rotate_inverse(self.base_quat, self.robot.get_ang().to(torch.float32))
        down = torch.tensor([0.0, 0.0, -1.0], device=self.sim_device).expand(self.num_envs, 3)
        self.projected_gravity = _rotate_inverse(self.base_quat, down)
        self.dof_pos = self.robot.get_dofs_position(self.motor_dofs).to(torch.float32)
        self.dof_vel = self.robot.get_dofs_velocity(self.motor_dofs).to(torch.float32)

    def _reward_terms(self) -> dict[str, torch.Tensor]:
        cfg = self.config
        lin_error = (self.commands[:, :2] - self.base_lin_vel[:, :2]).square().sum(dim=1)
        yaw_error = (self.commands[:, 2] - self.base_ang_vel[:, 2]).square()
        return {
            "tracking_lin_vel": torch.exp(-lin_error / cfg.tracking_sigma),
            "tracking_ang_vel": torch.exp(-yaw_error / cfg.tracking_sigma),
            "lin_vel_z": self.base_lin_vel[:, 2].square(),
            "base_height": (self.base_pos[:, 2] - cfg.base_height_target).square(),
            "action_rate": (self.actions - self.last_actions).square().sum(dim=1),
            "similar_to_default": (self.dof_pos - self.default_dof_pos).abs().sum(dim=1),
        }

    def _make_obs(self) -> torch.Tensor:
        cfg = self.config
        obs = torch.cat([
            self.base_ang_vel * cfg.obs_scales["ang_vel"],
            self.projected_gravity,
            self.commands * self.command_obs_scale,
            (self.dof_pos - self.default_dof_pos) * cfg.obs_scales["dof_pos"],
            self.dof_vel * cfg.obs_scales["dof_vel"],
            self.last_actions,
        ], dim=-1)
        self._check_finite("observation", obs)
        return obs.to(self.device)

    def _check_finite(self, quantity: str, values: torch.Tensor) -> None:
        bad = self._non_finite_envs(values)
        if bad:
            raise NonFiniteEnvError(f"Go2: the simulation returned a non-finite {quantity} (NaN or inf) in env index(es) "
                               f"{bad[:10]}; the simulation diverged (check the action scale and the PD gains)")


OBS_SCALES = ("lin_vel", "ang_vel", "dof_pos", "dof_vel")  # Go2Config.obs_scales keys

# ---------------------------------------------------------------------------------------------- left-right mirror
# The robot mirrored in its sagittal (x-z) plane: y -> -y. Joints (JOINT_NAMES order FR, FL, RR, RL; hip, thigh,
# calf each): the right and left legs swap and the hip (abduction) angle changes sign. The observation's vectors
# follow the reflection: gravity (gx, -gy, gz); the angular velocity is a pseudo-vector, (-wx, wy, -wz); the
# command (vx, -vy, -wz).
_JOINT_INDEX = (3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8)
_JOINT_SIGN = (-1.0, 1.0, 1.0) * 4
_OBS_INDEX = (0, 1, 2, 3, 4, 5, 6, 7, 8) + tuple(
    offset + i for offset in (9, 21, 33) for i in _JOINT_INDEX)
_OBS_SIGN = (-1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0, -1.0) + _JOINT_SIGN * 3


def _mirror(values: torch.Tensor, index: tuple[int, ...], sign: tuple[float, ...], what: str) -> torch.Tensor:
    if values.shape[-1] != len(index):
        raise ValueError(f"Go2 mirror: {what} must have {len(index)} entries in the last dimension, got shape "
                         f"{tuple(values.shape)}")
    return values[..., list(index)] * values.new_tensor(sign)


def mirror_observation(obs: torch.Tensor) -> torch.Tensor:
    """The left-right mirror image of Go2 observations (..., 45) (an involution: applied twice it is the identity)."""
    return _mirror(obs, _OBS_INDEX, _OBS_SIGN, "observations")


def mirror_action(actions: torch.Tensor) -> torch.Tensor:
    """The left-right mirror image of Go2 joint actions (..., 12): legs swapped, hip sign changed."""
    return _mirror(actions, _JOINT_INDEX, _JOINT_SIGN, "actions")


def compute_symmetric_states(env=None, obs: TensorDict | None = None, actions: torch.Tensor | None = None):
    """rsl_rl's ``data_augmentation_func`` for the Go2 tasks: each batch followed by its left-right mirror image.

    Args:
        env: unused (rsl_rl passes the environment).
        obs: a TensorDict of (B, 45) observation groups, or None.
        actions: (B, 12) joint actions, or None.

    Returns:
        (obs, actions) of batch 2B (originals first), each None where the input was None.
    """
    out_obs = None
    if obs is not None:
        out_obs = obs.apply(lambda group: torch.cat([group, mirror_observation(group)], dim=0),
                            batch_size=[2 * int(obs.batch_size[0])])
    out_actions = None if actions is None else torch.cat([actions, mirror_action(actions)], dim=0)
    return out_obs, out_actions
REWARD_TERMS = ("tracking_lin_vel", "tracking_ang_vel", "lin_vel_z", "base_height", "action_rate",
                "similar_to_default")


def _plain(value: Any) -> Any:
    """``value`` with every tensor in it (dicts, TensorDicts) cloned outside inference mode: an ordinary tensor."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, TensorDict):
        return value.apply(lambda t: t.clone())
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _rotate_inverse(quat: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
    """Rotate ``vec`` (B, 3) by the inverse of the unit quaternions ``quat`` (B, 4, w x y z): world -> body frame."""
    w, u = quat[:, :1], -quat[:, 1:]
    t = 2.0 * torch.linalg.cross(u, vec, dim=-1)
    return vec + w * t + torch.linalg.cross(u, t, dim=-1)


def _roll_pitch_deg(quat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Roll and pitch (degrees, ZYX Euler convention) of unit quaternions (B, 4, w x y z)."""
    w, x, y, z = quat.unbind(dim=-1)
    roll = torch.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = torch.asin((2.0 * (w * y - z * x)).clamp(-1.0, 1.0))
    return torch.rad2deg(roll), torch.rad2deg(pitch)


def make_go2_env(task: str, num_envs: int = 1024, seed: int = 0, device: torch.device | str = "cpu",
                 **kwargs: Any) -> Go2VelocityVecEnv:
    """The named Genesis task (``TASKS``); ``kwargs`` go to :class:`Go2VelocityVecEnv` (they override the task's)."""
    if task not in TASKS:
        raise ValueError(f"task: unknown Genesis task {task!r}; choose one of {sorted(TASKS)}")
    return Go2VelocityVecEnv(num_envs=num_envs, seed=seed, device=device, **{**TASKS[task], **kwargs})
