"""Encode once, a small head per step (``head_dims``): exact like the paper's network, everywhere a policy field goes.

For both flows: the encoder runs once per flow call; rsl_rl's stock runner trains, saves and reloads it (either
world); ONNX and TorchScript exports match the torch policy (deterministic and stochastic); today's checkpoints
(committed fixtures written by the package before ``head_dims`` existed) still load and play; a checkpoint of one
network loaded into the other names the override; bad values fail naming the field. The round trip, the log-prob
against an autograd-Jacobian oracle (every base noise) and the entropy are the shared contract, tested over both
networks in test_flow_exactness.py.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import shutil

import pytest
import torch
from tensordict import TensorDict

from genpo_rsl.checkpoint import CheckpointError
from genpo_rsl.compat import register, rsl_rl_major
from genpo_rsl.config import FLOW_DEFAULTS
from genpo_rsl.flow import make_flow

register()
MAJOR = rsl_rl_major()
KINDS = ["coupled", "multistep"]
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
SMALL = ["--task", "toy/PointReach", "--num-envs", "4", "--max-iterations", "2", "policy.hidden_dims=[16,16]",
         "policy.time_embed_dim=8", "policy.time_hidden_dims=[8]", "num_steps_per_env=8"]


def flow_of(kind, dtype=torch.float32, **extra):
    settings = {**FLOW_DEFAULTS, "flow": kind, "hidden_dims": [32, 24], "activation": "elu", "head_dims": [16, 16],
                "time_embed_dim": 8, "time_hidden_dims": [8], **extra}
    flow = make_flow(3, 5, **settings).to(dtype)
    with torch.no_grad():  # a flow far from the identity, so the checks have something to check
        for p in flow.velocity.parameters():
            p.mul_(2.0)
    return flow


@pytest.mark.parametrize("kind", KINDS)
def test_the_encoder_runs_once_per_flow_call_and_the_head_per_step(kind):
    flow = flow_of(kind)
    calls = {"encoder": 0, "head": 0}
    flow.encoder.register_forward_hook(lambda *_: calls.__setitem__("encoder", calls["encoder"] + 1))
    flow.velocity.trunk.register_forward_hook(lambda *_: calls.__setitem__("head", calls["head"] + 1))
    flow.sample(torch.randn(8, 5))
    assert calls == {"encoder": 1, "head": flow.num_steps * (2 if kind == "coupled" else 1)}
    assert flow.observation_layer() is flow.encoder[0] and flow.settings()["head_dims"] == [16, 16]


def train(argv, tmp_path, name) -> str:
    from genpo_rsl.scripts import train as train_cli

    with contextlib.redirect_stdout(io.StringIO()):
        return train_cli.run([*argv, "--log-dir", str(tmp_path / name)])


@pytest.mark.parametrize("kind", KINDS)
def test_trains_saves_reloads_and_exports_with_parity(kind, tmp_path):
    from genpo_rsl.export import write_policy
    from genpo_rsl.runner import exportable_policy
    from genpo_rsl.scripts.common import load_runner

    final = train([*SMALL, f"policy.flow={kind}", "policy.head_dims=[8,8]", "policy.noise_scale=state"], tmp_path,
                  kind)
    runner, env, _ = load_runner(final, num_envs=4, quiet=True)
    env.close()
    policy = runner.alg.policy if MAJOR == 3 else runner.alg.get_policy()
    assert policy.flow.head_dims == [8, 8] and len(policy.flow.encoder) == 4  # two Linear + two activations
    obs = torch.randn(6, policy.flow.context_dim)
    for stochastic in (False, True):
        for fmt in ("onnx", "jit"):
            module = exportable_policy(runner, fmt, stochastic)
            report = write_policy(module, str(tmp_path / f"policy_{stochastic}.{fmt}"), fmt)
            assert report.max_abs_error is not None and report.max_abs_error <= 1e-5
    module = exportable_policy(runner, "jit")
    from genpo_rsl.runner import inference_policy

    with torch.no_grad():
        expected = inference_policy(runner, deterministic=True)(TensorDict({"policy": obs}, batch_size=[6]))
        assert torch.allclose(module(obs), expected, atol=1e-6)


def test_todays_checkpoints_still_load_and_play(tmp_path):
    from genpo_rsl.scripts import play

    source = os.path.join(FIXTURES, f"checkpoint_v{5 if MAJOR >= 4 else 3}")
    folder = tmp_path / "old"
    shutil.copytree(source, folder)
    saved = torch.load(folder / "model_final.pt", weights_only=False)
    runner, env, _ = play.load_runner(str(folder / "model_final.pt"), quiet=True)
    env.close()
    module = runner.alg.policy if MAJOR == 3 else runner.alg.get_policy()
    state = saved["model_state_dict" if MAJOR == 3 else "actor_state_dict"]
    assert module.flow.head_dims == [] and all(torch.equal(v, state[k]) for k, v in module.state_dict().items())
    assert len(play.run(["--checkpoint", str(folder / "model_final.pt"), "--episodes", "2"])["returns"]) == 2


def test_a_checkpoint_of_the_other_network_names_the_override(tmp_path):
    from genpo_rsl.envs import PointReachVecEnv
    from genpo_rsl.overrides import apply_overrides, use_override_style
    from genpo_rsl.rundir import load_run
    from genpo_rsl.runner import GenPORunner

    old = os.path.join(FIXTURES, f"checkpoint_v{5 if MAJOR >= 4 else 3}", "model_final.pt")
    cfg = apply_overrides(load_run(old)["train_cfg"], ["policy.head_dims=[8]"])
    with contextlib.redirect_stdout(io.StringIO()):
        runner = GenPORunner(PointReachVecEnv(4, seed=0), copy.deepcopy(cfg), log_dir=None, device="cpu")
    with pytest.raises(CheckpointError, match=r"Fix: add policy\.head_dims=\[\] to load"), use_override_style("genpo"):
        runner.load(old)
    new = train([*SMALL, "policy.head_dims=[8]"], tmp_path, "head")
    with contextlib.redirect_stdout(io.StringIO()):
        plain = GenPORunner(PointReachVecEnv(4, seed=0), copy.deepcopy(load_run(old)["train_cfg"]), log_dir=None,
                            device="cpu")
    with pytest.raises(CheckpointError, match=r"policy\.head_dims=\[8\]"), use_override_style("genpo"):
        plain.load(new)


@pytest.mark.parametrize("value", ["[0]", "[8, -1]", "[1.5]"])
def test_bad_head_sizes_fail_before_training(tmp_path, value):
    from genpo_rsl.scripts import train as train_cli

    code = train_cli.main([*SMALL, "--log-dir", str(tmp_path / "bad"), f"policy.head_dims={value}"])
    assert code == 2 and not os.path.exists(tmp_path / "bad" / "run.json")
