"""genpo-export: write a trained GenPO checkpoint's policy as ONNX or TorchScript for deployment.

The exported graph is the whole policy: observation normalisation, then the N-step coupled flow unrolled, then
the average (x + y) / 2. Deterministic (default): input "obs" (batch, O) -> output "actions" (batch, A), zero base
noise. --stochastic: inputs "obs" (batch, O) and "noise" (batch, 2A) of standard-normal samples -> "actions"
(batch, A); the policy's noise scale is applied inside. ONNX files have a dynamic batch axis and hold their weights
(no .onnx.data side file).
"""

from __future__ import annotations

import argparse
import os

from genpo_rsl.checkpoint import GENPO, CheckpointError, describe_checkpoint
from genpo_rsl.export import EXPORT_FORMATS, ExportReport, write_policy
from genpo_rsl.overrides import use_override_style
from genpo_rsl.scripts.common import (HelpFormatter, UsageError, add_debug_argument, add_override_arguments,
                                      as_usage_error, command, load_runner, overrides_from_args)

PROG = "genpo-export"

POLICY_WORDS = {"gaussian": "a Gaussian PPO policy", "recurrent": "a recurrent Gaussian PPO policy",
                "unknown": "a policy of an unknown type"}
EXPORT_DIR = "exported"  # beside the checkpoint, as IsaacLab's play.py does


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a model_*.pt written by genpo-train")
    parser.add_argument("--format", default="onnx", choices=EXPORT_FORMATS, help="onnx or jit (TorchScript)")
    parser.add_argument("--stochastic", action="store_true",
                        help="export the sampling policy, with a second input 'noise' (batch, 2A) ~ N(0, I)")
    parser.add_argument("--output", default=None,
                        help=f"file to write (default: {EXPORT_DIR}/policy[_stochastic].onnx|.pt beside the "
                             "checkpoint)")
    add_override_arguments(parser)  # on top of the run's config: e.g. the fix a checkpoint mismatch names
    add_debug_argument(parser)
    return parser.parse_intermixed_args(argv)


def default_output(checkpoint: str, format: str, stochastic: bool) -> str:
    name = "policy" + ("_stochastic" if stochastic else "") + (".onnx" if format == "onnx" else ".pt")
    return os.path.join(os.path.dirname(os.path.abspath(checkpoint)), EXPORT_DIR, name)


def run(argv=None) -> ExportReport:
    args = parse_args(argv)
    with use_override_style("genpo"):
        return _export(args)


def _export(args: argparse.Namespace) -> ExportReport:
    stem, suffix = os.path.splitext(args.output or "")
    if suffix in (".onnx", ".pt", ".pth", ".jit") and (suffix == ".onnx") != (args.format == "onnx"):
        wanted = ".onnx" if args.format == "onnx" else ".pt"
        raise UsageError(f"--output {args.output}: a {args.format} file under another format's name. Fix: --output "
                         f"{stem}{wanted}, or --format {'onnx' if args.format == 'jit' else 'jit'}")
    info = describe_checkpoint(args.checkpoint)  # missing, empty, truncated or not a checkpoint: clear errors
    if info.policy != GENPO:
        raise CheckpointError(
            f"{args.checkpoint!r} holds {POLICY_WORDS.get(info.policy, info.policy)}, not a GenPO "
            "policy. Fix: pass a checkpoint of a GenPO run (genpo-train --algo genpo); a Gaussian "
            "policy's mean is exported by rsl_rl itself (OnPolicyRunner.export_policy_to_jit/onnx in rsl-rl-lib "
            "5.x, isaaclab_rl.rsl_rl.export_policy_as_jit/onnx with 3.x) or by genpo_rsl.runner.export(runner, path).")
    with as_usage_error():
        overrides = overrides_from_args(args)
    runner, env, _ = load_runner(args.checkpoint, quiet=True, overrides=overrides)  # quiet: the report suffices
    env.close()
    from genpo_rsl.runner import exportable_policy

    module = exportable_policy(runner, args.format, args.stochastic)
    output = args.output or default_output(args.checkpoint, args.format, args.stochastic)
    report = write_policy(module, output, args.format)
    mode = "stochastic" if args.stochastic else "deterministic"
    print(f"{PROG}: {mode} policy of {args.checkpoint} ({info.obs_dim} obs -> {info.action_dim} actions, "
          f"{info.flow_steps}-step flow)\n  wrote {report}")
    return report


main = command(PROG, run)


if __name__ == "__main__":
    raise SystemExit(main())
