"""genpo-train: train GenPO (or rsl_rl's Gaussian PPO, the baseline) on a gymnasium or toy task with rsl_rl's runner.

Any field of the run config can be changed with KEY=VALUE (IsaacLab's agent.* names; the agent. prefix is optional):
  genpo-train --task Hopper-v5 policy.num_steps=3 policy.mix=0.95 algorithm.learning_rate=5e-4 num_steps_per_env=32
Ctrl-C (or SIGTERM) finishes the current iteration, saves it as model_<iteration>.pt and prints the command that
resumes the run; a second Ctrl-C quits at once.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import errno
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

from genpo_rsl.compat import register, rsl_rl_version
from genpo_rsl.config import RECIPES, validate_flow_cfg, validate_genpo_algorithm
from genpo_rsl.demos.policy import hold_actor_normalizer, init_overrides, load_actor, warm_up_critic
from genpo_rsl.overrides import apply_overrides, use_override_style
from genpo_rsl.envs import MIRROR_FUNCTIONS, SYMMETRY_MODES, make_task_env, seed_everything, symmetry_cfg
from genpo_rsl.rundir import (RUN_FILE, append_resume, check_run_dir, default_run_dir, load_run, locked,
                              numbered_checkpoints, run_record, save_run)
from genpo_rsl.scripts.common import (CommandExit, HelpFormatter, UsageError, add_debug_argument,
                                      add_override_arguments, as_usage_error, command, overrides_from_args)
from genpo_rsl.train_config import (ALGOS, build_runner_cfg, env_kwargs, recipe_settings, task_settings,
                                    with_augmentation)
from genpo_rsl.world import adapter

PROG = "genpo-train"
DEFAULT_TASK = "HalfCheetah-v5"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and what cluster schedulers send before killing a job


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--task", default=None,
                        help=f"gymnasium id (e.g. Hopper-v5), toy/PointReach or genesis/Go2-Velocity-Flat (default: "
                             f"{DEFAULT_TASK}; with --resume: the run's)")
    parser.add_argument("--algo", default=None, choices=ALGOS,
                        help="genpo, or ppo for rsl_rl's Gaussian PPO (default: genpo; with --resume: the run's)")
    parser.add_argument("--recipe", default=None, choices=sorted(RECIPES),
                        help="GenPO's settings over the task's: 'paper' (the paper's coupled flow, fixed base, "
                             "compression) or 'robot' (the locomotion recipe, the Genesis tasks' default); see "
                             "README 'Recipes' (default: the task's own; with --resume: the run's)")
    parser.add_argument("--symmetry", default=None, choices=SYMMETRY_MODES,
                        help="left-right symmetry (rsl_rl's symmetry_cfg with the task's mirror function, for GenPO "
                             "and PPO alike): 'augmentation' adds the mirrored samples to every minibatch (IsaacLab's "
                             "default; GenPO then keeps the task's learning epochs, not the robot recipe's 3), "
                             "'mirror_loss' adds a mirror loss (weight algorithm.symmetry_cfg.mirror_loss_coeff=..., "
                             "default 1.0), 'both'. Tasks with a mirror function: "
                             + ", ".join(MIRROR_FUNCTIONS) + " (default: off; with --resume: the run's)")
    parser.add_argument("--num-envs", type=int, default=None,
                        help="parallel envs (default: the task's, e.g. 16 for MuJoCo, 1024 for Go2; with --resume: "
                             "the run's)")
    parser.add_argument("--max-iterations", type=int, default=None,
                        help="PPO iterations to train (default: the task's, e.g. 50 for MuJoCo, 100 for Go2)")
    parser.add_argument("--seed", type=int, default=None,
                        help="default: 0; with --resume: the run's (a resumed run continues its random streams, "
                             "so another seed is refused)")
    parser.add_argument("--log-dir", default=None,
                        help="a new or empty folder (default: a fresh logs/<task>/<algo>/<time>_s<seed>; with "
                             "--resume: the checkpoint's folder, whose run.json gets a resume segment)")
    parser.add_argument("--logger", default="tensorboard", choices=("tensorboard", "wandb"),
                        help="where rsl_rl logs the training curves")
    parser.add_argument("--wandb-project", default="genpo-rsl", help="the W&B project, with --logger wandb")
    parser.add_argument("--device", default="cpu", help="torch device of the models (cpu, cuda, cuda:0)")
    parser.add_argument("--resume", default=None, help="checkpoint to continue from")
    parser.add_argument("--init", default=None, metavar="CKPT",
                        help="fine-tune: start from this checkpoint's actor and its observation normaliser (e.g. "
                             "genpo-pretrain's); the critic, optimizer and iteration count start fresh; GenPO's "
                             "compression_coef defaults to 0 (algorithm.compression_coef=... sets it)")
    parser.add_argument("--critic-warmup", type=int, default=0, metavar="N",
                        help="with --init: first N iterations train only the critic (actor frozen), before "
                             "--max-iterations")
    parser.add_argument("--hold-obs-normalizer", action="store_true",
                        help="with --init (or --resume of such a run): the actor keeps the pretrained observation "
                             "statistics for the whole run instead of following the rollouts (the critic's still "
                             "follow them)")
    add_override_arguments(parser)
    add_debug_argument(parser)
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    return fill_run_defaults(build_parser().parse_intermixed_args(argv))


def fill_run_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Task, algorithm and seed: the flags, else (with --resume) the run.json beside the checkpoint, else the
    defaults. A resumed run's seed cannot change: its random streams continue from the checkpoint."""
    run = {}
    if args.resume and os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(args.resume)), RUN_FILE)):
        with as_usage_error():
            run = load_run(args.resume)
    for name, default in (("task", DEFAULT_TASK), ("algo", "genpo"), ("seed", 0), ("recipe", None),
                          ("symmetry", None)):
        given, recorded = getattr(args, name), run.get(name)
        if given is not None and recorded is not None and given != recorded:
            if name == "seed":
                raise UsageError(f"--seed {given}: the run being resumed was trained with --seed {recorded}, and "
                                 "resuming continues its random streams. Fix: drop --seed, or start a new run from "
                                 f"its weights with --init {args.resume} --seed {given}")
            raise UsageError(f"--{name} {given}: the checkpoint given to --resume is a run of --{name} {recorded}. "
                             f"Fix: drop --{name} (resume uses the run's), or give a checkpoint of a {given} run")
        setattr(args, name, given if given is not None else recorded if recorded is not None else default)
    # The run's own overrides and env count come back too (the command line's still win), so that --resume CKPT
    # alone rebuilds the model it saved; the iteration budget is the new command's.
    args.recorded_overrides = {k: v for k, v in (run.get("overrides") or {}).items()
                               if k.removeprefix("agent.") != "max_iterations"}
    if args.num_envs is None and isinstance(run.get("settings"), dict):
        args.num_envs = run["settings"].get("num_envs")
    return args


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{name}: must be an integer >= 1, got {value!r}")


def check_command_line(args: argparse.Namespace) -> None:
    """The flags that name things outside the config: device, seed, logger."""
    import importlib.util

    import torch

    try:
        device = torch.device(args.device)
    except (RuntimeError, TypeError, ValueError):
        raise UsageError(f"--device {args.device!r}: not a torch device. Fix: --device cpu (or cuda, cuda:0)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: this torch ({torch.__version__}) sees no CUDA device. Fix: --device "
                         "cpu, or install a CUDA build of torch on a machine with a GPU")
    if args.seed < 0:
        raise UsageError(f"--seed: must be an integer >= 0, got {args.seed}")
    if args.logger == "wandb" and importlib.util.find_spec("wandb") is None:
        raise UsageError("--logger wandb: the wandb package is not installed. Fix: pip install wandb (then wandb "
                         "login), or --logger tensorboard")


def resolve_config(args: argparse.Namespace) -> tuple[dict, dict, dict, dict]:
    """(settings, resolved runner config, the overrides applied, the part of them --init derived), every value
    checked that can be before an env."""
    check_command_line(args)
    flags = {}
    if args.num_envs is not None:
        flags["num_envs"] = args.num_envs
    if args.max_iterations is not None:
        flags["max_iterations"] = args.max_iterations
    if args.recipe is not None:
        if args.algo != "genpo":
            raise UsageError(f"--recipe {args.recipe}: recipes are GenPO settings; --algo {args.algo} takes none. "
                             "Fix: drop --recipe, or --algo genpo")
        flags.update(recipe_settings(args.recipe))
    settings = task_settings(args.task, flags)
    if args.algo == "genpo" and args.symmetry is not None:
        with as_usage_error():
            if symmetry_cfg(args.task, args.symmetry)["use_data_augmentation"]:
                settings = with_augmentation(settings)  # e.g. the task's 5 learning epochs, not the recipe's 3
    _check_positive_int("--num-envs", settings["num_envs"])
    _check_positive_int("--max-iterations", settings["max_iterations"])
    cfg = build_runner_cfg(args.algo, settings, experiment_name=f"{args.task}_{args.algo}", logger=args.logger)
    if args.symmetry is not None:
        with as_usage_error():
            cfg["algorithm"]["symmetry_cfg"] = symmetry_cfg(args.task, args.symmetry)
    if args.logger == "wandb":
        logger = adapter().WANDB_LOGGER
        cfg["logger"] = {**logger, "project_name": args.wandb_project} if isinstance(logger, dict) else logger
        cfg["wandb_project"] = args.wandb_project
    if args.hold_obs_normalizer and not (args.init or args.resume):
        raise UsageError("--hold-obs-normalizer: needs --init CKPT (it holds a pretrained actor's observation "
                         "statistics), or --resume of a run started that way")
    # What --init sets (the pretrained actor's policy settings, GenPO's fine-tuning defaults), then the command line's.
    with as_usage_error():
        inherited = init_overrides(args.init, args.critic_warmup, args.resume, args.algo)
    overrides = {**inherited, **getattr(args, "recorded_overrides", {}), **overrides_from_args(args)}
    # An explicit --max-iterations beats the --config file (a KEY=VALUE token, typed later on the line, beats both).
    from genpo_rsl.overrides import parse_overrides

    tokens = parse_overrides(args.overrides or [])
    if args.max_iterations is not None and not any(k.removeprefix("agent.") == "max_iterations" for k in tokens):
        overrides = {k: v for k, v in overrides.items() if k.removeprefix("agent.") != "max_iterations"}
    cfg = apply_overrides(cfg, overrides)
    for field in ("num_steps_per_env", "max_iterations", "save_interval"):
        _check_positive_int(field, cfg[field])
    if "check_for_nan" in cfg and not isinstance(cfg["check_for_nan"], bool):
        raise UsageError(f"check_for_nan: must be true or false, got {cfg['check_for_nan']!r}")
    if cfg.get("clip_actions") is not None:
        raise UsageError(f"clip_actions={cfg['clip_actions']!r}: IsaacLab's env wrapper applies it; genpo-train's envs "
                         "do not read it, so it would do nothing. Fix: remove it (a gymnasium task gets its actions "
                         "as the policy gives them; bound them in the env)")
    with as_usage_error():
        validate_genpo_algorithm(cfg["algorithm"])  # the PPO fields of either algorithm, GenPO's for GenPO
        if args.algo == "genpo":  # the flow's fields, named as typed (policy.*), before any folder is made
            validate_flow_cfg("policy", cfg[adapter().POLICY_SECTION])
    batch, minibatches = settings["num_envs"] * cfg["num_steps_per_env"], cfg["algorithm"]["num_mini_batches"]
    if batch < minibatches:
        raise UsageError(f"algorithm.num_mini_batches={minibatches}: a rollout of {settings['num_envs']} envs x "
                         f"{cfg['num_steps_per_env']} steps has only {batch} samples, fewer than the minibatches it is "
                         f"split into. Fix: algorithm.num_mini_batches={max(1, batch)}, or more envs (--num-envs) or "
                         "steps (num_steps_per_env=...)")
    return settings, cfg, overrides, inherited


def resume_command(args: argparse.Namespace, log_dir: str, checkpoint: str, remaining: int,
                   inherited: dict | None = None) -> str:
    """The genpo-train command that continues this run from ``checkpoint`` for its ``remaining`` iterations;
    ``inherited``: the overrides --init derived (resolve_config's fourth value)."""
    words = [PROG, "--task", args.task, "--algo", args.algo, "--seed", str(args.seed)]
    if args.num_envs is not None:
        words += ["--num-envs", str(args.num_envs)]
    if args.logger != "tensorboard":
        words += ["--logger", args.logger, "--wandb-project", args.wandb_project]
    if args.device != "cpu":
        words += ["--device", args.device]
    if args.config:
        words += ["--config", os.path.abspath(args.config)]
    if args.hold_obs_normalizer:
        words += ["--hold-obs-normalizer"]
    words += ["--log-dir", os.path.abspath(log_dir), "--resume", os.path.abspath(checkpoint)]
    # What --init set is not in the checkpoint: repeat it, before the user's own overrides so that those still win.
    words += [f"{key}={json.dumps(value)}" for key, value in (inherited or {}).items()]
    words += args.overrides
    # Last, so that it wins over an earlier max_iterations in the overrides or the --config file.
    return shlex.join([*words, f"max_iterations={remaining}"])


@contextlib.contextmanager
def stop_on_signals(runner) -> Iterator[list[int]]:
    """While inside: the first SIGINT/SIGTERM asks ``runner`` to stop after the current iteration (which it saves);
    a second one raises KeyboardInterrupt at once. Yields the list of signals received."""
    received: list[int] = []

    def handler(signum, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        runner.request_stop(signal.Signals(signum).name)
        print(f"\n{PROG}: {signal.Signals(signum).name} received: finishing this iteration, then saving it "
              "(Ctrl-C again quits at once, without saving)", file=sys.stderr, flush=True)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    except ValueError:  # not the main thread: signals cannot be caught here
        previous = {}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(argv=None) -> str:
    args = parse_args(argv)
    with use_override_style("genpo"):
        return _train(args)


def _train(args: argparse.Namespace) -> str:
    from genpo_rsl.runner import GenPORunner

    settings, cfg, overrides, inherited = resolve_config(args)
    seed_everything(args.seed)
    with as_usage_error():
        env = make_task_env(args.task, settings["num_envs"], args.seed, args.device, **env_kwargs(args.task, settings))
    made_dir, lock = None, contextlib.ExitStack()
    try:
        if args.log_dir:
            # Resuming may write into the checkpoint's own folder only; any other folder must hold no run.
            check_run_dir(args.log_dir, resuming=_resumes_in_place(args, args.log_dir))
            log_dir = args.log_dir
        elif args.resume:
            log_dir = os.path.dirname(os.path.abspath(args.resume))  # continue in the run's own folder
        else:
            log_dir = made_dir = default_run_dir(args.task, args.algo, args.seed)
        lock.enter_context(locked(log_dir))  # before anything is written: a second process is refused here
        register()
        with as_usage_error():  # the models' and the algorithm's own checks of every field, before any step
            runner = GenPORunner(env, copy.deepcopy(cfg), log_dir=log_dir, device=args.device)  # 3.x pops keys
        if args.resume:
            runner.load(args.resume)
            apply_optimizer_overrides(runner, overrides)
        if args.init:
            load_actor(runner, args.init)  # the pretrained actor and its normaliser; critic and optimizer stay fresh
        if args.hold_obs_normalizer:
            hold_actor_normalizer(runner)
    except BaseException:
        lock.close()
        env.close()
        if made_dir is not None and not os.listdir(made_dir):
            os.rmdir(made_dir)  # nothing was written: leave no empty run folder behind
        raise
    with lock:
        return _learn(args, runner, env, log_dir, settings, cfg, overrides, inherited)


def _resumes_in_place(args: argparse.Namespace, log_dir: str) -> bool:
    """Whether this run resumes a checkpoint inside ``log_dir`` (its own run folder)."""
    return bool(args.resume) and os.path.abspath(log_dir) == os.path.dirname(os.path.abspath(args.resume))


def apply_optimizer_overrides(runner, overrides: dict) -> None:
    """After --resume's load: an explicit ``algorithm.learning_rate`` wins over the checkpoint's optimizer state."""
    for key, value in overrides.items():
        if key.removeprefix("agent.") == "algorithm.learning_rate":
            runner.alg.learning_rate = value
            for group in runner.alg.optimizer.param_groups:
                group["lr"] = value


def _survivor(args, log_dir: str, cfg: dict, inherited: dict) -> str:
    """The last checkpoint a stopped run left in ``log_dir`` and the command that continues from it (or that none
    was written yet, and when the first would have been)."""
    saved = numbered_checkpoints(log_dir)
    if not saved:
        return (f"{PROG}: no checkpoint was written (the first save comes after save_interval={cfg['save_interval']} "
                "iterations); start again once the cause is fixed")
    iteration, path = saved[-1]
    remaining = max(1, cfg["max_iterations"] - iteration - 1)
    return (f"{PROG}: the last checkpoint is {path} (iteration {iteration}); once the cause is fixed, resume with:\n"
            f"  {resume_command(args, log_dir, path, remaining, inherited)}")


def _learn(args, runner, env, log_dir: str, settings: dict, cfg: dict, overrides: dict, inherited: dict) -> str:
    from genpo_rsl.envs import NonFiniteEnvError
    from genpo_rsl.ppo_common import TrainingHalted
    from genpo_rsl.runner import TrainingStopped

    started = time.perf_counter()
    try:
        if _resumes_in_place(args, log_dir) and os.path.isfile(os.path.join(log_dir, RUN_FILE)):
            append_resume(log_dir, {"from": os.path.abspath(args.resume), "overrides": overrides,
                                    "max_iterations": cfg["max_iterations"],
                                    "time": time.strftime("%Y-%m-%d %H:%M:%S")})
        else:
            save_run(log_dir, run_record(args.task, args.algo, args.seed, settings, overrides, cfg, init=args.init,
                                         recipe=args.recipe, symmetry=args.symmetry, hold_obs_normalizer=args.hold_obs_normalizer,
                                         resumed_from=os.path.abspath(args.resume) if args.resume else None))
        print(f"{PROG}: {args.algo} on {args.task}, {settings['num_envs']} envs x {cfg['num_steps_per_env']} "
              f"steps, {cfg['max_iterations']} iterations, rsl-rl-lib {rsl_rl_version()}, logs in {log_dir}"
              + (f"\n{PROG}: overrides {' '.join(f'{k}={v!r}' for k, v in overrides.items())}" if overrides else ""),
              flush=True)
        try:
            with stop_on_signals(runner) as received:
                warm_up_critic(runner, args.critic_warmup)  # with --init: critic-only iterations first
                runner.learn(num_learning_iterations=cfg["max_iterations"], init_at_random_ep_len=False)
        except (TrainingHalted, NonFiniteEnvError) as halt:  # a designed stop: say what survived and how to go on
            raise CommandExit(1, f"{PROG}: {halt}\n" + _survivor(args, log_dir, cfg, inherited)) from None
        except OSError as error:  # a save that could not be written: a full disk, a quota, a read-only folder
            if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
                raise
            raise CommandExit(1, f"{PROG}: a checkpoint could not be written ({error.strerror}: "
                                 f"{error.filename or log_dir}); the save is atomic, so no partial file was left.\n"
                              + _survivor(args, log_dir, cfg, inherited)) from None
        except TrainingStopped as stop:
            code = 128 + received[0]
            if stop.checkpoint is None:
                raise CommandExit(code, f"{PROG}: {stop}") from None
            resume = resume_command(args, log_dir, stop.checkpoint, stop.remaining, inherited)
            raise CommandExit(code, f"{PROG}: stopped after iteration {stop.iteration} ({stop.reason}); saved "
                                    f"{stop.checkpoint}\n{PROG}: resume with:\n  {resume}") from None
        final = os.path.join(log_dir, "model_final.pt")
        runner.save(final)
        recent = list(getattr(env, "episode_returns", []))[-100:]
    finally:
        env.close()
    took = time.perf_counter() - started
    result = (f"mean return of the last {len(recent)} training episodes {sum(recent) / len(recent):.4g}"
              if recent else "no training episode finished")
    print(f"{PROG}: done: {cfg['max_iterations']} iterations in {took:.0f} s, {result}; saved {final}\n"
          f"{PROG}: next: genpo-play --checkpoint {shlex.quote(final)}   (evaluate; --video FILE.mp4 records it)\n"
          f"{PROG}:       genpo-export --checkpoint {shlex.quote(final)} --format onnx --output policy.onnx")
    if received:  # the signal came during the last iteration: the run is complete and saved
        raise CommandExit(128 + received[0], f"{PROG}: {signal.Signals(received[0]).name} received during the last "
                                             f"iteration; the run finished and is saved: {final}")
    return final


main = command(PROG, run)


if __name__ == "__main__":
    raise SystemExit(main())
