"""Returns at equal budget: GenPO vs rsl_rl's Gaussian PPO on MuJoCo, same runner, env, steps, seeds and networks.

Both algorithms get exactly the settings of genpo_rsl.train_config for the task (the only difference is the policy),
so the comparison is fair by construction. Per (task, algo, seed) run we keep:
  * the learning curve: mean return of the last num_envs finished training episodes, vs env steps and vs wall time;
  * "eval": the mean undiscounted return of --eval-episodes deterministic episodes after training
    (genpo_rsl.runner.evaluate: GenPO at zero noise, PPO at its mean) -- the headline score;
  * "train_last10": the mean return of the training episodes finished in the last 10 % of iterations (stochastic).

    python bench/returns.py                                  # 5 tasks x 2 algos x 3 seeds, the tasks' budgets
    python bench/returns.py --tasks Hopper-v5 --seeds 0 --iterations 100
    python bench/returns.py --smoke                          # seconds; exercised by the test suite

Each run writes OUT/runs/<task>__<algo>__seed<s>__it<n>.json atomically when it finishes; a rerun reads finished
runs back instead of retraining, so an interrupted study resumes by running the same command again. An unfinished
run keeps a checkpoint next to it (<run>.json.partial.pt, every 25 iterations) and continues from there.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from common_plots import episode_curve, fmt, markdown_table, mean_std, plot_band, pyplot
from harness import add_study_arguments, run_cached, run_study, save_json, strip_runtime, train_and_record

TASKS = ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5"]
ALGOS = ("ppo", "genpo")
COLORS = {"ppo": "C0", "genpo": "C1"}


def run_one(job: dict) -> dict:
    def compute() -> dict:
        from genpo_rsl.runner import evaluate

        result = train_and_record(job["task"], job["algo"], job["seed"], overrides=job["overrides"],
                                  iterations=job["iterations"], threads=1, env_kwargs=job["env_kwargs"],
                                  resume_path=partial_path)
        env = result["env"]
        episode_returns = list(env.episode_returns)  # copied before evaluation adds its own episodes
        records = result["records"]
        start = time.perf_counter()
        evaluation = evaluate(result["runner"], job["eval_episodes"], deterministic=True)
        eval_s = time.perf_counter() - start
        env.close()
        tail_from = len(records) - max(1, len(records) // 10)
        tail_count = sum(r["episodes"] for r in records[tail_from:])
        out = strip_runtime(result)
        # Keep the JSON small: the curve needs per-iteration steps, time and episode counts, not every loss.
        out["records"] = [{k: r[k] for k in ("iteration", "env_steps", "elapsed_s", "wall_s", "update_s", "episodes")}
                          | {"kl": r["losses"].get("kl"), "noise_scale": r["losses"].get("noise_scale")}
                          for r in records]
        out.update(episode_returns=episode_returns, eval=evaluation, eval_s=eval_s,
                   train_last10=float(np.mean(episode_returns[-tail_count:])) if tail_count else float("nan"),
                   train_s=float(records[-1]["elapsed_s"]), iterations=len(records))
        return out

    partial_path = job["path"] + ".partial.pt"  # the unfinished run's checkpoint, every 25 iterations
    result, _ = run_cached(job["path"], compute)
    if os.path.isfile(partial_path):
        os.remove(partial_path)
    return result


def curves(run: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    records = run["records"]
    y = episode_curve([r["episodes"] for r in records], run["episode_returns"], run["settings"]["num_envs"])
    return (np.array([r["env_steps"] for r in records], dtype=float),
            np.array([r["elapsed_s"] for r in records], dtype=float), y)


def report(results: list[dict], tasks: list[str], out: str) -> tuple[str, dict]:
    plt = pyplot()
    rows, wins = [], {}
    for task in tasks:
        by_algo = {a: [r for r in results if r["task"] == task and r["algo"] == a] for a in ALGOS}
        if not all(by_algo.values()):
            continue
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for algo, runs in by_algo.items():
            data = [curves(r) for r in runs]
            label = f"{'GenPO' if algo == 'genpo' else 'PPO (Gaussian)'} ({len(runs)} seeds)"
            plot_band(axes[0], [d[0] for d in data], [d[2] for d in data], label, COLORS[algo])
            plot_band(axes[1], [d[1] for d in data], [d[2] for d in data], label, COLORS[algo])
        axes[0].set_xlabel("env steps")
        axes[1].set_xlabel("training wall time (s)")
        for ax in axes:
            ax.set_ylabel("training episode return")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"{task}: mean +- std over seeds", fontsize=10)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"curve_{task}.png"), dpi=110)
        plt.close(fig)

        ev = {a: [r["eval"]["mean"] for r in runs] for a, runs in by_algo.items()}
        tail = {a: [r["train_last10"] for r in runs] for a, runs in by_algo.items()}
        secs = {a: mean_std([r["train_s"] for r in runs])[0] for a, runs in by_algo.items()}
        wins[task] = mean_std(ev["genpo"])[0] >= mean_std(ev["ppo"])[0]
        steps = by_algo["ppo"][0]["records"][-1]["env_steps"]
        rows.append([task, f"{steps:,}", len(by_algo["ppo"]), fmt(ev["ppo"]), fmt(ev["genpo"]), fmt(tail["ppo"]),
                     fmt(tail["genpo"]), f"{secs['ppo']:.0f} / {secs['genpo']:.0f}",
                     "GenPO" if wins[task] else "PPO"])
    table = markdown_table(["task", "env steps", "seeds", "PPO eval", "GenPO eval", "PPO train (last 10%)",
                            "GenPO train (last 10%)", "train s PPO / GenPO", "higher eval"], rows)

    shown = [t for t in tasks if t in wins]
    if shown:
        fig, axes = plt.subplots(1, len(shown), figsize=(2.6 * len(shown), 3.0), squeeze=False)
        for ax, task in zip(axes[0], shown):
            for i, algo in enumerate(ALGOS):
                vals = [r["eval"]["mean"] for r in results if r["task"] == task and r["algo"] == algo]
                mean, std = mean_std(vals)
                ax.bar(i, mean, yerr=std, color=COLORS[algo], capsize=4)
                ax.scatter([i] * len(vals), vals, color="k", s=8, zorder=3)
            ax.set_xticks([0, 1], ["PPO", "GenPO"])
            ax.set_title(task, fontsize=9)
        axes[0][0].set_ylabel("deterministic eval return")
        fig.tight_layout()
        fig.savefig(os.path.join(out, "summary.png"), dpi=110)
        plt.close(fig)
    return table, wins


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=None, help="default: each task's max_iterations")
    parser.add_argument("--eval-episodes", type=int, default=10)
    add_study_arguments(parser, "bench/results/returns", "1 task x 2 algos x 1 seed x 2 short iterations")
    args = parser.parse_args(argv)
    from genpo_rsl.train_config import task_settings

    tasks, seeds, overrides, env_kwargs, eval_episodes = args.tasks, args.seeds, {}, {}, args.eval_episodes
    if args.smoke:
        tasks, seeds, eval_episodes = ["HalfCheetah-v5"], [0], 2
        overrides, env_kwargs = {"num_envs": 2, "num_steps_per_env": 16}, {"max_episode_steps": 20}
    jobs = []
    # Seed-major order: if the study is cut short, every task has the same seeds finished.
    for seed in seeds:
        for task in tasks:
            iterations = 2 if args.smoke else (args.iterations or task_settings(task)["max_iterations"])
            for algo in ALGOS:
                jobs.append({"task": task, "algo": algo, "seed": seed, "iterations": iterations,
                             "overrides": overrides, "env_kwargs": env_kwargs, "eval_episodes": eval_episodes,
                             "path": os.path.join(args.out, "runs",
                                                  f"{task.replace('/', '_')}__{algo}__seed{seed}__it{iterations}.json")})
    jobs, results, trained = run_study(run_one, jobs, 1 if args.smoke else args.jobs, args.report_only)
    os.makedirs(args.out, exist_ok=True)
    table, wins = report(results, tasks, args.out)
    verdict = f"GenPO >= PPO (deterministic eval, mean over seeds) on {sum(wins.values())} of {len(wins)} tasks"
    # What the study cost: each run is one single-threaded process, so its seconds are core-seconds.
    core_hours = {a: sum(r["train_s"] + r.get("eval_s", 0.0) for r in results if r["algo"] == a) / 3600
                  for a in ALGOS}
    cost = (f"compute: {sum(core_hours.values()):.2f} core-hours in {len(results)} runs (PPO {core_hours['ppo']:.2f}, "
            f"GenPO {core_hours['genpo']:.2f}; training plus evaluation, one thread per run)")
    print(table)
    print(verdict)
    print(cost)
    save_json({"table": table, "verdict": verdict, "cost": cost, "wins": wins, "machine": platform.platform(),
               "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
               "runs": [{k: r[k] for k in ("task", "algo", "seed", "iterations", "eval", "train_last10", "train_s")}
                        for r in results]}, os.path.join(args.out, "summary.json"))
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table + "\n\n" + verdict + "\n" + cost + "\n")
    print(f"{trained} run(s) trained, {len(jobs) - trained} read back; wrote {args.out}/summary.json, "
          "table.md, summary.png, curve_<task>.png")
    return {"results": results, "trained": trained, "table": table, "wins": wins}


if __name__ == "__main__":
    main()
