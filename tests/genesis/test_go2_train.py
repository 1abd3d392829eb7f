"""rsl_rl's stock OnPolicyRunner trains GenPO and Gaussian PPO on the Genesis Go2 env, saves and reloads; the
command line trains on `genesis/Go2-Velocity-Flat`, and genpo-play --video writes an mp4 of a Go2 rollout."""

import json
import math
import os
import sys

import pytest
import torch

from genpo_rsl.compat import register, rsl_rl_major
from genpo_rsl.config import RECIPES
from genpo_rsl.train_config import build_runner_cfg, task_settings

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench")


def _policy_actions(runner, obs):
    from genpo_rsl.runner import inference_policy

    return inference_policy(runner, deterministic=True)(obs)


@pytest.mark.parametrize("algo", ["genpo", "ppo"])
def test_stock_runner_trains_saves_and_reloads(go2_env, algo, tmp_path):
    register()
    from rsl_rl.runners import OnPolicyRunner

    settings = task_settings("genesis/Go2-Velocity-Flat",
                             {"num_envs": go2_env.num_envs, "num_steps_per_env": 16, "hidden_dims": [64, 64]})
    cfg = build_runner_cfg(algo, settings, experiment_name=f"go2_{algo}", logger="tensorboard")
    go2_env.reset()
    torch.manual_seed(0)
    runner = OnPolicyRunner(go2_env, cfg, log_dir=str(tmp_path), device="cpu")
    runner.learn(num_learning_iterations=2)
    assert runner.current_learning_iteration == 1
    assert len(go2_env.episode_lengths) >= go2_env.num_envs, "25-step episodes end within 16 steps x 2 iterations"
    path = str(tmp_path / "model.pt")
    runner.save(path)

    fresh = OnPolicyRunner(go2_env, build_runner_cfg(algo, settings, experiment_name="reload"), log_dir=None,
                           device="cpu")
    obs = go2_env.get_observations()
    assert not torch.equal(_policy_actions(fresh, obs), _policy_actions(runner, obs))
    fresh.load(path)
    assert torch.equal(_policy_actions(fresh, obs), _policy_actions(runner, obs))
    actions = _policy_actions(fresh, obs)
    assert actions.shape == (go2_env.num_envs, 12) and bool(torch.isfinite(actions).all())
    if algo == "genpo" and rsl_rl_major() >= 4:
        assert type(fresh.alg).__name__ == "GenPO"


def test_cli_trains_go2_then_plays_a_video(tmp_path):
    """genpo-train --task genesis/Go2-Velocity-Flat, then genpo-play --video: an mp4 with frames of the rollout."""
    imageio = pytest.importorskip("imageio.v2")
    from genpo_rsl.scripts import play, train

    log_dir = str(tmp_path / "run")
    train.run(["--task", "genesis/Go2-Velocity-Flat", "--num-envs", "4", "--max-iterations", "1", "--seed", "1",
               "--log-dir", log_dir])
    with open(os.path.join(log_dir, "run.json")) as f:
        assert json.load(f)["task"] == "genesis/Go2-Velocity-Flat"
    checkpoints = sorted(p for p in os.listdir(log_dir) if p.endswith(".pt"))
    assert checkpoints, "genpo-train wrote no checkpoint"
    video = str(tmp_path / "go2.mp4")
    play.run(["--checkpoint", os.path.join(log_dir, checkpoints[-1]), "--episodes", "1", "--video", video])
    reader = imageio.get_reader(video)
    frames = [frame for frame in reader]
    reader.close()
    assert len(frames) > 1 and frames[0].ndim == 3 and frames[0].shape[2] == 3
    assert frames[0].std() > 0, "the frame is blank"


def test_study_evaluation_scores_each_robots_first_episode(go2_env):
    """bench/go2.py's evaluation averages the tracking of each robot's first episode from a reset, not every
    episode the env logs meanwhile (a robot that ends early restarts and may end again before the others)."""
    sys.path.insert(0, BENCH)
    import go2

    register()
    from genpo_rsl.runner import GenPORunner, inference_policy

    settings = task_settings("genesis/Go2-Velocity-Flat-Omni", {"num_envs": go2_env.num_envs, "hidden_dims": [32, 32]})
    runner = GenPORunner(go2_env, build_runner_cfg("genpo", settings, experiment_name="eval"), log_dir=None,
                         device="cpu")
    policy = inference_policy(runner)

    def act(obs):
        ahead = go2_env.episode_length_buf.clone()  # (the env's buffer is an inference tensor)
        ahead[0] = go2_env.max_episode_length  # robot 0 times out on every step
        go2_env.episode_length_buf = ahead
        return policy(obs)

    first, logged, step = {}, [], go2_env.step

    def recording(actions):
        out = step(actions)
        ended = out[2].bool().nonzero().view(-1).tolist()
        values = out[3]["log"]["/episode_reward/tracking_lin_vel"].tolist() if ended else []
        logged.extend(values)
        for index, value in zip(ended, values):
            first.setdefault(index, value)
        return out

    go2_env.step = recording
    try:
        result = go2.evaluate_tracking(runner, act=act)
    finally:
        del go2_env.step
    assert result["episodes"] == go2_env.num_envs == len(first)
    assert len(logged) > go2_env.num_envs + 10  # robot 0's later episodes were logged too ...
    assert result["tracking_mean"] == pytest.approx(sum(first.values()) / len(first), rel=1e-6)  # ... not scored
    assert result["tracking_mean"] != pytest.approx(sum(logged) / len(logged), rel=1e-3)


def test_go2_study_smoke(tmp_path):
    """bench/go2.py --smoke trains each asked variant on either task, writes its table, JSON and curves, and resumes."""
    sys.path.insert(0, BENCH)
    import go2

    out = str(tmp_path / "go2")
    first = go2.main(["--smoke", "--out", out, "--algos", "ppo", "genpo", "multistep_state"])
    assert first["trained"] == 3 and len(first["results"]) == 3
    assert os.path.getsize(os.path.join(out, "summary.json")) > 0
    for name in ("table.md", "curves.png"):
        assert os.path.getsize(os.path.join(out, "flat", name)) > 0
    for run in first["results"]:
        assert len(run["records"]) == 2 and run["eval"]["episodes"] == 32
        assert 0.0 <= run["tail_tracking"] <= 1.0
    flows = {r["algo"]: r["settings"]["flow"] for r in first["results"]}
    # A pinned variant keeps the recipe its runs measured (here: the old hard clamp on sigma), whatever the default.
    assert flows["multistep_state"] == {"flow": "multistep", "noise_scale": "state", "head_dims": [],
                                        "max_noise_scale": pytest.approx(math.exp(2.0))}
    assert flows["genpo"] == RECIPES["robot"]["policy"]  # the package's robot default
    # ... and its algorithm fields too: one the variant leaves unset keeps its value without the recipe.
    algorithms = {r["algo"]: r["settings"]["genpo"] for r in first["results"]}
    assert algorithms["multistep_state"]["desired_kl"] == 0.01 != RECIPES["robot"]["algorithm"]["desired_kl"]
    assert algorithms["genpo"] == RECIPES["robot"]["algorithm"]
    for run in first["results"]:  # each robot's first episode scored; the env's log may hold more
        assert run["eval"]["episodes_logged"] >= run["eval"]["episodes"]
        assert 0.0 <= run["eval"]["tracking_mean"] <= 1.0 and 0.0 <= run["eval"]["tracking_mean_logged"] <= 1.0
    for run in first["results"]:  # left/right gait statistics of the evaluation
        assert run["eval"]["asym_mean"] >= 0.0 and run["eval"]["asym_std"] >= 0.0
    for run in first["results"]:  # the actions' spread and size at fixed states, every iteration
        for record in run["records"]:
            assert 0.05 < record["action_noise"] < 5.0 and 0.0 < record["action_magnitude"] < 5.0, record
    second = go2.main(["--smoke", "--out", out, "--algos", "ppo", "genpo", "multistep_state"])
    assert second["trained"] == 0 and "GenPO" in second["table"] and "PPO" in second["table"]
    omni = go2.main(["--smoke", "--out", out, "--task", "omni", "--algos", "ppo", "genpo_sym", "ppo_sym"])
    assert omni["trained"] == 3 and os.path.getsize(os.path.join(out, "omni", "table.md")) > 0
    assert "symmetry augmentation" in omni["table"]
    with open(os.path.join(out, "summary.json")) as f:
        runs = json.load(f)["runs"]
    assert sorted((r["task"], r["algo"]) for r in runs) == sorted(
        [("genesis/Go2-Velocity-Flat", a) for a in ("ppo", "genpo", "multistep_state")]
        + [("genesis/Go2-Velocity-Flat-Omni", a) for a in ("ppo", "genpo_sym", "ppo_sym")])
    assert all({"env_steps", "train_s", "eval", "seed", "variant"} <= set(r) for r in runs)


def test_go2_equal_wall_time_table_counts_iterations_to_ppo_final():
    """The report's equal-wall-time table: the first iteration whose 10-iteration mean reaches PPO's final one."""
    sys.path.insert(0, BENCH)
    import go2

    def run(seed, values):
        return {"seed": seed, "records": [{"tracking_mean": v, "env_steps": i, "elapsed_s": i}
                                          for i, v in enumerate(values)]}

    ppo = [run(0, [0.5] * 20), run(1, [0.3] * 20)]  # final 10-iteration means 0.5 and 0.3: target 0.4
    ramp = [i / 20 for i in range(20)]  # the 10-iteration mean ending at 0-based k >= 9 is (k - 4.5) / 20
    never = [0.1] * 20
    gap = [0.1, float("nan")] * 10  # iterations without a finished episode carry the last value forward
    table = go2.equal_wall_time({"ppo": ppo, "genpo": [run(1, never), run(0, ramp)], "genpo_sym": [run(0, gap)]})
    assert "PPO's final (0.400" in table
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1] for line in table.splitlines()
            if line.startswith("| ") and "policy" not in line}
    assert rows[go2.variant_label("ppo")] == "1 / -"  # seed 0 starts at 0.5; seed 1 never gets to 0.4
    assert rows[go2.variant_label("genpo")] == "14 / -"  # (13 - 4.5) / 20 >= 0.4 > (12 - 4.5) / 20; seeds in order
    assert rows[go2.variant_label("genpo_sym")] == "-"
    assert "no PPO runs" in go2.equal_wall_time({"genpo": [run(0, ramp)]})
