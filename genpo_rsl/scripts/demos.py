"""genpo-demos: record demonstrations from a trained policy (GenPO or Gaussian PPO) into an .npz file.

Rolls the checkpoint out on the task of its run.json and writes 'observations' (T, O), 'actions' (T, A) (what the
policy sent to the env), 'episode_starts' (T,), 'episode_returns' and 'episode_lengths' (K,), atomically. The
file is what genpo-pretrain --demos reads; e.g. make an expert with genpo-train --algo ppo and distil it:

    genpo-demos --checkpoint logs/Hopper-v5/ppo/.../model_final.pt --episodes 20 --out hopper.npz
"""

from __future__ import annotations

import argparse

import numpy as np

from genpo_rsl.envs import seed_everything
from genpo_rsl.scripts.common import (HelpFormatter, UsageError, add_debug_argument, add_rollout_arguments, load_runner,
                                      command)

PROG = "genpo-demos"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a model_*.pt with a run.json beside it")
    parser.add_argument("--episodes", type=int, required=True, help="complete episodes to record")
    parser.add_argument("--out", required=True, help="the .npz file to write")
    add_rollout_arguments(parser, "zero noise / the Gaussian's mean: the default", "sample actions, as in training")
    add_debug_argument(parser)
    return parser.parse_args(argv)


def run(argv=None) -> dict:
    from genpo_rsl.demos.data import save_demos
    from genpo_rsl.demos.record import record_episodes

    args = parse_args(argv)
    if args.episodes < 1:
        raise UsageError(f"--episodes: must be >= 1, got {args.episodes}")
    if args.num_envs is not None and args.num_envs < 1:
        raise UsageError(f"--num-envs: must be >= 1, got {args.num_envs}")
    if not args.out.endswith(".npz"):
        raise UsageError(f"--out: must end in .npz, got {args.out!r}")
    seed_everything(args.seed)
    runner, env, run_info = load_runner(args.checkpoint, args.num_envs or min(args.episodes, 8), args.seed,
                                        args.device, quiet=True)
    try:
        arrays = record_episodes(runner, args.episodes, deterministic=not args.stochastic)
    finally:
        env.close()
    save_demos(args.out, **arrays)
    returns = arrays["episode_returns"]
    summary = (f"{run_info['algo']} on {run_info['task']}, {len(returns)} episodes, {len(arrays['actions'])} steps, "
               f"return {np.mean(returns):.2f} +- {np.std(returns):.2f}")
    print(f"{PROG}: {summary}; wrote {args.out}")
    return arrays


main = command(PROG, run)


if __name__ == "__main__":
    raise SystemExit(main())
