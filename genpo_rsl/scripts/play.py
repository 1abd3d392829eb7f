"""genpo-play: roll a trained checkpoint out and print the mean and std of its episode return."""

from __future__ import annotations

import argparse

import numpy as np

from genpo_rsl.scripts.common import load_runner, seed_everything


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="genpo-play", description=__doc__)
    parser.add_argument("--checkpoint", required=True, help="a model_*.pt written by genpo-train")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--num-envs", type=int, default=None, help="parallel envs (default: min(episodes, 8))")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--deterministic", dest="stochastic", action="store_false",
                      help="zero base noise: the default, as for export")
    mode.add_argument("--stochastic", action="store_true", help="sample the base noise, as in training")
    parser.add_argument("--video", default=None, help="write an mp4 of one rollout of env 0 (gymnasium tasks)")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def run(argv=None) -> dict:
    args = parse_args(argv)
    if args.episodes < 1:
        raise SystemExit("genpo-play: --episodes must be >= 1")
    seed_everything(args.seed)
    num_envs = args.num_envs or min(args.episodes, 8)
    runner, env, run_info = load_runner(args.checkpoint, num_envs, args.seed, args.device,
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


def main(argv=None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
