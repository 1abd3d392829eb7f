"""genpo-demos: record demonstrations from a trained checkpoint (GenPO or Gaussian PPO); atomic demo files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from genpo_rsl.demos import load_demos, save_demos
from genpo_rsl.scripts import demos as demos_cli
from genpo_rsl.scripts import play, train


@pytest.fixture(scope="module", params=["ppo", "genpo"])
def trained(request, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp(request.param)
    return request.param, train.run(["--task", "toy/PointReach", "--algo", request.param, "--num-envs", "4",
                                     "--max-iterations", "1", "--log-dir", str(log_dir)])


def test_recorded_episodes_are_the_policys_rollouts(trained, tmp_path):
    algo, checkpoint = trained
    out = tmp_path / "demos.npz"
    arrays = demos_cli.run(["--checkpoint", checkpoint, "--episodes", "5", "--num-envs", "2", "--out", str(out),
                            "--seed", "7"])
    demos = load_demos(out, obs_dim=6, action_dim=2, task="toy/PointReach")  # what genpo-pretrain reads
    assert len(demos) == 5 * 50 and demos.num_episodes == 5 and demos.episode_starts[0]
    assert list(np.nonzero(demos.episode_starts)[0]) == [0, 50, 100, 150, 200]  # PointReach: 50-step episodes
    np.testing.assert_array_equal(demos.actions, arrays["actions"])
    assert np.all(np.abs(demos.observations[demos.episode_starts][:, 2:4]) == 0.0)  # zero velocity at each start
    # Deterministic recording = genpo-play's deterministic rollout with the same seed and envs: the same returns.
    played = play.run(["--checkpoint", checkpoint, "--episodes", "5", "--num-envs", "2", "--seed", "7",
                       "--deterministic"])
    np.testing.assert_allclose(demos.extra["episode_returns"], played["returns"], rtol=1e-6)
    assert not [name for name in os.listdir(tmp_path) if name != "demos.npz"]  # no temp file left


def test_recorded_returns_are_raw_where_training_rewards_are_normalised(tmp_path):
    """MuJoCo tasks train on normalised, clipped rewards; the demo file's episode returns are the raw scores that
    genpo-play reports for the same rollouts (and not the normalised sums, which are ~100x smaller)."""
    checkpoint = train.run(["--task", "Hopper-v5", "--algo", "ppo", "--num-envs", "2", "--max-iterations", "1",
                            "--log-dir", str(tmp_path / "run")])
    common = ["--checkpoint", checkpoint, "--episodes", "3", "--num-envs", "3", "--seed", "5"]
    arrays = demos_cli.run([*common, "--out", str(tmp_path / "demos.npz")])
    played = play.run([*common, "--deterministic"])
    # genpo-play scores raw rewards (evaluate(), tests/test_reward_normalization.py); the normalised sums differ.
    np.testing.assert_allclose(arrays["episode_returns"], played["returns"], rtol=1e-6)


def test_stochastic_recording_differs_from_deterministic(trained, tmp_path):
    _, checkpoint = trained
    common = ["--checkpoint", checkpoint, "--episodes", "2", "--num-envs", "2", "--seed", "3"]
    first = demos_cli.run([*common, "--out", str(tmp_path / "a.npz")])
    again = demos_cli.run([*common, "--out", str(tmp_path / "b.npz")])
    sampled = demos_cli.run([*common, "--stochastic", "--out", str(tmp_path / "c.npz")])
    np.testing.assert_array_equal(first["actions"], again["actions"])
    assert not np.array_equal(first["actions"], sampled["actions"])


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "demos.npz"
    save_demos(path, np.zeros((3, 2)), np.ones((3, 2)))
    before = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_demos(path, np.zeros((5, 2)), np.zeros((5, 2)))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["demos.npz"]


def test_bad_arguments_fail_with_one_line(trained, tmp_path, capsys):
    _, checkpoint = trained
    cases = [(["--checkpoint", checkpoint, "--episodes", "0", "--out", str(tmp_path / "x.npz")], "--episodes"),
             (["--checkpoint", checkpoint, "--episodes", "2", "--out", str(tmp_path / "x.txt")], "--out"),
             (["--checkpoint", str(tmp_path / "none.pt"), "--episodes", "2", "--out", str(tmp_path / "x.npz")],
              "--checkpoint")]
    for argv, word in cases:
        assert demos_cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("genpo-demos: error:") and word in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.npz").exists()


def test_bench_demos_smoke_writes_both_studies_and_resumes(tmp_path):
    import importlib
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
    bench = importlib.import_module("demos")
    out = str(tmp_path / "demos")
    first = bench.main(["--smoke", "--out", out])
    assert first["twogoal"]["trained"] == 2 and first["mujoco"]["trained"] == 1
    for run in first["twogoal"]["results"]:
        assert len(run["pretrained"]["fractions"]) == 2 and 0.0 <= run["finetuned"]["expected_reward"] <= 1.0
        assert run["probes"][-1]["iteration"] == run["iterations"] - 1
    curve = first["mujoco"]["results"][0]
    assert len(curve["finetune"]["return_mean"]) == len(curve["scratch"]["return_mean"]) == 2
    for name in ("twogoal_table.md", "samples.png", "finetune_curves.png", "mujoco_table.md",
                 "mujoco_return_vs_steps.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    again = bench.main(["--smoke", "--out", out])  # finished runs are read back, never retrained
    assert again["twogoal"]["trained"] == 0 and again["mujoco"]["trained"] == 0
    assert again["twogoal"]["table"] == first["twogoal"]["table"]


def test_bench_demos_goal_lines_count_the_seeds_that_meet_the_half_steps_goal():
    import importlib
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
    bench = importlib.import_module("demos")
    steps = [100 * (i + 1) for i in range(10)]
    scratch = {"env_steps": steps, "return_mean": [float(i) for i in range(10)], "final_eval": [9.0]}  # final ~7
    fast = {"env_steps": steps, "return_mean": [0.0, 0.0] + [20.0] * 8, "final_eval": [20.0]}  # smoothed >= 7 at 400
    never = {"env_steps": steps, "return_mean": [1.0] * 10, "final_eval": [1.0]}
    runs = [{"seed": seed, "finetune": curve, "scratch": scratch, "hold_normalizer": True}
            for seed, curve in ((0, fast), (1, never))]
    assert bench.steps_share(runs[0]) == (400, 0.4) and bench.steps_share(runs[1]) == (None, None)
    (line,) = bench.mujoco_goal_lines(runs)
    assert "seeds 0, 1" in line and "40% / not reached" in line and "met in 1/2" in line


def test_bench_demos_mujoco_reads_a_finished_run_back_without_its_checkpoints(tmp_path):
    import importlib
    import json
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
    bench = importlib.import_module("demos")
    run = {"task": "Hopper-v5", "seed": 3, "finetune": {}, "scratch": {}}
    path = tmp_path / "mujoco" / "Hopper-v5__seed3__it150.json"
    path.parent.mkdir()
    path.write_text(json.dumps(run))
    # Only the run's JSON is there (as in a results folder): nothing may be trained to rebuild the rest.
    job = {"task": "Hopper-v5", "seed": 3, "out": str(tmp_path / "mujoco"), "path": str(path)}
    assert bench.mujoco_job(job) == run
    assert sorted(os.listdir(tmp_path / "mujoco")) == ["Hopper-v5__seed3__it150.json"]
