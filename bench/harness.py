"""Shared by the bench scripts: run rsl_rl's stock runner on a task and record what each iteration cost and earned.

Timing wraps ``env.step`` and ``alg.update`` of the real runner (no copy of its loop), so it works in either rsl_rl
world: per iteration we get wall time, update time, env-step time and, by difference, the policy's rollout time.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from genpo_rsl.compat import register  # noqa: E402
from genpo_rsl.envs import make_task_env, seed_everything, symmetry_cfg  # noqa: E402
from genpo_rsl.train_config import build_runner_cfg, env_kwargs as settings_env_kwargs, task_settings  # noqa: E402


def train_and_record(task: str, algo: str, seed: int, overrides: dict[str, Any] | None = None,
                     iterations: int | None = None, log_dir: str | None = None, quiet: bool = True,
                     threads: int | None = None, env_kwargs: dict[str, Any] | None = None,
                     on_record: Callable[[dict[str, Any], Any], None] | None = None, runner_class: type | None = None,
                     store_code_state: bool = True, resume_path: str | None = None,
                     checkpoint_every: int = 25, symmetry: str | None = None) -> dict[str, Any]:
    """Train ``algo`` on ``task`` and return per-iteration records plus the final runner (key "runner").

    ``on_record(record, runner)`` runs after each update and may add fields to the record; ``runner_class``
    replaces rsl_rl's ``OnPolicyRunner`` (e.g. ``GenPORunner``); ``store_code_state=False`` skips the git diff
    rsl_rl writes into the log directory.

    With ``resume_path``, training runs in chunks of ``checkpoint_every`` iterations (``learn`` called again
    continues the same env, storage and optimizer, so chunking changes nothing) and after each chunk the runner,
    the records so far and the env's finished episodes are written there atomically by ``GenPORunner.save``. A
    run killed mid-way then continues from its last chunk instead of starting over; the result lists where in
    ``resumed_at``. Whether the continuation is bitwise the uninterrupted run depends on the env: the toy envs
    restore their state, a gymnasium MuJoCo env restarts its episodes from a reset. ``symmetry``: a mode of
    ``genpo_rsl.envs.SYMMETRY_MODES`` with the task's mirror function (``genpo-train --symmetry``).
    """
    if threads:
        torch.set_num_threads(threads)
    settings = task_settings(task, overrides)
    if iterations is not None:
        settings["max_iterations"] = iterations
    cfg = build_runner_cfg(algo, settings, experiment_name=f"bench_{algo}")
    if symmetry is not None:  # rsl_rl's symmetry_cfg with the task's mirror function (genpo-train --symmetry)
        cfg["algorithm"]["symmetry_cfg"] = symmetry_cfg(task, symmetry)
    seed_everything(seed)
    env_kwargs = {**settings_env_kwargs(task, settings), **(env_kwargs or {})}  # reward normalisation from settings
    env = make_task_env(task, settings["num_envs"], seed, "cpu", **env_kwargs)
    register()
    from rsl_rl.runners import OnPolicyRunner

    if runner_class is None and resume_path is not None:
        from genpo_rsl.runner import GenPORunner as runner_class  # the stock runner plus an exact-resume save/load
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        runner = (runner_class or OnPolicyRunner)(env, cfg, log_dir=log_dir, device="cpu")
    if not store_code_state:
        (runner.logger if hasattr(runner, "logger") else runner).git_status_repos = []  # 5.x: logger; 3.x: runner
    if log_dir is None and hasattr(runner, "disable_logs"):
        runner.disable_logs = True  # rsl_rl 3.x stores its code state under log_dir even when that is None

    clock = {"env": 0.0, "update": 0.0, "last": None}
    records: list[dict[str, Any]] = []
    steps_per_iter = settings["num_envs"] * settings["num_steps_per_env"]
    env_step, alg_update = env.step, runner.alg.update

    def timed_step(actions):
        start = time.perf_counter()
        out = env_step(actions)
        clock["env"] += time.perf_counter() - start
        return out

    def timed_update():
        start = time.perf_counter()
        losses = alg_update()
        end = time.perf_counter()
        wall = end - clock["last"]
        returns = _recent_returns(env)
        records.append({
            "iteration": len(records),
            "env_steps": (len(records) + 1) * steps_per_iter,
            "wall_s": wall,
            "update_s": end - start,
            "env_s": clock["env"],
            "policy_rollout_s": wall - (end - start) - clock["env"],
            "return_mean": float(np.mean(returns)) if returns else float("nan"),
            "episodes": len(returns),
            "losses": {k: float(v) for k, v in losses.items() if v is not None},
            "learning_rate": float(runner.alg.learning_rate),
        })
        if on_record is not None:
            on_record(records[-1], runner)
        clock["env"], clock["last"] = 0.0, end
        return losses

    resumed_at: list[int] = []
    if resume_path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(resume_path)), exist_ok=True)
    if resume_path is not None and os.path.isfile(resume_path):
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            progress = runner.load(resume_path)[PROGRESS_KEY]
        records.extend(progress["records"])
        env.episode_returns.extend(progress["episode_returns"])
        env._bench_seen = len(env.episode_returns)
        resumed_at = progress["resumed_at"] + [len(records)]

    env.step, runner.alg.update = timed_step, timed_update
    total = settings["max_iterations"]
    while len(records) < total:
        chunk = total - len(records) if resume_path is None else min(checkpoint_every, total - len(records))
        clock["env"], clock["last"] = 0.0, time.perf_counter()  # checkpoint writing is not an iteration's time
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            runner.learn(num_learning_iterations=chunk)
        if resume_path is not None and len(records) < total:
            runner.save(resume_path, infos={PROGRESS_KEY: {"records": records, "resumed_at": resumed_at,
                                                           "episode_returns": list(env.episode_returns)}})
    env.step, runner.alg.update = env_step, alg_update
    cumulative = np.cumsum([r["wall_s"] for r in records])
    for r, t in zip(records, cumulative):
        r["elapsed_s"] = float(t)
    return {"task": task, "algo": algo, "seed": seed, "settings": settings, "records": records,
            "resumed_at": resumed_at, "runner": runner, "env": env}


# infos key of a partial run's checkpoint (train_and_record's resume_path) holding the bench's own progress.
PROGRESS_KEY = "bench_progress"


def _recent_returns(env) -> list[float]:
    """Returns of the episodes that finished since the last call (the env keeps a list of finished episodes)."""
    seen = getattr(env, "_bench_seen", 0)
    returns = list(env.episode_returns)
    env._bench_seen = len(returns)
    return returns[seen:]


def evaluate_policy(runner, episodes: int, deterministic: bool = True) -> list[float]:
    """Undiscounted returns of ``episodes`` complete episodes on the runner's env."""
    from genpo_rsl.runner import evaluate

    return evaluate(runner, episodes, deterministic=deterministic)["returns"]


def summary(values: list[float]) -> str:
    arr = np.asarray(values, dtype=np.float64)
    return f"{arr.mean():.4g} +- {arr.std():.2g}" if arr.size else "n/a"


def save_json(obj: Any, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=float)
    os.replace(tmp, path)


def strip_runtime(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON-serialisable part of a train_and_record result."""
    return {k: v for k, v in result.items() if k not in ("runner", "env")}


def run_cached(path: str, compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """(result, computed): the JSON a finished run left at ``path``, else ``compute()`` written there atomically.

    A study killed mid-way therefore resumes where it stopped: finished runs are read back, never retrained.
    """
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f), False
    result = compute()
    save_json(result, path)
    return result, True


def _init_worker() -> None:
    """One torch thread; on Linux the worker also gets SIGTERM when the study process dies, so killing a study
    never leaves orphaned runs training on (and checkpointing into) the same files as the next one."""
    torch.set_num_threads(1)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG


def run_parallel(fn: Callable[[Any], Any], jobs: list[Any], processes: int, fresh_process: bool = False,
                 on_done: Callable[[Any, Any], None] | None = None) -> list[Any]:
    """``[fn(job) for job in jobs]``; with ``processes`` > 1 in that many spawned processes of one torch thread each.

    On a small CPU several single-threaded runs beat one multi-threaded run (the networks are too small to split).
    ``fn`` must be a module-level function; spawn (not fork) keeps torch's thread pools out of the children.
    ``fresh_process``: every job gets a new process (also with ``processes`` = 1), so a long study imports the code
    as it is when each run starts. Jobs start in list order; ``on_done(job, result)`` runs here as each finishes.
    """
    if (processes <= 1 or len(jobs) <= 1) and not fresh_process:
        results = []
        for job in jobs:
            results.append(fn(job))
            if on_done is not None:
                on_done(job, results[-1])
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max(1, processes), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker,
                             max_tasks_per_child=1 if fresh_process else None) as pool:
        futures = {pool.submit(fn, job): job for job in jobs}
        for future in as_completed(futures):
            if on_done is not None:
                on_done(futures[future], future.result())
        return [future.result() for future in futures]


def add_study_arguments(parser, out: str, smoke_help: str) -> None:
    """The options every training study shares: --jobs, --out, --report-only, --smoke."""
    parser.add_argument("--jobs", type=int, default=2, help="parallel single-threaded training processes")
    parser.add_argument("--out", default=out)
    parser.add_argument("--report-only", action="store_true", help="tabulate and plot the finished runs; train none")
    parser.add_argument("--smoke", action="store_true", help=smoke_help)


def run_study(fn: Callable[[dict], Any], jobs: list[dict], processes: int, report_only: bool = False,
              fresh_process: bool = False, on_done: Callable[[Any, Any], None] | None = None
              ) -> tuple[list[dict], list[Any], int]:
    """(jobs run, their results, how many were trained now) for jobs whose finished runs are cached at job["path"].

    With ``report_only`` only the finished runs are read back and nothing is trained. ``fresh_process`` and
    ``on_done``: see :func:`run_parallel`.
    """
    if report_only:
        jobs = [j for j in jobs if os.path.isfile(j["path"])]
    done_before = sum(os.path.isfile(j["path"]) for j in jobs)
    todo = [j for j in jobs if not os.path.isfile(j["path"])]
    # Finished runs are read back here; only the runs still to train go to the (fresh) worker processes.
    trained = dict(zip(map(id, todo), run_parallel(fn, todo, processes, fresh_process and not report_only, on_done)))
    results = [trained[id(j)] if id(j) in trained else fn(j) for j in jobs]
    return jobs, results, len(jobs) - done_before
