"""What a Go2 study checkpoint's policy does at visited states: the executed action's spread and size.

    python bench/go2_probe.py genpo_sym docs/results/go2/runs/go2omni__genpo_sym__seed0__it200.json.partial.pt

Loads the checkpoint of a ``bench/go2.py`` variant (a partial one while a run trains, ``<run>.json.partial.pt``),
rolls 256 robots of ``--task`` for 60 stochastic steps from a reset, then at the states reached prints: the std of
32 stochastic actions per state (the exploration noise the env sees; PPO: its std), the mean |action| of the
deterministic policy, and for GenPO the base-noise scale sigma(s) of the dummy action's two halves. The same
numbers are recorded per iteration in new study runs (``action_noise``, ``action_magnitude``). With
``--episode-means K ...`` it then runs the study's evaluation (each robot's first episode from a reset) acting
deterministically, stochastically and with the mean of K stochastic actions, and prints each one's tracking.
"""

from __future__ import annotations

import argparse
import contextlib
import io

import torch

import go2


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", choices=list(go2.VARIANTS))
    parser.add_argument("checkpoint")
    parser.add_argument("--task", choices=list(go2.TASKS), default="omni")
    parser.add_argument("--envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--episode-means", type=int, nargs="*", default=None, metavar="K",
                        help="also run one episode per env from a reset with the deterministic action, one stochastic "
                             "action and the mean of K stochastic actions (for each K given), and print each one's "
                             "tracking: is the deterministic action (GenPO: zero noise) the weak link?")
    args = parser.parse_args(argv)
    from genpo_rsl.compat import register
    from genpo_rsl.envs import make_task_env, seed_everything
    from genpo_rsl.runner import GenPORunner
    from genpo_rsl.train_config import build_runner_cfg, task_settings
    from genpo_rsl.world import adapter

    torch.set_num_threads(1)
    register()
    task = go2.TASKS[args.task]
    algo = go2.VARIANTS[args.variant][0]
    # The variant as its runs trained it (not today's recipe under it); acting does not need the mirror.
    overrides = {k: v for k, v in go2.pinned_overrides(args.variant, task).items() if k != "symmetry"}
    settings = task_settings(task, {**overrides, "num_envs": args.envs})
    seed_everything(0)
    env = make_task_env(task, args.envs, 0, "cpu")
    with contextlib.redirect_stdout(io.StringIO()):
        runner = GenPORunner(env, build_runner_cfg(algo, settings, experiment_name="probe"), log_dir=None,
                             device="cpu")
        runner.load(args.checkpoint)
    iteration = runner.current_learning_iteration
    module = adapter().policy_module(runner)
    stochastic = adapter().act_function(module, deterministic=False)
    obs = env.get_observations()
    with torch.inference_mode():
        for _ in range(args.steps):
            obs = env.step(stochastic(obs))[0]
    out = {"variant": args.variant, "iteration": iteration, **go2.action_statistics(module, obs, samples=32)}
    with torch.inference_mode():
        actor = adapter().actor_module(runner)
        if hasattr(actor, "flow"):
            sigma = actor.flow.log_scale(actor.context(obs)).exp()
            half = sigma.shape[-1] // 2
            out.update(sigma_first_half=float(sigma[:, :half].mean()), sigma_second_half=float(sigma[:, half:].mean()))
    if args.episode_means is not None:
        out.update(episode_tracking(runner, args.episode_means))
    env.close()
    print(", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in out.items()))
    return out


def episode_tracking(runner, means: list[int]) -> dict[str, float]:
    """Tracking (the study's evaluation, :func:`go2.evaluate_tracking`: each robot's first episode from a reset) for
    each way of acting: the deterministic action, one stochastic action, and the mean of K stochastic actions per
    state for each K in ``means``."""
    from genpo_rsl.world import adapter

    stochastic = adapter().act_function(adapter().policy_module(runner), deterministic=False)

    def mean_of(k):
        return lambda obs: torch.stack([stochastic(obs) for _ in range(k)]).mean(0)

    ways = {"deterministic": None, "stochastic": stochastic, **{f"mean_of_{k}": mean_of(k) for k in means}}
    out = {}
    for name, act in ways.items():
        torch.manual_seed(1)
        out[f"tracking_{name}"] = go2.evaluate_tracking(runner, act=act)["tracking_mean"]
    return out


if __name__ == "__main__":
    main()
