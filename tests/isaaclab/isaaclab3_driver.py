"""IsaacLab 3.x's ``isaaclab train|play --rl_library rsl_rl --agent genpo`` minus the simulator, for the paper tasks.

Run as a script in a fresh interpreter (``python isaaclab3_driver.py OUT_DIR TASK...``; one IsaacLab per
interpreter), it prints one JSON line with what it found per task. It drives IsaacLab 3.0's own code (stand-ins for
Isaac Sim's runtime only, see ``standins.py``) the way its rsl_rl backends do:

* ``isaaclab.cli.load_external_tasks()`` -- the ``isaaclab.tasks`` entry points of installed packages, ours among
  them (run with ``GENPO_RSL_DISABLE_HOOK=1`` at interpreter start, so the ``.pth`` hook does not do the work);
* train (``isaaclab_rl/entrypoints/backends/train_rsl_rl.py``): its ``_parse_args`` (argparse, presets, Hydra
  arguments), ``resolve_task_config``, ``cli_args.update_rsl_rl_cfg``, ``handle_deprecated_rsl_rl_cfg``,
  ``apply_env_overrides``, ``create_rsl_rl_runner`` and ``runner.learn`` -- with a stand-in VecEnv of the task's
  sizes in place of ``RslRlVecEnvWrapper(create_isaaclab_env(...))``;
* play (``play_rsl_rl.py``): its ``_parse_args``, ``resolve_task_config(..., play_mode=True)``,
  ``update_rsl_rl_cfg``, ``handle_deprecated_rsl_rl_cfg``, its ``_resolve_checkpoint`` (the latest run of the
  experiment), ``create_rsl_rl_runner``, ``runner.load`` and ``runner.get_inference_policy``.

Each task runs in its own working directory (the backends log to ``./logs/rsl_rl/<experiment_name>``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent

TRAIN_HYDRA = ["agent.device=cpu", "agent.num_steps_per_env=4", "agent.algorithm.num_learning_epochs=1",
               "agent.algorithm.num_mini_batches=2", "agent.actor.num_steps=2"]
PLAY_HYDRA = ["agent.device=cpu", "agent.actor.num_steps=2"]
NUM_ENVS = 6
SEED = 3


def _quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _standin_env(task_id, env_cfg, agent_cfg):
    import torch

    from genpo_standin_vecenv import make_standin_env

    torch.manual_seed(env_cfg.seed)  # what IsaacLab's env does with env_cfg.seed when it is built
    return make_standin_env(task_id, num_envs=env_cfg.scene.num_envs, clip_actions=agent_cfg.clip_actions,
                            seed=env_cfg.seed)


def train(task_id: str, workdir: Path, extra_hydra: tuple[str, ...] = ()) -> dict:
    import torch
    from isaaclab_rl.entrypoints.backends import cli_args_rsl_rl as cli_args
    from isaaclab_rl.entrypoints.backends import train_rsl_rl
    from isaaclab_rl.entrypoints.common import apply_env_overrides
    from isaaclab_rl.rsl_rl import create_rsl_rl_runner, handle_deprecated_rsl_rl_cfg
    from isaaclab_rl.rsl_rl.utils import check_rsl_rl_version
    from isaaclab_tasks.utils import resolve_task_config

    args = train_rsl_rl._parse_args(["--task", task_id, "--agent", "genpo", "--seed", str(SEED), "--max_iterations",
                                     "1", "--num_envs", str(NUM_ENVS), *TRAIN_HYDRA, *extra_hydra])
    env_cfg, agent_cfg = _quiet(resolve_task_config, args.task, args.agent)
    agent_type = type(agent_cfg).__name__
    agent_cfg = cli_args.update_rsl_rl_cfg(agent_cfg, args)
    agent_cfg = _quiet(handle_deprecated_rsl_rl_cfg, agent_cfg, check_rsl_rl_version())
    apply_env_overrides(args, env_cfg)
    agent_cfg.max_iterations = args.max_iterations
    env_cfg.seed = agent_cfg.seed
    log_dir = Path(os.path.abspath(os.path.join("logs", "rsl_rl", agent_cfg.experiment_name))) / "2025-01-01_00-00-00"
    env = _standin_env(task_id, env_cfg, agent_cfg)
    runner = _quiet(create_rsl_rl_runner, env, agent_cfg, log_dir=str(log_dir))
    _quiet(runner.learn, num_learning_iterations=agent_cfg.max_iterations,
           init_at_random_ep_len=agent_cfg.init_at_random_ep_len)
    cfg_dict = runner.cfg
    obs = env.get_observations()
    with torch.inference_mode():
        actions = runner.get_inference_policy(device="cpu")(obs)
    return {"agent_cfg_type": agent_type, "experiment_name": agent_cfg.experiment_name, "seed": agent_cfg.seed,
            "num_envs": env.num_envs, "algorithm": type(runner.alg).__module__ + "." + type(runner.alg).__name__,
            "actor": type(runner.alg.actor).__module__ + "." + type(runner.alg.actor).__name__,
            "critic": type(runner.alg.critic).__name__, "actor_obs_dim": runner.alg.actor.obs_dim,
            "action_dim": runner.alg.actor.action_dim, "flow_steps": runner.alg.actor.flow.num_steps,
            "flow": type(runner.alg.actor.flow).__name__,
            "actor_cfg": {k: v for k, v in cfg_dict["actor"].items()}, "critic_cfg": dict(cfg_dict["critic"]),
            "algorithm_cfg": {k: v for k, v in cfg_dict["algorithm"].items() if not isinstance(v, dict)},
            "checkpoints": sorted(p.name for p in log_dir.glob("model_*.pt")),
            "event_files": len(list(log_dir.glob("events.out.tfevents.*"))),
            "iteration": runner.current_learning_iteration,
            "finite": bool(all(torch.isfinite(p).all() for p in runner.alg.actor.parameters())),
            "obs": obs["policy"].tolist(), "actions": actions.tolist()}


def play(task_id: str, workdir: Path, obs, extra_hydra: tuple[str, ...] = ()) -> dict:
    import torch
    from isaaclab_rl.entrypoints.backends import cli_args_rsl_rl as cli_args
    from isaaclab_rl.entrypoints.backends import play_rsl_rl
    from isaaclab_rl.entrypoints.common import apply_env_overrides
    from isaaclab_rl.rsl_rl import create_rsl_rl_runner, handle_deprecated_rsl_rl_cfg
    from isaaclab_rl.rsl_rl.utils import check_rsl_rl_version
    from isaaclab_tasks.utils import resolve_task_config
    from tensordict import TensorDict

    args = play_rsl_rl._parse_args(["--task", task_id, "--agent", "genpo", "--num_envs", str(NUM_ENVS), *PLAY_HYDRA,
                                    *extra_hydra])
    env_cfg, agent_cfg = _quiet(resolve_task_config, args.task, args.agent, play_mode=not args.train_env_cfg)
    agent_cfg = cli_args.update_rsl_rl_cfg(agent_cfg, args)
    agent_cfg = _quiet(handle_deprecated_rsl_rl_cfg, agent_cfg, check_rsl_rl_version())
    apply_env_overrides(args, env_cfg)
    env_cfg.seed = agent_cfg.seed
    log_root_path = os.path.abspath(os.path.join("logs", "rsl_rl", agent_cfg.experiment_name))
    checkpoint = _quiet(play_rsl_rl._resolve_checkpoint, args, agent_cfg, env_cfg, log_root_path)
    env = _standin_env(task_id, env_cfg, agent_cfg)
    runner = _quiet(create_rsl_rl_runner, env, agent_cfg)
    fresh = _quiet(create_rsl_rl_runner, env, agent_cfg)
    _quiet(runner.load, checkpoint)
    policy = runner.get_inference_policy(device="cpu")
    obs = TensorDict({"policy": torch.tensor(obs)}, batch_size=[len(obs)])
    with torch.inference_mode():
        first, second = policy(obs), policy(obs)
        unloaded = fresh.get_inference_policy(device="cpu")(obs)
    return {"checkpoint": os.path.relpath(checkpoint, workdir), "actions": first.tolist(),
            "repeatable": bool(torch.equal(first, second)), "unloaded_actions": unloaded.tolist()}


def cfg_failures(task_ids: list[str]) -> dict:
    """``load_cfg_from_registry(task, "genpo")`` for every task: {task: error} of those that fail."""
    from isaaclab_tasks.utils.parse_cfg import load_cfg_from_registry

    failures = {}
    for task_id in task_ids:
        try:
            cfg = _quiet(load_cfg_from_registry, task_id, "genpo")
            assert type(cfg).__name__ in ("GenPOModelRunnerCfg", "_Preset"), type(cfg).__name__
        except Exception as exc:  # noqa: BLE001 - collected, so one run reports every broken task
            failures[task_id] = f"{type(exc).__name__}: {exc}"
    return failures


def preset_task(workdir: Path) -> dict:
    """A task whose rsl_rl config is an IsaacLab 3.x preset: the default and a named alternative (``presets=``)."""
    from isaaclab_tasks.utils import resolve_task_config

    os.chdir(workdir)
    found = {}
    for name, overrides in (("default", ["agent.actor.num_steps=3"]), ("asymmetric", ["presets=asymmetric"])):
        _, agent_cfg = _quiet(resolve_task_config, "Isaac-Reorient-Cube-Shadow", "genpo", overrides=overrides)
        obs_groups = agent_cfg.obs_groups if isinstance(agent_cfg.obs_groups, dict) else None  # default: MISSING
        found[name] = {"type": type(agent_cfg).__name__, "obs_groups": obs_groups,
                       "num_steps": agent_cfg.actor.num_steps, "experiment_name": agent_cfg.experiment_name}
    return found


def main(argv: list[str]) -> dict:
    import standins

    workdir, tasks = Path(argv[0]), argv[1:]
    standins.install(standins.ISAACLAB3_VERSION)
    hook_at_start = any(getattr(f, "_genpo_rsl_isaaclab_hook", False) for f in sys.meta_path)
    os.environ.pop("GENPO_RSL_DISABLE_HOOK", None)
    from isaaclab.cli import load_external_tasks

    load_external_tasks()  # IsaacLab 3.x's CLI does this before it imports a backend (and isaaclab_tasks)
    import gymnasium as gym
    import torch

    import isaaclab_tasks  # noqa: F401  (the backends import it at module level)

    torch.set_num_threads(1)
    rsl = sorted(s.id for s in gym.registry.values() if "rsl_rl_cfg_entry_point" in s.kwargs)
    result = {"hook_at_start": hook_at_start, "rsl_rl_tasks": rsl,
              "genpo_everywhere": rsl == sorted(s.id for s in gym.registry.values() if "genpo" in s.kwargs),
              "cfg_failures": cfg_failures(rsl), "preset": preset_task(workdir), "tasks": {}}
    for task_id in tasks:
        task_dir = workdir / task_id
        task_dir.mkdir(parents=True, exist_ok=True)
        os.chdir(task_dir)  # the backends log to ./logs/rsl_rl/<experiment_name>
        try:
            trained = train(task_id, task_dir)
            trained["play"] = play(task_id, task_dir, trained["obs"])
        except Exception:  # noqa: BLE001 - reported per task, so one failure does not hide the others
            trained = {"error": traceback.format_exc()}
        result["tasks"][task_id] = trained
    if tasks:  # the multistep flow, chosen the way a user does: agent.actor.flow=multistep (train and play)
        multistep = ("agent.actor.flow=multistep", "agent.actor.history_coef=0.95")
        task_dir = workdir / "multistep" / tasks[0]
        task_dir.mkdir(parents=True, exist_ok=True)
        os.chdir(task_dir)
        try:
            trained = train(tasks[0], task_dir, multistep)
            trained["play"] = play(tasks[0], task_dir, trained["obs"], multistep)
        except Exception:  # noqa: BLE001
            trained = {"error": traceback.format_exc()}
        result["multistep"] = {"task": tasks[0], **trained}
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    print(json.dumps(main(sys.argv[1:])))
