"""Bad inputs, numerical health and atomic checkpoints, in whichever rsl_rl world is installed.

The bad inputs already covered elsewhere (mix 0 / 1.5, num_steps 0, negative compression/entropy coefficients,
desired_kl 0, unknown policy/algorithm keys: test_train_e2e.py, test_rsl_rl_v3.py; Gaussian <-> GenPO, other
obs/action sizes, truncated or non-checkpoint files: test_runner_checkpoints.py; NaN from a gymnasium env:
test_envs.py) are not repeated here. What is here: the remaining out-of-range values, flow settings that differ
from the checkpoint's, NaN/inf from an env reaching training, atomic saves, the round-trip health check and
non-finite losses, each stopping training before a bad checkpoint is written.
"""

from __future__ import annotations

import math
import os
import re
import warnings

import pytest
import torch

from genpo_rsl.checkpoint import CheckpointError, describe_checkpoint
from genpo_rsl.compat import register, rsl_rl_major
from genpo_rsl.envs import GymnasiumVecEnv, PointReachVecEnv
from genpo_rsl.runner import GenPORunner
from genpo_rsl.train_config import build_runner_cfg, task_settings

register()
MAJOR = rsl_rl_major()
NUM_ENVS = 8
SMALL = {"num_envs": NUM_ENVS, "num_steps_per_env": 8, "hidden_dims": [16, 16], "save_interval": 1,
         "ppo": {"num_learning_epochs": 2, "num_mini_batches": 2}}
SMALL_FLOW = {"num_steps": 3, "time_embed_dim": 8, "time_hidden_dims": [8]}


def small_cfg(flow: dict | None = None, genpo: dict | None = None, ppo: dict | None = None) -> dict:
    settings = task_settings("toy/PointReach", {**SMALL, "flow": {**SMALL_FLOW, **(flow or {})},
                                                "genpo": genpo or {}, "ppo": {**SMALL["ppo"], **(ppo or {})}})
    return build_runner_cfg("genpo", settings, experiment_name="test")


def make_runner(env=None, log_dir=None, **cfg_kwargs) -> GenPORunner:
    runner = GenPORunner(env or PointReachVecEnv(NUM_ENVS, seed=0), small_cfg(**cfg_kwargs),
                         log_dir=None if log_dir is None else str(log_dir), device="cpu")
    (runner.logger if MAJOR >= 4 else runner).git_status_repos = []  # no git diff in the log dir
    return runner


def flow_of(runner):
    return runner.alg.policy.flow if MAJOR == 3 else runner.alg.get_policy().flow


def snapshot(directory) -> dict[str, bytes]:
    """Every file in ``directory`` (checkpoints and any stray temporary file) with its bytes."""
    return {name: open(os.path.join(directory, name), "rb").read() for name in sorted(os.listdir(directory))
            if os.path.isfile(os.path.join(directory, name)) and not name.startswith("events.")}


# ---------------------------------------------------------------------------------------------- config values
@pytest.mark.parametrize("section,field,value,match", [
    ("flow", "mix", -0.5, r"mix: must be a number in \(0, 1\]"),
    ("flow", "num_steps", -2, "num_steps: must be an integer in \\[1, 1000\\]"),
    ("ppo", "value_loss_coef", -1.0, r"algorithm.value_loss_coef: must be in \[0.0, inf\)"),
    ("ppo", "max_grad_norm", -0.5, "algorithm.max_grad_norm"),
    ("ppo", "desired_kl", -0.01, r"algorithm.desired_kl: must be in \(0.0, inf\)"),
    ("ppo", "learning_rate", 0.0, "algorithm.learning_rate"),
    ("ppo", "gamma", 1.5, r"algorithm.gamma: must be in \[0.0, 1.0\]"),
    ("ppo", "num_learning_epochs", 0, "algorithm.num_learning_epochs: must be an integer >= 1"),
    ("genpo", "roundtrip_warn", 0.0, "algorithm.roundtrip_warn"),
    ("genpo", "roundtrip_fail", 1e-6, r"algorithm.roundtrip_fail: must be in \[0.001"),
    ("genpo", "kl_estimator", "k2", "algorithm.kl_estimator: must be one of"),
])
def test_out_of_range_values_name_the_field_before_training(section, field, value, match):
    with pytest.raises(ValueError, match=match):
        make_runner(**{section: {field: value}})


# ---------------------------------------------------------------------------------------------- checkpoints
def test_flow_settings_that_are_not_weights_must_match_the_checkpoint(tmp_path):
    path = str(tmp_path / "mix09.pt")
    make_runner().save(path)
    assert describe_checkpoint(path).written_by["flow"] == {"mix": 0.9, "num_steps": 3, "noise_scale": "fixed",
                                                            "head_dims": [], "max_noise_scale": math.exp(2.0)}
    # The fix is named as the override to type; outside genpo-train in IsaacLab's form (agent.policy / agent.actor).
    with pytest.raises(CheckpointError, match=r"mix=0.9 in the checkpoint vs 0.5 in the config.*Fix: add "
                                              r"agent\.(policy|actor)\.mix=0\.9 to load it"):
        make_runner(flow={"mix": 0.5}).load(path)
    with pytest.raises(CheckpointError, match="noise_scale='fixed' in the checkpoint vs 'learned'"):
        make_runner(flow={"noise_scale": "learned"}).load(path)
    # The bound on a state-dependent sigma is a setting, not a weight: a checkpoint keeps its own.
    bounded = str(tmp_path / "bounded.pt")
    make_runner(flow={"noise_scale": "state", "max_noise_scale": 1.5}).save(bounded)
    with pytest.raises(CheckpointError, match=r"max_noise_scale=1.5 in the checkpoint.*Fix: add "
                                              r"agent\.(policy|actor)\.max_noise_scale=1\.5 to load it"):
        make_runner(flow={"noise_scale": "state"}).load(bounded)


def test_save_writes_the_stock_layout_and_stays_loadable_with_weights_only(tmp_path):
    from rsl_rl.runners import OnPolicyRunner

    runner = make_runner()
    ours, stock = str(tmp_path / "ours.pt"), str(tmp_path / "stock.pt")
    runner.save(ours)
    if MAJOR == 3:
        runner.logger_type = "tensorboard"  # rsl_rl 3.x's save() reads it; only learn() sets it
    OnPolicyRunner.save(runner, stock)
    ours_dict, stock_dict = torch.load(ours, weights_only=False), torch.load(stock, weights_only=False)
    assert sorted(ours_dict) == sorted(stock_dict)  # the same dict rsl_rl writes, plus our infos
    for key in ("model_state_dict", "actor_state_dict", "critic_state_dict"):
        if key in stock_dict:
            assert all(torch.equal(ours_dict[key][k], v) for k, v in stock_dict[key].items())
    # The resume state (RNG streams) must not make the file unloadable under torch.load's safe default.
    assert torch.load(ours, weights_only=True)["infos"]["genpo_rsl_resume"]["next_iteration"] == 0
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []  # no temporary file left


def test_a_failed_save_leaves_the_existing_checkpoint_intact(tmp_path):
    runner = make_runner()
    path = str(tmp_path / "model_0.pt")
    runner.save(path)
    before = snapshot(tmp_path)
    # An infos value that cannot be pickled fails half-way through torch.save (the stock save would leave a
    # truncated file behind).
    with pytest.raises(Exception, match="(?i)pickle|lambda"):
        runner.save(path, infos={"callback": lambda: None})
    assert snapshot(tmp_path) == before
    describe_checkpoint(path)  # still a readable checkpoint


def test_nonexistent_save_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory .* does not exist"):
        make_runner().save(str(tmp_path / "missing" / "model.pt"))


# ---------------------------------------------------------------------------------------------- bad env output
class FaultyPointReach(PointReachVecEnv):
    """PointReach whose env 0 returns ``value`` as its reward or first observation once ``armed``."""

    def __init__(self, quantity: str, value: float):
        super().__init__(NUM_ENVS, seed=0)
        self.quantity, self.value, self.armed = quantity, value, False

    def step(self, actions):
        obs, rewards, dones, extras = super().step(actions)
        if self.armed:
            if self.quantity == "reward":
                rewards = rewards.clone()
                rewards[0] = self.value
            else:
                obs["policy"][0, 0] = self.value
        return obs, rewards, dones, extras


@pytest.mark.parametrize("quantity,value", [("reward", float("inf")), ("reward", float("nan")),
                                            ("observation", float("inf")), ("observation", float("nan"))])
def test_non_finite_env_output_stops_training_before_a_checkpoint(tmp_path, quantity, value):
    env = FaultyPointReach(quantity, value)
    runner = make_runner(env, log_dir=tmp_path)
    runner.learn(2)  # saves model_0.pt, model_1.pt
    before = snapshot(tmp_path)
    params = {k: v.clone() for k, v in flow_of(runner).state_dict().items()}
    env.armed = True
    inputs = "observations \\(policy context\\)" if quantity == "observation" else "advantages, returns"
    ours = rf"loss is .*no NaN weights.*Non-finite minibatch inputs: {inputs}.*non-finite observations or rewards"
    if MAJOR >= 4 and (value != value or quantity == "observation"):
        # rsl_rl 5.x's runner checks every env step for NaN (not inf) itself (check_for_nan); an inf observation
        # turns into NaN actions and so into a NaN observation one step later.
        error, match = ValueError, "observation group 'policy'.*NaN" if quantity == "observation" else "rewards.*NaN"
    else:
        error, match = RuntimeError, ours
    with pytest.raises(error, match=match):
        runner.learn(1)
    assert snapshot(tmp_path) == before  # no model_2.pt, earlier checkpoints untouched, no temporary file
    assert all(torch.equal(v, params[k]) for k, v in flow_of(runner).state_dict().items())


def test_gymnasium_env_nan_reaches_the_user_as_a_named_error(tmp_path):
    import numpy as np

    env = GymnasiumVecEnv("Pendulum-v1", num_envs=2, seed=0)
    obs = np.zeros((2, env.obs_dim))
    obs[1, 0] = np.nan
    env._vec.step = lambda actions: (obs, np.zeros(2), np.zeros(2, dtype=bool), np.zeros(2, dtype=bool), {})
    runner = make_runner(env, log_dir=tmp_path)
    with pytest.raises(RuntimeError, match=r"Pendulum-v1: the environment returned a non-finite observation .* "
                                           r"env index\(es\) \[1\]"):
        runner.learn(1)
    assert snapshot(tmp_path) == {}
    env.close()


# ---------------------------------------------------------------------------------------------- numerical health
def test_ill_conditioned_flow_warns_but_trains(tmp_path):
    # mix 0.15 over 3 steps amplifies float32 rounding by ~(1/0.15)^3 in the inverse: an error around 1e-2,
    # between roundtrip_warn (1e-3) and roundtrip_fail (1e-1).
    runner = make_runner(log_dir=tmp_path, flow={"mix": 0.15})
    captured = {}
    update = runner.alg.update
    runner.alg.update = lambda: captured.setdefault("losses", update())
    with pytest.warns(RuntimeWarning, match=r"inversion round-trip error .* > algorithm.roundtrip_warn=0.001"):
        runner.learn(1)
    assert 1e-3 < captured["losses"]["roundtrip_error"] < 1e-1
    assert "model_0.pt" in os.listdir(tmp_path)


def test_round_trip_failure_stops_before_saving(tmp_path):
    runner = make_runner(log_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # healthy: no round-trip warning
        runner.learn(2)
    before = snapshot(tmp_path)
    assert {"model_0.pt", "model_1.pt"} <= set(before)
    params = {k: v.clone() for k, v in flow_of(runner).state_dict().items()}
    flow_of(runner).mix = 1e-3  # the flow becomes ill-conditioned mid-run: the inverse divides by p^N = 1e-9
    with pytest.raises(RuntimeError, match=r"round-trip error .* exceeds algorithm.roundtrip_fail=0.1.*stops "
                                           r"before saving.*Raise the policy's mix"):
        runner.learn(1)
    assert snapshot(tmp_path) == before  # model_1.pt untouched, no model_2.pt
    changed = any(not torch.equal(v, params[k]) for k, v in flow_of(runner).state_dict().items())
    assert changed  # the update ran; only the check kept its result from being saved


def test_inf_advantages_stop_the_update_without_touching_the_weights():
    runner = make_runner()
    alg, env = runner.alg, runner.env
    obs = env.get_observations()
    with torch.inference_mode():
        for _ in range(SMALL["num_steps_per_env"]):
            actions = alg.act(obs)
            obs, rewards, dones, extras = env.step(actions)
            alg.process_env_step(obs, rewards, dones, extras)
        alg.compute_returns(obs)
        alg.storage.advantages.fill_(float("inf"))  # so the very first minibatch fails
    models = [alg.policy] if MAJOR == 3 else [alg.actor, alg.critic]
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    with pytest.raises(RuntimeError, match=r"the loss is (nan|inf|-inf); the optimizer step was skipped.*"
                                           r"Non-finite minibatch inputs: advantages"):
        alg.update()
    for model, state in zip(models, before):
        assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


# ---------------------------------------------------------------------------------------------- garbage in
class _Scaled(PointReachVecEnv):
    """PointReach whose rewards or observations are multiplied by ``scale`` (finite, absurd: 1e30)."""

    def __init__(self, *args, reward_scale: float = 1.0, obs_scale: float = 1.0, **kwargs):
        self.reward_scale, self.obs_scale = reward_scale, obs_scale
        super().__init__(*args, **kwargs)

    def _make_obs(self):
        return super()._make_obs() * self.obs_scale

    def step(self, actions):
        obs, rewards, dones, extras = super().step(actions)
        return obs, rewards * self.reward_scale, dones, extras


@pytest.mark.parametrize("scales, names", [({"reward_scale": 1e30}, r"returns up to|advantages up to|stored values"),
                                           ({"obs_scale": 1e30}, r"observations")])
def test_absurd_rewards_or_observations_are_named_as_the_cause_not_the_learning_rate_or_mix(scales, names):
    runner = make_runner(env=_Scaled(NUM_ENVS, seed=0, **scales))
    with pytest.raises(RuntimeError) as stop:
        runner.learn(1)
    message = str(stop.value)
    assert re.search(names, message) and ("absurd size" in message or "far out of scale" in message), message
    assert "lower the learning rate" not in message and "Raise the policy's mix" not in message
