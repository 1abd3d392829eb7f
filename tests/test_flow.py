"""Exactness of the coupled flow: inverse, closed-form likelihood vs an autograd-Jacobian oracle, normalisation.

The multistep flow has the same tests in test_flow_multistep.py; dtype handling is in test_flow_dtype.py.
"""

import math

import pytest
import torch

from genpo_rsl.flow import CoupledFlow


def make_flow(action_dim=20, context_dim=12, dtype=torch.float32, seed=0, **kw):
    torch.manual_seed(seed)
    flow = CoupledFlow(action_dim, context_dim, **{"hidden_dims": [64, 64], **kw}).to(dtype)
    # Default init leaves the velocity small; scale it up so the test exercises a strongly nonlinear flow.
    with torch.no_grad():
        for p in flow.velocity.parameters():
            p.mul_(2.0)
    return flow


def test_round_trip_float32_a20_n5():
    flow = make_flow(20, 12, num_steps=5, mix=0.9)
    context, noise = torch.randn(512, 12), torch.randn(512, 40)
    dummy = flow(context, noise)
    assert (dummy - noise).abs().max() > 0.1  # the flow really moves points
    assert (flow.inverse(context, dummy) - noise).abs().max().item() <= 1e-5


def jacobian_log_prob(flow, context, dummy):
    """Test-only oracle: log N(f^-1(a)) + log|det d f^-1 / d a| with the Jacobian built by autograd, per sample."""
    out = []
    for c, a in zip(context, dummy):
        jac = torch.autograd.functional.jacobian(lambda z: flow.inverse(c[None], z[None])[0], a)
        out.append(flow.base_log_prob(flow.inverse(c[None], a[None]))[0] + torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


@pytest.mark.parametrize("action_dim,num_steps,mix", [(3, 5, 0.9), (4, 2, 0.5), (2, 10, 0.95), (5, 1, 1.0)])
def test_log_prob_matches_autograd_jacobian_float64(action_dim, num_steps, mix):
    flow = make_flow(action_dim, 6, torch.float64, num_steps=num_steps, mix=mix)
    context = torch.randn(6, 6, dtype=torch.float64)
    dummy = flow(context, torch.randn(6, 2 * action_dim, dtype=torch.float64))
    closed = flow.log_prob(context, dummy)
    oracle = jacobian_log_prob(flow, context, dummy)
    assert torch.allclose(closed, oracle, atol=1e-6, rtol=0), (closed - oracle).abs().max()


def test_log_prob_matches_oracle_with_learned_noise_scale():
    flow = make_flow(3, 4, torch.float64, noise_scale="learned", init_noise_scale=0.5)
    with torch.no_grad():
        flow.log_noise_scale.add_(torch.linspace(-0.3, 0.3, 6, dtype=torch.float64))
    context = torch.randn(4, 4, dtype=torch.float64)
    dummy, log_prob = flow.sample(context)
    oracle = jacobian_log_prob(flow, context, dummy)
    assert torch.allclose(flow.log_prob(context, dummy), oracle, atol=1e-6, rtol=0)
    assert torch.allclose(log_prob, oracle, atol=1e-6, rtol=0)  # sample()'s log-prob from the known noise


def test_sample_log_prob_equals_inverse_log_prob():
    flow = make_flow(8, 5)
    context = torch.randn(256, 5)
    dummy, log_prob = flow.sample(context)
    assert torch.allclose(log_prob, flow.log_prob(context, dummy), atol=1e-4)


def test_density_integrates_to_one_for_a1():
    flow = make_flow(1, 2, torch.float64, num_steps=5, mix=0.9)
    context = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    # Find where the mass lives from samples, then integrate the density on a fine grid around it.
    samples = flow(context.expand(20000, 2), torch.randn(20000, 2, dtype=torch.float64))
    lo = samples.min(0).values - 1.0
    hi = samples.max(0).values + 1.0
    n = 600
    gx = torch.linspace(lo[0].item(), hi[0].item(), n, dtype=torch.float64)
    gy = torch.linspace(lo[1].item(), hi[1].item(), n, dtype=torch.float64)
    grid = torch.cartesian_prod(gx, gy)
    with torch.no_grad():
        density = flow.log_prob(context.expand(grid.shape[0], 2), grid).exp()
    cell = (gx[1] - gx[0]) * (gy[1] - gy[0])
    total = (density.sum() * cell).item()
    assert abs(total - 1.0) < 0.01, total


def test_log_abs_det_constant_and_entropy():
    flow = CoupledFlow(4, 3, num_steps=5, mix=0.9)
    assert flow.log_abs_det_jacobian == pytest.approx(2 * 4 * 5 * math.log(0.9))
    # Entropy of the doubled action: 2A-dim standard normal entropy + log|det J|.
    assert flow.entropy().item() == pytest.approx(8 * 0.5 * math.log(2 * math.pi * math.e) + 40 * math.log(0.9))


def test_entropy_gradient_only_with_learned_scale():
    fixed = CoupledFlow(2, 3)
    assert not fixed.entropy().requires_grad
    learned = CoupledFlow(2, 3, noise_scale="learned")
    learned.entropy().backward()
    assert torch.allclose(learned.log_noise_scale.grad, torch.ones(4))


def test_act_is_average_and_deterministic_at_zero_noise():
    flow = make_flow(3, 4)
    context = torch.randn(10, 4)
    a1, a2 = flow.act(context, deterministic=True), flow.act(context, deterministic=True)
    assert a1.shape == (10, 3) and torch.equal(a1, a2)
    dummy = flow(context, torch.zeros(10, 6))
    assert torch.allclose(a1, 0.5 * (dummy[:, :3] + dummy[:, 3:]))
    assert not torch.equal(flow.act(context), flow.act(context))


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"mix": 0.0}, "mix"),
        ({"mix": -0.5}, "mix"),
        ({"mix": 1.5}, "mix"),
        ({"num_steps": 0}, "num_steps"),
        ({"hidden_dims": []}, "hidden_dims"),
        ({"activation": "nope"}, "activation"),
        ({"noise_scale": "sometimes"}, "noise_scale"),
        ({"init_noise_scale": 0.0}, "init_noise_scale"),
        ({"time_embed_dim": 7}, "time_embed_dim"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        CoupledFlow(2, 3, **kwargs)


def test_bad_shapes_name_the_argument():
    flow = CoupledFlow(2, 3)
    with pytest.raises(ValueError, match="context"):
        flow(torch.zeros(4, 5), torch.zeros(4, 4))
    with pytest.raises(ValueError, match="noise"):
        flow(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="dummy"):
        flow.log_prob(torch.zeros(4, 3), torch.zeros(4, 3))


def test_flow_package_knows_nothing_of_rsl_rl():
    import ast
    import inspect
    import pkgutil

    import genpo_rsl.flow as package

    modules = [package] + [__import__(f"genpo_rsl.flow.{info.name}", fromlist=["_"])
                           for info in pkgutil.iter_modules(package.__path__)]
    assert len(modules) >= 5, modules  # __init__, base, networks, coupled, multistep
    names = set()
    for module in modules:
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names.add(("." * node.level) + (node.module or ""))
    assert not any(n.startswith(("rsl_rl", "isaaclab", "gymnasium", "genpo_rsl", "..")) for n in names), names
