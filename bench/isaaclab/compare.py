"""GenPO vs rsl_rl's Gaussian PPO on the GenPO paper's eight IsaacLab tasks, through IsaacLab's stock scripts.

Needs a machine with Isaac Sim, IsaacLab and a GPU, with genpo-rsl installed into IsaacLab's Python (``isaaclab.sh -p
-m pip install -e <this repo>``). Every (task, algorithm, seed) run is one launch of IsaacLab's own training script
with the same ``--seed``, ``--max_iterations`` and ``--num_envs`` (headless); the only difference between the two
algorithms is ``--agent genpo`` (GenPO's config: the task's own rsl_rl config with GenPO's policy and the paper's
settings, see isaaclab_tasks_ext/tuned.py) versus the default agent (the task's stock rsl_rl PPO config). Without
``--max_iterations``/``--num_envs`` both use the task's own values, which GenPO's config keeps, so budgets are still
equal (same envs, steps per env and iterations).

    python bench/isaaclab/compare.py --isaaclab ~/IsaacLab --seeds 0 1 2                   # IsaacLab 2.3.x
    python bench/isaaclab/compare.py --isaaclab ~/IsaacLab --isaaclab-version 3 --seeds 0  # IsaacLab 3.x CLI
    python bench/isaaclab/compare.py --isaaclab ~/IsaacLab --max_iterations 300 --dry-run  # print the commands
    python bench/isaaclab/compare.py --from-logs bench/results/isaaclab/runs               # table + plots only

Runs go to ``<out>/runs/<task>/<algo>/seed<seed>/`` (each launch's working directory, so IsaacLab writes
``logs/rsl_rl/<experiment>/<time stamp>/`` there, with its stdout in ``train.log``); a run that finished (``done``
marker) is not launched again. ``--from-logs DIR`` reads a folder of that layout -- logs of runs made any other way
can be linked into it -- and builds the results without launching anything.

Results: ``<out>/results.md`` and ``<out>/results.json`` (per task and algorithm: the final training return, mean +-
std over seeds; per run: the whole curve) and learning curves ``<out>/curves/<task>.png`` plus ``curves/all.png``.
The metric is rsl_rl's tensorboard scalar ``Train/mean_reward`` (mean return of the last 100 finished training
episodes, stochastic policy), one point per iteration; "final" averages it over the last 10% of the iterations.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
for _entry in (str(REPO_ROOT), str(HERE.parent)):  # the project (task list) and bench/ (shared plotting helpers)
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

from isaaclab_tasks_ext.tuned import ISAACLAB3_TASK_IDS, PAPER_TASKS  # noqa: E402

ALGOS = ("genpo", "ppo")
LABELS = {"genpo": "GenPO", "ppo": "PPO (Gaussian)"}
COLORS = {"genpo": "tab:red", "ppo": "tab:blue"}
TAG = "Train/mean_reward"
FINAL_FRACTION = 0.1
DONE = "done"


# ---------------------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------------------

def task_id_for(task: str, isaaclab_version: int) -> str | None:
    """The id IsaacLab of that major version registers for a paper task (IsaacLab 3.0 renamed them)."""
    return task if isaaclab_version == 2 else ISAACLAB3_TASK_IDS[task]


def launcher(isaaclab: Path | None, isaaclab_version: int) -> list[str]:
    """The stock training entry point: 2.3.x ``isaaclab.sh -p .../rsl_rl/train.py``; 3.x ``isaaclab train``."""
    if isaaclab_version == 3:
        return ["isaaclab", "train", "--rl_library", "rsl_rl"]
    if isaaclab is None:
        raise SystemExit("error: --isaaclab DIR (the IsaacLab 2.3.x checkout holding isaaclab.sh) is required")
    return [str(isaaclab / "isaaclab.sh"), "-p", str(isaaclab / "scripts" / "reinforcement_learning" / "rsl_rl" /
                                                     "train.py")]


def run_dir(runs: Path, task: str, algo: str, seed: int) -> Path:
    return runs / task / algo / f"seed{seed}"


def plan(args) -> list[dict]:
    """One entry per (task, algo, seed): its working directory and the command launched there."""
    base = launcher(args.isaaclab, args.isaaclab_version)
    jobs = []
    for task in args.tasks:
        task_id = task_id_for(task, args.isaaclab_version)
        if task_id is None:
            print(f"[compare] skipping {task}: IsaacLab {args.isaaclab_version}.x has no such task", file=sys.stderr)
            continue
        for seed in args.seeds:
            for algo in ALGOS:
                cmd = [*base, "--task", task_id, "--seed", str(seed)]
                if algo == "genpo":
                    cmd += ["--agent", "genpo"]
                if args.max_iterations is not None:
                    cmd += ["--max_iterations", str(args.max_iterations)]
                if args.num_envs is not None:
                    cmd += ["--num_envs", str(args.num_envs)]
                if args.isaaclab_version == 2:
                    cmd.append("--headless")  # AppLauncher's flag; IsaacLab 3.x's CLI is headless unless --viz
                cmd += args.extra_arg
                jobs.append({"task": task, "algo": algo, "seed": seed, "cwd": run_dir(args.runs, task, algo, seed),
                             "cmd": cmd})
    return jobs


def launch(jobs: list[dict]) -> list[dict]:
    """Run the jobs one after the other (one GPU); returns the failed ones. Finished runs are skipped."""
    failed = []
    for i, job in enumerate(jobs, 1):
        cwd = job["cwd"]
        if (cwd / DONE).is_file():
            print(f"[compare] {i}/{len(jobs)} done already: {cwd}")
            continue
        cwd.mkdir(parents=True, exist_ok=True)
        print(f"[compare] {i}/{len(jobs)} {job['task']} {job['algo']} seed {job['seed']}", flush=True)
        with open(cwd / "train.log", "w") as log:
            code = subprocess.run(job["cmd"], cwd=cwd, stdout=log, stderr=subprocess.STDOUT).returncode
        if code == 0:
            (cwd / DONE).write_text(shlex.join(job["cmd"]) + "\n")
        else:
            print(f"[compare]   failed with exit code {code}; see {cwd / 'train.log'}", file=sys.stderr)
            failed.append({**job, "exit_code": code})
    return failed


# ---------------------------------------------------------------------------------------------------------------
# Reading tensorboard logs
# ---------------------------------------------------------------------------------------------------------------

def latest_run_logs(seed_dir: Path) -> Path | None:
    """The folder of the newest run under ``seed_dir`` that has a tensorboard event file (IsaacLab names run folders
    by time stamp, so a relaunch after a crash sorts last)."""
    folders = sorted({p.parent for p in seed_dir.rglob("events.out.tfevents.*")}, key=lambda p: (p.name, str(p)))
    return folders[-1] if folders else None


def read_curve(log_dir: Path, tag: str = TAG) -> tuple[np.ndarray, np.ndarray]:
    """(iterations, values) of one scalar from the event files in ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    if tag not in acc.Tags()["scalars"]:
        raise ValueError(f"{log_dir}: no scalar {tag!r} in its event files (found {sorted(acc.Tags()['scalars'])})")
    events = sorted(acc.Scalars(tag), key=lambda e: e.step)
    return np.array([e.step for e in events], dtype=np.int64), np.array([e.value for e in events], dtype=np.float64)


def final_value(values: np.ndarray, fraction: float = FINAL_FRACTION) -> float:
    """Mean over the last ``fraction`` of the points (at least one)."""
    count = max(1, int(round(len(values) * fraction)))
    return float(values[-count:].mean())


def collect(runs: Path, tasks, seeds=None) -> dict:
    """Every run found under ``runs/<task>/<algo>/seed<N>/``: its curve, final and best values; plus what is missing."""
    results, missing = {}, []
    for task in tasks:
        for algo in ALGOS:
            algo_dir = runs / task / algo
            seed_dirs = sorted(algo_dir.glob("seed*")) if seeds is None else [algo_dir / f"seed{s}" for s in seeds]
            for seed_dir in seed_dirs:
                log_dir = latest_run_logs(seed_dir) if seed_dir.is_dir() else None
                if log_dir is None:
                    missing.append(str(seed_dir))
                    continue
                steps, values = read_curve(log_dir)
                if len(values) == 0:
                    missing.append(str(seed_dir))
                    continue
                seed = int(seed_dir.name[len("seed"):])
                results.setdefault(task, {}).setdefault(algo, {})[seed] = {
                    "log_dir": str(log_dir), "iterations": int(steps[-1]) + 1, "final": final_value(values),
                    "best": float(values.max()), "steps": steps.tolist(), "values": values.tolist()}
    return {"runs": results, "missing": missing}


def summarize(collected: dict) -> dict:
    """Per task and algorithm: final return mean and std over seeds (population std), number of seeds."""
    summary = {}
    for task, algos in collected["runs"].items():
        for algo, seeds in algos.items():
            finals = np.array([run["final"] for run in seeds.values()])
            summary.setdefault(task, {})[algo] = {
                "final_mean": float(finals.mean()), "final_std": float(finals.std()), "num_seeds": len(finals),
                "iterations": sorted({run["iterations"] for run in seeds.values()})}
    return summary


# ---------------------------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------------------------

def _cell(stats: dict | None) -> str:
    if stats is None:
        return "--"
    return f"{stats['final_mean']:.2f} ± {stats['final_std']:.2f} (n={stats['num_seeds']})"


def markdown_table(summary: dict, tasks) -> str:
    lines = [
        f"Final training return (`{TAG}`, mean over the last {FINAL_FRACTION:.0%} of iterations), mean ± std over "
        "seeds.",
        "",
        "| Task | GenPO | PPO (Gaussian) | GenPO − PPO | Iterations |",
        "|---|---|---|---|---|",
    ]
    for task in tasks:
        stats = summary.get(task, {})
        genpo, ppo = stats.get("genpo"), stats.get("ppo")
        diff = f"{genpo['final_mean'] - ppo['final_mean']:+.2f}" if genpo and ppo else "--"
        iterations = sorted({i for s in (genpo, ppo) if s for i in s["iterations"]})
        lines.append(f"| {task} | {_cell(genpo)} | {_cell(ppo)} | {diff} | "
                     f"{', '.join(map(str, iterations)) or '--'} |")
    return "\n".join(lines) + "\n"


def plot_curves(collected: dict, tasks, out: Path) -> list[Path]:
    """One PNG per task (mean ± std over seeds per algorithm) and ``all.png`` with every task."""
    from common_plots import plot_band, pyplot

    plt = pyplot()
    curves = out / "curves"
    curves.mkdir(parents=True, exist_ok=True)
    tasks = [t for t in tasks if t in collected["runs"]]
    written = []

    def draw(ax, task):
        for algo in ALGOS:
            seeds = collected["runs"][task].get(algo, {})
            if seeds:
                plot_band(ax, [np.asarray(r["steps"], float) for r in seeds.values()],
                          [np.asarray(r["values"], float) for r in seeds.values()],
                          f"{LABELS[algo]} (n={len(seeds)})", COLORS[algo])
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel("mean training return")
        ax.legend(fontsize=7)

    for task in tasks:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        draw(ax, task)
        fig.tight_layout()
        path = curves / f"{task}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    if tasks:
        cols = min(4, len(tasks))
        rows = -(-len(tasks) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.3 * rows), squeeze=False)
        for ax, task in zip(axes.flat, tasks):
            draw(ax, task)
        for ax in list(axes.flat)[len(tasks):]:
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(curves / "all.png", dpi=110)
        plt.close(fig)
        written.append(curves / "all.png")
    return written


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def report(runs: Path, out: Path, tasks, seeds=None) -> dict:
    collected = collect(runs, tasks, seeds)
    if not collected["runs"]:
        raise SystemExit(f"error: no tensorboard event files with {TAG!r} under {runs}/<task>/<algo>/seed<N>/ "
                         f"(tasks: {', '.join(tasks)})")
    summary = summarize(collected)
    table = markdown_table(summary, tasks)
    out.mkdir(parents=True, exist_ok=True)
    result = {"metric": TAG, "final_fraction": FINAL_FRACTION, "runs_dir": str(runs), "summary": summary,
              "runs": collected["runs"], "missing": collected["missing"], "table": table}
    _write_atomic(out / "results.json", json.dumps(result, indent=2))
    _write_atomic(out / "results.md", table)
    result["plots"] = [str(p) for p in plot_curves(collected, tasks, out)]
    print(table)
    if collected["missing"]:
        print(f"[compare] no logs for {len(collected['missing'])} run(s): {', '.join(collected['missing'])}",
              file=sys.stderr)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--isaaclab", type=Path, default=None,
                        help="IsaacLab checkout (holds isaaclab.sh); required to launch with IsaacLab 2.3.x")
    parser.add_argument("--isaaclab-version", type=int, choices=(2, 3), default=2,
                        help="2: isaaclab.sh -p scripts/reinforcement_learning/rsl_rl/train.py; "
                             "3: `isaaclab train --rl_library rsl_rl` (IsaacLab 3.x task ids)")
    parser.add_argument("--tasks", nargs="+", default=list(PAPER_TASKS), choices=list(PAPER_TASKS), metavar="TASK",
                        help="paper tasks by their IsaacLab 2.3 ids (default: all eight)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max_iterations", type=int, default=None, help="default: each task's own")
    parser.add_argument("--num_envs", type=int, default=None, help="default: each task's own")
    parser.add_argument("--extra-arg", action="append", default=[],
                        help="appended to every command (both algorithms), e.g. --extra-arg=--device=cuda:1")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "isaaclab")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and exit")
    parser.add_argument("--from-logs", type=Path, default=None, metavar="DIR",
                        help="build the table and plots from DIR/<task>/<algo>/seed<N>/ without launching anything")
    args = parser.parse_args(argv)
    args.out = args.out.resolve()
    args.runs = args.out / "runs"
    if args.isaaclab is not None:
        args.isaaclab = args.isaaclab.expanduser().resolve()
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.from_logs is not None:
        return report(args.from_logs.resolve(), args.out, args.tasks, seeds=None)
    jobs = plan(args)
    if args.dry_run:
        for job in jobs:
            print(f"(cd {shlex.quote(str(job['cwd']))} && {shlex.join(job['cmd'])})")
        return {"jobs": jobs}
    failed = launch(jobs)
    result = report(args.runs, args.out, args.tasks, seeds=args.seeds)
    result["failed"] = [{k: (str(v) if isinstance(v, Path) else v) for k, v in job.items()} for job in failed]
    if failed:
        raise SystemExit(f"error: {len(failed)} run(s) failed (see their train.log)")
    return result


if __name__ == "__main__":
    main()
