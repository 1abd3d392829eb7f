"""GenPO ablations on a MuJoCo task, one factor at a time from the package defaults, plus the entropy question.

Factors: compression coefficient nu, flow steps N, mixing p, compression form (l2 / squared), and the entropy
handling: noise_scale fixed / learned x entropy_term closed_form / stored_samples x entropy_coef 0 / 0.01.
Per variant: deterministic eval return after training (genpo_rsl.runner.evaluate), mean return of the training
episodes in the last 10 % of iterations, the update's mean KL estimate, final noise scale and half gap E||x-y||.

The entropy check (no training, seconds) measures the two bonus terms' gradients directly:
  * closed_form with a fixed N(0, I) base: the entropy H(base) + 2AN log p has no parameter in it, so no gradient;
  * stored_samples, -mean log pi(stored actions): its gradient at the rollout policy is zero in expectation
    (E[grad log pi] = 0), so the per-batch norm falls like 1/sqrt(batch); once the policy moves, ascending it pushes
    pi away from the rollout policy, which shows as a growing KL(pi_old || pi).

    python bench/ablations.py                                 # Hopper-v5, every variant, seed 0, 150 iterations
    python bench/ablations.py --task HalfCheetah-v5 --variants default nu0 N1 --seeds 0 1 --iterations 300
    python bench/ablations.py --smoke                         # seconds; exercised by the test suite

Finished runs are kept under OUT/runs/ and read back on a rerun.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from common_plots import episode_curve, fmt, markdown_table, mean_std, plot_band, pyplot
from harness import add_study_arguments, run_study, save_json
from returns import run_one as train_and_evaluate

FIXED, LEARNED = {"noise_scale": "fixed"}, {"noise_scale": "learned"}
# name -> (group, algo, overrides). "default" is the package default (genpo_rsl.config); each other GenPO variant
# changes one thing.
VARIANTS: dict[str, tuple[str, str, dict]] = {
    "ppo": ("baseline", "ppo", {}),
    "default": ("baseline", "genpo", {}),
    # Control for the initial action noise: GenPO's averaged action (x + y) / 2 of x, y ~ N(0, I) starts with std
    # 1/sqrt(2), Gaussian PPO with init_noise_std 1.0.
    "ppo_std0.71": ("initial action std", "ppo", {"init_noise_std": 0.5 ** 0.5}),
    "nu0": ("compression coef nu", "genpo", {"genpo": {"compression_coef": 0.0}}),
    "nu0.1": ("compression coef nu", "genpo", {"genpo": {"compression_coef": 0.1}}),
    "N1": ("flow steps N", "genpo", {"flow": {"num_steps": 1}}),
    "N2": ("flow steps N", "genpo", {"flow": {"num_steps": 2}}),
    "N10": ("flow steps N", "genpo", {"flow": {"num_steps": 10}}),
    "p0.5": ("mix p", "genpo", {"flow": {"mix": 0.5}}),
    "p0.95": ("mix p", "genpo", {"flow": {"mix": 0.95}}),
    "squared": ("compression form", "genpo", {"genpo": {"compression_form": "squared"}}),
    "fixed_cf_ent0.01": ("entropy", "genpo", {"flow": FIXED, "ppo": {"entropy_coef": 0.01}}),
    "fixed_stored_ent0.01": ("entropy", "genpo", {"flow": FIXED, "genpo": {"entropy_term": "stored_samples"},
                                                  "ppo": {"entropy_coef": 0.01}}),
    "learned_ent0": ("entropy", "genpo", {"flow": LEARNED}),
    "learned_cf_ent0.01": ("entropy", "genpo", {"flow": LEARNED, "ppo": {"entropy_coef": 0.01}}),
    "learned_stored_ent0.01": ("entropy", "genpo", {"flow": LEARNED, "genpo": {"entropy_term": "stored_samples"},
                                                    "ppo": {"entropy_coef": 0.01}}),
}
# fixed_cf_ent0.01 trains exactly like "default" (its bonus has no gradient), so it is left out unless asked for.
DEFAULT_VARIANTS = [v for v in VARIANTS if v != "fixed_cf_ent0.01"]


# ---------------------------------------------------------------------------------------------- entropy check
def entropy_gradient_check(action_dim: int = 3, context_dim: int = 11, batches=(256, 1024, 4096, 16384),
                           ascent_steps: int = 20, repeats: int = 4, seed: int = 0) -> dict:
    """Gradients of the two entropy terms of a fresh flow, and what ascending stored_samples does to the KL."""
    from genpo_rsl.flow import CoupledFlow
    from genpo_rsl.objective import kl_estimate

    torch.manual_seed(seed)
    flow = CoupledFlow(action_dim, context_dim, num_steps=5, mix=0.9, hidden_dims=[64, 64], activation="elu")
    params = [p for p in flow.parameters() if p.requires_grad]
    closed_form = flow.entropy()
    out = {"closed_form_fixed_requires_grad": bool(closed_form.requires_grad), "stored_samples": []}

    for batch in batches:
        norms = []
        for _ in range(repeats):  # independent rollout batches: the norm's mean, not one draw
            context = torch.randn(batch, context_dim)
            with torch.no_grad():
                stored, _ = flow.sample(context)
            grads = torch.autograd.grad(-flow.log_prob(context, stored).mean(), params)
            norms.append(torch.sqrt(sum(g.pow(2).sum() for g in grads)).item())
        norm = sum(norms) / repeats
        out["stored_samples"].append({"batch": batch, "grad_norm": norm, "grad_norm_x_sqrt_batch": norm * batch**0.5})

    # Ascend the stored-samples "entropy" alone from the rollout policy and watch KL(pi_old || pi) grow.
    context = torch.randn(4096, context_dim)
    with torch.no_grad():
        stored, old_log_prob = flow.sample(context)
    optimizer = torch.optim.Adam(params, lr=1e-3)
    kls = []
    for _ in range(ascent_steps):
        new_log_prob = flow.log_prob(context, stored)
        kls.append(kl_estimate(old_log_prob, new_log_prob.detach(), "k3").item())
        optimizer.zero_grad()
        new_log_prob.mean().backward()  # minimising mean log pi(stored) = maximising the stored-samples term
        optimizer.step()
    out["ascent_kl"] = kls
    return out


# ---------------------------------------------------------------------------------------------- report
def report(results: list[dict], variants: list[str], task: str, out: str) -> str:
    plt = pyplot()
    rows = []
    for variant in variants:
        runs = [r for r in results if r["variant"] == variant]
        if not runs:
            continue
        kl = [np.mean([x["kl"] for x in r["records"]]) for r in runs] if runs[0]["algo"] == "genpo" else []
        sigma = [r["records"][-1]["noise_scale"] for r in runs if r["records"][-1]["noise_scale"] is not None]
        iter_s = [np.median([x["wall_s"] for x in r["records"]]) for r in runs]
        rows.append([variant, VARIANTS[variant][0], len(runs), fmt([r["eval"]["mean"] for r in runs]),
                     fmt([r["train_last10"] for r in runs]), fmt(kl, 4) if kl else "-",
                     fmt(sigma, 3) if sigma else "-", f"{np.mean(iter_s):.2f}"])
    table = markdown_table(["variant", "factor", "seeds", "eval return", "train return (last 10%)",
                            "mean KL (k3)", "final noise scale", "s / iteration (noisy)"], rows)

    groups = [g for g in dict.fromkeys(VARIANTS[v][0] for v in variants) if g != "baseline"]
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(3.4 * max(1, len(groups)), 3.2), squeeze=False)
    for ax, group in zip(axes[0], groups):
        members = ["ppo", "default"] + [v for v in variants if VARIANTS[v][0] == group]
        for i, variant in enumerate(members):
            runs = [r for r in results if r["variant"] == variant]
            if runs:
                xs = [np.array([x["env_steps"] for x in r["records"]], float) for r in runs]
                ys = [episode_curve([x["episodes"] for x in r["records"]], r["episode_returns"],
                                    r["settings"]["num_envs"]) for r in runs]
                plot_band(ax, xs, ys, variant, f"C{i}")
        ax.set_title(group, fontsize=9)
        ax.set_xlabel("env steps")
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel(f"{task} training return")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "curves.png"), dpi=110)
    plt.close(fig)

    entropy_runs = [v for v in ["default"] + [v for v in variants if VARIANTS[v][0] == "entropy"] if v in variants]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for i, variant in enumerate(entropy_runs):
        for j, run in enumerate(r for r in results if r["variant"] == variant):
            its = [x["iteration"] for x in run["records"]]
            axes[0].plot(its, [x["kl"] for x in run["records"]], color=f"C{i}", alpha=0.7,
                         label=variant if j == 0 else None)
            axes[1].plot(its, [x["noise_scale"] for x in run["records"]], color=f"C{i}", alpha=0.7,
                         label=variant if j == 0 else None)
    axes[0].set_ylabel("update KL estimate (k3)")
    axes[0].set_yscale("log")
    axes[1].set_ylabel("base noise scale sigma")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "entropy_kl_noise.png"), dpi=110)
    plt.close(fig)
    return table


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="Hopper-v5")
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--eval-episodes", type=int, default=10)
    add_study_arguments(parser, "bench/results/ablations", "2 variants x 2 short iterations, small check")
    args = parser.parse_args(argv)

    variants, iterations, overrides, env_kwargs, eval_episodes = (args.variants, args.iterations, {}, {},
                                                                  args.eval_episodes)
    if args.smoke:
        variants, iterations, eval_episodes = ["default", "learned_stored_ent0.01"], 2, 2
        overrides, env_kwargs = {"num_envs": 2, "num_steps_per_env": 16}, {"max_episode_steps": 20}
    os.makedirs(args.out, exist_ok=True)

    check = entropy_gradient_check(batches=(64, 256) if args.smoke else (256, 1024, 4096, 16384),
                                   ascent_steps=3 if args.smoke else 20, repeats=1 if args.smoke else 4)
    lines = [f"closed_form entropy with a fixed base has a gradient: {check['closed_form_fixed_requires_grad']}",
             "stored_samples gradient norm at the rollout policy (zero in expectation: norm x sqrt(batch) ~ const):"]
    lines += [f"  batch {c['batch']:6d}: |grad| = {c['grad_norm']:.4g}, |grad| x sqrt(batch) = "
              f"{c['grad_norm_x_sqrt_batch']:.3g}" for c in check["stored_samples"]]
    lines.append("KL(pi_old || pi) while ascending the stored_samples term alone (Adam, lr 1e-3): "
                 + ", ".join(f"{k:.2e}" for k in check["ascent_kl"][:: max(1, len(check["ascent_kl"]) // 5)]))
    print("\n".join(lines))

    jobs = []
    for seed in args.seeds:
        for variant in variants:
            group, algo, variant_overrides = VARIANTS[variant]
            merged = {**variant_overrides, **overrides}
            jobs.append({"variant": variant, "task": args.task, "algo": algo, "seed": seed, "iterations": iterations,
                         "overrides": merged, "env_kwargs": env_kwargs, "eval_episodes": eval_episodes,
                         "path": os.path.join(args.out, "runs", f"{args.task}__{variant}__seed{seed}__it{iterations}"
                                              ".json")})
    jobs, results, trained = run_study(train_and_evaluate, jobs, 1 if args.smoke else args.jobs, args.report_only)
    for job, result in zip(jobs, results):
        result["variant"] = job["variant"]
    table = report(results, variants, args.task, args.out)
    print(table)
    save_json({"task": args.task, "iterations": iterations, "seeds": args.seeds, "table": table,
               "entropy_check": check, "runs": [{k: r[k] for k in ("variant", "seed", "eval", "train_last10",
                                                                   "train_s")} for r in results]},
              os.path.join(args.out, "summary.json"))
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table + "\n\n```\n" + "\n".join(lines) + "\n```\n")
    print(f"{trained} run(s) trained, {len(jobs) - trained} read back; wrote {args.out}/summary.json, "
          "table.md, curves.png, entropy_kl_noise.png")
    return {"results": results, "trained": trained, "table": table, "entropy_check": check}


if __name__ == "__main__":
    main()
