"""rsl_rl 5.1+'s ``torch_compile_mode``: GenPO compiles its flow calls and the critic, trains, and saves, loads and
exports the raw modules; unset, nothing is compiled; rsl_rl 3.x's runner ignores the key, and its GenPO compiles by
hand. Compilation itself is slow on a CPU (inductor builds C++ kernels), so the networks here are tiny."""

from __future__ import annotations

import copy

import pytest
import torch

from genpo_rsl.compat import register, rsl_rl_major
from genpo_rsl.envs import PointReachVecEnv
from genpo_rsl.ppo_common import check_compile_mode
from genpo_rsl.train_config import build_runner_cfg, task_settings

register()
from rsl_rl.runners import OnPolicyRunner  # noqa: E402

TINY = {"hidden_dims": [8], "num_steps_per_env": 4, "num_envs": 4, "save_interval": 1000,
        "flow": {"num_steps": 1, "time_hidden_dims": [8], "time_embed_dim": 4},
        "ppo": {"num_learning_epochs": 1, "num_mini_batches": 2}}


def tiny_cfg(compile_mode=None, flow="coupled"):
    settings = task_settings("toy/PointReach", copy.deepcopy(TINY))
    settings["flow"]["flow"] = flow
    cfg = build_runner_cfg("genpo", settings, experiment_name="test")
    if compile_mode is not None:
        cfg["torch_compile_mode"] = compile_mode
    return cfg


def flow_of(runner):
    return runner.alg.policy.flow if rsl_rl_major() < 4 else runner.alg.get_policy().flow


def test_unset_compiles_nothing():
    runner = OnPolicyRunner(PointReachVecEnv(num_envs=4, seed=0), tiny_cfg(), log_dir=None, device="cpu")
    assert runner.alg._compiled_flow is None
    if rsl_rl_major() >= 4:
        assert runner.alg.critic is runner.alg._raw_critic


@pytest.mark.parametrize("mode", ["reduce-overhead", "max-autotune", "fast"])
def test_bad_mode_is_a_clear_error(mode):
    with pytest.raises(ValueError, match="torch_compile_mode"):
        check_compile_mode(mode)
    runner = OnPolicyRunner(PointReachVecEnv(num_envs=4, seed=0), tiny_cfg(), log_dir=None, device="cpu")
    with pytest.raises(ValueError, match="torch_compile_mode"):
        runner.alg.compile(mode)


@pytest.mark.skipif(rsl_rl_major() < 4, reason="the 5.x runner reads torch_compile_mode; 3.x: see the next test")
def test_compile_mode_trains_and_keeps_raw_modules(tmp_path, flow="coupled"):
    # One flow only: compiling takes minutes on a shared CPU, and both flows reach the same compiled calls.
    import rsl_rl.algorithms.ppo as ppo_module

    if not hasattr(ppo_module.PPO, "compile"):
        pytest.skip("this rsl_rl 5.x predates torch_compile_mode (5.0)")
    torch.manual_seed(0)
    env = PointReachVecEnv(num_envs=4, seed=0)
    runner = OnPolicyRunner(env, tiny_cfg("default", flow), log_dir=str(tmp_path), device="cpu")
    alg = runner.alg
    assert set(alg._compiled_flow) == {"forward", "log_prob"}
    assert alg.critic is not alg._raw_critic  # the critic is compiled as PPO.compile would
    before = {k: v.clone() for k, v in alg.get_policy().state_dict().items()}
    runner.learn(num_learning_iterations=2)
    after = alg.get_policy().state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "compiled training changed no parameter"
    assert all(torch.isfinite(v).all() for v in after.values())
    # Checkpoints hold the raw modules' keys (no torch.compile "_orig_mod." prefix) and load into an eager runner.
    runner.save(str(tmp_path / "model.pt"))
    saved = torch.load(str(tmp_path / "model.pt"), weights_only=False)
    assert not any("_orig_mod" in key for key in saved["actor_state_dict"])
    assert not any("_orig_mod" in key for key in saved["critic_state_dict"])
    eager = OnPolicyRunner(env, tiny_cfg(None, flow), log_dir=None, device="cpu")
    eager.load(str(tmp_path / "model.pt"))
    obs = env.get_observations()
    with torch.no_grad():
        assert torch.equal(eager.get_inference_policy()(obs), runner.get_inference_policy()(obs))
    # The compiled log-prob is the flow's own, to float rounding.
    context = alg.get_policy().context(obs)
    with torch.no_grad():
        dummy, log_prob = flow_of(runner).sample(context)
        assert torch.allclose(alg._compiled_flow["log_prob"](context, dummy), log_prob, atol=1e-4)
    env.close()


@pytest.mark.skipif(rsl_rl_major() >= 4, reason="3.x world only")
def test_v3_runner_ignores_the_key_and_compiles_by_hand():
    torch.manual_seed(0)
    env = PointReachVecEnv(num_envs=4, seed=0)
    runner = OnPolicyRunner(env, tiny_cfg("default"), log_dir=None, device="cpu")
    runner.disable_logs = True
    assert runner.alg._compiled_flow is None  # rsl_rl 3.x never calls compile: the key is ignored
    runner.alg.compile("default")
    assert set(runner.alg._compiled_flow) == {"forward", "log_prob"}
    before = {k: v.clone() for k, v in runner.alg.policy.state_dict().items()}
    runner.learn(num_learning_iterations=2)
    after = runner.alg.policy.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert not any("_orig_mod" in key for key in after)
    env.close()
