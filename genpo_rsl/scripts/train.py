"""genpo-train: train GenPO (or rsl_rl's Gaussian PPO, the baseline) on a gymnasium or toy task with rsl_rl's runner."""

from __future__ import annotations

import argparse
import os
import time

from genpo_rsl.compat import register, rsl_rl_major, rsl_rl_version
from genpo_rsl.scripts.common import make_task_env, save_run, seed_everything
from genpo_rsl.train_config import ALGOS, build_runner_cfg, task_settings


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="genpo-train", description=__doc__)
    parser.add_argument("--task", default="HalfCheetah-v5", help="gymnasium id (e.g. Hopper-v5) or toy/PointReach")
    parser.add_argument("--algo", default="genpo", choices=ALGOS, help="genpo, or ppo for rsl_rl's Gaussian PPO")
    parser.add_argument("--num-envs", type=int, default=None)
    parser.add_argument("--max-iterations", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-dir", default=None, help="default: logs/<task>/<algo>/<time>_s<seed>")
    parser.add_argument("--logger", default="tensorboard", choices=("tensorboard", "wandb"))
    parser.add_argument("--wandb-project", default="genpo-rsl")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resume", default=None, help="checkpoint to continue from")
    return parser.parse_args(argv)


def run(argv=None) -> str:
    args = parse_args(argv)
    overrides = {}
    if args.num_envs is not None:
        overrides["num_envs"] = args.num_envs
    if args.max_iterations is not None:
        overrides["max_iterations"] = args.max_iterations
    settings = task_settings(args.task, overrides)
    if settings["num_envs"] < 1 or settings["max_iterations"] < 1:
        raise SystemExit("genpo-train: --num-envs and --max-iterations must be >= 1")
    logger = args.logger
    cfg = build_runner_cfg(args.algo, settings, experiment_name=f"{args.task}_{args.algo}", logger=logger)
    if logger == "wandb":
        cfg["logger"] = ({"class_name": "WandbLogWriter", "project_name": args.wandb_project}
                         if rsl_rl_major() >= 4 else "wandb")
        cfg["wandb_project"] = args.wandb_project

    seed_everything(args.seed)
    env = make_task_env(args.task, settings["num_envs"], args.seed, args.device)
    log_dir = args.log_dir or os.path.join(
        "logs", args.task.replace("/", "_"), args.algo, time.strftime("%Y-%m-%d_%H-%M-%S") + f"_s{args.seed}"
    )
    save_run(log_dir, {"task": args.task, "algo": args.algo, "seed": args.seed, "settings": settings,
                       "train_cfg": cfg, "rsl_rl_version": rsl_rl_version(), "rsl_rl_major": rsl_rl_major()})

    register()
    from genpo_rsl.runner import GenPORunner

    runner = GenPORunner(env, cfg, log_dir=log_dir, device=args.device)
    if args.resume:
        runner.load(args.resume)
    print(f"genpo-train: {args.algo} on {args.task}, {settings['num_envs']} envs x {settings['num_steps_per_env']} "
          f"steps, {settings['max_iterations']} iterations, rsl-rl-lib {rsl_rl_version()}, logs in {log_dir}")
    runner.learn(num_learning_iterations=settings["max_iterations"], init_at_random_ep_len=False)
    final = os.path.join(log_dir, "model_final.pt")
    runner.save(final)
    env.close()
    print(f"genpo-train: saved {final}")
    return final


def main(argv=None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
