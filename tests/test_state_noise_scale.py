"""noise_scale="state": a base N(0, diag(sigma(s)^2)) with log sigma(s) linear in the context, for both flows.

The flow maps are unchanged, so log pi stays exact (the autograd-Jacobian oracle and normalisation for every base
are the shared contract, test_flow_exactness.py); here: the scale differs per state, the entropy is the closed form
per state, PPO's gradients reach the head, and the runner trains and reloads with it.
Export parity of such a policy is in test_export.py (PARITY_CASES).
"""

from __future__ import annotations

import contextlib
import io
import math

import pytest
import torch

from genpo_rsl.flow import make_flow

FLOW_KINDS = ["coupled", "multistep"]


def state_flow(kind: str, action_dim: int, context_dim: int, dtype=torch.float64, seed: int = 0):
    torch.manual_seed(seed)
    flow = make_flow(action_dim, context_dim, kind, hidden_dims=[32, 32], noise_scale="state",
                     init_noise_scale=0.7).to(dtype)
    with torch.no_grad():  # a head that really depends on the state, and a velocity that really moves points
        flow.noise_scale_head.weight.copy_(torch.randn_like(flow.noise_scale_head.weight) * 0.4)
        for p in flow.velocity.parameters():
            p.mul_(2.0)
    return flow


@pytest.mark.parametrize("kind", FLOW_KINDS)
def test_the_scale_differs_per_state(kind):
    flow = state_flow(kind, 3, 4)
    scales = flow.log_scale(torch.randn(5, 4, dtype=torch.float64))
    assert scales.shape == (5, 6) and scales.std(0).min() > 0.01


@pytest.mark.parametrize("kind", FLOW_KINDS)
def test_entropy_is_closed_form_per_state_and_trains_the_head(kind):
    flow = state_flow(kind, 2, 3)
    context = torch.randn(4, 3, dtype=torch.float64)
    entropy = flow.entropy(context)
    assert entropy.shape == (4,) and entropy.std() > 1e-3
    # Monte Carlo: -E log pi over the policy's own samples, per state.
    with torch.no_grad():
        for i in range(4):
            ctx = context[i:i + 1].expand(20000, 3)
            _, log_prob = flow.sample(ctx)
            assert -log_prob.mean().item() == pytest.approx(entropy[i].item(), abs=0.05)
    entropy.mean().backward()
    assert flow.noise_scale_head.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="noise_scale='state'.*context"):
        flow.entropy()  # no state, no entropy: said, not a wrong number


def test_starts_state_independent_at_init_noise_scale():
    flow = make_flow(2, 3, "coupled", noise_scale="state", init_noise_scale=0.5)
    log_scale = flow.log_scale(torch.randn(7, 3))
    assert torch.allclose(log_scale, torch.full((7, 4), math.log(0.5)))
    assert torch.allclose(flow.noise_scale, torch.full((4,), 0.5))


def test_runner_trains_saves_and_reloads_with_state_noise(tmp_path):
    """The installed rsl_rl world's runner: GenPO with noise_scale=state trains, the head moves, a reload is equal,
    and the checkpoint loaded into a fixed-noise policy is a clear error."""
    from genpo_rsl.runner import GenPORunner
    from genpo_rsl.envs import make_task_env
    from genpo_rsl.train_config import build_runner_cfg, task_settings

    def runner(noise_scale):
        torch.manual_seed(0)
        env = make_task_env("toy/PointReach", 8, 0, "cpu")
        settings = task_settings("toy/PointReach", {"num_envs": 8, "num_steps_per_env": 8,
                                                    "flow": {"noise_scale": noise_scale}})
        with contextlib.redirect_stdout(io.StringIO()):
            return GenPORunner(env, build_runner_cfg("genpo", settings), log_dir=str(tmp_path), device="cpu")

    trained = runner("state")
    flow = trained.alg.policy.flow if hasattr(trained.alg, "policy") else trained.alg.actor.flow
    before = flow.noise_scale_head.weight.detach().clone()
    with contextlib.redirect_stdout(io.StringIO()):
        trained.learn(2)
    assert not torch.equal(before, flow.noise_scale_head.weight)
    path = tmp_path / "model_state.pt"
    trained.save(str(path))
    reloaded = runner("state")
    reloaded.load(str(path))
    reflow = reloaded.alg.policy.flow if hasattr(reloaded.alg, "policy") else reloaded.alg.actor.flow
    assert torch.equal(reflow.noise_scale_head.weight, flow.noise_scale_head.weight)
    with pytest.raises(Exception, match="noise_scale"):
        runner("fixed").load(str(path))
    for r in (trained, reloaded):
        r.env.close()


@pytest.mark.parametrize("task", ["Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Ant-v5", "Humanoid-v5"])
def test_mujoco_tasks_default_to_the_state_noise_scale_and_other_tasks_keep_the_fixed_base(task):
    """The returns study's evidence set the MuJoCo default; tasks it did not measure keep the paper's base, and the
    paper's base stays one override away."""
    from genpo_rsl.train_config import build_runner_cfg, task_settings

    actor = build_runner_cfg("genpo", task_settings(task), major=5)["actor"]
    assert actor["noise_scale"] == "state"
    paper = build_runner_cfg("genpo", task_settings(task, {"flow": {"noise_scale": "fixed"}}), major=5)["actor"]
    assert paper["noise_scale"] == "fixed"
    assert build_runner_cfg("genpo", task_settings(task), major=3)["policy"]["noise_scale"] == "state"
    for other in ("toy/TwoGoalReach", "Pendulum-v1"):  # (the Genesis robots have the robot recipe: test_recipes)
        assert build_runner_cfg("genpo", task_settings(other), major=5)["actor"]["noise_scale"] == "fixed"


@pytest.mark.parametrize("kind", ["coupled", "multistep"])
def test_max_noise_scale_bounds_sigma_smoothly_and_starts_at_the_initial_scale(kind):
    """Below e^2 the state-dependent sigma is bounded smoothly: it starts at init_noise_scale, never passes the
    bound however the head moves, keeps a gradient there (a clamp's would vanish), and the log-prob stays exact."""
    from genpo_rsl.flow import make_flow

    flow = make_flow(3, 4, kind, num_steps=3, hidden_dims=[16], noise_scale="state", init_noise_scale=0.8,
                     max_noise_scale=1.2, time_embed_dim=8, time_hidden_dims=[8])
    context = torch.randn(64, 4)
    torch.testing.assert_close(flow.log_scale(context).exp(), torch.full((64, 6), 0.8))
    with torch.no_grad():
        flow.noise_scale_head.bias.fill_(50.0)  # far past the bound
    log_scale = flow.log_scale(context)
    assert bool((log_scale.exp() <= 1.2 + 1e-6).all()) and log_scale.exp().min() > 1.19
    log_scale.sum().backward()
    assert flow.noise_scale_head.bias.grad.abs().min() > 0  # smooth: PPO can still pull it down
    dummy, log_prob = flow.sample(context)
    torch.testing.assert_close(flow.log_prob(context, dummy), log_prob, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r"init_noise_scale: must be below max_noise_scale=1.2"):
        make_flow(3, 4, kind, hidden_dims=[16], noise_scale="state", init_noise_scale=1.5, max_noise_scale=1.2)
    with pytest.raises(ValueError, match=r"max_noise_scale: must be a number in \(0, 7.38906\]"):
        make_flow(3, 4, kind, hidden_dims=[16], noise_scale="state", max_noise_scale=10.0)


def test_the_default_bound_is_todays_hard_clamp():
    from genpo_rsl.flow import make_flow

    flow = make_flow(3, 4, "coupled", hidden_dims=[16], noise_scale="state")
    assert not flow.soft_bound and flow.settings()["max_noise_scale"] == pytest.approx(math.exp(2.0))
    with torch.no_grad():
        flow.noise_scale_head.bias.fill_(5.0)
    assert flow.log_scale(torch.zeros(2, 4)).max().item() == 2.0
