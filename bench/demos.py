"""Learning from demonstrations, then fine-tuning with PPO: where an exact-likelihood flow policy pays off.

Study "twogoal" (toy/TwoGoalReach, a one-step bandit with reward 1 at a = (-1, 0) or (+1, 0)): demonstrations
put half the actions at each goal (N(goal, 0.1^2)). GenPO (maximum likelihood through the importance-weighted bound)
and rsl_rl's Gaussian (exact maximum likelihood, trained to convergence) are pretrained on them; we measure the
fraction of stochastic actions within 0.5 of each goal and the expected reward, then fine-tune each with PPO
(actor from the pretrained checkpoint, fresh critic warmed up with the actor frozen) and measure again.

Study "mujoco": a short PPO run of our own is the expert; its deterministic rollouts are the demonstrations;
GenPO is pretrained on them and fine-tuned, against GenPO from scratch; return against env steps.

    python bench/demos.py                          # twogoal, seeds 0-2
    python bench/demos.py --study mujoco --task Hopper-v5 --seeds 0
    python bench/demos.py --smoke                  # seconds; both studies, exercised by the tests

Finished pieces (demo files, pretrained checkpoints, fine-tuning runs) are kept under OUT and skipped on a rerun.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os

import numpy as np
import torch
from tensordict import TensorDict

from genpo_rsl.demos.policy import GENPO_FINETUNE_DEFAULTS as FINETUNE_DEFAULTS

from common_plots import fmt, markdown_table, pyplot
from harness import add_study_arguments, run_cached, run_parallel, run_study, save_json, train_and_record

TWOGOAL = "toy/TwoGoalReach"
BIMODAL_MIN_FRACTION = 0.3
DEMO_NOISE = 0.1

# Fine-tuning variants: name -> (algo of the pretrained policy, settings overrides of the fine-tuning run).
FINETUNE_VARIANTS: dict[str, tuple[str, dict]] = {
    "genpo": ("genpo", {}),
    "genpo_nu1": ("genpo", {"genpo": {"compression_coef": 1.0}}),
    "ppo": ("ppo", {}),
    # The task's adaptive schedule can raise the step size 10x within an update; fine-tuning a sharp BC density
    # with a small fixed step is the usual recipe (DPPO, ReinFlow), so both policies get it as a variant.
    "genpo_fixed3e-4": ("genpo", {"ppo": {"schedule": "fixed", "learning_rate": 3e-4}}),
    "ppo_fixed3e-4": ("ppo", {"ppo": {"schedule": "fixed", "learning_rate": 3e-4}}),
}
# Pretraining per algorithm: the Gaussian's likelihood is cheap, so it gets 3x the epochs to reach its optimum.
PRETRAIN = {"genpo": {"epochs": 100}, "ppo": {"epochs": 300, "learning_rate": 3e-3}}


def init_runner_class(checkpoint: str, critic_warmup: int, hold_normalizer: bool = False):
    """A GenPORunner that starts from ``checkpoint``'s actor and warms its fresh critic up on its first learn();
    with ``hold_normalizer`` the actor keeps the demonstrations' observation statistics for the whole run."""
    from genpo_rsl.demos import hold_actor_normalizer, load_actor, warm_up_critic
    from genpo_rsl.runner import GenPORunner

    class InitRunner(GenPORunner):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            load_actor(self, checkpoint)
            if hold_normalizer:
                hold_actor_normalizer(self)
            self._warmup = critic_warmup

        def learn(self, num_learning_iterations: int, init_at_random_ep_len: bool = False) -> None:
            warmup, self._warmup = min(self._warmup, num_learning_iterations), 0
            warm_up_critic(self, warmup)  # these iterations count in the run's budget and env steps
            super().learn(num_learning_iterations - warmup, init_at_random_ep_len)

        def load(self, *args, **kwargs):
            self._warmup = 0  # a resumed run (harness checkpoint) has had its warm-up
            return super().load(*args, **kwargs)

    return InitRunner


# ---------------------------------------------------------------------------------------------- twogoal
def twogoal_demos(path: str, count: int, seed: int) -> str:
    from genpo_rsl.demos import save_demos
    from genpo_rsl.envs.toy import TwoGoalReachVecEnv

    if os.path.isfile(path):
        return path
    rng = np.random.default_rng(seed)
    goals = TwoGoalReachVecEnv(1).goals.numpy()
    which = rng.permutation(np.arange(count) % 2)  # exactly half at each goal
    actions = goals[which] + DEMO_NOISE * rng.standard_normal((count, 2))
    observations = np.tile([[1.0, 0.0]], (count, 1))  # the bandit's only observation (1, t / T) at t = 0
    save_demos(path, observations, actions, episode_starts=np.ones(count, dtype=bool), goal_index=which)
    return path


def sample_actions(runner, count: int) -> torch.Tensor:
    from genpo_rsl.runner import inference_policy

    obs = TensorDict({"policy": torch.tensor([[1.0, 0.0]]).expand(count, 2).clone()}, batch_size=[count])
    return inference_policy(runner, deterministic=False)(obs)


def measure(runner, count: int) -> dict:
    """Mode fractions and expected reward (mean reward of ``count`` stochastic actions on a fresh bandit)."""
    from genpo_rsl.envs.toy import TwoGoalReachVecEnv

    actions = sample_actions(runner, count)
    env = TwoGoalReachVecEnv(count)
    fractions = env.mode_fractions(actions).tolist()
    reward = float(env.step(actions)[1].mean())
    return {"fractions": fractions, "min_fraction": min(fractions), "expected_reward": reward,
            "samples": actions[:1000].tolist()}


def pretrain_cached(out: str, task: str, algo: str, seed: int, demos: str, config_kwargs: dict,
                    overrides: dict | None = None, tag: str = "") -> dict:
    """Pretrain once per (algo, policy variant ``tag``, seed); its result JSON and checkpoint stay under
    OUT/pretrain/."""
    from genpo_rsl.demos import PretrainConfig, pretrain

    log_dir = os.path.join(out, "pretrain", f"{algo}{tag}__seed{seed}")

    def compute() -> dict:
        with contextlib.redirect_stdout(io.StringIO()):
            result = pretrain(task, demos, algo=algo, overrides=overrides, config=PretrainConfig(**config_kwargs),
                              seed=seed, log_dir=log_dir, keep_runner=True, log=None)
        entry = {"checkpoint": result.checkpoint, **{k: v for k, v in result.summary.items() if k != "config"}}
        if task == TWOGOAL:
            entry.update(measure(result.runner, 4000))
        result.env.close()
        return entry

    return run_cached(os.path.join(log_dir, "result.json"), compute)[0]


def twogoal_pretrain_job(job: dict) -> dict:
    """Demos and pretraining of one (algo, seed), shared by every fine-tuning variant of that algorithm."""
    torch.set_num_threads(1)
    demos = twogoal_demos(job["demos"], job["demo_count"], job["seed"])
    return pretrain_cached(job["out"], TWOGOAL, job["algo"], job["seed"], demos, job["pretrain"][job["algo"]],
                           job.get("extra_overrides"))


def twogoal_job(job: dict) -> dict:
    torch.set_num_threads(1)
    algo, overrides = FINETUNE_VARIANTS[job["variant"]]
    pre = twogoal_pretrain_job({**job, "algo": algo})

    def compute() -> dict:
        probes = []

        def on_record(record, runner):
            from genpo_rsl.world import adapter

            if record["iteration"] % job["probe_every"] == 0 or record["iteration"] == job["iterations"] - 1:
                probes.append({"iteration": record["iteration"], **{k: v for k, v in measure(runner, 1000).items()
                                                                     if k != "samples"}})
                # the probe's inference switched to eval mode; the rollouts go on in train mode
                adapter().set_mode(runner, train=True)

        result = train_and_record(TWOGOAL, algo, job["seed"], overrides={**overrides, **job.get("extra_overrides", {})},
                                  iterations=job["iterations"], threads=1, on_record=on_record,
                                  runner_class=init_runner_class(pre["checkpoint"], job["critic_warmup"]))
        final = measure(result["runner"], 4000)
        result["env"].close()
        return {"variant": job["variant"], "algo": algo, "seed": job["seed"], "iterations": job["iterations"],
                "critic_warmup": job["critic_warmup"], "pretrained": {k: v for k, v in pre.items() if k != "samples"},
                "pretrained_samples": pre.get("samples"), "finetuned": final, "probes": probes,
                "train_s": float(sum(r["wall_s"] for r in result["records"]))}

    return run_cached(job["path"], compute)[0]


def twogoal_report(results: list[dict], out: str) -> str:
    rows = []
    for variant in FINETUNE_VARIANTS:
        runs = [r for r in results if r["variant"] == variant]
        if not runs:
            continue
        pre = [r["pretrained"] for r in runs]
        post = [r["finetuned"] for r in runs]
        rows.append([
            variant, len(runs), runs[0]["iterations"],
            " ".join(f"{p['fractions'][0]:.2f}/{p['fractions'][1]:.2f}" for p in pre),
            fmt([p["min_fraction"] for p in pre], 2), fmt([p["expected_reward"] for p in pre], 3),
            fmt([p["heldout_log_likelihood"] for p in pre], 2),
            " ".join(f"{p['fractions'][0]:.2f}/{p['fractions'][1]:.2f}" for p in post),
            fmt([p["min_fraction"] for p in post], 2),
            f"{sum(p['min_fraction'] >= BIMODAL_MIN_FRACTION for p in post)}/{len(runs)}",
            fmt([p["expected_reward"] for p in post], 3),
        ])
    table = markdown_table(
        ["fine-tuned variant", "seeds", "PPO iters", "pretrained left/right per seed", "pretrained min fraction",
         "pretrained reward", "held-out log-lik", "fine-tuned left/right per seed", "fine-tuned min fraction",
         "fine-tuned seeds >= 30% each", "fine-tuned reward"], rows)

    plt = pyplot()
    shown = [v for v in FINETUNE_VARIANTS if any(r["variant"] == v for r in results)]
    seeds = sorted({r["seed"] for r in results})
    fig, axes = plt.subplots(len(seeds), 2 * len(shown), figsize=(2.3 * 2 * len(shown), 2.3 * len(seeds)),
                             squeeze=False)
    for col, variant in enumerate(shown):
        for row, seed in enumerate(seeds):
            run = next((r for r in results if r["variant"] == variant and r["seed"] == seed), None)
            for stage, (key, label) in enumerate((("pretrained_samples", "BC"), ("finetuned", "BC+PPO"))):
                ax = axes[row][2 * col + stage]
                for goal_x in (-1.0, 1.0):
                    ax.add_patch(plt.Circle((goal_x, 0.0), 0.5, fill=False, ls="--", lw=0.8, color="k"))
                if run is not None:
                    pts = np.asarray(run[key] if key == "pretrained_samples" else run[key]["samples"])
                    frac = run["pretrained"]["fractions"] if stage == 0 else run["finetuned"]["fractions"]
                    ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.3, color="C1" if run["algo"] == "genpo" else "C0")
                    ax.set_title(f"{variant} {label} s{seed}\n{frac[0]:.2f} / {frac[1]:.2f}", fontsize=7)
                ax.set_aspect("equal")
                ax.set_xlim(-2.2, 2.2)
                ax.set_ylim(-2.2, 2.2)
                ax.tick_params(labelsize=6)
    fig.suptitle("stochastic actions after BC and after PPO fine-tuning (title: fraction within 0.5 of left / right)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "samples.png"), dpi=110)
    plt.close(fig)

    fig, (ax_frac, ax_rew) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, variant in enumerate(shown):
        for j, run in enumerate(r for r in results if r["variant"] == variant):
            its = [p["iteration"] for p in run["probes"]]
            label = variant if j == 0 else None
            ax_frac.plot(its, [p["min_fraction"] for p in run["probes"]], color=f"C{i}", alpha=0.7, label=label)
            ax_rew.plot(its, [p["expected_reward"] for p in run["probes"]], color=f"C{i}", alpha=0.7, label=label)
    ax_frac.axhline(BIMODAL_MIN_FRACTION, color="k", ls="--", lw=0.8)
    ax_frac.set_xlabel("PPO fine-tuning iteration")
    ax_frac.set_ylabel("fraction on the less-used goal")
    ax_rew.set_xlabel("PPO fine-tuning iteration")
    ax_rew.set_ylabel("expected reward")
    ax_frac.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "finetune_curves.png"), dpi=110)
    plt.close(fig)
    return table


# ---------------------------------------------------------------------------------------------- mujoco
def mujoco_job(job: dict) -> dict:
    """Expert PPO -> demos -> GenPO BC -> fine-tune, and GenPO from scratch, for one task and seed."""
    from genpo_rsl.scripts import demos as demos_cli
    from genpo_rsl.scripts import train as train_cli

    if os.path.isfile(job["path"]):  # a finished run is read back as it is (its expert and checkpoints may be gone)
        with open(job["path"]) as f:
            return json.load(f)
    torch.set_num_threads(1)
    task, seed, out = job["task"], job["seed"], job["out"]
    base = os.path.join(out, task.replace("/", "_"), f"seed{seed}")
    env_over = job.get("extra_overrides", {})
    # The study's GenPO (pretrained, fine-tuned and from scratch) keeps the fixed base its recorded seeds used, also
    # where the package's task default is now noise_scale="state"; --policy-fields changes it and names the variant.
    env_over = {**env_over, "flow": {**STUDY_POLICY, **env_over.get("flow", {})}}
    expert = os.path.join(base, "expert", "model_final.pt")
    if not os.path.isfile(expert):
        argv = ["--task", task, "--algo", "ppo", "--seed", str(seed), "--max-iterations", str(job["expert_iterations"]),
                "--log-dir", os.path.dirname(expert)]
        if "num_envs" in env_over:
            argv += ["--num-envs", str(env_over["num_envs"])]
        with contextlib.redirect_stdout(io.StringIO()):
            train_cli.run(argv)
    demos = os.path.join(base, "demos.npz")
    if not os.path.isfile(demos):
        with contextlib.redirect_stdout(io.StringIO()):
            demos_cli.run(["--checkpoint", expert, "--episodes", str(job["demo_episodes"]), "--out", demos])
    with np.load(demos) as archive:
        expert_returns = archive["episode_returns"].tolist()
    # A policy variant (--policy-fields) gets its own pretraining and fine-tuning; the expert, the demos and the
    # from-scratch baseline (the study's GenPO, STUDY_POLICY) are shared.
    fields, tag = job.get("policy_fields", {}), policy_tag(job.get("policy_fields", {}))
    variant_over = {**env_over, "flow": {**env_over.get("flow", {}), **fields}} if fields else env_over
    pre = pretrain_cached(base, task, "genpo", seed, demos, job["pretrain"], variant_over, tag)
    # Fine-tuning-only settings (--finetune-fields: PPO fields such as learning_rate, and the critic warm-up) name
    # the fine-tuning run only; the pretraining above is shared.
    ppo_fields, hold_normalizer = job.get("finetune_fields", {}), job.get("hold_normalizer", False)
    finetune_tag = finetune_run_tag(tag, ppo_fields, job["critic_warmup"], hold_normalizer)
    # Curves of a non-default length are cached under their own names (a short diagnostic run never stands in
    # for the full one).
    length_tag = "" if job["iterations"] == DEFAULT_MUJOCO_ITERATIONS else f"_it{job['iterations']}"
    # genpo-train --init's defaults first (what a user's fine-tuning gets), then the variant's own fields.
    finetune_over = with_algorithm_fields(variant_over, {**FINETUNE_DEFAULTS, **ppo_fields})

    def curve(runner_class, name: str, overrides: dict) -> dict:
        def compute() -> dict:
            from harness import evaluate_policy

            result = train_and_record(task, "genpo", seed, overrides=overrides, iterations=job["iterations"], threads=1,
                                      runner_class=runner_class,
                                      resume_path=os.path.join(base, f"{name}_partial.pt"))
            evaluation = evaluate_policy(result["runner"], job["eval_episodes"])
            result["env"].close()
            return {"env_steps": [r["env_steps"] for r in result["records"]],
                    "return_mean": [r["return_mean"] for r in result["records"]],
                    "final_eval": evaluation, "train_s": float(sum(r["wall_s"] for r in result["records"]))}

        return run_cached(os.path.join(base, f"{name}.json"), compute)[0]

    finetuned = curve(init_runner_class(pre["checkpoint"], job["critic_warmup"], hold_normalizer),
                      f"finetune{finetune_tag}{length_tag}", finetune_over)
    scratch = curve(None, f"scratch{length_tag}", env_over)
    result = {"task": task, "seed": seed, "policy_fields": fields, "finetune_fields": ppo_fields,
              "finetune_defaults": FINETUNE_DEFAULTS,
              "critic_warmup": job["critic_warmup"], "hold_normalizer": hold_normalizer,
              "expert_returns": expert_returns, "pretrained": pre,
              "finetune": finetuned, "scratch": scratch}
    save_json(result, job["path"])
    return result


def with_algorithm_fields(overrides: dict, fields: dict) -> dict:
    """``overrides`` with algorithm fields added: GenPO's own (compression_coef, ...) under "genpo", rsl_rl's PPO
    fields under "ppo" (genpo_rsl.train_config lays GenPO's defaults over "ppo", so they must not go there)."""
    from genpo_rsl.config import GENPO_ALGORITHM_DEFAULTS

    if not fields:
        return overrides
    genpo = {k: v for k, v in fields.items() if k in GENPO_ALGORITHM_DEFAULTS}
    ppo = {k: v for k, v in fields.items() if k not in genpo}
    return {**overrides, "ppo": {**overrides.get("ppo", {}), **ppo},
            "genpo": {**overrides.get("genpo", {}), **genpo}}


def policy_tag(fields: dict) -> str:
    """'' for the default policy, else e.g. '_noise_scale-learned' (file names of a variant's pieces)."""
    return "".join(f"_{k}-{v}" for k, v in sorted(fields.items()))


DEFAULT_CRITIC_WARMUP = 5
STUDY_POLICY = {"noise_scale": "fixed"}  # the MuJoCo study's GenPO policy fields (before any --policy-fields)
DEFAULT_MUJOCO_ITERATIONS = 150


def finetune_run_tag(policy: str, ppo_fields: dict, critic_warmup: int, hold_normalizer: bool = False) -> str:
    """File-name tag of a fine-tuning run: its policy variant, PPO fields, a non-default critic warm-up, and
    whether the actor's observation normaliser was held."""
    tag = policy + policy_tag(ppo_fields)
    tag += f"_warmup-{critic_warmup}" if critic_warmup != DEFAULT_CRITIC_WARMUP else ""
    return tag + ("_holdnorm" if hold_normalizer else "")


def result_tag(result: dict) -> str:
    """finetune_run_tag of a finished run's JSON (older runs lack the variant keys: the defaults)."""
    return finetune_run_tag(policy_tag(result.get("policy_fields", {})), result.get("finetune_fields", {}),
                            result.get("critic_warmup", DEFAULT_CRITIC_WARMUP), result.get("hold_normalizer", False))


def parse_fields(items: list[str], option: str) -> dict:
    import yaml

    fields = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"{option}: expected KEY=VALUE (e.g. noise_scale=learned), got {item!r}")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        fields[key] = parsed
    return fields


def finished_mujoco_runs(folder: str, task: str, iterations: int) -> list[dict]:
    """Every finished run of ``task`` at ``iterations`` in ``folder``, of any seed and policy variant, so one
    report shows the default policy next to the variants run by other commands."""
    import glob
    import json

    runs = []
    for path in sorted(glob.glob(os.path.join(folder, f"{task.replace('/', '_')}__seed*__it{iterations}.json"))):
        with open(path) as f:
            runs.append(json.load(f))
    return sorted(runs, key=lambda r: (r["seed"], result_tag(r)))


def steps_to_reach(curve: dict, target: float) -> int | None:
    """First env-step count at which the smoothed training return reaches ``target``."""
    values = np.asarray(curve["return_mean"], dtype=float)
    smooth = np.array([np.nanmean(values[max(0, i - 4):i + 1]) for i in range(len(values))])
    hits = np.nonzero(smooth >= target)[0]
    return int(curve["env_steps"][hits[0]]) if hits.size else None


def steps_share(result: dict) -> tuple[int | None, float | None]:
    """(env steps at which fine-tuning first reaches scratch's final training return, their share of scratch's
    steps); (None, None) when it never does."""
    steps = steps_to_reach(result["finetune"], np.nanmean(result["scratch"]["return_mean"][-5:]))
    return steps, None if steps is None else steps / result["scratch"]["env_steps"][-1]


def mujoco_goal_lines(results: list[dict]) -> list[str]:
    """One line per fine-tuning recipe over its seeds: the share of scratch's steps per seed and how many seeds
    meet the goal (<= 50%), and the final evaluations' means."""
    lines = []
    for tag in sorted({result_tag(r) for r in results}):
        runs = [r for r in results if result_tag(r) == tag]
        shares = [steps_share(r)[1] for r in runs]
        text = " / ".join("not reached" if x is None else f"{x:.0%}" for x in shares)
        met = sum(x is not None and x <= 0.5 for x in shares)
        finetune = [float(np.mean(r["finetune"]["final_eval"])) for r in runs]
        scratch = [float(np.mean(r["scratch"]["final_eval"])) for r in runs]
        lines.append(f"{tag.lstrip('_') or 'default'}: seeds {', '.join(str(r['seed']) for r in runs)}; share of "
                     f"scratch's steps {text}; goal (<= 50%) met in {met}/{len(runs)}; final eval BC+fine-tune "
                     f"{fmt(finetune, 0)}, scratch {fmt(scratch, 0)}")
    return lines


def mujoco_report(results: list[dict], out: str) -> str:
    rows = []
    for r in results:
        scratch_final = float(np.mean(r["scratch"]["final_eval"]))
        target_steps = steps_share(r)[0]
        rows.append([r["task"], r["seed"], result_tag(r).lstrip("_") or "default",
                     fmt(r["expert_returns"], 0), f"{r['pretrained']['heldout_log_likelihood']:.2f}"
                     if r["pretrained"].get("heldout_log_likelihood") is not None else "-",
                     fmt(r["finetune"]["final_eval"], 0), fmt(r["scratch"]["final_eval"], 0),
                     target_steps if target_steps is not None else "not reached", r["scratch"]["env_steps"][-1],
                     f"{target_steps / r['scratch']['env_steps'][-1]:.0%}" if target_steps is not None else "-",
                     f"{scratch_final:.0f}"])
    table = markdown_table(["task", "seed", "fine-tuned policy", "expert return (demos)", "BC held-out log-lik",
                            "BC+fine-tune final", "scratch final", "fine-tune steps to scratch's final train return",
                            "scratch steps", "share of scratch's steps (goal <= 50%)", "scratch eval mean"], rows)
    table += "\n\n" + "\n".join(f"- {line}" for line in mujoco_goal_lines(results))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for i, r in enumerate(results):
        for name, style in (("finetune", "-"), ("scratch", "--")):
            ax.plot(r[name]["env_steps"], r[name]["return_mean"], style, color=f"C{i}",
                    label=f"{r['task']} s{r['seed']} {'BC+PPO' if name == 'finetune' else 'scratch'}")
        ax.axhline(np.mean(r["expert_returns"]), color=f"C{i}", lw=0.6, ls=":")
    ax.set_xlabel("env steps")
    ax.set_ylabel("training episode return")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "mujoco_return_vs_steps.png"), dpi=110)
    plt.close(fig)
    return table


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", choices=("twogoal", "mujoco"), default="twogoal")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(FINETUNE_VARIANTS), choices=list(FINETUNE_VARIANTS))
    parser.add_argument("--iterations", type=int, default=None,
                        help="PPO fine-tuning iterations (twogoal default 100; mujoco default 150)")
    parser.add_argument("--critic-warmup", type=int, default=DEFAULT_CRITIC_WARMUP,
                        help="of the iterations, critic-only ones")
    parser.add_argument("--demo-count", type=int, default=2000, help="twogoal: demonstrated actions")
    parser.add_argument("--task", default="Hopper-v5", help="mujoco: the task")
    parser.add_argument("--expert-iterations", type=int, default=300, help="mujoco: PPO iterations of the expert")
    parser.add_argument("--demo-episodes", type=int, default=20, help="mujoco: expert episodes recorded")
    parser.add_argument("--policy-fields", nargs="*", default=[], metavar="KEY=VALUE",
                        help="mujoco: policy fields of the pretrained and fine-tuned GenPO (e.g. noise_scale=learned "
                             "flow=multistep); the from-scratch baseline stays the study's fixed-base GenPO")
    parser.add_argument("--finetune-fields", nargs="*", default=[], metavar="KEY=VALUE",
                        help="mujoco: algorithm fields of the fine-tuning run only, PPO's or GenPO's (e.g. "
                             "learning_rate=1e-4 compression_coef=0)")
    parser.add_argument("--hold-obs-normalizer", action="store_true",
                        help="mujoco: the fine-tuned actor keeps the demonstrations' observation statistics (no "
                             "running update on the fine-tuning rollouts)")
    add_study_arguments(parser, "bench/results/demos", "both studies at a few iterations, seconds")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    if args.study == "twogoal" or args.smoke:
        iterations = 2 if args.smoke else (args.iterations or 100)
        extra = {"num_envs": 32} if args.smoke else {}
        pretrain_cfg = ({"genpo": {"epochs": 2, "eval_samples": 16}, "ppo": {"epochs": 2}} if args.smoke
                        else PRETRAIN)
        seeds = [0] if args.smoke else args.seeds
        variants = ["genpo", "ppo"] if args.smoke else args.variants
        jobs = [{"variant": v, "seed": s, "iterations": iterations, "critic_warmup": min(args.critic_warmup, 1)
                 if args.smoke else args.critic_warmup, "demo_count": 200 if args.smoke else args.demo_count,
                 "demos": os.path.join(args.out, "twogoal", f"demos_seed{s}.npz"), "pretrain": pretrain_cfg,
                 "out": os.path.join(args.out, "twogoal"), "probe_every": max(1, iterations // 20),
                 "extra_overrides": extra, "path": os.path.join(args.out, "twogoal", "runs",
                                                                f"{v}__seed{s}__it{iterations}.json")}
                for s in seeds for v in variants]
        if not args.report_only:  # pretrain first, once per (algo, seed), so parallel fine-tunes never race for it
            pretrain_jobs = {(FINETUNE_VARIANTS[j["variant"]][0], j["seed"]): j for j in jobs}
            run_parallel(twogoal_pretrain_job, [{**j, "algo": algo} for (algo, _), j in pretrain_jobs.items()],
                         1 if args.smoke else args.jobs)
        jobs, results, trained = run_study(twogoal_job, jobs, 1 if args.smoke else args.jobs, args.report_only)
        table = twogoal_report(results, args.out)
        print(table)
        save_json({"study": "twogoal", "table": table,
                   "runs": [{k: v for k, v in r.items() if k not in ("pretrained_samples",)} |
                            {"finetuned": {k: v for k, v in r["finetuned"].items() if k != "samples"}}
                            for r in results]}, os.path.join(args.out, "twogoal_summary.json"))
        with open(os.path.join(args.out, "twogoal_table.md"), "w") as f:
            f.write(table + "\n")
        print(f"twogoal: {trained} run(s) trained, {len(jobs) - trained} read back; wrote {args.out}")
        twogoal = {"results": results, "table": table, "trained": trained}
        if not args.smoke:
            return twogoal

    iterations = 2 if args.smoke else (args.iterations or DEFAULT_MUJOCO_ITERATIONS)
    extra = {"num_envs": 2, "num_steps_per_env": 16} if args.smoke else {}
    policy_fields = parse_fields(args.policy_fields, "--policy-fields")
    finetune_fields = parse_fields(args.finetune_fields, "--finetune-fields")
    critic_warmup = 1 if args.smoke else args.critic_warmup
    run_tag = finetune_run_tag(policy_tag(policy_fields), finetune_fields, critic_warmup, args.hold_obs_normalizer)
    jobs = [{"task": args.task, "seed": s, "out": os.path.join(args.out, "mujoco"), "iterations": iterations,
             "expert_iterations": 1 if args.smoke else args.expert_iterations,
             "demo_episodes": 2 if args.smoke else args.demo_episodes,
             "pretrain": {"epochs": 1, "eval_samples": 8} if args.smoke else {"epochs": 30},
             "critic_warmup": critic_warmup, "eval_episodes": 1 if args.smoke else 10,
             "extra_overrides": extra, "policy_fields": policy_fields, "finetune_fields": finetune_fields,
             "hold_normalizer": args.hold_obs_normalizer,
             "path": os.path.join(args.out, "mujoco",
                                  f"{args.task.replace('/', '_')}__seed{s}{run_tag}__it{iterations}.json")}
            for s in ([0] if args.smoke else args.seeds)]
    jobs, results, trained = run_study(mujoco_job, jobs, 1 if args.smoke else args.jobs, args.report_only)
    results = finished_mujoco_runs(os.path.join(args.out, "mujoco"), args.task, iterations) or results
    table = mujoco_report(results, args.out)
    print(table)
    save_json({"study": "mujoco", "table": table, "runs": results}, os.path.join(args.out, "mujoco_summary.json"))
    with open(os.path.join(args.out, "mujoco_table.md"), "w") as f:
        f.write(table + "\n")
    mujoco = {"results": results, "table": table, "trained": trained}
    return {"twogoal": twogoal, "mujoco": mujoco} if args.smoke else mujoco


if __name__ == "__main__":
    main()
