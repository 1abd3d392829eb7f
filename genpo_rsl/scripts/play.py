"""genpo-play: roll a trained checkpoint out and print the mean and std of its episode return."""

from __future__ import annotations

import argparse

import numpy as np

from genpo_rsl.compat import register, rsl_rl_major
from genpo_rsl.scripts.common import load_run, make_task_env, seed_everything
from genpo_rsl.train_config import build_runner_cfg


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="genpo-play", description=__doc__)
    parser.add_argument("--checkpoint", required=True, help="a model_*.pt written by genpo-train")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--num-envs", type=int, default=None, help="parallel envs (default: min(episodes, 8))")
    parser.add_argument("--deterministic", action="store_true", help="zero base noise (the default for export)")
    parser.add_argument("--video", default=None, help="write an mp4 of one rollout of env 0 (gymnasium tasks)")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def run(argv=None) -> dict:
    args = parse_args(argv)
    if args.episodes < 1:
        raise SystemExit("genpo-play: --episodes must be >= 1")
    run = load_run(args.checkpoint)
    seed_everything(args.seed)
    num_envs = args.num_envs or min(args.episodes, 8)
    env = make_task_env(run["task"], num_envs, args.seed, args.device,
                        **({"render_mode": "rgb_array"} if args.video else {}))
    # The saved config is in the world that trained it; rebuild it for the installed world so that the
    # checkpoint loader, not the config, reports a cross-version mismatch.
    cfg = run["train_cfg"] if run.get("rsl_rl_major") == rsl_rl_major() else build_runner_cfg(
        run["algo"], run["settings"], experiment_name=run["train_cfg"].get("experiment_name", "genpo"))
    register()
    from genpo_rsl.runner import GenPORunner

    runner = GenPORunner(env, cfg, log_dir=None, device=args.device)
    runner.load(args.checkpoint)
    if args.video:
        from genpo_rsl.video import record_video

        record_video(runner, env, args.video, deterministic=args.deterministic)
    returns = np.asarray(runner.evaluate(args.episodes, deterministic=args.deterministic)["returns"], dtype=np.float64)
    env.close()
    mode = "deterministic" if args.deterministic else "stochastic"
    print(f"genpo-play: {run['algo']} on {run['task']}, {len(returns)} episodes ({mode}): "
          f"return {returns.mean():.2f} +- {returns.std():.2f}")
    return {"mean": float(returns.mean()), "std": float(returns.std()), "returns": returns.tolist()}


def main(argv=None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
