"""rsl_rl's unmodified OnPolicyRunner trains, saves and reloads GenPO, and GenPO learns; in whichever world is installed."""

from __future__ import annotations

import copy

import pytest
import torch

from genpo_rsl.compat import register, rsl_rl_major
from genpo_rsl.envs import GymnasiumVecEnv, PointReachVecEnv
from genpo_rsl.train_config import build_runner_cfg, task_settings

register()
from rsl_rl.runners import OnPolicyRunner  # noqa: E402

SMALL = {"hidden_dims": [32, 32], "num_steps_per_env": 16, "num_envs": 4, "save_interval": 1000}


def small_cfg(algo="genpo", **overrides):
    settings = task_settings("Pendulum-v1", {**SMALL, **overrides})
    return build_runner_cfg(algo, settings, experiment_name="test")


def policy_module(runner):
    return runner.alg.policy if rsl_rl_major() < 4 else runner.alg.get_policy()


def deterministic_actions(runner, obs):
    with torch.no_grad():
        return runner.get_inference_policy(device="cpu")(obs)


def test_stock_runner_trains_saves_reloads_identically(tmp_path):
    torch.manual_seed(0)
    env = GymnasiumVecEnv("Pendulum-v1", num_envs=4, seed=0)
    cfg = small_cfg()
    runner = OnPolicyRunner(env, copy.deepcopy(cfg), log_dir=str(tmp_path), device="cpu")
    before = {k: v.clone() for k, v in policy_module(runner).state_dict().items()}
    runner.learn(num_learning_iterations=3)
    after = policy_module(runner).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "training changed no parameter"
    path = tmp_path / "model.pt"
    runner.save(str(path))

    obs = env.get_observations()
    actions = deterministic_actions(runner, obs)
    assert actions.shape == (4, env.num_actions)  # the env action, never the 2A dummy action

    torch.manual_seed(123)  # a fresh runner starts from other weights
    fresh = OnPolicyRunner(env, copy.deepcopy(cfg), log_dir=None, device="cpu")
    assert not torch.equal(deterministic_actions(fresh, obs), actions)
    fresh.load(str(path))
    assert torch.equal(deterministic_actions(fresh, obs), actions)
    env.close()


def test_storage_holds_doubled_action_env_gets_average():
    env = PointReachVecEnv(num_envs=8, seed=0)
    cfg = build_runner_cfg("genpo", task_settings("toy/PointReach", SMALL), experiment_name="test")
    runner = OnPolicyRunner(env, cfg, log_dir=None, device="cpu")
    sent = []
    step = env.step
    env.step = lambda a: (sent.append(a.clone()), step(a))[1]
    obs = env.get_observations()
    with torch.inference_mode():
        actions = runner.alg.act(obs)
        env.step(actions)
    stored = runner.alg.transition.actions
    assert stored.shape == (8, 2 * env.num_actions)
    assert sent[0].shape == (8, env.num_actions)
    assert torch.allclose(sent[0], 0.5 * (stored[:, :2] + stored[:, 2:]))
    assert tuple(runner.alg.storage.actions.shape[-1:]) == (2 * env.num_actions,)


def test_update_logs_genpo_diagnostics(tmp_path):
    env = PointReachVecEnv(num_envs=8, seed=0)
    cfg = build_runner_cfg("genpo", task_settings("toy/PointReach", SMALL), experiment_name="test")
    runner = OnPolicyRunner(env, cfg, log_dir=str(tmp_path), device="cpu")  # rsl_rl 3.x's learn() needs a log dir
    captured = {}
    update = runner.alg.update
    runner.alg.update = lambda: captured.setdefault("losses", update())
    runner.learn(num_learning_iterations=1)
    losses = captured["losses"]
    for key in ("kl", "compression", "roundtrip_error", "noise_scale", "surrogate", "entropy", "clip_fraction"):
        assert key in losses, key
    assert 0.0 <= losses["roundtrip_error"] < 1e-4
    assert losses["compression"] > 0.0
    assert losses["noise_scale"] == pytest.approx(1.0)


def rollout_return(runner, env, steps):
    """Mean undiscounted return of one episode per env, deterministic actions."""
    policy = runner.get_inference_policy(device="cpu")
    obs = env.get_observations()
    total = torch.zeros(env.num_envs)
    with torch.no_grad():
        for _ in range(steps):
            obs, rewards, _, _ = env.step(policy(obs))
            total += rewards
    return total.mean().item()


def test_genpo_learns_point_reach(tmp_path):
    """A learning test: after a short training run the policy clearly beats its untrained self."""
    torch.manual_seed(0)
    settings = task_settings("toy/PointReach", {"num_envs": 32, "num_steps_per_env": 25, "max_iterations": 25})
    cfg = build_runner_cfg("genpo", settings, experiment_name="test")
    train_env = PointReachVecEnv(num_envs=32, seed=0)
    runner = OnPolicyRunner(train_env, cfg, log_dir=str(tmp_path), device="cpu")
    untrained = rollout_return(runner, PointReachVecEnv(num_envs=64, seed=99), 50)
    runner.learn(num_learning_iterations=settings["max_iterations"])
    trained = rollout_return(runner, PointReachVecEnv(num_envs=64, seed=99), 50)
    # Untrained policies score about -50 or worse; a goal-seeking controller scores about -5.
    assert trained > untrained + 15.0, (untrained, trained)
    assert trained > -30.0, (untrained, trained)


# ------------------------------------------------------------------ bad input, before any training starts
def _runner_error(cfg_edit, env=None):
    cfg = small_cfg()
    cfg_edit(cfg)
    env = env or PointReachVecEnv(num_envs=4, seed=0)
    return lambda: OnPolicyRunner(env, cfg, log_dir=None, device="cpu")


def _policy_section(cfg):
    return cfg["actor"] if rsl_rl_major() >= 4 else cfg["policy"]


@pytest.mark.parametrize("field,value,match", [
    ("mix", 0.0, "mix"), ("mix", 1.5, "mix"), ("num_steps", 0, "num_steps"), ("hidden_dims", [], "hidden_dims"),
])
def test_bad_policy_values_fail_at_construction(field, value, match):
    def edit(cfg):
        section = _policy_section(cfg)
        if field == "hidden_dims" and rsl_rl_major() < 4:
            section["actor_hidden_dims"] = value
        else:
            section[field] = value
    with pytest.raises(ValueError, match=match):
        _runner_error(edit)()


def test_unknown_policy_key_is_named():
    with pytest.raises(ValueError, match="num_stpes.*did you mean 'num_steps'"):
        _runner_error(lambda cfg: _policy_section(cfg).update(num_stpes=3))()


@pytest.mark.parametrize("field,value,match", [
    ("compression_coef", -0.1, "compression_coef"), ("desired_kl", 0.0, "desired_kl"),
    ("compression_form", "cubic", "compression_form"), ("entropy_term", "magic", "entropy_term"),
    ("entropy_coef", -1.0, "entropy_coef"), ("compresion_coef", 0.1, "did you mean 'compression_coef'"),
])
def test_bad_algorithm_values_fail_at_construction(field, value, match):
    with pytest.raises(ValueError, match=match):
        _runner_error(lambda cfg: cfg["algorithm"].update({field: value}))()


def test_non_box_action_space_and_unknown_id():
    with pytest.raises(ValueError, match="Box"):
        GymnasiumVecEnv("CartPole-v1", num_envs=1)
    with pytest.raises(ValueError, match="HalfCheetah"):
        GymnasiumVecEnv("HalfCheeta-v5", num_envs=1)
