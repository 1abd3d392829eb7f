"""GenPO vs Gaussian PPO on a legged robot: Unitree Go2 velocity tracking in Genesis, on the CPU.

Both algorithms get the settings of genpo_rsl.train_config for ``genesis/Go2-Velocity-Flat`` (Genesis' example's
PPO settings: 1024 envs x 24 steps, 512-256-128 ELU, lr 1e-3 adaptive, entropy 0.01); the only difference is the
policy (GenPO: the package's default flow). One torch thread per process, the same seeds, equal env steps. Training
starts with rsl_rl's ``init_at_random_ep_len`` (as the Genesis example does) so episode ends are spread out.

Per (algo, seed) run we keep, per iteration: the mean return and length of the episodes finished in it and their
``tracking_lin_vel`` reward (episode sum / 20 s: 1.0 is perfect tracking for a full episode, the example's and
IsaacLab's normalisation). Headline numbers: the tracking reward and episode length of the training episodes
finished in the last 10 % of iterations, and a deterministic evaluation (one episode per env from a reset).

    python bench/go2.py                      # 2 algos x 3 seeds x 100 iterations (needs the genesis extra)
    python bench/go2.py --seeds 0 --iterations 30
    python bench/go2.py --report-only        # tables and plots from the finished runs
    python bench/go2.py --smoke --out /tmp/g  # 32 envs x 2 iterations, short episodes; run by tests/genesis

Each run writes OUT/runs/go2__<algo>__seed<s>__it<n>.json when it finishes; rerunning the same command reads
finished runs back, and an unfinished run continues from its checkpoint (<run>.json.partial.pt, every 10
iterations; the robots restart from a reset there, the policy, optimizer and records continue). OUT defaults to
docs/results/go2, so finished runs are committed with the report (checkpoints are git-ignored) and a study spread
over several sessions keeps them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np
import torch

from common_plots import fmt, markdown_table, mean_std, plot_band, pyplot
from harness import add_study_arguments, run_cached, run_study, save_json, strip_runtime, train_and_record

# The two Go2 tasks: --task picks one by its short name; each has its own run files, table and curves.
TASKS = {"flat": "genesis/Go2-Velocity-Flat", "omni": "genesis/Go2-Velocity-Flat-Omni"}
# Run files: <prefix>__<variant>__seed<s>__it<n>.json (the Flat task keeps the study's original prefix).
PREFIXES = {"flat": "go2", "omni": "go2omni"}
# Variant -> (rsl_rl algo, task_settings overrides). "genpo" is whatever the package's robot default is; the
# others pin their recipe, so a name keeps meaning what its recorded runs measured when the defaults move.
# The state sigma's bound before max_noise_scale existed (a hard clamp at e^2): pinned on the variants run then.
UNBOUNDED = math.exp(2.0)
VARIANTS: dict[str, tuple[str, dict]] = {
    "ppo": ("ppo", {}),
    "genpo": ("genpo", {}),
    # The robot default before this study: the paper's coupled flow, fixed N(0, I) base, compression on, and the
    # Genesis example's entropy bonus 0.01.
    "genpo_paper": ("genpo", {"flow": {"flow": "coupled", "noise_scale": "fixed", "head_dims": []},
                              "genpo": {"compression_coef": 0.01}}),
    # The authors' locomotion configs: coupled, mix 0.95, compression off, no entropy bonus.
    "genpo_authors": ("genpo", {"flow": {"flow": "coupled", "noise_scale": "fixed", "mix": 0.95, "head_dims": []},
                                "genpo": {"compression_coef": 0.0, "entropy_coef": 0.0}}),
    "coupled_state": ("genpo", {"flow": {"flow": "coupled", "noise_scale": "state", "max_noise_scale": UNBOUNDED,
                                         "head_dims": []}, "genpo": {"compression_coef": 0.0}}),
    "multistep_state": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "max_noise_scale": UNBOUNDED,
                                           "head_dims": []}}),
    "multistep_state_ent0": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state",
                                                "max_noise_scale": UNBOUNDED, "head_dims": []},
                                       "genpo": {"entropy_coef": 0.0}}),
    "multistep_fixed_ent0": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "fixed", "head_dims": []},
                                       "genpo": {"entropy_coef": 0.0}}),
    # Encode once: the task's [512, 256, 128] become the observation encoder, a [128, 128] velocity head per step.
    "multistep_state_head": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state",
                                                "max_noise_scale": UNBOUNDED, "head_dims": [128, 128]}}),
    "multistep_state_head_ent0": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "max_noise_scale": UNBOUNDED,
                                                     "head_dims": [128, 128]}, "genpo": {"entropy_coef": 0.0}}),
    # The state-dependent sigma drifted upward under the entropy bonus on Omni (1.0 -> 1.37 over 200 iterations,
    # seed 1): bound it smoothly a little above its start.
    "multistep_state_head_bounded": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state",
                                                        "head_dims": [128, 128], "max_noise_scale": 1.1}}),
    # Omni screen (2026-12-07): the robot recipe without the entropy bonus (the authors' locomotion configs run
    # none; with the bound sigma can fall but not rise), and with a doubled desired KL (the adaptive rate reads the
    # KL of the 2A-dim dummy action, whose second half the environment never sees).
    "genpo_ent0": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "head_dims": [128, 128],
                                      "max_noise_scale": 1.1}, "genpo": {"entropy_coef": 0.0}}),
    "genpo_kl02": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "head_dims": [128, 128],
                                      "max_noise_scale": 1.1}, "genpo": {"desired_kl": 0.02}}),
    # Flat screen (2026-12-07, fourth session): the robot default with one knob moved, for Flat's gap to PPO: a
    # higher sigma bound (PPO's exploration grows to about 1.18 under the entropy bonus; GenPO's stays under 1.1),
    # and a desired KL of 0.03.
    "genpo_sigma13": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "head_dims": [128, 128],
                                         "max_noise_scale": 1.3}, "genpo": {"desired_kl": 0.02}}),
    "genpo_kl03": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "head_dims": [128, 128],
                                      "max_noise_scale": 1.1}, "genpo": {"desired_kl": 0.03}}),
    # Left-right symmetry (rsl_rl's symmetry_cfg, data augmentation with the Go2 mirror function).
    "ppo_sym": ("ppo", {"symmetry": "augmentation"}),
    "genpo_sym": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "head_dims": [128, 128],
                                     "max_noise_scale": 1.1}, "symmetry": "augmentation"}),
    # The robot default since the fifth session (sigma <= 1.3, desired KL 0.02) with symmetry augmentation.
    "genpo_sigma13_sym": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "head_dims": [128, 128],
                                             "max_noise_scale": 1.3}, "genpo": {"desired_kl": 0.02},
                                    "symmetry": "augmentation"}),
    # Cost screen (2026-12-07, sixth session): the robot default with a smaller per-step head and fewer flow steps,
    # for equal wall time (bench/iteration_time.py on Go2 Omni x 1024: 1.30x PPO's iteration with the default's
    # [128, 128] x 5 steps, 1.04x with [64, 64] x 3). Result: level with PPO on Flat, below the default on Omni.
    "genpo_h64n3": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "head_dims": [64, 64], "num_steps": 3,
                                       "max_noise_scale": 1.3}, "genpo": {"desired_kl": 0.02}}),
    # Which of the two cuts lost Omni's tracking: the [64, 64] head at the default's 5 steps (1.17x PPO's iteration).
    "genpo_h64": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "head_dims": [64, 64],
                                     "max_noise_scale": 1.3}, "genpo": {"desired_kl": 0.02}}),
    # Equal wall time (2026-12-07, seventh session): the update is most of an iteration on the CPU (PPO's: 4.3 of
    # 7.0 s on Go2 Omni), so the robot default with 3 learning epochs instead of the task's 5 costs about PPO's
    # iteration or less; does it learn as much per iteration?
    "genpo_e3": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "head_dims": [128, 128],
                                    "max_noise_scale": 1.3}, "genpo": {"desired_kl": 0.02, "num_learning_epochs": 3}}),
    # Flat's last gap (2026-12-07, eighth session): the sigma bound is the one knob that moved Flat and Omni together
    # (1.1 -> 1.3: Flat 0.947 -> 0.961, Omni 0.848 -> 0.894); the 3-epoch default with it at 1.5. Rule, written
    # before the runs: make it the default if Flat's three seeds average above the default's 0.968 with none below
    # 0.95, and Omni's three average at least 0.885 with none below 0.86.
    "genpo_e3s15": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "head_dims": [128, 128],
                                       "max_noise_scale": 1.5}, "genpo": {"desired_kl": 0.02, "num_learning_epochs": 3}}),
    # Result: Flat 0.958 +- 0.017, below the default; Omni stopped at iteration 90 (the rule could no longer be met).
    # Fewer flow steps helped on both tasks at the [64, 64] head (5 -> 3 steps: Flat 0.973 -> 0.981, Omni 0.804 ->
    # 0.826); the 3-epoch default at 3 steps has not run. Rule, written before the runs: make it the default if
    # Flat's three seeds average at least 0.975 with none below 0.95, and Omni's three at least 0.885 with none
    # below 0.86.
    "genpo_e3n3": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "head_dims": [128, 128], "num_steps": 3,
                                      "max_noise_scale": 1.3}, "genpo": {"desired_kl": 0.02, "num_learning_epochs": 3}}),
    # Result: Flat 0.976 +- 0.008 at 0.75x PPO's iteration (PPO's final training tracking in 70-71 PPO iterations of
    # wall time, PPO 79), Omni 0.740 +- 0.164 (two seeds stalled): the rule fails on Omni, the default keeps 5 steps.
    # The 3-epoch default with symmetry augmentation (the 5-epoch one: genpo_sigma13_sym).
    "genpo_e3_sym": ("genpo", {"flow": {"flow": "multistep", "noise_scale": "state", "head_dims": [128, 128],
                                        "max_noise_scale": 1.3}, "genpo": {"desired_kl": 0.02, "num_learning_epochs": 3},
                               "symmetry": "augmentation"}),
}
LABELS = {"ppo": "PPO (Gaussian)", "genpo": "GenPO (robot default)", "genpo_paper": "GenPO paper (coupled, fixed)",
          "genpo_authors": "GenPO authors' recipe", "coupled_state": "coupled, state sigma, no compression",
          "multistep_state": "multistep, state sigma", "multistep_state_ent0": "multistep, state sigma, no entropy",
          "multistep_fixed_ent0": "multistep, fixed base, no entropy",
          "multistep_state_head": "multistep, state sigma, encode once",
          "multistep_state_head_ent0": "multistep, state sigma, encode once, no entropy",
          "multistep_state_head_bounded": "multistep, state sigma <= 1.1, encode once",
          "genpo_ent0": "multistep, state sigma <= 1.1, encode once, no entropy",
          "genpo_kl02": "multistep, state sigma <= 1.1, encode once, desired KL 0.02",
          "genpo_sigma13": "multistep, state sigma <= 1.3, encode once, desired KL 0.02",
          "genpo_kl03": "multistep, state sigma <= 1.1, encode once, desired KL 0.03",
          "ppo_sym": "PPO + symmetry augmentation",
          "genpo_sym": "multistep, state sigma <= 1.1, encode once + symmetry augmentation",
          "genpo_sigma13_sym": "multistep, state sigma <= 1.3, encode once, desired KL 0.02 + symmetry augmentation",
          "genpo_h64n3": "multistep, state sigma <= 1.3, desired KL 0.02, head [64, 64], 3 steps",
          "genpo_h64": "multistep, state sigma <= 1.3, desired KL 0.02, head [64, 64], 5 steps",
          "genpo_e3": "multistep, state sigma <= 1.3, encode once, desired KL 0.02, 3 learning epochs",
          "genpo_e3_sym": "multistep, state sigma <= 1.3, encode once, desired KL 0.02, 3 learning epochs + symmetry augmentation",
          "genpo_e3s15": "multistep, state sigma <= 1.5, desired KL 0.02, 3 learning epochs",
          "genpo_e3n3": "multistep, state sigma <= 1.3, desired KL 0.02, 3 learning epochs, 3 flow steps"}
TRACKING = "tracking_lin_vel"


def robot_variant() -> str | None:
    """The pinned variant whose recipe is the package's robot default today: its runs are GenPO's ("genpo") in the
    tables and summary.json (with ``variant`` naming it), so the default's evidence is the runs that chose it."""
    from genpo_rsl.train_config import recipe_settings

    robot = recipe_settings("robot")
    for name, (algo, overrides) in VARIANTS.items():
        if (algo == "genpo" and name != "genpo" and "symmetry" not in overrides and overrides.get("flow", {}) == robot["flow"]
                and overrides.get("genpo", {}) == robot["genpo"]):
            return name
    return None


def variant_label(algo: str) -> str:
    """The table's name of a variant; the robot default names the recipe it is."""
    chosen = robot_variant()
    return f"{LABELS['genpo']} = {LABELS[chosen]}" if algo == "genpo" and chosen else LABELS[algo]


def as_default(run: dict) -> dict:
    """``run`` under "genpo" if its variant is the robot default's recipe (see :func:`robot_variant`)."""
    return dict(run, algo="genpo", variant=run["algo"]) if run["algo"] == robot_variant() else run


def _spread_start_runner():
    """GenPORunner whose first ``learn`` call spreads the episode ends (init_at_random_ep_len), like the example.

    The study trains in checkpointed chunks; only the first chunk of a process randomises, later chunks continue.
    """
    from genpo_rsl.runner import GenPORunner

    class SpreadStartRunner(GenPORunner):
        def learn(self, num_learning_iterations, init_at_random_ep_len=False):
            first = not getattr(self, "_spread_done", False)
            self._spread_done = True
            return super().learn(num_learning_iterations, init_at_random_ep_len=init_at_random_ep_len or first)

    return SpreadStartRunner


def _collect_episodes(record: dict, runner) -> None:
    """on_record hook: the lengths and tracking rewards of the episodes finished since the last record."""
    env = runner.env
    seen = getattr(env, "_go2_seen", 0)
    lengths = list(env.episode_lengths[seen:])
    tracking = list(env.episode_reward_terms[TRACKING][seen:])
    env._go2_seen = len(env.episode_lengths)
    record.update(new_lengths=lengths, new_tracking=tracking, **_action_statistics(runner),
                  length_mean=float(np.mean(lengths)) if lengths else float("nan"),
                  tracking_mean=float(np.mean(tracking)) if tracking else float("nan"))
    print(f"go2: {type(runner.alg).__name__} iteration {record['iteration']}: {record['wall_s']:.1f} s, "
          f"{len(lengths)} episodes, length {record['length_mean']:.0f}, return {record['return_mean']:.3f}, "
          f"tracking {record['tracking_mean']:.3f}", file=sys.stderr, flush=True)  # stdout is captured while learning


def _action_statistics(runner, states: int = 128, samples: int = 16) -> dict[str, float]:
    """:func:`action_statistics` at ``states`` of the last rollout's observations."""
    from genpo_rsl.world import adapter

    return action_statistics(adapter().policy_module(runner), runner.alg.storage.observations[-1][:states], samples)


def action_statistics(module, obs, samples: int = 16) -> dict[str, float]:
    """The policy's actions at the observations ``obs``: ``action_noise``, per state the std of ``samples``
    stochastic actions (PPO: its learned std; GenPO: what sigma(s) and the flow make of the latent noise), and
    ``action_magnitude``, the mean |action| of the deterministic policy; both averaged over states and action
    dimensions. Its own random stream: a run that records them is unchanged.

    Args:
        module: the policy module of either world (``adapter().policy_module(runner)``).
        obs: the observations, as the module's act function takes them.
        samples: stochastic actions drawn per state.
    """
    from genpo_rsl.world import adapter

    act = adapter().act_function(module, deterministic=False)
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(0)
        actions = torch.stack([act(obs) for _ in range(samples)])
        deterministic = adapter().act_function(module, deterministic=True)(obs)
    return {"action_noise": float(actions.std(0).mean()), "action_magnitude": float(deterministic.abs().mean())}


class JointStatistics:
    """Left/right gait statistics over an evaluation: per joint, the mean and std of its angle from the default
    pose over every env and step; ``asymmetry()`` compares each right joint with its left mirror (the hip's sign
    flipped): ``asym_mean`` is the mean |mean_R - mirror(mean_L)| (rad), ``asym_std`` the mean |std_R - std_L|.
    A left-right symmetric gait scores 0 on both (Omni's commands are symmetric in vy and yaw)."""

    def __init__(self, env) -> None:
        self.env, self.total, self.square, self.count = env, 0.0, 0.0, 0

    def __enter__(self) -> "JointStatistics":
        step = self.env.step

        def counted(actions):
            out = step(actions)
            angles = (self.env.dof_pos - self.env.default_dof_pos).double()
            self.total = self.total + angles.sum(0)
            self.square = self.square + angles.square().sum(0)
            self.count += angles.shape[0]
            return out

        self.env.step = counted
        return self

    def __exit__(self, *exc) -> None:
        del self.env.step  # the instance attribute goes; the class's step is back

    def asymmetry(self) -> dict:
        from genpo_rsl.envs.genesis_go2 import mirror_action

        if not self.count:
            return {}
        mean = self.total / self.count
        std = (self.square / self.count - mean.square()).clamp(min=0).sqrt()
        mirrored_mean, mirrored_std = mirror_action(mean), mirror_action(std).abs()
        return {"asym_mean": float((mean - mirrored_mean).abs().mean()),  # each pair twice: the mean over pairs
                "asym_std": float((std - mirrored_std).abs().mean())}


def evaluate_tracking(runner, act=None) -> dict:
    """The study's evaluation: one episode per robot from a reset, scored by its return, length and tracking.

    The episodes are those :func:`genpo_rsl.runner.run_episodes` counts (each robot's first, from a reset), and
    so is the tracking: a robot that falls restarts and may finish more episodes before the last robot is done,
    which the env also logs; those are left out. (Runs recorded before 2026-12-07's ninth session averaged every
    episode the env logged during the evaluation, which pulls a policy whose robots fall further down;
    docs/results/go2/README.md, "Symmetry at 3 learning epochs, and the evaluation counts each robot's first episode".)

    Args:
        runner: the trained runner; its env is a Go2 env.
        act: acts instead of the deterministic policy (``run_episodes``' ``act``), e.g. the mean of K samples.
    """
    from genpo_rsl.runner import run_episodes

    env = runner.env
    logged = env.episode_reward_terms[TRACKING]
    tracking: list[float] = []

    def keep(obs, actions, dones, counted) -> None:
        ended = dones.nonzero(as_tuple=False).view(-1).tolist()  # the env logs them in env order
        new = logged[len(logged) - len(ended):] if ended else []
        tracking.extend(value for value, index in zip(new, ended) if bool(counted[index]))

    finished, steps = run_episodes(runner, env.num_envs, deterministic=True, on_step=keep, act=act,
                                   name="go2 evaluation")
    episodes = [episode for per in finished for episode in per]
    returns = np.array([r for r, _ in episodes])
    return {"return_mean": float(returns.mean()), "return_std": float(returns.std()),
            "length_mean": float(np.mean([n for _, n in episodes])),
            "tracking_mean": float(np.mean(tracking)), "episodes": len(episodes), "steps": steps}


def run_one(job: dict) -> dict:
    def compute() -> dict:
        algo = VARIANTS[job["algo"]][0]
        overrides = _merge(pinned_overrides(job["algo"], job["task"]), job["overrides"])
        symmetry = overrides.pop("symmetry", None)
        result = train_and_record(job["task"], algo, job["seed"], overrides=overrides,
                                  iterations=job["iterations"], threads=1, env_kwargs=job["env_kwargs"],
                                  on_record=_collect_episodes, runner_class=_spread_start_runner(),
                                  resume_path=partial_path, checkpoint_every=job["checkpoint_every"],
                                  symmetry=symmetry)
        env, records = result["env"], result["records"]
        episode_returns = list(env.episode_returns)
        eval_from = len(env.episode_lengths)
        start = time.perf_counter()
        with JointStatistics(env) as joints:
            evaluation = evaluate_tracking(result["runner"])
        eval_s = time.perf_counter() - start
        logged = env.episode_reward_terms[TRACKING][eval_from:]  # also robots' second episodes (the old score)
        env.close()
        tail = records[len(records) - max(1, len(records) // 10):]
        tail_tracking = [v for r in tail for v in r["new_tracking"]]
        tail_lengths = [v for r in tail for v in r["new_lengths"]]
        out = strip_runtime(result)
        out["algo"] = job["algo"]  # the variant's name (train_and_record records rsl_rl's algo)
        out["records"] = [{k: r[k] for k in ("iteration", "env_steps", "elapsed_s", "wall_s", "update_s", "env_s",
                                             "episodes", "return_mean", "length_mean", "tracking_mean")}
                          | {"kl": r["losses"].get("kl"), "noise_scale": r["losses"].get("noise_scale"),
                             "learning_rate": r["learning_rate"], "action_noise": r.get("action_noise"),
                             "action_magnitude": r.get("action_magnitude")}
                          for r in records]
        out.update(episode_returns=episode_returns,
                   eval={**{k: v for k, v in evaluation.items() if k != "steps"},
                         "tracking_mean_logged": float(np.mean(logged)), "episodes_logged": len(logged),
                         **joints.asymmetry()},
                   eval_s=eval_s, train_s=float(records[-1]["elapsed_s"]), iterations=len(records),
                   tail_tracking=float(np.mean(tail_tracking)) if tail_tracking else float("nan"),
                   tail_length=float(np.mean(tail_lengths)) if tail_lengths else float("nan"))
        return out

    partial_path = job["path"] + ".partial.pt"
    result, _ = run_cached(job["path"], compute)
    if os.path.isfile(partial_path):
        os.remove(partial_path)
    return result


def pinned_overrides(name: str, task: str) -> dict:
    """VARIANTS[name]'s task_settings overrides with every field of today's robot recipe stated.

    The robot recipe sits under every run of a robot task; a field a pinned variant leaves unset takes the value
    it has without the recipe (the package's policy default, the task's PPO value), so the variant keeps
    measuring what its recorded runs measured when the recipe gains or changes a field. "genpo" (the default
    itself) and the PPO variants pass through.

    Args:
        name: a key of :data:`VARIANTS`; task: the task id (its PPO settings give the algorithm fallbacks).
    """
    from genpo_rsl.config import FLOW_DEFAULTS, GENPO_ALGORITHM_DEFAULTS
    from genpo_rsl.train_config import recipe_settings, task_settings

    algo, overrides = VARIANTS[name]
    out = _merge(overrides, {})
    if algo != "genpo" or name == "genpo":
        return out
    robot, ppo = recipe_settings("robot"), task_settings(task)["ppo"]
    out["flow"] = {**{key: FLOW_DEFAULTS[key] for key in robot["flow"]}, **out.get("flow", {})}
    out["genpo"] = {**{key: GENPO_ALGORITHM_DEFAULTS[key] if key in GENPO_ALGORITHM_DEFAULTS else ppo[key]
                       for key in robot["genpo"]}, **out.get("genpo", {})}
    return out


def _merge(low: dict, high: dict) -> dict:
    """task_settings overrides ``high`` over ``low``, nested dicts merged key by key."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in low.items()}
    for key, value in high.items():
        out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) else value
    return out


def _series(run: dict, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(env steps, wall s, per-iteration value carried forward over iterations where no episode finished)."""
    records = run["records"]
    values = np.array([r[key] for r in records], dtype=float)
    for i in range(1, len(values)):
        if np.isnan(values[i]):
            values[i] = values[i - 1]
    return (np.array([r["env_steps"] for r in records], dtype=float),
            np.array([r["elapsed_s"] for r in records], dtype=float), values)


def _rolling_tracking(run: dict, window: int = 10) -> np.ndarray:
    """Per iteration, the mean training tracking of the last ``window`` iterations (carried forward where no
    episode finished)."""
    values = np.nan_to_num(_series(run, "tracking_mean")[2], nan=0.0)
    return np.array([values[max(0, i + 1 - window): i + 1].mean() for i in range(len(values))])


def equal_wall_time(by_algo: dict[str, list[dict]], window: int = 10) -> str:
    """Per policy and seed, the iteration at which the ``window``-iteration mean of the training tracking first
    reaches PPO's final one (the mean over PPO's seeds of their last ``window`` iterations); "-" if never.

    The runs' own seconds come from a shared machine, so the table counts iterations: times a cost ratio
    measured in one run of ``bench/iteration_time.py`` they compare wall time at equal cost."""
    ppo = by_algo.get("ppo") or []
    if not ppo:
        return "(no PPO runs: no equal wall time table)"
    target = float(np.mean([_rolling_tracking(r, window)[-1] for r in ppo]))
    rows = []
    for algo, runs in by_algo.items():
        if not runs:
            continue
        reached = []
        for run in sorted(runs, key=lambda r: r["seed"]):
            hits = np.nonzero(_rolling_tracking(run, window) >= target)[0]
            reached.append(str(int(hits[0]) + 1) if len(hits) else "-")
        rows.append([variant_label(algo), " / ".join(reached), len(runs[0]["records"])])
    return (f"Iterations until the {window}-iteration mean of the training tracking reaches PPO's final "
            f"({target:.3f}; seeds in order; \"-\": not within the run):\n\n"
            + markdown_table(["policy", "iteration reached", "of"], rows))


def report(results: list[dict], out: str, task: str) -> str:
    plt = pyplot()
    results = [as_default(r) for r in results]
    by_algo = {a: [r for r in results if r["algo"] == a] for a in VARIANTS}
    metrics = [("return_mean", "mean episode return"), ("length_mean", "mean episode length (steps)"),
               ("tracking_mean", "tracking_lin_vel (per episode)")]
    fig, axes = plt.subplots(len(metrics), 2, figsize=(10, 3.0 * len(metrics)), squeeze=False)
    for row, (key, label) in enumerate(metrics):
        for algo, runs in by_algo.items():
            if not runs:
                continue
            data = [_series(r, key) for r in runs]
            name = f"{variant_label(algo)} ({len(runs)} seeds)"
            color = f"C{list(VARIANTS).index(algo)}"
            plot_band(axes[row][0], [d[0] for d in data], [d[2] for d in data], name, color)
            plot_band(axes[row][1], [d[1] for d in data], [d[2] for d in data], name, color)
            for run in runs:  # where a run resumed, the robots restarted from a reset: marked, not hidden
                for at in run.get("resumed_at", []):
                    if 0 < at <= len(run["records"]):
                        rec = run["records"][at - 1]
                        for col, x in enumerate((rec["env_steps"], rec["elapsed_s"])):
                            axes[row][col].axvline(x, color=color, ls=":", lw=0.8, alpha=0.6)
        for col, xlabel in enumerate(("env steps", "training wall time (s, one thread)")):
            axes[row][col].set_xlabel(xlabel)
            axes[row][col].set_ylabel(label)
            axes[row][col].grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{task}: mean +- std over seeds (episodes finished in each iteration; dotted: a run resumed "
                 "there)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "curves.png"), dpi=110)
    plt.close(fig)

    rows = []
    for algo, runs in by_algo.items():
        if not runs:
            continue
        hours = sum(r["train_s"] + r["eval_s"] for r in runs) / 3600
        per_iter = mean_std([np.mean([x["wall_s"] for x in r["records"]]) for r in runs])[0]
        rows.append([variant_label(algo), len(runs), f"{runs[0]['records'][-1]['env_steps']:,}",
                     fmt([r["tail_tracking"] for r in runs], 3), fmt([r["tail_length"] for r in runs], 0),
                     fmt([r["eval"]["tracking_mean"] for r in runs], 3), fmt([r["eval"]["length_mean"] for r in runs], 0),
                     fmt([r["eval"]["return_mean"] for r in runs], 2), f"{per_iter:.1f}", f"{hours:.2f}"])
    return markdown_table(["policy", "seeds", "env steps", "tracking (train, last 10%)", "ep. length (train)",
                           "tracking (eval)", "ep. length (eval)", "return (eval)", "s / iteration",
                           "core-hours"], rows) + "\n\n" + equal_wall_time(by_algo)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--task", choices=list(TASKS), default="flat",
                        help="flat: walk forward at 0.5 m/s; omni: sampled x/y/yaw commands (PPO does not saturate)")
    parser.add_argument("--algos", nargs="+", choices=list(VARIANTS), default=["ppo", "genpo"],
                        help="e.g. two processes, one per algorithm (the report covers the runs of this command; "
                             "--report-only tabulates every finished run)")
    parser.add_argument("--iterations", type=int, default=None, help="default: 100 (flat), 200 (omni)")
    parser.add_argument("--num-envs", type=int, default=None, help="default: the task's (1024)")
    add_study_arguments(parser, "docs/results/go2", "32 envs x 2 iterations x 1 seed, 2 s episodes")
    # One process by default: each Genesis process start costs about 90 CPU-seconds of kernel loading.
    parser.set_defaults(jobs=1)
    args = parser.parse_args(argv)

    task = TASKS[args.task]
    iterations = args.iterations or (200 if args.task == "omni" else 100)
    seeds, overrides, env_kwargs, every = args.seeds, {}, {}, 10
    if args.num_envs:
        overrides["num_envs"] = args.num_envs
    if args.smoke:
        seeds, iterations, every = [0], 2, 1
        overrides, env_kwargs = {"num_envs": 32, "num_steps_per_env": 8}, {"episode_length_s": 0.1}
    jobs = []
    for seed in seeds:  # seed-major: a study cut short has both algorithms at the same seeds
        for algo in args.algos:
            tag = "smoke" if args.smoke else f"it{iterations}" + (f"_n{args.num_envs}" if args.num_envs else "")
            jobs.append({"task": task, "algo": algo, "seed": seed, "iterations": iterations, "overrides": overrides,
                         "env_kwargs": env_kwargs, "checkpoint_every": every,
                         "path": os.path.join(args.out, "runs",
                                              f"{PREFIXES[args.task]}__{algo}__seed{seed}__{tag}.json")})
    if args.report_only:  # every finished run of the task at this budget, whatever --algos says
        jobs = [dict(job, algo=algo, path=job["path"].replace(f"__{job['algo']}__", f"__{algo}__"))
                for job in jobs if job["algo"] == args.algos[0] for algo in VARIANTS]
    # Genesis is initialised once per process: with --jobs 1 the runs go one after another in this process;
    # --jobs > 1 spawns worker processes, each paying Genesis' start-up.
    jobs, results, trained = run_study(run_one, jobs, 1 if args.smoke else args.jobs, args.report_only)
    out = os.path.join(args.out, args.task)
    os.makedirs(out, exist_ok=True)
    table = report(results, out, task) if results else "(no finished runs)"
    hours = sum(r["train_s"] + r["eval_s"] for r in results) / 3600
    cost = f"compute: {hours:.2f} core-hours in {len(results)} runs (training plus evaluation, one thread per run)"
    resumed = [f"{variant_label(r['algo'])} seed {r['seed']} at iteration {', '.join(map(str, r['resumed_at']))}"
               for r in results if r.get("resumed_at")]
    # A resumed run's robots restart from a reset: its episodes are re-synchronised there (marked in the curves),
    # which moves the "train, last 10%" columns (the evaluation starts from a reset anyway and is unaffected).
    resumed_note = ("resumed from a checkpoint (robots restarted from a reset there): " + "; ".join(resumed)
                    if resumed else "no run was resumed")
    print(table)
    print(cost)
    print(resumed_note)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table + "\n\n" + cost + "\n\n" + resumed_note + "\n")
    write_summary(args.out)
    if os.path.abspath(args.out) == os.path.abspath(DEFAULT_OUT):
        write_readme_results(args.out)
    print(f"{trained} run(s) trained, {len(jobs) - trained} read back; wrote {args.out}/summary.json, "
          f"{out}/table.md, {out}/curves.png")
    return {"results": results, "trained": trained, "table": table}


DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "results", "go2")
README = os.path.join(os.path.dirname(DEFAULT_OUT), os.pardir, os.pardir, "README.md")
README_MARKERS = ("<!-- generated: bench/go2.py --report-only -->\n", "<!-- end generated -->\n")
TASK_WORDS = {"flat": "walk forward at 0.5 m/s; 100 iterations x 1024 envs x 24 steps = 2.46 M env steps",
              "omni": "sampled forward, sideways and yaw commands; 200 iterations, 4.92 M env steps"}


def write_readme_results(out: str) -> None:
    """README's results block (between its markers): each task's table and curves, from OUT/<task>/table.md."""
    blocks = ["Unitree Go2 velocity tracking in Genesis on a CPU (`bench/go2.py`, one torch thread per run, same "
              "settings for every policy: Genesis' example's PPO setup). Tracking: the `tracking_lin_vel` reward of "
              "an episode, 1.0 = perfect for 20 s; eval: deterministic, one episode per env from a reset; train: "
              "the stochastic policy's episodes in the last 10% of iterations. The robot default's rows are its "
              "pinned runs.", ""]
    for short, task in TASKS.items():
        path = os.path.join(out, short, "table.md")
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            table = f.read().strip()
        blocks += [f"`{task}` ({TASK_WORDS[short]}):", "", table, "",
                   f"![{task} curves](docs/results/go2/{short}/curves.png)", ""]
    with open(README, encoding="utf-8") as f:
        text = f.read()
    start, end = README_MARKERS
    if start not in text or end not in text:
        return
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    with open(README, "w", encoding="utf-8") as f:
        f.write(head + start + "\n".join(blocks) + end + tail)


def write_summary(out: str) -> None:
    """OUT/summary.json: one entry per finished run file of either task (the tables are per task)."""
    runs = []
    folder = os.path.join(out, "runs")
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not name.endswith(".json"):
            continue
        with open(os.path.join(folder, name)) as f:
            r = json.load(f)
        r = as_default(r)
        runs.append({"task": r["task"], "algo": r["algo"], "variant": r.get("variant", r["algo"]), "seed": r["seed"],
                     "iterations": r["iterations"],
                     "env_steps": r["records"][-1]["env_steps"], "train_s": r["train_s"], "eval_s": r["eval_s"],
                     "eval": r["eval"], "tail_tracking": r["tail_tracking"], "tail_length": r["tail_length"],
                     "settings": {k: r["settings"].get(k) for k in ("flow", "genpo", "ppo")},
                     "resumed_at": r.get("resumed_at", []), "file": f"runs/{name}"})
    hours = sum(r["train_s"] + r["eval_s"] for r in runs) / 3600
    save_json({"machine": platform.platform(), "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
               "core_hours": hours, "runs": runs}, os.path.join(out, "summary.json"))


if __name__ == "__main__":
    main()
