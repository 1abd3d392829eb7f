"""Iteration wall time of GenPO vs rsl_rl's Gaussian PPO with identical settings, split into rollout and update.

    python bench/iteration_time.py                         # HalfCheetah-v5 x 16, zero-cost env x 1024; coupled flow
    python bench/iteration_time.py --flow both             # the coupled and the multistep flow against one PPO run
    python bench/iteration_time.py --variants coupled coupled:compression_fraction=0.25 \\
        coupled:compression_coef=0 multistep               # several GenPO settings against one PPO run
    python bench/iteration_time.py --cases Hopper-v5:1 --variants coupled coupled:noise_scale=learned \
        coupled:noise_scale=state                          # policy (flow) fields too
    python bench/iteration_time.py --torch-compile-mode default   # rsl_rl 5.1+'s torch_compile_mode, PPO and GenPO
    python bench/iteration_time.py --cases genesis/Go2-Velocity-Flat-Omni:1024 --flow multistep \
        --symmetry augmentation                            # also PPO and GenPO with rsl_rl's symmetry_cfg
    python bench/iteration_time.py --smoke                 # seconds; exercised by the test suite

A variant is FLOW[:KEY=VALUE,...] with GenPO algorithm fields (genpo_rsl.config.GENPO_ALGORITHM_DEFAULTS) or policy
fields (genpo_rsl.config.FLOW_DEFAULTS, e.g. ``coupled:noise_scale=learned``). Per case
and variant it prints the median over iterations (the first, warm-up iteration dropped) of wall time, update time,
env-step time and the policy's share of the rollout, and a line with ``GenPO/PPO wall <R>x``. Every GenPO variant
is compared with the PPO run of the same case, measured in the same process; read the ratios, not the seconds.
With ``--symmetry MODE`` (a task with a mirror function) each case also runs PPO and every variant with rsl_rl's
``symmetry_cfg`` and prints what symmetry adds to each (``symmetry: PPO <R>x, GenPO <R>x``) and GenPO/PPO with it.
"""

from __future__ import annotations

import argparse
import ast
import os
import re

import numpy as np

from harness import save_json, strip_runtime, train_and_record

from genpo_rsl.config import FLOW_DEFAULTS

DEFAULT_CASES = ["HalfCheetah-v5:16", "toy/ZeroCost:1024"]
TIMES = ("wall_s", "update_s", "env_s", "policy_rollout_s")


def parse_variant(text: str) -> tuple[str, dict]:
    """"multistep" -> ("multistep", {}); "coupled:compression_fraction=0.25,head_dims=[128,128]" -> (flow, fields)."""
    from genpo_rsl.flow import FLOWS

    flow, _, rest = text.partition(":")
    if flow not in FLOWS:
        raise SystemExit(f"--variants: {text!r} must start with one of {' or '.join(map(repr, FLOWS))}")
    fields = {}
    for item in filter(None, re.split(r",(?![^\[]*\])", rest)):  # commas inside [..] belong to a list value
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--variants: {item!r} in {text!r} must be KEY=VALUE")
        try:
            fields[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            fields[key] = value
    return flow, fields


def variant_name(flow: str, fields: dict) -> str:
    return flow + "".join(f" {k}={v}" for k, v in fields.items())


def compiled_runner(mode: str | None):
    """rsl_rl's OnPolicyRunner with ``torch_compile_mode`` set in its config (None: the stock runner)."""
    if mode is None:
        return None
    from rsl_rl.algorithms import PPO
    from rsl_rl.runners import OnPolicyRunner

    class CompiledRunner(OnPolicyRunner):
        def __init__(self, env, train_cfg, *args, **kwargs):
            super().__init__(env, {**train_cfg, "torch_compile_mode": mode}, *args, **kwargs)
            if not hasattr(PPO, "compile") and hasattr(self.alg, "compile"):
                self.alg.compile(mode)  # rsl_rl 3.x / 5.0 have no torch_compile_mode (PPO stays eager there)

    return CompiledRunner


def timed_run(task: str, algo: str, overrides: dict, iterations: int, threads: int, compile_mode: str | None,
              symmetry: str | None = None) -> dict:
    result = train_and_record(task, algo, seed=0, overrides=overrides, iterations=iterations + 1, threads=threads,
                              runner_class=compiled_runner(compile_mode), symmetry=symmetry)
    result["env"].close()
    records = result["records"][1:]  # drop the warm-up iteration (it also holds torch.compile's compilation)
    row = {key: float(np.median([r[key] for r in records])) for key in TIMES}
    row["steps_per_iteration"] = result["settings"]["num_envs"] * result["settings"]["num_steps_per_env"]
    row["run"] = strip_runtime(result)
    return row


def measure(task: str, num_envs: int, variants: list[tuple[str, dict]], iterations: int, threads: int,
            device_note: str, compile_mode: str | None, symmetry: str | None = None) -> list[dict]:
    ppo = timed_run(task, "ppo", {"num_envs": num_envs}, iterations, threads, compile_mode)
    ppo_sym = (timed_run(task, "ppo", {"num_envs": num_envs}, iterations, threads, compile_mode, symmetry)
               if symmetry else None)
    rows = []
    for flow, fields in variants:
        # Policy fields (noise_scale, num_steps, ...) go to the flow, the rest to GenPO's algorithm fields.
        policy = {k: v for k, v in fields.items() if k in FLOW_DEFAULTS}
        algorithm = {k: v for k, v in fields.items() if k not in FLOW_DEFAULTS}
        overrides = {"num_envs": num_envs, "flow": {"flow": flow, **policy}, "genpo": algorithm}
        genpo = timed_run(task, "genpo", overrides, iterations, threads, compile_mode)
        rows.append({"task": task, "num_envs": num_envs, "flow": flow, "genpo_fields": fields,
                     "variant": variant_name(flow, fields), "device": device_note, "threads": threads,
                     "torch_compile_mode": compile_mode, "ppo": ppo, "genpo": genpo,
                     "ratio_wall": genpo["wall_s"] / ppo["wall_s"],
                     "ratio_update": genpo["update_s"] / ppo["update_s"],
                     "ratio_rollout_policy": genpo["policy_rollout_s"] / max(ppo["policy_rollout_s"], 1e-9)})
        if symmetry:
            genpo_sym = timed_run(task, "genpo", overrides, iterations, threads, compile_mode, symmetry)
            rows[-1].update(symmetry=symmetry, ppo_symmetry=ppo_sym, genpo_symmetry=genpo_sym,
                            symmetry_cost_ppo=ppo_sym["wall_s"] / ppo["wall_s"],
                            symmetry_cost_genpo=genpo_sym["wall_s"] / genpo["wall_s"],
                            symmetry_update_cost_ppo=ppo_sym["update_s"] / ppo["update_s"],
                            symmetry_update_cost_genpo=genpo_sym["update_s"] / genpo["update_s"],
                            ratio_wall_symmetry=genpo_sym["wall_s"] / ppo_sym["wall_s"])
    return rows


def describe(row: dict) -> str:
    g, p = row["genpo"], row["ppo"]
    compiled = f", torch_compile_mode={row['torch_compile_mode']}" if row["torch_compile_mode"] else ""
    return (f"{row['task']} x {row['num_envs']} envs ({p['steps_per_iteration']} steps/iter), {row['variant']}"
            f"{compiled}: PPO {p['wall_s']:.3f} s/iter (update {p['update_s']:.3f}, env {p['env_s']:.3f}, policy "
            f"{p['policy_rollout_s']:.3f}); GenPO {g['wall_s']:.3f} s/iter (update {g['update_s']:.3f}, env "
            f"{g['env_s']:.3f}, policy {g['policy_rollout_s']:.3f}); GenPO/PPO wall {row['ratio_wall']:.2f}x, "
            f"update {row['ratio_update']:.2f}x, rollout policy {row['ratio_rollout_policy']:.2f}x"
            + (f"\n  symmetry ({row['symmetry']}): PPO wall {row['symmetry_cost_ppo']:.2f}x (update "
               f"{row['symmetry_update_cost_ppo']:.2f}x), GenPO wall {row['symmetry_cost_genpo']:.2f}x (update "
               f"{row['symmetry_update_cost_genpo']:.2f}x); with symmetry GenPO/PPO wall "
               f"{row['ratio_wall_symmetry']:.2f}x" if row.get("symmetry") else ""))


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(7, 1.1 * (len(rows) + 2)), 4))
    labels, x, seen = [], 0, set()
    for row in rows:
        case = (row["task"], row["num_envs"])
        bars = [("PPO", row["ppo"])] if case not in seen else []
        seen.add(case)
        bars.append((row["variant"].replace(" ", "\n"), row["genpo"]))
        for name, r in bars:
            parts = [("env step", r["env_s"]), ("policy (rollout)", r["policy_rollout_s"]), ("update", r["update_s"])]
            bottom = 0.0
            for i, (part, value) in enumerate(parts):
                ax.bar(x, value, bottom=bottom, color=f"C{i}", label=part if x == 0 else None)
                bottom += value
            labels.append(f"{name}\n{row['task'].split('/')[-1]} x{row['num_envs']}")
            x += 1
    ax.set_xticks(range(len(labels)), labels, fontsize=6)
    ax.set_ylabel("seconds per iteration (median)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, help="TASK:NUM_ENVS")
    parser.add_argument("--flow", choices=("coupled", "multistep", "both"), default="coupled")
    parser.add_argument("--variants", nargs="+", help="FLOW[:KEY=VALUE,...] (replaces --flow)")
    parser.add_argument("--torch-compile-mode", default=None, help="rsl_rl 5.1+'s torch_compile_mode for both runs")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device-note", default="cpu, 1 thread")
    parser.add_argument("--symmetry", default=None, help="also run PPO and GenPO with this symmetry mode "
                        "(genpo_rsl.envs.SYMMETRY_MODES; the task needs a mirror function)")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default="bench/results/iteration_time")
    args = parser.parse_args(argv)
    if args.variants:
        variants = [parse_variant(v) for v in args.variants]
    else:
        variants = [(flow, {}) for flow in (("coupled", "multistep") if args.flow == "both" else (args.flow,))]
    cases = (["toy/PointReach:64"] if args.symmetry else ["toy/ZeroCost:64"]) if args.smoke else args.cases
    iterations = 1 if args.smoke else args.iterations
    rows = []
    for case in cases:
        task, num_envs = case.rsplit(":", 1)
        for row in measure(task, int(num_envs), variants, iterations, args.threads, args.device_note,
                           args.torch_compile_mode, args.symmetry):
            rows.append(row)
            print(describe(row), flush=True)
    os.makedirs(args.out, exist_ok=True)
    save_json(rows, os.path.join(args.out, "results.json"))
    plot(rows, os.path.join(args.out, "iteration_time.png"))
    print(f"wrote {args.out}/results.json and iteration_time.png")
    return rows


if __name__ == "__main__":
    main()
