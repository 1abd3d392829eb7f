"""genpo-pretrain: fit a task's policy to demonstrations by maximum likelihood (behaviour cloning).

GenPO (default): maximises an importance-weighted lower bound on log pi(a | s) of each demonstrated action; the
doubled action's latent half is integrated out with a learned proposal (see README, "Learning from
demonstrations"). --algo ppo: rsl_rl's Gaussian policy, exact likelihood (the Gaussian BC baseline).

The demo file is an .npz with 'observations' (T, O) and 'actions' (T, A) float arrays, optionally 'episode_starts'
(T,). Observation normalisation is fitted on the demonstrations. Writes DIR/model_final.pt (the installed rsl_rl's
checkpoint layout) and DIR/run.json, which genpo-play, genpo-export and genpo-train --init accept.

    genpo-pretrain --task toy/TwoGoalReach --demos demos.npz --epochs 100
    genpo-pretrain --task Hopper-v5 --demos hopper.npz --algo ppo policy.actor_hidden_dims=[64,64]
"""

from __future__ import annotations

import argparse

from genpo_rsl.demos.data import DemoError
from genpo_rsl.demos.cloning import PretrainConfig, prepare, pretrain_prepared
from genpo_rsl.overrides import use_override_style
from genpo_rsl.scripts.common import (HelpFormatter, UsageError, add_debug_argument, add_override_arguments, as_usage_error,
                                      overrides_from_args, command)
from genpo_rsl.train_config import ALGOS

PROG = "genpo-pretrain"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    defaults = PretrainConfig()
    parser.add_argument("--task", required=True, help="gymnasium id (e.g. Hopper-v5) or toy/TwoGoalReach")
    parser.add_argument("--demos", required=True, help="demonstration file (.npz: observations, actions)")
    parser.add_argument("--algo", default="genpo", choices=ALGOS, help="genpo, or ppo for Gaussian BC")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--num-samples", type=int, default=defaults.num_samples,
                        help="K, importance samples per demo step in the GenPO bound (tighter as K grows)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-dir", default=None, help="default: logs/<task>/pretrain_<algo>/<time>_s<seed>")
    parser.add_argument("--device", default="cpu")
    add_override_arguments(parser)  # the policy's fields as genpo-train takes them, e.g. policy.num_steps=2
    add_debug_argument(parser)
    return parser


def run(argv=None) -> str:
    args = build_parser().parse_intermixed_args(argv)
    config = PretrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                            num_samples=args.num_samples)
    with use_override_style("genpo"):
        try:
            with as_usage_error():  # bad numbers, config values, demo files: before any training
                config.check()
                prepared = prepare(args.task, args.demos, algo=args.algo, cfg_overrides=overrides_from_args(args),
                                   seed=args.seed, device=args.device)
        except DemoError as error:
            raise UsageError(str(error)) from error
    return pretrain_prepared(prepared, config, log_dir=args.log_dir).checkpoint


main = command(PROG, run)


if __name__ == "__main__":
    raise SystemExit(main())
