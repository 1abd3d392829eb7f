"""Offscreen video of one policy rollout (``genpo-play --video out.mp4``) for gymnasium MuJoCo tasks and the Genesis
Go2 task (any env whose ``render()`` returns an RGB frame; Genesis renders with its own rasteriser over EGL).

Rendering needs no display: MuJoCo draws into an offscreen buffer through EGL. On a machine without a GPU, Mesa's
software EGL (llvmpipe) does it; on Debian/Ubuntu it comes from ``apt-get install -y --no-install-recommends
libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libgl1``. ``MUJOCO_GL`` is set to ``egl`` when it is unset (an
NVIDIA driver's EGL serves the same setting); ``MUJOCO_GL=osmesa`` with ``libosmesa6`` is the other software path.
Writing mp4 needs ``imageio`` and ``imageio-ffmpeg`` (the "video" extra; imageio-ffmpeg ships its own ffmpeg).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import numpy as np

from .runner import inference_policy

DEFAULT_GL = "egl"
APT_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libgl1"
DEFAULT_FPS = 30


class OffscreenRenderingUnavailable(RuntimeError):
    """No OpenGL backend could render offscreen; the message says what to install."""


def ensure_offscreen_gl() -> str:
    """Choose MuJoCo's headless GL backend unless the caller chose one; return the backend in use.

    Must run before the first frame is rendered (gymnasium picks the backend when it creates its renderer).
    """
    backend = os.environ.setdefault("MUJOCO_GL", DEFAULT_GL)
    if backend == "egl":
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # PyOpenGL must talk to the same GL library
    return backend


def record_video(runner: Any, env: Any, path: str | os.PathLike, deterministic: bool = True,
                 max_steps: int | None = None, fps: float | None = None) -> dict[str, Any]:
    """Roll the runner's policy out on ``env`` and write env 0's frames to the mp4 file ``path``.

    Records from the current observations (after ``env.reset()`` when the env has one) until env 0's episode ends
    or ``max_steps`` steps (default: the env's episode length). ``env`` must render RGB frames
    (``GymnasiumVecEnv(..., render_mode="rgb_array")``); ``fps`` defaults to the task's ``render_fps`` (real
    time). The policy is left in eval mode. The file is written under a temporary name and moved into place, so a
    failed recording leaves nothing behind. Returns ``{"path", "frames", "fps", "steps"}``.
    """
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (imageio's mp4 writer)
    except ImportError as error:
        raise ImportError(f"record_video: writing mp4 needs imageio and imageio-ffmpeg ({error}). Fix: "
                          "pip install 'genpo-rsl[video]' (or pip install imageio imageio-ffmpeg)") from None
    if not callable(getattr(env, "render", None)):
        raise TypeError(f"record_video: {type(env).__name__} cannot render frames; --video works for gymnasium "
                        "MuJoCo tasks (GymnasiumVecEnv created with render_mode='rgb_array') and genesis/Go2 tasks")
    backend = ensure_offscreen_gl()
    path = os.path.abspath(os.fspath(path))
    if max_steps is None:
        max_steps = int(getattr(env, "max_episode_length", 1000))
    fps = float(fps or _render_fps(env))

    policy = inference_policy(runner, deterministic)
    if callable(getattr(env, "reset", None)):
        result = env.reset()
        obs = result[0] if isinstance(result, tuple) else result
    else:
        obs = env.get_observations()
    frames = [_first_frame(env, backend)]
    steps = 0
    while steps < max_steps:
        obs, _, dones, _ = env.step(policy(obs).to(env.device))
        steps += 1
        if bool(dones.view(-1)[0]):  # env 0 has been reset in place: its next frame is a new episode
            break
        frames.append(np.asarray(env.render()))

    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp.mp4")
    try:
        # macro_block_size=1: keep the frame size (H.264 with yuv420p still needs even sizes; MuJoCo's are).
        with imageio.get_writer(tmp, fps=fps, codec="libx264", macro_block_size=1) as writer:
            for frame in frames:
                writer.append_data(frame)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return {"path": path, "frames": len(frames), "fps": fps, "steps": steps}


def _first_frame(env: Any, backend: str) -> np.ndarray:
    try:
        frame = env.render()
    except Exception as error:  # missing libEGL/libOSMesa, PyOpenGL on another platform, bad MUJOCO_GL, ...
        if isinstance(error, RuntimeError) and "render_mode" in str(error):
            raise  # created without render_mode="rgb_array": the env's own message says so
        raise _unavailable(backend, error) from error
    if frame is None:
        raise RuntimeError("record_video: env.render() returned no frame; create the env with render_mode='rgb_array'")
    return np.asarray(frame)


def _unavailable(backend: str, error: BaseException) -> OffscreenRenderingUnavailable:
    return OffscreenRenderingUnavailable(
        f"offscreen rendering failed with MUJOCO_GL={backend}: {type(error).__name__}: {error}. Fix: install a "
        f"software renderer (Debian/Ubuntu: apt-get install -y --no-install-recommends {APT_PACKAGES}) and keep "
        "MUJOCO_GL=egl, or install libosmesa6 and set MUJOCO_GL=osmesa.")


def _render_fps(env: Any) -> float:
    """The task's real-time frame rate: gymnasium's metadata["render_fps"], else 1 / step_dt, else 30."""
    for holder in (env, getattr(env, "unwrapped", None)):
        metadata = getattr(holder, "metadata", None)
        if isinstance(metadata, dict) and metadata.get("render_fps"):
            return float(metadata["render_fps"])
    step_dt = getattr(getattr(env, "unwrapped", env), "step_dt", None)
    return 1.0 / float(step_dt) if step_dt else DEFAULT_FPS
