"""What only the multistep flow has: its stated recurrence, its log|det J|, the authors' defaults, x_N as the
executed action; plus make_flow and state-dict checks between the flows.

The contract every flow keeps (round trip, log-prob against an autograd-Jacobian oracle, normalisation, entropy,
bad shapes and settings) is tested once over the flows in test_flow_exactness.py."""

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


def test_log_abs_det_is_nalogb():
    flow = MultistepFlow(4, 3, num_steps=5, history_coef=0.97)
    assert flow.log_abs_det_jacobian == pytest.approx(5 * 4 * math.log(0.97))
    assert MultistepFlow(4, 3, history_coef=1.0).log_abs_det_jacobian == 0.0  # b = 1: volume preserving


def test_defaults_are_the_authors_isaaclab_settings():
    flow = MultistepFlow(2, 3)
    assert (flow.num_steps, flow.history_coef, flow.velocity_coef) == (5, 0.97, 1.0)


def test_the_executed_action_is_x_n():
    flow = make_multistep(3, 4)
    dummy = flow(torch.randn(10, 4), torch.randn(10, 6))
    assert torch.equal(flow.executed_action(dummy), dummy[:, :3])


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
