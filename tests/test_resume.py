"""Exact resume: K iterations straight equal K/2, save, load into a fresh runner, K/2 more, bit for bit (CPU).

rsl_rl's checkpoints carry the models, the optimizer and the iteration. What else decides the next iterations:

* the global RNG streams (torch: flow noise and minibatch order; numpy, random) -> GenPORunner.save keeps them;
* the environment's state (its RNG, bodies, episode clocks, current observations) -> kept when the env offers
  ``state_dict()`` / ``load_state_dict()``, as the toy env below does. A gymnasium or IsaacLab env mid-episode
  cannot be restored bitwise (simulator state, one np_random per sub-env): a resumed run is then statistically,
  not bitwise, the same run;
* the learning rate: rsl_rl 5.x takes it back from the optimizer; 3.x does not (GenPORunner.load does);
* the iteration counter: rsl_rl resumes *at* the saved iteration (re-running it, and overwriting its file when
  it is a save point); GenPORunner resumes after it.
"""

from __future__ import annotations

import os

import torch

from genpo_rsl.compat import register, rsl_rl_major
from genpo_rsl.envs import GymnasiumVecEnv, PointReachVecEnv
from genpo_rsl.runner import GenPORunner
from genpo_rsl.envs import seed_everything
from genpo_rsl.train_config import build_runner_cfg, task_settings

register()
MAJOR = rsl_rl_major()
NUM_ENVS, K = 8, 4
SETTINGS = {"num_envs": NUM_ENVS, "num_steps_per_env": 8, "hidden_dims": [16, 16], "save_interval": 1000,
            "flow": {"num_steps": 3, "time_embed_dim": 8, "time_hidden_dims": [8]},
            "ppo": {"num_learning_epochs": 2, "num_mini_batches": 2, "learning_rate": 1e-3}}


def make_runner(env, log_dir, settings=SETTINGS) -> GenPORunner:
    cfg = build_runner_cfg("genpo", task_settings("toy/PointReach", settings), experiment_name="test")
    runner = GenPORunner(env, cfg, log_dir=str(log_dir), device="cpu")
    (runner.logger if MAJOR >= 4 else runner).git_status_repos = []
    return runner


def training_state(runner) -> dict:
    """Everything later iterations depend on, as flat {name: tensor or number}."""
    models = {"policy": runner.alg.policy} if MAJOR == 3 else {"actor": runner.alg.actor, "critic": runner.alg.critic}
    state = {f"{name}.{key}": value for name, model in models.items() for key, value in model.state_dict().items()}
    for index, entry in runner.alg.optimizer.state_dict()["state"].items():
        state.update({f"adam.{index}.{key}": value for key, value in entry.items()})
    state["optimizer lr"] = runner.alg.optimizer.param_groups[0]["lr"]
    state["alg.learning_rate"] = runner.alg.learning_rate
    state["iteration"] = runner.current_learning_iteration
    state.update({f"env.{k}": v for k, v in runner.env.state_dict()["tensors"].items()})
    state["env.generator"] = runner.env.generator.get_state()
    return state


def differences(a: dict, b: dict) -> list[str]:
    assert a.keys() == b.keys()
    return [k for k in a if not (torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k])]


def test_split_training_resumes_bit_for_bit(tmp_path):
    seed_everything(0)
    straight = make_runner(PointReachVecEnv(NUM_ENVS, seed=0), tmp_path / "straight")
    straight.learn(K)

    seed_everything(0)
    first_half = make_runner(PointReachVecEnv(NUM_ENVS, seed=0), tmp_path / "split")
    first_half.learn(K // 2)
    path = str(tmp_path / "split" / f"model_{K // 2 - 1}.pt")  # the file learn() saved at its end
    assert os.path.isfile(path)

    # Another seed and another env seed: everything that matters must come from the checkpoint.
    seed_everything(1234)
    resumed = make_runner(PointReachVecEnv(NUM_ENVS, seed=99), tmp_path / "split")
    resumed.load(path)
    assert resumed.current_learning_iteration == K // 2  # the next iteration, not the saved one again
    assert resumed.alg.learning_rate == first_half.alg.learning_rate
    saved_bytes = open(path, "rb").read()
    resumed.learn(K // 2)

    assert differences(training_state(straight), training_state(resumed)) == []
    assert open(path, "rb").read() == saved_bytes  # the checkpoint it resumed from was not overwritten
    checkpoints = lambda run: sorted(f for f in os.listdir(tmp_path / run) if f.startswith("model_"))  # noqa: E731
    assert checkpoints("straight") == ["model_0.pt", f"model_{K - 1}.pt"]
    assert checkpoints("split") == ["model_0.pt", f"model_{K // 2 - 1}.pt", f"model_{K - 1}.pt"]  # same numbering

    # Control: without the RNG streams and env state the continuation differs, so the test above can fail.
    seed_everything(1234)
    unseeded = make_runner(PointReachVecEnv(NUM_ENVS, seed=99), tmp_path / "control")
    unseeded.load(path, resume_state=False)
    unseeded.learn(K // 2)
    changed = differences(training_state(straight), training_state(unseeded))
    assert any(key.startswith(("policy.", "actor.")) for key in changed)


def test_learning_rate_comes_back_in_every_world(tmp_path):
    runner = make_runner(PointReachVecEnv(NUM_ENVS, seed=0), tmp_path)
    adapted = 3.375e-4  # as if the adaptive schedule had moved it from the configured 1e-3
    runner.alg.learning_rate = adapted
    for group in runner.alg.optimizer.param_groups:
        group["lr"] = adapted
    path = str(tmp_path / "lr.pt")
    runner.save(path)
    fresh = make_runner(PointReachVecEnv(NUM_ENVS, seed=0), tmp_path)
    assert fresh.alg.learning_rate == 1e-3
    fresh.load(path)
    # rsl_rl 3.x's own load restores only the optimizer's lr; its adaptive schedule would then restart from 1e-3.
    assert fresh.alg.learning_rate == adapted
    assert fresh.alg.optimizer.param_groups[0]["lr"] == adapted


def test_weights_only_load_keeps_the_current_run(tmp_path):
    """5.x: a load_cfg without the iteration (e.g. fine-tuning from a policy) restores no RNG or env state."""
    runner = make_runner(PointReachVecEnv(NUM_ENVS, seed=0), tmp_path)
    runner.learn(1)
    path = str(tmp_path / "model_0.pt")
    fresh = make_runner(PointReachVecEnv(NUM_ENVS, seed=5), tmp_path / "fresh")
    env_before = fresh.env.state_dict()
    torch.manual_seed(7)
    rng_before = torch.get_rng_state()
    if MAJOR >= 4:
        fresh.load(path, load_cfg={"actor": True, "critic": True})
        assert fresh.current_learning_iteration == 0
    else:  # 3.x always restores the iteration; the explicit switch keeps the seeds
        fresh.load(path, resume_state=False)
        assert fresh.current_learning_iteration == 1
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.equal(fresh.env.state_dict()["generator"], env_before["generator"])


def test_gymnasium_env_resumes_with_rng_but_without_env_state(tmp_path):
    """A gymnasium env saves only its reward-normaliser statistics (none here: no normalisation), not the simulation:
    the checkpoint records that empty state and the resumed run continues from the new env's episodes."""
    settings = {**SETTINGS, "num_envs": 2}
    env = GymnasiumVecEnv("Pendulum-v1", num_envs=2, seed=0)
    runner = make_runner(env, tmp_path, settings)
    runner.learn(1)
    path = str(tmp_path / "model_0.pt")
    infos = torch.load(path, weights_only=False)["infos"]
    assert infos["genpo_rsl_resume"]["env"] == {"class": "GymnasiumVecEnv", "num_envs": 2, "state": {}}
    seed_everything(5)
    fresh_env = GymnasiumVecEnv("Pendulum-v1", num_envs=2, seed=3)
    fresh = make_runner(fresh_env, tmp_path / "fresh", settings)
    fresh.load(path)
    assert fresh.current_learning_iteration == 1
    assert torch.equal(torch.get_rng_state(), infos["genpo_rsl_resume"]["rng"]["torch"])  # the saved stream
    fresh.learn(1)
    env.close()
    fresh_env.close()
