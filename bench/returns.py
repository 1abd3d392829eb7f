"""Returns at equal budget: GenPO vs rsl_rl's Gaussian PPO on MuJoCo, same runner, env, steps, seeds and networks.

Every algorithm gets exactly the settings of genpo_rsl.train_config for the task (only the policy differs), so the
comparison is fair by construction. Algorithms ("--algos"):
  * ppo              rsl_rl's Gaussian PPO;
  * genpo            GenPO with the coupled flow and the paper's fixed N(0, I) base;
  * genpo_multistep  GenPO with the multistep flow (policy field flow="multistep"), fixed base;
  * genpo_learned_sigma  coupled GenPO with a learned state-independent noise scale (noise_scale="learned");
  * genpo_state_sigma    coupled GenPO with a state-dependent noise scale (noise_scale="state"), the package's
                         MuJoCo default since this study (the names above pin what each run measured).
  * genpo_state_sigma_head  the MuJoCo default with the observation encoded once and a [64, 64] velocity head
                         per flow step (policy field head_dims), the cost issue's learning check.
Per (task, algo, seed) run we keep:
  * the learning curve: mean return of the last num_envs finished training episodes, vs env steps and vs wall time;
  * "eval": the mean undiscounted return of --eval-episodes deterministic episodes after training
    (genpo_rsl.runner.evaluate: GenPO at zero noise, PPO at its mean, raw rewards) -- the headline score;
  * "train_last10": the mean return of the training episodes finished in the last 10 % of iterations (stochastic;
    CleanRL's published numbers are of this kind).

    python bench/returns.py --jobs 2                 # 3 tasks x 3 algos x 3 seeds at 1M env steps
    python bench/returns.py --tasks Hopper-v5 --seeds 0 --env-steps 200000 --algos ppo genpo
    python bench/returns.py --report-only            # tables and plots from the finished runs
    python bench/returns.py --smoke --out /tmp/r     # seconds; exercised by the test suite

Runs start in order: every PPO run first, then coupled GenPO, then the multistep flow, then any --variants (on
--variants-on); within an algorithm seed-major, so a study cut short has whole seeds. Each run is its own process
(one torch thread), so a run reads the package's code as it is when the run starts. A finished run is written to
OUT/runs/<task>__<algo>__seed<s>__it<n>.json atomically and read back on a rerun; an unfinished run keeps a checkpoint
(<run>.json.partial.pt, every 25 iterations: weights, optimiser, RNG, the reward normaliser's statistics, records) and
continues from there. An interrupted study therefore resumes by running the same command again. OUT defaults to
docs/results/returns, so finished runs are committed with the report and a study spread over several machines
(sessions) keeps them; the checkpoints are git-ignored. A run that fails is
reported and skipped (the next command retries it). The report (summary.json, table.md, plots) is rewritten in
--report-dir after every finished run.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
import traceback

import numpy as np

from common_plots import episode_curve, fmt, markdown_table, mean_std, plot_band, pyplot
from harness import add_study_arguments, run_cached, run_study, save_json, strip_runtime, train_and_record

TASKS = ["Hopper-v5", "Walker2d-v5", "HalfCheetah-v5"]  # Ant-v5 / Humanoid-v5 on request (--tasks)
# name -> (rsl_rl algorithm, policy (flow) fields it sets). "flow" is the policy field that picks GenPO's flow.
ALGOS: dict[str, tuple[str, dict]] = {
    "ppo": ("ppo", {}),
    "genpo": ("genpo", {"flow": "coupled", "noise_scale": "fixed"}),
    "genpo_multistep": ("genpo", {"flow": "multistep", "noise_scale": "fixed"}),
    "genpo_learned_sigma": ("genpo", {"flow": "coupled", "noise_scale": "learned"}),
    "genpo_state_sigma": ("genpo", {"flow": "coupled", "noise_scale": "state"}),
    # The MuJoCo default with the observation encoded once (the [256, 256] trunk) and a [64, 64] head per flow step.
    "genpo_state_sigma_head": ("genpo", {"flow": "coupled", "noise_scale": "state", "head_dims": [64, 64]}),
}
DEFAULT_ALGOS = ["ppo", "genpo", "genpo_multistep"]
LABELS = {"ppo": "PPO (Gaussian)", "genpo": "GenPO (coupled, fixed base)", "genpo_multistep": "GenPO (multistep)",
          "genpo_learned_sigma": "GenPO (learned sigma)", "genpo_state_sigma": "GenPO (state sigma)",
          "genpo_state_sigma_head": "GenPO (state sigma, encode once, head [64, 64])"}
COLORS = {"ppo": "C0", "genpo": "C1", "genpo_multistep": "C2", "genpo_learned_sigma": "C3", "genpo_state_sigma": "C4",
          "genpo_state_sigma_head": "C5"}
# CleanRL ppo_continuous_action at 1M env steps (v4 tasks, 3 seeds, training episodic return), the target.
CLEANRL_1M = {"HalfCheetah-v5": 1442.64, "Hopper-v5": 2382.86, "Walker2d-v5": 2287.95, "Humanoid-v5": 716.11}


def flow_fields(algo: str) -> dict:
    """The policy fields ``algo`` sets."""
    return dict(ALGOS[algo][1])


def flow_available(algo: str) -> bool:
    """Whether the installed package has the flow ``algo`` names (its registered flows)."""
    from genpo_rsl.config import FLOW_DEFAULTS
    from genpo_rsl.flow import FLOWS

    return ALGOS[algo][1].get("flow", FLOW_DEFAULTS["flow"]) in FLOWS


def code_state() -> dict:
    """Which code a run used: the commit and the package files that differed from it when the run started."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    status = git("status", "--porcelain", "--", "genpo_rsl", "bench")
    return {"commit": git("rev-parse", "HEAD").strip(), "uncommitted": porcelain_paths(status)}


def porcelain_paths(status: str) -> list[str]:
    """The paths of `git status --porcelain` lines ("XY path"). The status columns may be blank, so the text is
    not stripped first: that ate the first path's first letter (runs recorded "ench/demos.py")."""
    return [line[3:] for line in status.splitlines() if len(line) > 3]


def run_one(job: dict) -> dict:
    def compute() -> dict:
        from genpo_rsl.runner import evaluate

        rsl_algo, _ = ALGOS[job["algo"]]
        overrides = dict(job["overrides"])
        if rsl_algo == "genpo":
            overrides["flow"] = {**overrides.get("flow", {}), **flow_fields(job["algo"])}
        result = train_and_record(job["task"], rsl_algo, job["seed"], overrides=overrides,
                                  iterations=job["iterations"], threads=1, env_kwargs=job["env_kwargs"],
                                  resume_path=partial_path)
        result["algo"] = job["algo"]
        result["code"] = code_state()
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
        out["records"] = [{k: r[k] for k in ("iteration", "env_steps", "elapsed_s", "wall_s", "update_s", "episodes",
                                             "learning_rate")}
                          | {"kl": r["losses"].get("kl"), "noise_scale": r["losses"].get("noise_scale")}
                          for r in records]
        out.update(episode_returns=episode_returns, eval=evaluation, eval_s=eval_s,
                   train_last10=float(np.mean(episode_returns[-tail_count:])) if tail_count else float("nan"),
                   train_s=float(records[-1]["elapsed_s"]), iterations=len(records),
                   env_steps=int(records[-1]["env_steps"]))
        return out

    partial_path = job["path"] + ".partial.pt"  # the unfinished run's checkpoint, every 25 iterations
    try:
        result, _ = run_cached(job["path"], compute)
    except Exception:  # one broken run must not stop a study of hours; the checkpoint stays for the retry
        return {"task": job["task"], "algo": job["algo"], "seed": job["seed"], "error": traceback.format_exc()}
    if os.path.isfile(partial_path):
        os.remove(partial_path)
    return result


def curves(run: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    records = run["records"]
    y = episode_curve([r["episodes"] for r in records], run["episode_returns"], run["settings"]["num_envs"])
    return (np.array([r["env_steps"] for r in records], dtype=float),
            np.array([r["elapsed_s"] for r in records], dtype=float), y)


def time_to_reach(run: dict, target: float) -> float | None:
    """Training wall time (s) at which the run's training curve first reaches ``target``; None if it never does."""
    _, seconds, y = curves(run)
    hit = np.nonzero(np.nan_to_num(y, nan=-np.inf) >= target)[0]
    return float(seconds[hit[0]]) if hit.size else None


def reach_cell(runs: list[dict], target: float) -> str:
    times = [time_to_reach(r, target) for r in runs]
    reached = [t for t in times if t is not None]
    if not reached:
        return f"not reached (0/{len(runs)})"
    return f"{np.mean(reached):.0f} s ({len(reached)}/{len(runs)})"


def report(results: list[dict], tasks: list[str], algos: list[str], out: str) -> tuple[str, list[str]]:
    """Table, verdict lines and plots of the finished runs; returns (markdown table, verdict lines)."""
    plt = pyplot()
    rows, verdicts, shown = [], [], []
    for task in tasks:
        by_algo = {a: [r for r in results if r["task"] == task and r["algo"] == a] for a in algos}
        by_algo = {a: runs for a, runs in by_algo.items() if runs}
        if not by_algo:
            continue
        shown.append(task)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for algo, runs in by_algo.items():
            data = [curves(r) for r in runs]
            label = f"{LABELS[algo]} ({len(runs)} seeds)"
            plot_band(axes[0], [d[0] for d in data], [d[2] for d in data], label, COLORS[algo])
            plot_band(axes[1], [d[1] for d in data], [d[2] for d in data], label, COLORS[algo])
        axes[0].set_xlabel("env steps")
        axes[1].set_xlabel("training wall time (s, one thread)")
        for ax in axes:
            ax.set_ylabel("training episode return")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"{task}: mean +- std over seeds", fontsize=10)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"curve_{task}.png"), dpi=110)
        plt.close(fig)

        ppo = by_algo.get("ppo", [])
        target = mean_std([r["train_last10"] for r in ppo])[0] if ppo else None
        for algo, runs in by_algo.items():
            steps = sorted({r["env_steps"] for r in runs})
            rows.append([task, algo, "/".join(f"{s:,}" for s in steps), len(runs),
                         fmt([r["eval"]["mean"] for r in runs]), fmt([r["train_last10"] for r in runs]),
                         f"{mean_std([r['train_s'] for r in runs])[0]:.0f}",
                         reach_cell(runs, target) if target is not None else "n/a"])
        if ppo and task in CLEANRL_1M:
            ppo_eval, ppo_train = mean_std([r["eval"]["mean"] for r in ppo])[0], target
            verdicts.append(f"{task}: PPO eval {ppo_eval:.0f} / train {ppo_train:.0f} = "
                            f"{ppo_eval / CLEANRL_1M[task]:.0%} / {ppo_train / CLEANRL_1M[task]:.0%} of CleanRL's 1M {CLEANRL_1M[task]:.0f} "
                            f"({len(ppo)} seeds)")
        for algo, runs in by_algo.items():
            if algo != "ppo" and ppo:
                mine = mean_std([r["eval"]["mean"] for r in runs])[0]
                theirs = mean_std([r["eval"]["mean"] for r in ppo])[0]
                verdicts.append(f"{task}: {algo} eval {mine:.0f} {'>=' if mine >= theirs else '<'} PPO {theirs:.0f} "
                                f"({len(runs)} vs {len(ppo)} seeds)")
    table = markdown_table(["task", "algo", "env steps", "seeds", "eval (deterministic)", "train (last 10%)",
                            "train s", "time to PPO's final train return"], rows)

    if shown:
        fig, axes = plt.subplots(1, len(shown), figsize=(2.2 + 1.2 * len(algos) * len(shown) / 2, 3.0),
                                 squeeze=False)
        for ax, task in zip(axes[0], shown):
            present = [a for a in algos if any(r["task"] == task and r["algo"] == a for r in results)]
            for i, algo in enumerate(present):
                vals = [r["eval"]["mean"] for r in results if r["task"] == task and r["algo"] == algo]
                mean, std = mean_std(vals)
                ax.bar(i, mean, yerr=std, color=COLORS[algo], capsize=4)
                ax.scatter([i] * len(vals), vals, color="k", s=8, zorder=3)
            if task in CLEANRL_1M:
                ax.axhline(CLEANRL_1M[task], color="gray", ls="--", lw=1)
            ax.set_xticks(range(len(present)), [LABELS[a].replace(" (", "\n(") for a in present], fontsize=6)
            ax.set_title(task, fontsize=9)
        axes[0][0].set_ylabel("deterministic eval return (dashed: CleanRL 1M)")
        fig.tight_layout()
        fig.savefig(os.path.join(out, "summary.png"), dpi=110)
        plt.close(fig)
    return table, verdicts


def write_report(results: list[dict], tasks: list[str], algos: list[str], out: str,
                 failed: list[dict]) -> tuple[str, str, list[str]]:
    """Write summary.json, table.md and the plots of the finished runs to ``out``; (cost line, table, verdicts)."""
    os.makedirs(out, exist_ok=True)
    table, verdicts = report(results, tasks, algos, out)
    # What the study cost: each run is one single-threaded process, so its seconds are core-seconds.
    core_hours = {a: sum(r["train_s"] + r.get("eval_s", 0.0) for r in results if r["algo"] == a) / 3600
                  for a in algos}
    cost = (f"compute: {sum(core_hours.values()):.2f} core-hours in {len(results)} finished runs ("
            + ", ".join(f"{a} {h:.2f}" for a, h in core_hours.items())
            + "; training plus evaluation, one thread per run)")
    save_json({"table": table, "verdicts": verdicts, "cost": cost, "core_hours": core_hours,
               "machine": platform.platform(), "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
               "failed": [{k: f[k] for k in ("task", "algo", "seed")} for f in failed],
               "runs": [{"task": r["task"], "algo": r["algo"], "seed": r["seed"],
                         "env_steps": r.get("env_steps", r["records"][-1]["env_steps"]),
                         "iterations": r["iterations"], "eval": {k: r["eval"][k] for k in ("mean", "std",
                                                                                          "num_episodes")},
                         "train_last10": r["train_last10"], "train_s": r["train_s"], "eval_s": r.get("eval_s"),
                         "settings": r["settings"]}
                        for r in results]}, os.path.join(out, "summary.json"))
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table + "\n\n" + "\n".join(verdicts) + "\n\n" + cost + "\n")
    return cost, table, verdicts


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument("--algos", nargs="+", default=DEFAULT_ALGOS, choices=sorted(ALGOS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--env-steps", type=int, default=1_000_000,
                        help="env steps per run, rounded up to whole iterations (default 1M)")
    parser.add_argument("--iterations", type=int, default=None, help="iterations per run instead of --env-steps")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--variants", nargs="*", default=[], choices=sorted(ALGOS),
                        help="extra algorithms run after all others, on --variants-on only")
    parser.add_argument("--variants-on", nargs="+", default=["Hopper-v5"])
    parser.add_argument("--report-dir", default=None, help="where summary.json, table.md and plots go (default --out)")
    parser.add_argument("--retries", type=int, default=3,
                        help="rounds of retrying failed runs (e.g. code mid-edit when a run started), after the queue")
    parser.add_argument("--retry-wait", type=float, default=600.0, help="seconds before each retry round")
    add_study_arguments(parser, "docs/results/returns", "1 task x every available algo x 1 seed x 2 iterations")
    args = parser.parse_args(argv)
    from genpo_rsl.train_config import task_settings

    tasks, seeds, algos, overrides, env_kwargs = args.tasks, args.seeds, list(args.algos), {}, {}
    eval_episodes, report_dir = args.eval_episodes, args.report_dir or args.out
    if args.smoke:
        tasks, seeds, eval_episodes = ["HalfCheetah-v5"], [0], 2
        algos = [a for a in algos if flow_available(a)]  # a flow not in this checkout yet cannot be smoke-tested
        overrides, env_kwargs = {"num_envs": 2, "num_steps_per_env": 16}, {"max_episode_steps": 20}
    plan = [(algo, task) for algo in algos for task in tasks]
    plan += [(algo, task) for algo in args.variants if algo not in algos for task in args.variants_on]

    def iterations_for(task: str) -> int:
        if args.smoke:
            return 2
        if args.iterations:
            return args.iterations
        settings = task_settings(task)
        return math.ceil(args.env_steps / (settings["num_envs"] * settings["num_steps_per_env"]))

    jobs = []
    # Algorithm-major (PPO first), then seed-major within an algorithm, then task.
    order = list(dict.fromkeys(a for a, _ in plan))
    for algo in order:
        for seed in seeds:
            for task in [t for a, t in plan if a == algo]:
                iterations = iterations_for(task)
                name = f"{task.replace('/', '_')}__{algo}__seed{seed}__it{iterations}.json"
                jobs.append({"task": task, "algo": algo, "seed": seed, "iterations": iterations,
                             "overrides": overrides, "env_kwargs": env_kwargs, "eval_episodes": eval_episodes,
                             "path": os.path.join(args.out, "runs", name)})
    all_algos = order
    all_tasks = list(dict.fromkeys(t for _, t in plan))
    failed: list[dict] = []

    def finished_runs() -> list[dict]:
        import json

        runs = []
        for job in jobs:
            if os.path.isfile(job["path"]):
                with open(job["path"]) as f:
                    runs.append(json.load(f))
        return runs

    def on_done(job: dict, result: dict) -> None:
        if "error" in result:
            failed.append(result)
            print(f"FAILED {job['task']} {job['algo']} seed {job['seed']}:\n{result['error']}", flush=True)
            return
        cost = write_report(finished_runs(), all_tasks, all_algos, report_dir, failed)[0]
        print(f"{time.strftime('%H:%M:%S')} finished {job['task']} {job['algo']} seed {job['seed']}: eval "
              f"{result['eval']['mean']:.1f}, train {result['train_s'] / 60:.1f} min; {cost}", flush=True)

    finished_before = {j["path"] for j in jobs if os.path.isfile(j["path"])}
    todo = len(jobs) - len(finished_before)
    if not args.report_only:
        print(f"{len(jobs)} runs, {todo} to train, {max(1, args.jobs)} at a time", flush=True)
    jobs, results, trained = run_study(run_one, jobs, 1 if args.smoke else args.jobs, args.report_only,
                                       fresh_process=not args.smoke, on_done=on_done)
    for _ in range(0 if args.smoke or args.report_only else args.retries):
        if not any("error" in r for r in results):
            break
        print(f"{sum('error' in r for r in results)} run(s) failed; retrying them in {args.retry_wait:.0f} s", flush=True)
        time.sleep(args.retry_wait)
        retry = [j for j, r in zip(jobs, results) if "error" in r]
        _, again, _ = run_study(run_one, retry, args.jobs, fresh_process=True, on_done=on_done)
        fixed = dict(zip(map(id, retry), again))
        results = [fixed.get(id(j), r) for j, r in zip(jobs, results)]
    failed = [r for r in results if "error" in r]
    results = [r for r in results if "error" not in r]
    trained = sum(1 for j in jobs if os.path.isfile(j["path"]) and j["path"] not in finished_before)
    cost, table, verdicts = write_report(results, all_tasks, all_algos, report_dir, failed)
    print(table)
    print("\n".join(verdicts))
    print(cost)
    if failed:
        print(f"{len(failed)} run(s) failed: " + ", ".join(f"{f['task']} {f['algo']} seed {f['seed']}" for f in failed)
              + "; rerun the same command to retry them")
    print(f"{trained} run(s) trained, {len(jobs) - trained} read back; wrote {report_dir}/summary.json, "
          "table.md, summary.png, curve_<task>.png")
    return {"results": results, "trained": trained, "table": table, "verdicts": verdicts, "failed": failed}


if __name__ == "__main__":
    main()
