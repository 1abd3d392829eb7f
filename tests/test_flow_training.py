"""The flow setting end to end, in whichever rsl_rl world is installed (CI runs 5.5.1, 3.0.1 and 3.1.2).

rsl_rl's stock OnPolicyRunner trains GenPO with ``flow="multistep"`` (the env receives x_N), saves and reloads it;
a checkpoint of one flow loaded as the other is a CheckpointError naming ``flow`` (stamped by GenPORunner or not);
bad flow settings fail when the runner is built, naming the field; the multistep flow has no compression term.
"""

from __future__ import annotations

import contextlib
import io
import tempfile

import pytest
import torch

from genpo_rsl.checkpoint import CheckpointError
from genpo_rsl.compat import register, rsl_rl_major
from genpo_rsl.envs import PointReachVecEnv
from genpo_rsl.runner import GenPORunner
from genpo_rsl.train_config import build_runner_cfg, task_settings

register()
MAJOR = rsl_rl_major()
SECTION = "actor" if MAJOR >= 4 else "policy"
NUM_ENVS = 8
SMALL = {"num_envs": NUM_ENVS, "num_steps_per_env": 8, "hidden_dims": [16, 16], "save_interval": 100,
         "ppo": {"num_learning_epochs": 2, "num_mini_batches": 2}}


def cfg(flow: dict | None = None, genpo: dict | None = None) -> dict:
    settings = task_settings("toy/PointReach", {**SMALL, "flow": {"num_steps": 3, "time_embed_dim": 8,
                                                                  "time_hidden_dims": [8], **(flow or {})},
                                                "genpo": genpo or {}})
    return build_runner_cfg("genpo", settings, experiment_name="test")


def stock_runner(train_cfg: dict, log_dir=None):
    """rsl_rl's OnPolicyRunner (3.x's needs a log directory to save and learn)."""
    from rsl_rl.runners import OnPolicyRunner

    log_dir = log_dir or tempfile.mkdtemp(prefix="genpo_flow_training_")
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):
        runner = OnPolicyRunner(PointReachVecEnv(NUM_ENVS, seed=0), train_cfg, log_dir=log_dir, device="cpu")
    (runner.logger if MAJOR >= 4 else runner).git_status_repos = []
    return runner


def policy_of(runner):
    return runner.alg.policy if MAJOR == 3 else runner.alg.get_policy()


def weights(runner) -> dict[str, torch.Tensor]:
    models = [runner.alg.policy] if MAJOR == 3 else [runner.alg.get_policy(), runner.alg.critic]
    return {f"{i}.{k}": v.clone() for i, m in enumerate(models) for k, v in m.state_dict().items()}


def test_stock_runner_trains_the_multistep_flow_and_reloads_it(tmp_path):
    runner = stock_runner(cfg({"flow": "multistep"}), str(tmp_path))
    flow = policy_of(runner).flow
    assert (flow.kind, flow.history_coef, flow.velocity_coef) == ("multistep", 0.97, 1.0)
    before = weights(runner)
    with contextlib.redirect_stdout(io.StringIO()):
        runner.learn(num_learning_iterations=2)
    after = weights(runner)
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it trained
    # The env receives x_N, the first half of the stored pair (x_N, x_{N-1}).
    obs = runner.env.get_observations()
    executed = runner.alg.act(obs)
    assert torch.equal(executed, runner.alg.transition.actions[:, : runner.env.num_actions])
    runner.save(str(tmp_path / "model_2.pt"))
    reloaded = stock_runner(cfg({"flow": "multistep"}))
    reloaded.load(str(tmp_path / "model_2.pt"))
    assert all(torch.equal(v, weights(reloaded)[k]) for k, v in weights(runner).items())


@pytest.mark.parametrize("saved,loaded", [("multistep", "coupled"), ("coupled", "multistep")])
@pytest.mark.parametrize("writer", ["stock", "genpo"])
def test_checkpoint_of_one_flow_loaded_as_the_other_names_flow(tmp_path, saved, loaded, writer):
    """GenPORunner stamps the flow's settings; a stock OnPolicyRunner.save (IsaacLab's) does not, and the flow's
    own state (multistep_coefs) still tells them apart. The same sizes and keys otherwise: no shape error helps."""
    path = str(tmp_path / "model.pt")
    if writer == "genpo":
        with contextlib.redirect_stdout(io.StringIO()):
            GenPORunner(PointReachVecEnv(NUM_ENVS, seed=0), cfg({"flow": saved}), log_dir=None, device="cpu").save(path)
    else:  # trained first: rsl_rl 3.x's runner can only save after learn() has set up its logger
        runner = stock_runner(cfg({"flow": saved}))
        with contextlib.redirect_stdout(io.StringIO()):
            runner.learn(num_learning_iterations=1)
        runner.save(path)
    with pytest.raises(CheckpointError, match=rf"(?s)flow.*({saved}.*{loaded}|{loaded}.*{saved})") as error:
        stock_runner(cfg({"flow": loaded})).load(path)
    assert f"flow={saved}" in str(error.value)  # the override to type


def test_multistep_coefficients_that_differ_from_the_checkpoint_are_named(tmp_path):
    path = str(tmp_path / "model.pt")
    with contextlib.redirect_stdout(io.StringIO()):
        GenPORunner(PointReachVecEnv(NUM_ENVS, seed=0), cfg({"flow": "multistep", "history_coef": 0.9}),
                    log_dir=None, device="cpu").save(path)
    with pytest.raises((CheckpointError, ValueError), match="history_coef"):
        stock_runner(cfg({"flow": "multistep"})).load(path)


@pytest.mark.parametrize("flow,field,match", [
    ({"flow": "belm"}, "flow", r"must be one of \['coupled', 'multistep'\], got 'belm'"),
    ({"flow": "multistep", "history_coef": 0.0}, "history_coef", r"must be a number in \(0, 1\]"),
    ({"flow": "multistep", "history_coef": 1.5}, "history_coef", r"must be a number in \(0, 1\]"),
    ({"flow": "multistep", "velocity_coef": 0.0}, "velocity_coef", "must be a finite number > 0"),
    ({"flow": "multistep", "velocity_coef": -1.0}, "velocity_coef", "must be a finite number > 0"),
    ({"flow": "multistep", "mix": 0.5}, "mix", "0.5 is a setting of flow='coupled'"),
    ({"history_coef": 0.5}, "history_coef", "0.5 is a setting of flow='multistep'"),
])
def test_bad_flow_settings_fail_before_training_naming_the_field(flow, field, match):
    with pytest.raises(ValueError, match=rf"{SECTION}\.{field}: {match}"):
        stock_runner(cfg(flow))


def test_multistep_flow_has_no_compression_term(monkeypatch):
    """compression_coef does not change a multistep update (nothing to compress), and no compression sample is drawn:
    the logged gap is ||x_N - x_{N-1}|| of the stored pairs."""
    results = []
    for coef in (0.0, 10.0):
        runner = stock_runner(cfg({"flow": "multistep"}, {"compression_coef": coef}))
        flow = policy_of(runner).flow
        calls = []
        original = type(flow).sample
        monkeypatch.setattr(type(flow), "sample", lambda self, context: calls.append(1) or original(self, context))
        torch.manual_seed(1)
        with contextlib.redirect_stdout(io.StringIO()):
            runner.learn(num_learning_iterations=1)
        monkeypatch.undo()
        assert len(calls) == SMALL["num_steps_per_env"], len(calls)  # one per env step, none in the update
        results.append(weights(runner))
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])
