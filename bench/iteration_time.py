"""Iteration wall time of GenPO vs rsl_rl's Gaussian PPO with identical settings, split into rollout and update.

    python bench/iteration_time.py                       # HalfCheetah-v5 x 16 envs; zero-cost env x 1024 and 4096
    python bench/iteration_time.py --cases toy/ZeroCost:4096 --iterations 4
    python bench/iteration_time.py --smoke               # seconds; exercised by the test suite

Per case it prints the median over iterations (the first, warm-up iteration dropped) of: wall time, update time,
env-step time and the policy's share of the rollout, and the GenPO / PPO ratio of wall time.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from harness import save_json, strip_runtime, train_and_record

DEFAULT_CASES = ["HalfCheetah-v5:16", "toy/ZeroCost:1024", "toy/ZeroCost:4096"]


def measure(task: str, num_envs: int, iterations: int, threads: int, device_note: str) -> dict:
    row = {"task": task, "num_envs": num_envs, "device": device_note}
    for algo in ("ppo", "genpo"):
        result = train_and_record(task, algo, seed=0, overrides={"num_envs": num_envs}, iterations=iterations + 1,
                                  threads=threads)
        result["env"].close()
        records = result["records"][1:]  # drop the warm-up iteration
        row[algo] = {key: float(np.median([r[key] for r in records]))
                     for key in ("wall_s", "update_s", "env_s", "policy_rollout_s")}
        row[algo]["steps_per_iteration"] = result["settings"]["num_envs"] * result["settings"]["num_steps_per_env"]
        row[f"{algo}_run"] = strip_runtime(result)
    row["ratio_wall"] = row["genpo"]["wall_s"] / row["ppo"]["wall_s"]
    row["ratio_update"] = row["genpo"]["update_s"] / row["ppo"]["update_s"]
    row["ratio_rollout_policy"] = row["genpo"]["policy_rollout_s"] / max(row["ppo"]["policy_rollout_s"], 1e-9)
    return row


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    labels, x = [], 0
    for row in rows:
        for algo in ("ppo", "genpo"):
            r = row[algo]
            parts = [("env step", r["env_s"]), ("policy (rollout)", r["policy_rollout_s"]), ("update", r["update_s"])]
            bottom = 0.0
            for i, (name, value) in enumerate(parts):
                ax.bar(x, value, bottom=bottom, color=f"C{i}", label=name if x == 0 else None)
                bottom += value
            labels.append(f"{algo}\n{row['task'].split('/')[-1]}x{row['num_envs']}")
            x += 1
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("seconds per iteration (median)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, help="TASK:NUM_ENVS")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device-note", default="cpu (2 cores)")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default="bench/results/iteration_time")
    args = parser.parse_args(argv)
    cases = ["toy/ZeroCost:64"] if args.smoke else args.cases
    iterations = 1 if args.smoke else args.iterations
    rows = []
    for case in cases:
        task, num_envs = case.rsplit(":", 1)
        row = measure(task, int(num_envs), iterations, args.threads, args.device_note)
        rows.append(row)
        g, p = row["genpo"], row["ppo"]
        print(f"{task} x {num_envs} envs ({p['steps_per_iteration']} steps/iter): "
              f"PPO {p['wall_s']:.3f} s/iter (update {p['update_s']:.3f}, env {p['env_s']:.3f}, "
              f"policy {p['policy_rollout_s']:.3f}); GenPO {g['wall_s']:.3f} s/iter (update {g['update_s']:.3f}, "
              f"env {g['env_s']:.3f}, policy {g['policy_rollout_s']:.3f}); GenPO/PPO wall {row['ratio_wall']:.2f}x, "
              f"update {row['ratio_update']:.2f}x, rollout policy {row['ratio_rollout_policy']:.2f}x")
    os.makedirs(args.out, exist_ok=True)
    save_json(rows, os.path.join(args.out, "results.json"))
    plot(rows, os.path.join(args.out, "iteration_time.png"))
    print(f"wrote {args.out}/results.json and iteration_time.png")
    return rows


if __name__ == "__main__":
    main()
