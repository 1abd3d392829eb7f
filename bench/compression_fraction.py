"""Does drawing the compression sample on a random share of each minibatch change learning? Is the term needed?

Trains the coupled flow at equal env steps with ``compression_fraction`` 1 (the paper), smaller fractions, and
``compression_coef`` = 0 (no compression term, as the authors' newer IsaacLab configs), and reports per variant
the final return (mean of the last 10% of iterations' episodes), the final half-gap E||x - y|| of the rollout
policy (how faithful the executed average is), and the median update time per iteration.

    python bench/compression_fraction.py                    # toy/PointReach, 2 seeds, fractions 1 / 0.25 and coef 0
    python bench/compression_fraction.py --task Hopper-v5 --iterations 100
    python bench/compression_fraction.py --smoke            # seconds; exercised by the test suite

Finished runs are cached as JSON under --out/runs, so a killed study resumes; --report-only tabulates them.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from harness import add_study_arguments, run_cached, run_study, save_json, strip_runtime, summary, train_and_record

VARIANTS = {
    "fraction 1 (paper)": {"compression_fraction": 1.0},
    "fraction 0.25": {"compression_fraction": 0.25},
    "no compression (coef 0)": {"compression_coef": 0.0},
}


def train_one(job: dict) -> dict:
    def compute():
        overrides = {"genpo": job["fields"], **job["overrides"]}
        result = train_and_record(job["task"], "genpo", job["seed"], overrides=overrides,
                                  iterations=job["iterations"], threads=1)
        result["env"].close()
        return strip_runtime(result)

    return run_cached(job["path"], compute)[0]


def final(values: list[float], share: float = 0.1) -> float:
    values = [v for v in values if v == v]
    tail = values[-max(1, int(len(values) * share)):]
    return float(np.mean(tail)) if tail else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="toy/PointReach")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=None, help="default: the task's max_iterations")
    add_study_arguments(parser, "bench/results/compression_fraction", "1 seed, 2 iterations, tiny env")
    args = parser.parse_args(argv)
    overrides = {"num_envs": 8, "num_steps_per_env": 8} if args.smoke else {}
    seeds = 1 if args.smoke else args.seeds
    iterations = 2 if args.smoke else args.iterations
    jobs = [{"task": args.task, "variant": name, "fields": fields, "seed": seed, "iterations": iterations,
             "overrides": overrides,
             "path": os.path.join(args.out, "runs", f"{args.task.replace('/', '_')}_{i}_seed{seed}.json")}
            for i, (name, fields) in enumerate(VARIANTS.items()) for seed in range(seeds)]
    jobs, results, trained = run_study(train_one, jobs, args.jobs, args.report_only)

    table = {}
    for job, result in zip(jobs, results):
        records = result["records"]
        entry = table.setdefault(job["variant"], {"final_return": [], "final_gap": [], "update_s": []})
        entry["final_return"].append(final([r["return_mean"] for r in records]))
        entry["final_gap"].append(final([r["losses"].get("gap_abs", float("nan")) for r in records]))
        entry["update_s"].append(float(np.median([r["update_s"] for r in records])))
    lines = [f"{args.task}, {seeds} seed(s), coupled flow, equal env steps ({trained} runs trained now)", "",
             "| variant | final return | final E‖x − y‖ | update s/iter (median) |", "|---|---:|---:|---:|"]
    for name, entry in table.items():
        lines.append(f"| {name} | {summary(entry['final_return'])} | {summary(entry['final_gap'])} | "
                     f"{np.median(entry['update_s']):.3f} |")
    text = "\n".join(lines)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    save_json({"task": args.task, "seeds": seeds, "variants": VARIANTS, "table": table}, os.path.join(args.out,
                                                                                                 "summary.json"))
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(text + "\n")
    return table


if __name__ == "__main__":
    main()
