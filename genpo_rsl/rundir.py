"""The run folder contract: where a run writes, what ``run.json`` records, and how a folder is claimed.

A genpo-train (or genpo-pretrain) run writes its checkpoints and ``run.json`` into one folder. Two runs never share
a folder: a default folder gets a name no other run has (created exclusively, a suffix added on a clash), and a
folder given by the user is refused when it holds another run, unless that run is being resumed. While a run is
alive its folder holds a lock file, so a second process cannot write into it at the same time. ``run.json``
records the first segment's settings; each resume appends a segment to ``resumes`` instead of replacing them.

Library code: errors are ``ValueError`` (``RunFolderError``) or ``FileNotFoundError``; the scripts turn them into
one-line usage errors.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Iterator
from typing import Any

RUN_FILE = "run.json"
LOCK_FILE = ".genpo_run.lock"


class RunFolderError(ValueError):
    """A run folder that cannot be used: it holds another run, is locked by a live process, or is not a folder."""


def run_record(task: str, algo: str, seed: int, settings: dict, overrides: dict, train_cfg: dict,
               **extra: Any) -> dict[str, Any]:
    """What ``run.json`` holds: the task, algorithm, seed, settings and config a run was built from, and versions."""
    from .checkpoint import genpo_stamp

    stamp = genpo_stamp()
    return {"task": task, "algo": algo, "seed": seed, "settings": settings, "overrides": dict(overrides),
            "train_cfg": train_cfg, "rsl_rl_version": stamp["rsl_rl_version"], "rsl_rl_major": stamp["rsl_rl_major"],
            **extra}


def save_run(log_dir: str, run: dict[str, Any]) -> None:
    """Write ``run`` as ``log_dir/run.json`` atomically (a reader sees the old file or the new one)."""
    os.makedirs(log_dir, exist_ok=True)
    tmp = os.path.join(log_dir, f".{RUN_FILE}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(run, f, indent=2)
    os.replace(tmp, os.path.join(log_dir, RUN_FILE))


def append_resume(log_dir: str, segment: dict[str, Any]) -> dict[str, Any]:
    """Add one resume segment to ``log_dir/run.json`` (its first segment's settings stay); return the new record."""
    with open(os.path.join(log_dir, RUN_FILE)) as f:
        run = json.load(f)
    run.setdefault("resumes", []).append(segment)
    save_run(log_dir, run)
    return run


def numbered_checkpoints(folder: str) -> list[tuple[int, str]]:
    """The ``model_<iteration>.pt`` files rsl_rl's runner saved in ``folder``, as (iteration, path), oldest first."""
    found = []
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        stem = name.removeprefix("model_").removesuffix(".pt")
        if name.startswith("model_") and name.endswith(".pt") and stem.isdigit():
            found.append((int(stem), os.path.join(folder, name)))
    return sorted(found)


def load_run(checkpoint: str) -> dict[str, Any]:
    """The run description saved beside a checkpoint by genpo-train."""
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"--checkpoint: no file at {checkpoint!r}")
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), RUN_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"--checkpoint: {checkpoint!r} has no {RUN_FILE} beside it, so the task and config it was trained with "
            "are unknown. Use a checkpoint written by genpo-train, or copy its run.json next to it."
        )
    with open(path) as f:
        try:
            run = json.load(f)
        except json.JSONDecodeError as error:
            raise RunFolderError(f"--checkpoint: {path!r} is not valid JSON ({error}). Fix: copy the run.json of the "
                                 "run that wrote the checkpoint next to it.") from None
    if not isinstance(run, dict):
        raise RunFolderError(f"--checkpoint: {path!r} does not describe a genpo-train run.")
    _check_run_fields(run, path)
    return run


#: The type each field of run.json must have where it is present (a run from an older version may lack some).
RUN_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "task": (str,), "algo": (str,), "seed": (int,), "settings": (dict,), "overrides": (dict,), "train_cfg": (dict,),
    "recipe": (str, type(None)), "symmetry": (str, type(None)), "rsl_rl_major": (int,), "resumes": (list,),
}


def _check_run_fields(run: dict[str, Any], path: str) -> None:
    """A damaged or hand-edited run.json fails here, naming the field, not deep inside the config code."""
    for field, types in RUN_FIELD_TYPES.items():
        if field in run and (not isinstance(run[field], types) or isinstance(run[field], bool)):
            raise RunFolderError(
                f"{path!r}: field {field!r} must be {' or '.join(t.__name__ for t in types)}, got "
                f"{type(run[field]).__name__} {run[field]!r:.60}; the file was edited or damaged. Fix: restore the "
                "run.json genpo-train wrote beside the checkpoint (or retrain)")
    sections = [name for name, value in run.get("train_cfg", {}).items()
                if name in ("algorithm", "policy", "actor", "critic") and not isinstance(value, dict)]
    if sections:
        raise RunFolderError(f"{path!r}: field 'train_cfg.{sections[0]}' must be a mapping; the file was "
                             "edited or damaged. Fix: restore the run.json genpo-train wrote beside the checkpoint")


def run_env_kwargs(run: dict[str, Any]) -> dict[str, Any]:
    """The env arguments a run's settings imply (reward normalisation of MuJoCo runs), so that the env state a
    genpo-train checkpoint carries fits the env it is loaded into. Runs from before those settings imply none."""
    from .train_config import env_kwargs

    settings = run.get("settings") or {}
    implied = {"normalize_reward": settings.get("normalize_reward", False), "clip_reward": settings.get("clip_reward"),
               "ppo": {"gamma": (settings.get("ppo") or {}).get("gamma", 0.99)}}
    return env_kwargs(run["task"], implied)


def holds_run(folder: str) -> bool:
    """Whether ``folder`` holds a run: its run.json or any checkpoint."""
    if not os.path.isdir(folder):
        return False
    return any(name == RUN_FILE or (name.startswith("model_") and name.endswith(".pt")) for name in os.listdir(folder))


def default_run_dir(task: str, algo: str, seed: int, root: str = "logs") -> str:
    """``root/<task>/<algo>/<YYYY-MM-DD_HH-MM-SS>_s<seed>``, created now; a clash (another run started in the same
    second, e.g. by a sweep) gets ``_2``, ``_3``, ... appended: never a folder another run made."""
    parent = os.path.join(root, task.replace("/", "_").replace(":", "_"), algo)
    os.makedirs(parent, exist_ok=True)
    base = os.path.join(parent, time.strftime("%Y-%m-%d_%H-%M-%S") + f"_s{seed}")
    for attempt in range(1, 10_000):
        path = base if attempt == 1 else f"{base}_{attempt}"
        try:
            os.mkdir(path)  # exclusive: fails if any other process made it first
            return path
        except FileExistsError:
            continue
    raise RunFolderError(f"--log-dir: could not find a free run folder next to {base!r}")


def check_run_dir(folder: str, resuming: bool) -> None:
    """Refuse a user-given folder that is a file, or holds another run (a new run would overwrite its files)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise RunFolderError(f"--log-dir: {folder!r} is a file, not a folder. Fix: name a folder (new or empty).")
    if not resuming and holds_run(folder):
        raise RunFolderError(
            f"--log-dir: {folder!r} already holds a run ({RUN_FILE} or checkpoints); a new run would overwrite it. "
            "Fix: give another --log-dir (or leave it out for a fresh folder), or continue that run with "
            f"--resume {os.path.join(folder, 'model_<iteration>.pt')}.")


@contextlib.contextmanager
def locked(folder: str) -> Iterator[None]:
    """Hold ``folder``'s lock while inside: a second process that tries the same folder fails at once, naming the
    process that holds it. A lock left by a dead process (a kill -9) is taken over."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK_FILE)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            owner = _lock_owner(path)
            if owner is None:  # just created, its pid not written yet: look again before calling it stale
                time.sleep(0.2)
                owner = _lock_owner(path)
            if owner is not None and _alive(owner):
                raise RunFolderError(
                    f"--log-dir: {folder!r} is in use by another running process (pid {owner}); two runs in one "
                    "folder would mix their checkpoints. Fix: give another --log-dir, or wait for that run to end."
                ) from None
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)  # stale: its process is gone
    else:
        raise RunFolderError(f"--log-dir: could not lock {folder!r}")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _lock_owner(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip() or -1)
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as error:
        return error.errno == errno.EPERM
    return True


__all__ = ["LOCK_FILE", "RUN_FILE", "RunFolderError", "append_resume", "check_run_dir", "default_run_dir",
           "holds_run", "load_run", "locked", "run_env_kwargs", "run_record", "save_run"]
