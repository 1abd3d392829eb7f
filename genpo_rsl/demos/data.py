"""Demonstration files: ``observations`` (T, O) and ``actions`` (T, A) float arrays in one .npz, optionally
``episode_starts`` (T,) bool (True on each episode's first step). Other arrays (e.g. ``episode_returns``) are kept
as metadata and ignored by training.

:func:`load_demos` checks a file against the task's sizes and fails with a message naming the array and the fix,
so a bad file never reaches training. :func:`save_demos` writes atomically (temp file, fsync, rename).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

REQUIRED = ("observations", "actions")


#: Finite values no demonstration has: above this magnitude an observation or action is a broken recording.
ABSURD_VALUE = 1e15


class DemoError(ValueError):
    """A demonstration file that cannot be used for this task."""


@dataclass
class Demos:
    observations: np.ndarray  # (T, O) float32
    actions: np.ndarray  # (T, A) float32
    episode_starts: np.ndarray | None = None  # (T,) bool
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    path: str | None = None

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def num_episodes(self) -> int | None:
        return None if self.episode_starts is None else int(self.episode_starts.sum())


def load_demos(path: str | os.PathLike, obs_dim: int | None = None, action_dim: int | None = None,
               task: str | None = None) -> Demos:
    """Read and check a demonstration file; ``obs_dim``/``action_dim`` are the task's sizes (None: not checked)."""
    path = os.fspath(path)
    where = f"--demos {path!r}"
    for_task = f" of {task}" if task else ""
    if not os.path.isfile(path):
        raise DemoError(f"{where}: no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DemoError(f"{where}: not a readable .npz file ({error}). Fix: write it with numpy.savez (or "
                        "genpo-demos) with arrays 'observations' (T, O) and 'actions' (T, A)") from None
    missing = [name for name in REQUIRED if name not in arrays]
    if missing:
        raise DemoError(f"{where}: missing array(s) {missing}; found {sorted(arrays)}. A demonstration file holds "
                        "'observations' (T, O) and 'actions' (T, A), optionally 'episode_starts' (T,)")
    checked = {}
    for name, size, what in (("observations", obs_dim, "observation"), ("actions", action_dim, "action")):
        array = arrays[name]
        if array.dtype.kind not in "fiu":
            raise DemoError(f"{where}: {name!r} must be a float array, got dtype {array.dtype}")
        if array.ndim != 2:
            raise DemoError(f"{where}: {name!r} must have shape (T, {what} size), got {array.shape}")
        if array.shape[0] == 0:
            raise DemoError(f"{where}: {name!r} is empty (0 steps); record some demonstrations first "
                            "(genpo-demos --checkpoint CKPT --episodes K --out FILE.npz)")
        if size is not None and array.shape[1] != size:
            raise DemoError(f"{where}: {name!r} has {what} size {array.shape[1]}, but the task{for_task} has "
                            f"{what} size {size}. Fix: demonstrations recorded on this task (genpo-demos), or the "
                            "--task they were recorded on")
        array = array.astype(np.float32)
        bad = ~np.isfinite(array)
        if bad.any():
            rows = np.unique(np.nonzero(bad)[0])
            raise DemoError(f"{where}: {name!r} holds NaN or inf in {len(rows)} step(s), first at index(es) "
                            f"{rows[:5].tolist()}. Fix: drop those steps or re-record the demonstrations")
        absurd = np.abs(array) > ABSURD_VALUE
        if absurd.any():  # finite, but no simulator or robot produces it: a broken recording or a unit error
            rows = np.unique(np.nonzero(absurd)[0])
            raise DemoError(f"{where}: {name!r} holds values of absurd size (up to {float(np.abs(array).max()):.3g}, "
                            f"above {ABSURD_VALUE:g}) in {len(rows)} step(s), first at index(es) {rows[:5].tolist()}. "
                            "Fix: check the recording (units, scaling) or drop those steps")
        checked[name] = array
    if len(checked["observations"]) != len(checked["actions"]):
        raise DemoError(f"{where}: 'observations' has {len(checked['observations'])} steps but 'actions' has "
                        f"{len(checked['actions'])}; they must pair up step by step")
    starts = arrays.get("episode_starts")
    if starts is not None:
        if starts.shape != (len(checked["actions"]),) or starts.dtype.kind not in "biu":
            raise DemoError(f"{where}: 'episode_starts' must be a (T,) bool array with T = "
                            f"{len(checked['actions'])}, got shape {starts.shape}, dtype {starts.dtype}")
        starts = starts.astype(bool)
    extra = {name: array for name, array in arrays.items() if name not in (*REQUIRED, "episode_starts")}
    return Demos(checked["observations"], checked["actions"], starts, extra, path)


def save_demos(path: str | os.PathLike, observations: np.ndarray, actions: np.ndarray,
               episode_starts: np.ndarray | None = None, **extra: np.ndarray) -> str:
    """Write a demonstration file atomically: a reader sees the old file or the complete new one, never a part."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    arrays = {"observations": np.asarray(observations, dtype=np.float32),
              "actions": np.asarray(actions, dtype=np.float32), **{k: np.asarray(v) for k, v in extra.items()}}
    if episode_starts is not None:
        arrays["episode_starts"] = np.asarray(episode_starts, dtype=bool)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:  # a file object: numpy would otherwise append ".npz" to the temp name
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
