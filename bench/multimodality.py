"""Does the policy keep both of two equally good actions? GenPO variants vs rsl_rl's Gaussian PPO on toy/TwoGoalReach.

toy/TwoGoalReach is a one-step bandit: reward 1 at a = (-1, 0) or (+1, 0), ~0 at their midpoint. After training we
draw many stochastic actions (for GenPO the averaged action (x + y) / 2 that the env receives) and count the
fraction within 0.5 of each goal (env.mode_fractions). "Bimodal" means at least 30 % of the samples on each goal.
The fractions are also probed during training, to show when a mode is lost.

    python bench/multimodality.py                              # every variant, seeds 0-4, the task's budget
    python bench/multimodality.py --variants genpo ppo --seeds 0 1 --iterations 300 --jobs 2
    python bench/multimodality.py --smoke                      # seconds; exercised by the test suite

Finished runs are kept under OUT/runs/ and skipped on a rerun (delete them to retrain).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from tensordict import TensorDict

from common_plots import fmt, markdown_table, pyplot
from harness import add_study_arguments, run_cached, run_study, save_json, train_and_record

TASK = "toy/TwoGoalReach"
BIMODAL_MIN_FRACTION = 0.3

# name -> (algo, settings overrides). All share the task's defaults (train_config.TASK_DEFAULTS[TASK]).
VARIANTS: dict[str, tuple[str, dict]] = {
    "ppo": ("ppo", {}),
    "ppo_ent0.01": ("ppo", {"ppo": {"entropy_coef": 0.01}}),
    "genpo": ("genpo", {}),
    "genpo_nu0": ("genpo", {"genpo": {"compression_coef": 0.0}}),
    "genpo_nu0.1": ("genpo", {"genpo": {"compression_coef": 0.1}}),
    "genpo_nu1": ("genpo", {"genpo": {"compression_coef": 1.0}}),
    "genpo_nu1_sq": ("genpo", {"genpo": {"compression_coef": 1.0, "compression_form": "squared"}}),
    # A smaller fixed base noise: less entropy the flow must place somewhere, so both modes can be tight.
    "genpo_nu1_sigma0.5": ("genpo", {"genpo": {"compression_coef": 1.0}, "flow": {"init_noise_scale": 0.5}}),
    "genpo_nu1_sigma0.25": ("genpo", {"genpo": {"compression_coef": 1.0}, "flow": {"init_noise_scale": 0.25}}),
    "genpo_learned_ent0.01": ("genpo", {"flow": {"noise_scale": "learned"}, "ppo": {"entropy_coef": 0.01}}),
    "genpo_stored_ent0.01": ("genpo", {"genpo": {"entropy_term": "stored_samples"}, "ppo": {"entropy_coef": 0.01}}),
}


def sample_actions(runner, env, count: int) -> torch.Tensor:
    """``count`` stochastic env actions (before the env's clipping) at the task's only observation."""
    from genpo_rsl.runner import inference_policy

    obs = env.get_observations()
    batch = TensorDict({key: obs[key][:1].expand(count, *obs[key].shape[1:]).clone() for key in obs.keys()},
                       batch_size=[count])
    return inference_policy(runner, deterministic=False)(batch)


def run_one(job: dict) -> dict:
    path = job["path"]

    def compute() -> dict:
        algo, overrides = VARIANTS[job["variant"]]
        overrides = {**overrides, **job.get("extra_overrides", {})}
        probes = []

        def on_record(record, runner):  # mode fractions during training, to see when a mode is lost
            if record["iteration"] % job["probe_every"] == 0:
                actions = sample_actions(runner, runner.env, job["probe_samples"])
                probes.append({"iteration": record["iteration"], "fractions": runner.env.mode_fractions(actions).tolist()})

        result = train_and_record(TASK, algo, job["seed"], overrides=overrides, iterations=job["iterations"],
                                  threads=1, on_record=on_record)
        runner, env = result["runner"], result["env"]
        actions = sample_actions(runner, env, job["samples"])
        fractions = env.mode_fractions(actions).tolist()
        records = result["records"]
        tail = records[-max(1, len(records) // 10):]
        return {
            "variant": job["variant"], "algo": algo, "seed": job["seed"], "iterations": job["iterations"],
            "overrides": overrides, "fractions": fractions, "min_fraction": min(fractions),
            "bimodal": min(fractions) >= BIMODAL_MIN_FRACTION,
            "final_train_return": float(np.nanmean([r["return_mean"] for r in tail])),
            "gap_abs": records[-1]["losses"].get("gap_abs"),
            "noise_scale": records[-1]["losses"].get("noise_scale"),
            "probes": probes,
            "samples": actions[: job["plot_samples"]].tolist(),
            "train_s": float(sum(r["wall_s"] for r in records)),
        }

    return run_cached(path, compute)[0]


def report(results: list[dict], variants: list[str], out: str) -> str:
    rows = []
    for variant in variants:
        runs = [r for r in results if r["variant"] == variant]
        if not runs:
            continue
        per_seed = " ".join(f"{r['fractions'][0]:.2f}/{r['fractions'][1]:.2f}" for r in runs)
        gap = [r["gap_abs"] for r in runs if r["gap_abs"] is not None]
        rows.append([variant, len(runs), runs[0]["iterations"], fmt([r["min_fraction"] for r in runs], 2),
                     f"{sum(r['bimodal'] for r in runs)}/{len(runs)}", per_seed,
                     fmt([r["final_train_return"] for r in runs], 3), fmt(gap, 2) if gap else "-"])
    table = markdown_table(["variant", "seeds", "iters", "min mode fraction", "bimodal seeds (>=30% each)",
                            "left/right fraction per seed", "train return (last 10%)", "half gap (L2)"], rows)

    plt = pyplot()
    shown = [v for v in variants if any(r["variant"] == v for r in results)]
    seeds = sorted({r["seed"] for r in results})
    fig, axes = plt.subplots(len(seeds), len(shown), figsize=(2.4 * len(shown), 2.4 * len(seeds)), squeeze=False)
    for col, variant in enumerate(shown):
        for row, seed in enumerate(seeds):
            ax = axes[row][col]
            run = next((r for r in results if r["variant"] == variant and r["seed"] == seed), None)
            for goal_x in (-1.0, 1.0):  # the regions mode_fractions counts
                ax.add_patch(plt.Circle((goal_x, 0.0), 0.5, fill=False, ls="--", lw=0.8, color="k"))
            if run is not None:
                pts = np.asarray(run["samples"])
                ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.3, color="C1" if run["algo"] == "genpo" else "C0")
                ax.set_title(f"{variant} s{seed}\n{run['fractions'][0]:.2f} / {run['fractions'][1]:.2f}",
                             fontsize=7)
            ax.set_aspect("equal")
            ax.set_xlim(-2.2, 2.2)
            ax.set_ylim(-2.2, 2.2)
            ax.tick_params(labelsize=6)
    fig.suptitle("stochastic action samples (circles: within 0.5 of a goal; title: fraction in left / right)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "samples.png"), dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for i, variant in enumerate(shown):
        for j, run in enumerate(r for r in results if r["variant"] == variant):
            its = [p["iteration"] for p in run["probes"]]
            ax.plot(its, [min(p["fractions"]) for p in run["probes"]], color=f"C{i}", alpha=0.7,
                    label=variant if j == 0 else None)
    ax.axhline(BIMODAL_MIN_FRACTION, color="k", ls="--", lw=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("fraction on the less-used goal")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "min_fraction_vs_iteration.png"), dpi=110)
    plt.close(fig)
    return table


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--iterations", type=int, default=None, help="default: the task's max_iterations")
    parser.add_argument("--samples", type=int, default=4000, help="actions sampled to measure the mode fractions")
    add_study_arguments(parser, "bench/results/multimodality", "2 variants x 1 seed x 2 iterations, small batch")
    args = parser.parse_args(argv)
    from genpo_rsl.train_config import task_settings

    iterations = args.iterations or task_settings(TASK)["max_iterations"]
    variants, seeds, extra, samples = args.variants, args.seeds, {}, args.samples
    if args.smoke:
        variants, seeds, iterations, extra, samples = ["ppo", "genpo"], [0], 2, {"num_envs": 32}, 200
    jobs = [{"variant": v, "seed": s, "iterations": iterations, "samples": samples, "plot_samples": 1500,
             "probe_every": max(1, iterations // 20), "probe_samples": min(samples, 1000), "extra_overrides": extra,
             "path": os.path.join(args.out, "runs", f"{v}__seed{s}__it{iterations}.json")}
            for s in seeds for v in variants]  # seed-major: a study cut short still has every variant
    jobs, results, trained = run_study(run_one, jobs, 1 if args.smoke else args.jobs, args.report_only)
    table = report(results, variants, args.out)
    print(table)
    summary = {"task": TASK, "iterations": iterations, "seeds": seeds, "table": table,
               "runs": [{k: v for k, v in r.items() if k not in ("samples", "probes")} for r in results]}
    save_json(summary, os.path.join(args.out, "summary.json"))
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table + "\n")
    print(f"{trained} run(s) trained, {len(jobs) - trained} read back; wrote {args.out}/summary.json, "
          "table.md, samples.png, min_fraction_vs_iteration.png")
    return {"results": results, "trained": trained, "table": table}


if __name__ == "__main__":
    main()
