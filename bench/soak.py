"""Soak test: train GenPO for many iterations on a MuJoCo task and check that it stays healthy.

Checked over the whole run and written to ``<out>/soak_<task>.json`` with a plot ``<out>/soak_<task>.png``:

* no NaN/inf: every logged loss and, after every update, every policy and critic parameter is finite;
* the learning rate stays within the adaptive schedule's bounds [1e-5, 1e-2] (constant with a fixed schedule);
* the flow's inversion round-trip error (logged every update): its maximum against algorithm.roundtrip_warn;
* memory: the process's resident set size (RSS, from /proc/self/statm) and its peak (``resource``'s ru_maxrss)
  after every update; after the warm-up the least-squares slope of RSS over iterations must be flat (the fitted
  growth over the post-warm-up iterations below ``--max-growth-mb``);
* checkpoints: GenPORunner saves every ``save_interval`` iterations into ``--run-dir`` (default: a new temporary
  directory, so results/ holds no checkpoints); the last one must read back.

    python bench/soak.py                         # HalfCheetah-v5, 300 iterations (30-60 min on 2 busy cores)
    python bench/soak.py --task Hopper-v5 --iterations 500
    python bench/soak.py --smoke --out /tmp/soak # a few tiny iterations: exercises the script (tests do this)

The exit status is 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import save_json, strip_runtime, train_and_record  # noqa: E402

from genpo_rsl.objective import adapt_learning_rate  # noqa: E402
from genpo_rsl.rundir import numbered_checkpoints  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "soak")
SMOKE = {"iterations": 4, "warmup": 1, "overrides": {"num_envs": 2, "num_steps_per_env": 16, "hidden_dims": [32, 32],
                                                     "save_interval": 2}}
# The adaptive schedule's bounds: the defaults of objective.adapt_learning_rate (rsl_rl's PPO uses the same).
LR_BOUNDS = tuple(adapt_learning_rate.__defaults__)


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; elsewhere the peak, the best ``resource`` offers)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _models(runner) -> list[torch.nn.Module]:
    alg = runner.alg
    return [alg.policy] if hasattr(alg, "policy") and not hasattr(alg, "actor") else [alg.actor, alg.critic]


def _record_health(record: dict[str, Any], runner) -> None:
    record["rss_mb"] = rss_mb()
    record["peak_rss_mb"] = peak_rss_mb()
    record["params_finite"] = all(bool(torch.isfinite(p).all()) for m in _models(runner) for p in m.parameters())
    if record["iteration"] % 10 == 0:  # stderr: the harness silences rsl_rl's stdout
        print(f"soak: iteration {record['iteration']}  return {record['return_mean']:.1f}  "
              f"roundtrip {record['losses'].get('roundtrip_error', float('nan')):.2e}  "
              f"lr {record['learning_rate']:.2e}  rss {record['rss_mb']:.0f} MiB", file=sys.stderr, flush=True)


def slope_per_iteration(values: list[float]) -> float:
    """Least-squares slope of ``values`` against their index (0 for fewer than 2 points)."""
    if len(values) < 2:
        return 0.0
    return float(np.polyfit(np.arange(len(values)), np.asarray(values, dtype=np.float64), 1)[0])


def analyse(records: list[dict[str, Any]], settings: dict[str, Any], warmup: int, max_growth_mb: float,
            roundtrip_warn: float) -> dict[str, Any]:
    """The soak's verdicts from per-iteration records (each with losses, learning_rate, rss_mb, peak_rss_mb)."""
    losses_finite = all(math.isfinite(v) for r in records for v in r["losses"].values())
    params_finite = all(r["params_finite"] for r in records)
    rates = [r["learning_rate"] for r in records]
    if settings["ppo"]["schedule"] == "adaptive":
        low, high = LR_BOUNDS
    else:
        low = high = settings["ppo"]["learning_rate"]
    roundtrip = [r["losses"]["roundtrip_error"] for r in records if "roundtrip_error" in r["losses"]]
    after = records[warmup:] if len(records) > warmup else records[-1:]
    rss_after = [r["rss_mb"] for r in after]
    rss_slope = slope_per_iteration(rss_after)
    peak_slope = slope_per_iteration([r["peak_rss_mb"] for r in after])
    growth = rss_slope * max(len(after) - 1, 0)
    return {
        "iterations": len(records),
        "nan_free": {"ok": losses_finite and params_finite, "losses_finite": losses_finite,
                     "params_finite": params_finite},
        "learning_rate": {"ok": all(low * (1 - 1e-9) <= lr <= high * (1 + 1e-9) for lr in rates),
                          "min": min(rates), "max": max(rates), "final": rates[-1], "bounds": [low, high]},
        "roundtrip_error": {"max": max(roundtrip) if roundtrip else None,
                            "final": roundtrip[-1] if roundtrip else None, "warn_threshold": roundtrip_warn,
                            "ok": bool(roundtrip) and max(roundtrip) <= roundtrip_warn},
        "memory": {"warmup_iterations": warmup, "rss_mb_after_warmup": rss_after[0], "rss_mb_final": rss_after[-1],
                   "peak_rss_mb": max(r["peak_rss_mb"] for r in records),
                   "rss_slope_mb_per_100_iterations": 100.0 * rss_slope,
                   "peak_rss_slope_mb_per_100_iterations": 100.0 * peak_slope,
                   "fitted_growth_after_warmup_mb": growth, "max_growth_mb": max_growth_mb,
                   "ok": growth <= max_growth_mb},
        "return_mean_last_10": float(np.nanmean([r["return_mean"] for r in records[-10:]]))
        if any(math.isfinite(r["return_mean"]) for r in records[-10:]) else None,
    }


def plot(records: list[dict[str, Any]], report: dict[str, Any], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    its = [r["iteration"] for r in records]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    ax = axes[0, 0]
    ax.plot(its, [r["rss_mb"] for r in records], label="RSS")
    ax.plot(its, [r["peak_rss_mb"] for r in records], label="peak RSS", linestyle="--")
    ax.axvline(report["memory"]["warmup_iterations"], color="grey", linewidth=0.8, label="end of warm-up")
    ax.set(xlabel="iteration", ylabel="MiB",
           title=f"memory: {report['memory']['rss_slope_mb_per_100_iterations']:+.2f} MiB / 100 it after warm-up")
    ax.legend()
    ax = axes[0, 1]
    ax.semilogy(its, [max(r["losses"].get("roundtrip_error", float("nan")), 1e-12) for r in records])
    ax.axhline(report["roundtrip_error"]["warn_threshold"], color="orange", linestyle="--", label="roundtrip_warn")
    ax.set(xlabel="iteration", ylabel="max |f^-1(f(e)) - e|", title="inversion round-trip error")
    ax.legend()
    ax = axes[1, 0]
    ax.semilogy(its, [r["learning_rate"] for r in records])
    for bound in report["learning_rate"]["bounds"]:
        ax.axhline(bound, color="grey", linestyle="--", linewidth=0.8)
    ax.set(xlabel="iteration", ylabel="learning rate", title="learning rate (bounds dashed)")
    ax = axes[1, 1]
    finished = [(r["iteration"], r["return_mean"]) for r in records if math.isfinite(r["return_mean"])]
    ax.plot([i for i, _ in finished], [v for _, v in finished], marker="o", markersize=3)  # long episodes: gaps
    ax.set(xlabel="iteration", ylabel="mean episode return", title="returns of the episodes finished at an iteration")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="HalfCheetah-v5")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=30, help="iterations excluded from the memory slope")
    parser.add_argument("--max-growth-mb", type=float, default=20.0,
                        help="largest fitted RSS growth after warm-up that still counts as flat")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--smoke", action="store_true", help=f"tiny run: {SMOKE}")
    parser.add_argument("--run-dir", default=None, help="checkpoints and tensorboard logs (default: a temp dir)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    iterations, warmup = args.iterations, args.warmup
    if args.smoke:
        iterations, warmup, overrides = SMOKE["iterations"], SMOKE["warmup"], dict(SMOKE["overrides"])
    if iterations < 1 or warmup < 0:
        raise SystemExit("soak: --iterations must be >= 1 and --warmup >= 0")
    os.makedirs(args.out, exist_ok=True)
    slug = args.task.replace("/", "_")
    run_dir = args.run_dir or tempfile.mkdtemp(prefix=f"genpo_soak_{slug}_")

    from genpo_rsl.checkpoint import describe_checkpoint
    from genpo_rsl.runner import GenPORunner

    start = time.time()
    result = train_and_record(args.task, "genpo", args.seed, overrides, iterations, log_dir=run_dir,
                              threads=args.threads, on_record=_record_health, runner_class=GenPORunner,
                              store_code_state=False)
    wall = time.time() - start
    runner, records = result["runner"], result["records"]
    report = analyse(records, result["settings"], warmup, args.max_growth_mb, runner.alg.roundtrip_warn)
    checkpoints = [os.path.basename(path) for _, path in numbered_checkpoints(run_dir)]
    last = describe_checkpoint(os.path.join(run_dir, checkpoints[-1])) if checkpoints else None
    report["checkpoints"] = {"ok": last is not None and last.policy == "genpo", "count": len(checkpoints),
                             "last": checkpoints[-1] if checkpoints else None}
    report["ok"] = all(report[key]["ok"] for key in ("nan_free", "learning_rate", "memory", "checkpoints"))
    report["checkpoints"]["run_dir"] = run_dir
    report["wall_s"] = wall
    report["command"] = "python bench/soak.py " + " ".join(argv if argv is not None else sys.argv[1:])
    runner.env.close()

    out = {**strip_runtime(result), "report": report, "device": f"cpu ({os.cpu_count()} cores, shared)"}
    save_json(out, os.path.join(args.out, f"soak_{slug}.json"))
    plot(records, report, os.path.join(args.out, f"soak_{slug}.png"),
         f"GenPO soak: {args.task}, {len(records)} iterations, seed {args.seed}")
    mem = report["memory"]
    print(f"soak: {args.task} {len(records)} iterations in {wall / 60:.1f} min: "
          f"NaN-free {report['nan_free']['ok']}, lr in [{report['learning_rate']['min']:.2e}, "
          f"{report['learning_rate']['max']:.2e}] ok {report['learning_rate']['ok']}, "
          f"max round-trip error {report['roundtrip_error']['max']:.2e}, RSS {mem['rss_mb_after_warmup']:.0f} -> "
          f"{mem['rss_mb_final']:.0f} MiB (slope {mem['rss_slope_mb_per_100_iterations']:+.2f} MiB/100 it, "
          f"peak {mem['peak_rss_mb']:.0f} MiB) ok {mem['ok']}, {report['checkpoints']['count']} checkpoints; "
          f"{'PASS' if report['ok'] else 'FAIL'}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    return 0 if run(argv)["report"]["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
