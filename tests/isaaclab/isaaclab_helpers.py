"""Helpers shared by the IsaacLab tests (imported by name: this folder is put on sys.path by its conftest)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import standins

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]


def require_sources(version: str | None = None) -> None:
    """Skip the calling test when the IsaacLab sources (default: 2.3.x's) have not been fetched (the only reason
    these tests skip besides the rsl_rl world)."""
    if not standins.sources_available(version):
        pytest.skip(standins.missing_reason(version))


def quiet(fn, *args, **kwargs):
    """Call ``fn`` with its stdout (IsaacLab's "[INFO]: Parsing configuration from ..." lines) swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def run_python(code: str, env_extra: dict | None = None, pythonpath: list[str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (``python -c``) with PYTHONPATH = ``pythonpath`` + the repository root +
    the caller's PYTHONPATH (which selects the rsl_rl world in tools/test.sh).

    ``GENPO_RSL_DISABLE_HOOK`` is removed from the child's environment unless ``env_extra`` sets it, so the outcome
    does not depend on the caller's shell.
    """
    env = {k: v for k, v in os.environ.items() if k != "GENPO_RSL_DISABLE_HOOK"}
    env.update(env_extra or {})
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([*(pythonpath or []), str(REPO_ROOT), *inherited])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=str(REPO_ROOT))


# ----------------------------------------------------------------------------------------------------------------
# IsaacLab 2.3.x's stock scripts/reinforcement_learning/rsl_rl/{train,play}.py, minus the simulator
# ----------------------------------------------------------------------------------------------------------------

#: Hydra arguments that keep Hydra from writing output folders or configuring logging (test hygiene only).
HYDRA_QUIET = ("hydra.output_subdir=null", "hydra/job_logging=disabled", "hydra/hydra_logging=disabled")


@contextlib.contextmanager
def _argv_and_cwd(argv: list[str], cwd: Path):
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    sys.argv = argv
    os.chdir(cwd)
    try:
        yield
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)


def hydra_task_cfg(task_id: str, agent: str, overrides: list[str] | tuple[str, ...], workdir: Path):
    """``(env_cfg, agent_cfg)`` as IsaacLab's stock ``hydra_task_config(task, agent)`` hands them to ``main`` when
    ``overrides`` (e.g. ``agent.policy.num_steps=10``) are left on the command line after argparse."""
    from isaaclab_tasks.utils.hydra import hydra_task_config

    workdir = Path(workdir)
    got = {}

    @hydra_task_config(task_id, agent)
    def main(env_cfg, agent_cfg):
        got["env_cfg"], got["agent_cfg"] = env_cfg, agent_cfg

    with _argv_and_cwd(["train.py", *overrides, f"hydra.run.dir={workdir}", *HYDRA_QUIET], workdir):
        quiet(main)
    return got["env_cfg"], got["agent_cfg"]


def apply_cli(env_cfg, agent_cfg, seed: int | None = None, max_iterations: int | None = None,
              num_envs: int | None = None) -> None:
    """What train.py/play.py do with ``--seed``, ``--max_iterations``, ``--num_envs`` (IsaacLab 2.3.x: its
    ``cli_args.update_rsl_rl_cfg`` sets ``agent_cfg.seed``; then ``env_cfg.scene.num_envs``,
    ``agent_cfg.max_iterations`` and ``env_cfg.seed = agent_cfg.seed``). ``agent_cfg.device`` is not set from
    ``--device`` by 2.3.x's train.py: on CPU it is the Hydra override ``agent.device=cpu``."""
    if seed is not None:
        agent_cfg.seed = seed
    if num_envs is not None:
        env_cfg.scene.num_envs = num_envs
    if max_iterations is not None:
        agent_cfg.max_iterations = max_iterations
    env_cfg.seed = agent_cfg.seed


def make_env(task_id: str, env_cfg, agent_cfg):
    """``RslRlVecEnvWrapper(gym.make(task, cfg=env_cfg), clip_actions=agent_cfg.clip_actions)`` stood in: a VecEnv of
    the task's sizes with ``env_cfg.scene.num_envs`` envs. Like IsaacLab's envs, it seeds torch with ``env_cfg.seed``
    when it is built (IsaacLab: ``isaaclab.utils.seed.configure_seed`` in the env's constructor)."""
    import torch

    from genpo_standin_vecenv import make_standin_env

    torch.manual_seed(env_cfg.seed)
    return make_standin_env(task_id, num_envs=env_cfg.scene.num_envs, clip_actions=agent_cfg.clip_actions,
                            seed=env_cfg.seed)


class TrainedRun:
    """What :func:`train_py` leaves behind: the configs, the env, the runner after ``learn`` and its files."""

    def __init__(self, task_id, env_cfg, agent_cfg, env, runner, log_root: Path, log_dir: Path):
        self.task_id, self.env_cfg, self.agent_cfg, self.env, self.runner = task_id, env_cfg, agent_cfg, env, runner
        self.log_root, self.log_dir = log_root, log_dir


def train_py(task_id: str, workdir: Path, overrides=(), agent: str = "genpo", seed: int | None = None,
             max_iterations: int | None = None, num_envs: int | None = None) -> TrainedRun:
    """``train.py --task <task_id> --agent <agent> [--seed --max_iterations --num_envs] <overrides>`` on a stand-in
    env: the stock config resolution, then ``OnPolicyRunner(env, agent_cfg.to_dict(), log_dir=..., device=
    agent_cfg.device)`` and ``learn(agent_cfg.max_iterations, init_at_random_ep_len=True)``, which saves
    ``model_<it>.pt`` into ``<workdir>/logs/rsl_rl/<experiment_name>/<run>``."""
    from rsl_rl.runners import OnPolicyRunner

    workdir = Path(workdir)
    env_cfg, agent_cfg = hydra_task_cfg(task_id, agent, list(overrides), workdir)
    apply_cli(env_cfg, agent_cfg, seed=seed, max_iterations=max_iterations, num_envs=num_envs)
    log_root = workdir / "logs" / "rsl_rl" / agent_cfg.experiment_name
    log_dir = log_root / ("2025-01-01_00-00-00" + (f"_{agent_cfg.run_name}" if agent_cfg.run_name else ""))
    env = make_env(task_id, env_cfg, agent_cfg)
    assert agent_cfg.class_name == "OnPolicyRunner"  # train.py builds nothing else for an on-policy agent
    runner = quiet(OnPolicyRunner, env, agent_cfg.to_dict(), log_dir=str(log_dir), device=agent_cfg.device)
    quiet(runner.learn, num_learning_iterations=agent_cfg.max_iterations, init_at_random_ep_len=True)
    return TrainedRun(task_id, env_cfg, agent_cfg, env, runner, log_root, log_dir)


def play_py(task_id: str, workdir: Path, agent: str = "genpo", edit_agent_cfg=None, num_envs: int = 8):
    """``play.py --task <task_id> --agent <agent> --num_envs <num_envs>`` up to its loop: the agent config (IsaacLab's
    ``load_cfg_from_registry``, the function play.py's ``hydra_task_config`` calls; ``edit_agent_cfg(agent_cfg)``
    stands for the user's overrides, as configclass attributes), the checkpoint found the way play.py finds it
    (``get_checkpoint_path(logs/rsl_rl/<experiment_name>, load_run, load_checkpoint)``), a runner built with
    ``log_dir=None`` and loaded, and the objects play.py takes from it.

    Returns a dict: ``runner``, ``env``, ``checkpoint``, ``agent_cfg``, ``policy`` (``runner.get_inference_policy``),
    ``policy_nn`` (``runner.alg.policy``, what play.py exports) and ``normalizer`` (its ``actor_obs_normalizer``).
    """
    from types import SimpleNamespace

    from rsl_rl.runners import OnPolicyRunner

    from isaaclab_tasks.utils import get_checkpoint_path
    from isaaclab_tasks.utils.parse_cfg import load_cfg_from_registry

    agent_cfg = quiet(load_cfg_from_registry, task_id, agent)
    if edit_agent_cfg is not None:
        edit_agent_cfg(agent_cfg)
    log_root = Path(workdir) / "logs" / "rsl_rl" / agent_cfg.experiment_name
    checkpoint = get_checkpoint_path(str(log_root), agent_cfg.load_run, agent_cfg.load_checkpoint)
    env_cfg = SimpleNamespace(scene=SimpleNamespace(num_envs=num_envs), seed=agent_cfg.seed)
    env = make_env(task_id, env_cfg, agent_cfg)
    runner = quiet(OnPolicyRunner, env, agent_cfg.to_dict(), log_dir=None, device=agent_cfg.device)
    quiet(runner.load, checkpoint)
    policy_nn = runner.alg.policy
    return {"runner": runner, "env": env, "checkpoint": checkpoint, "agent_cfg": agent_cfg,
            "policy": runner.get_inference_policy(device=env.device), "policy_nn": policy_nn,
            "normalizer": getattr(policy_nn, "actor_obs_normalizer", None)}
