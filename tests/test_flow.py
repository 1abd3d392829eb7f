"""What only the coupled flow has: its stated step (two velocity calls, then the mixing), its log|det J|, the
executed action as the average of the two halves; and that the flow package knows nothing of rsl_rl.

The contract every flow keeps (round trip, log-prob against an autograd-Jacobian oracle, normalisation, entropy,
bad shapes) is tested once over the flows in test_flow_exactness.py; dtype handling is in test_flow_dtype.py.
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


def test_forward_is_the_stated_coupled_step():
    """x' = x + v(y) dt; y' = y + v(x') dt; x = p x' + (1 - p) y'; y = p y' + (1 - p) x, from the noise (x, y)."""
    p, n = 0.7, 3
    flow = make_flow(4, 3, torch.float64, num_steps=n, mix=p)
    context, noise = torch.randn(7, 3, dtype=torch.float64), torch.randn(7, 8, dtype=torch.float64)
    net, ctx = flow.velocity, flow.velocity.in_context(context)
    x, y = noise[:, :4], noise[:, 4:]
    for i in range(n):
        t = net.step_features(torch.tensor([i / n], dtype=torch.float64))[0]
        v = lambda state: net.trunk(net.in_activation(net.in_half(state) + ctx + t))  # noqa: E731
        x_step = x + v(y) / n
        y_step = y + v(x_step) / n
        x = p * x_step + (1 - p) * y_step
        y = p * y_step + (1 - p) * x
    torch.testing.assert_close(flow(context, noise), torch.cat([x, y], -1), rtol=0, atol=1e-12)


def test_log_abs_det_is_2anlogp():
    flow = CoupledFlow(4, 3, num_steps=5, mix=0.9)
    assert flow.log_abs_det_jacobian == pytest.approx(2 * 4 * 5 * math.log(0.9))
    assert CoupledFlow(4, 3, mix=1.0).log_abs_det_jacobian == 0.0  # no mixing: volume preserving


def test_the_executed_action_is_the_average_of_the_halves():
    flow = make_flow(3, 4)
    context = torch.randn(10, 4)
    dummy = flow(context, torch.randn(10, 6))
    assert torch.allclose(flow.executed_action(dummy), 0.5 * (dummy[:, :3] + dummy[:, 3:]))


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
