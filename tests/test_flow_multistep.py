"""Exactness of the multistep flow: the stated recurrence, its exact inverse, the closed-form likelihood against an
autograd-Jacobian oracle, normalisation of the density, and bad settings; plus make_flow and state-dict checks."""

import math

import pytest
import torch

from genpo_rsl.flow import FLOWS, CoupledFlow, MultistepFlow, make_flow


def make_multistep(action_dim=20, context_dim=12, dtype=torch.float32, seed=0, **kw):
    torch.manual_seed(seed)
    flow = MultistepFlow(action_dim, context_dim, **{"hidden_dims": [64, 64], **kw}).to(dtype)
    # Default init leaves the velocity small; scale it up so the tests exercise a strongly nonlinear flow.
    with torch.no_grad():
        for p in flow.velocity.parameters():
            p.mul_(2.0)
    return flow


def test_forward_is_the_stated_recurrence():
    """x_{i+1} = (1 - b) x_i + b x_{i-1} + c dt v(x_i, s, t_i) from (x_0, x_-1); dummy = cat([x_N, x_{N-1}])."""
    b, c, n = 0.8, 1.7, 3
    flow = make_multistep(4, 3, torch.float64, num_steps=n, history_coef=b, velocity_coef=c)
    context, noise = torch.randn(7, 3, dtype=torch.float64), torch.randn(7, 8, dtype=torch.float64)
    ctx = flow.velocity.in_context(context)
    xs = [noise[:, 4:], noise[:, :4]]  # x_-1, x_0
    for i in range(n):
        t = flow.velocity.step_features(torch.tensor([i / n], dtype=torch.float64))[0]
        net = flow.velocity  # v from its stated form: one Linear over (state, context, time), then the MLP
        v = net.trunk(net.in_activation(net.in_half(xs[-1]) + ctx + t))
        xs.append((1 - b) * xs[-1] + b * xs[-2] + c / n * v)
    dummy = flow(context, noise)
    torch.testing.assert_close(dummy, torch.cat([xs[-1], xs[-2]], -1), rtol=0, atol=1e-12)
    assert torch.equal(flow.executed_action(dummy), dummy[:, :4])  # the env executes x_N


def test_round_trip_float32_a20_n5():
    flow = make_multistep(20, 12, num_steps=5)
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


@pytest.mark.parametrize("action_dim,num_steps,history_coef,velocity_coef",
                         [(3, 5, 0.97, 1.0), (4, 2, 0.5, 1.0), (2, 10, 0.95, 1.95), (5, 1, 1.0, 1.0), (3, 3, 0.3, 0.5)])
def test_log_prob_matches_autograd_jacobian_float64(action_dim, num_steps, history_coef, velocity_coef):
    flow = make_multistep(action_dim, 6, torch.float64, num_steps=num_steps, history_coef=history_coef,
                          velocity_coef=velocity_coef)
    context = torch.randn(6, 6, dtype=torch.float64)
    dummy = flow(context, torch.randn(6, 2 * action_dim, dtype=torch.float64))
    closed = flow.log_prob(context, dummy)
    oracle = jacobian_log_prob(flow, context, dummy)
    assert torch.allclose(closed, oracle, atol=1e-6, rtol=0), (closed - oracle).abs().max()


def test_log_prob_matches_oracle_with_learned_noise_scale():
    flow = make_multistep(3, 4, torch.float64, noise_scale="learned", init_noise_scale=0.5)
    with torch.no_grad():
        flow.log_noise_scale.add_(torch.linspace(-0.3, 0.3, 6, dtype=torch.float64))
    context = torch.randn(4, 4, dtype=torch.float64)
    dummy, log_prob = flow.sample(context)
    oracle = jacobian_log_prob(flow, context, dummy)
    assert torch.allclose(flow.log_prob(context, dummy), oracle, atol=1e-6, rtol=0)
    assert torch.allclose(log_prob, oracle, atol=1e-6, rtol=0)  # sample()'s log-prob from the known noise


def test_sample_log_prob_equals_inverse_log_prob():
    flow = make_multistep(8, 5)
    context = torch.randn(256, 5)
    dummy, log_prob = flow.sample(context)
    assert torch.allclose(log_prob, flow.log_prob(context, dummy), atol=1e-4)


def test_density_integrates_to_one_for_a1():
    flow = make_multistep(1, 2, torch.float64, num_steps=5)
    context = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    # Find where the mass lives from samples, then integrate the density of (x_N, x_{N-1}) on a fine grid.
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
    flow = MultistepFlow(4, 3, num_steps=5, history_coef=0.97)
    assert flow.log_abs_det_jacobian == pytest.approx(5 * 4 * math.log(0.97))
    assert flow.entropy().item() == pytest.approx(8 * 0.5 * math.log(2 * math.pi * math.e) + 20 * math.log(0.97))
    assert MultistepFlow(4, 3, history_coef=1.0).log_abs_det_jacobian == 0.0  # b = 1: volume preserving


def test_defaults_are_the_authors_isaaclab_settings():
    flow = MultistepFlow(2, 3)
    assert (flow.num_steps, flow.history_coef, flow.velocity_coef) == (5, 0.97, 1.0)


def test_act_executes_x_n_and_is_deterministic_at_zero_noise():
    flow = make_multistep(3, 4)
    context = torch.randn(10, 4)
    a1, a2 = flow.act(context, deterministic=True), flow.act(context, deterministic=True)
    assert a1.shape == (10, 3) and torch.equal(a1, a2)
    dummy = flow(context, torch.zeros(10, 6))
    assert torch.equal(a1, dummy[:, :3])
    assert not torch.equal(flow.act(context), flow.act(context))
    executed = flow.executed_action(dummy)
    executed.add_(1.0)  # an env that edits its actions in place must not change the stored pair
    assert torch.equal(a1, dummy[:, :3])


@pytest.mark.parametrize("kwargs,field", [
    ({"history_coef": 0.0}, "history_coef"), ({"history_coef": -0.1}, "history_coef"),
    ({"history_coef": 1.5}, "history_coef"), ({"history_coef": True}, "history_coef"),
    ({"velocity_coef": 0.0}, "velocity_coef"), ({"velocity_coef": -1.0}, "velocity_coef"),
    ({"velocity_coef": float("nan")}, "velocity_coef"), ({"velocity_coef": "1"}, "velocity_coef"),
    ({"num_steps": 0}, "num_steps"), ({"hidden_dims": []}, "hidden_dims"), ({"activation": "nope"}, "activation"),
    ({"noise_scale": "sometimes"}, "noise_scale"), ({"time_embed_dim": 7}, "time_embed_dim"),
])
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        MultistepFlow(2, 3, **kwargs)


def test_bad_shapes_name_the_argument():
    flow = MultistepFlow(2, 3)
    with pytest.raises(ValueError, match="context"):
        flow(torch.zeros(4, 5), torch.zeros(4, 4))
    with pytest.raises(ValueError, match="noise"):
        flow(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="dummy"):
        flow.log_prob(torch.zeros(4, 3), torch.zeros(4, 3))


def test_make_flow_builds_either_and_drops_the_other_flows_settings():
    common = {"num_steps": 3, "hidden_dims": [16], "mix": 0.8, "history_coef": 0.9, "velocity_coef": 2.0}
    coupled, multistep = make_flow(2, 3, "coupled", **common), make_flow(2, 3, "multistep", **common)
    assert type(coupled) is CoupledFlow and coupled.mix == 0.8 and coupled.num_steps == 3
    assert type(multistep) is MultistepFlow and (multistep.history_coef, multistep.velocity_coef) == (0.9, 2.0)
    assert type(make_flow(2, 3)) is CoupledFlow  # the default stays the paper's flow
    assert sorted(FLOWS) == ["coupled", "multistep"]
    with pytest.raises(ValueError, match=r"flow: must be one of \['coupled', 'multistep'\], got 'belm'"):
        make_flow(2, 3, "belm")


def test_state_dict_of_one_flow_is_refused_by_the_other():
    coupled, multistep = CoupledFlow(2, 3, hidden_dims=[16]), MultistepFlow(2, 3, hidden_dims=[16])
    with pytest.raises(ValueError, match="flow: .*multistep flow.*set flow='multistep'"):
        coupled.load_state_dict(multistep.state_dict())
    with pytest.raises(ValueError, match="flow: .*coupled flow.*set flow='coupled'"):
        multistep.load_state_dict(coupled.state_dict())
    other = MultistepFlow(2, 3, hidden_dims=[16], history_coef=0.9)
    with pytest.raises(ValueError, match="history_coef=0.9,"):
        multistep.load_state_dict(other.state_dict())
    same = MultistepFlow(2, 3, hidden_dims=[16]).double()
    same.load_state_dict(multistep.state_dict())  # same settings: loads (also across dtypes)
    torch.testing.assert_close(same.velocity.in_half.weight.float(), multistep.velocity.in_half.weight)
