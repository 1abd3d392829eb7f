"""genpo-play: roll a trained checkpoint out and print the mean and std of its episode return."""

from __future__ import annotations

import argparse

import numpy as np

from genpo_rsl.envs import seed_everything
from genpo_rsl.overrides import use_override_style
from genpo_rsl.rundir import load_run
from genpo_rsl.scripts.common import (HelpFormatter, UsageError, add_debug_argument, add_override_arguments,
                                      add_rollout_arguments, as_usage_error, command, load_runner,
                                      overrides_from_args)

PROG = "genpo-play"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a model_*.pt written by genpo-train")
    parser.add_argument("--episodes", type=int, default=10, help="complete episodes to score")
    add_rollout_arguments(parser, "zero base noise: the default, as for export",
                          "sample the base noise, as in training")
    parser.add_argument("--video", default=None,
                        help="write an mp4 of one rollout of env 0 (gymnasium MuJoCo and Genesis tasks)")
    add_override_arguments(parser)  # on top of the run's config: e.g. the fix a checkpoint mismatch names
    add_debug_argument(parser)
    return parser.parse_intermixed_args(argv)


def _recorded_task(checkpoint: str) -> str:
    """The task of the run the checkpoint belongs to ("" when its run.json cannot tell; loading then says why)."""
    try:
        return str(load_run(checkpoint).get("task", ""))
    except (OSError, ValueError):
        return ""


def run(argv=None) -> dict:
    args = parse_args(argv)
    with use_override_style("genpo"):
        return _play(args)


def _play(args: argparse.Namespace) -> dict:
    if args.episodes < 1:
        raise UsageError(f"--episodes: must be >= 1, got {args.episodes}")
    if args.num_envs is not None and args.num_envs < 1:
        raise UsageError(f"--num-envs: must be >= 1, got {args.num_envs}")
    if args.video:
        task = _recorded_task(args.checkpoint)
        if task.startswith("toy/"):
            raise UsageError(f"--video: {task} has no renderer (the toy tasks draw nothing). Fix: drop --video; it "
                             "records gymnasium MuJoCo and genesis/Go2 tasks")
    seed_everything(args.seed)
    num_envs = args.num_envs or min(args.episodes, 8)
    with as_usage_error():
        overrides = overrides_from_args(args)
    runner, env, run_info = load_runner(args.checkpoint, num_envs, args.seed, args.device, quiet=True,
                                        overrides=overrides,
                                        **({"render_mode": "rgb_array"} if args.video else {}))
    deterministic = not args.stochastic
    try:
        if args.video:
            from genpo_rsl.video import record_video

            record_video(runner, env, args.video, deterministic=deterministic)
        returns = np.asarray(runner.evaluate(args.episodes, deterministic=deterministic)["returns"], dtype=np.float64)
    finally:
        env.close()
    mode = "deterministic" if deterministic else "stochastic"
    print(f"genpo-play: {run_info['algo']} on {run_info['task']}, {len(returns)} episodes ({mode}): "
          f"return {returns.mean():.2f} +- {returns.std():.2f}")
    return {"mean": float(returns.mean()), "std": float(returns.std()), "returns": returns.tolist()}


main = command(PROG, run)


if __name__ == "__main__":
    raise SystemExit(main())
