"""The exactness contract every registered flow keeps, tested once over the flows (``FLOWS``), both networks (the
paper's, and encode once with a small head per step) and the three base noises (fixed, learned, state).

The round trip is exact in float32; the closed-form log-prob (and the log-prob ``sample`` reads off its own noise)
equals an autograd-Jacobian oracle in float64 for several sizes, N and settings of the flow's own fields; the
density integrates to one; the entropy is the base's plus the constant log|det J|; the deterministic action is the
executed action of zero noise; bad shapes and settings are refused naming what is wrong. What only one flow has
(the coupled flow's mixing, the multistep recurrence, their log|det J| formulas) is in test_flow.py and
test_flow_multistep.py; dtype handling in test_flow_dtype.py.
"""

from __future__ import annotations

import math

import pytest
import torch

from genpo_rsl.flow import FLOWS, make_flow

KINDS = list(FLOWS)
NETWORKS = {"paper": {"hidden_dims": [32, 32]}, "head": {"hidden_dims": [32, 24], "head_dims": [16, 16]}}
BASES = ["fixed", "learned", "state"]


def own_settings(kind: str, where: str) -> dict:
    """Values of the flow's own fields from their declarations: "default", "far" (40 % into a bounded range, twice
    the default of an unbounded one) or "edge" (the closed upper end, e.g. no mixing / no volume change)."""
    values = {}
    for field in FLOWS[kind].own_fields:
        value = field.default
        if where == "far":
            value = field.low + 0.4 * (field.high - field.low) if None not in (field.low, field.high) else 2 * value
        elif where == "edge" and field.high is not None and not field.high_open:
            value = field.high
        values[field.name] = value
    return values


def build(kind, action_dim, context_dim, dtype=torch.float32, network="paper", base="fixed", own="default",
          num_steps=5, seed=0):
    """A flow far from the identity (weights doubled), whose base, when not fixed, really varies."""
    torch.manual_seed(seed)
    flow = make_flow(action_dim, context_dim, kind, num_steps=num_steps, noise_scale=base,
                     init_noise_scale=1.0 if base == "fixed" else 0.7, **NETWORKS[network],
                     **own_settings(kind, own)).to(dtype)
    with torch.no_grad():
        for p in flow.velocity.parameters():
            p.mul_(2.0)
        if base == "learned":
            flow.log_noise_scale.add_(torch.linspace(-0.3, 0.3, 2 * action_dim, dtype=dtype))
        elif base == "state":
            flow.noise_scale_head.weight.copy_(torch.randn_like(flow.noise_scale_head.weight) * 0.4)
    return flow


def oracle_log_prob(flow, context, dummy):
    """log N(f^-1(a); 0, sigma^2) + log|det d f^-1 / d a|, the Jacobian built by autograd, one sample at a time."""
    out = []
    for c, a in zip(context, dummy):
        jac = torch.autograd.functional.jacobian(lambda z: flow.inverse(c[None], z[None])[0], a)
        noise = flow.inverse(c[None], a[None])[0]
        scale = flow.log_scale(c[None]).reshape(-1).exp()
        base = torch.distributions.Normal(torch.zeros_like(noise), scale).log_prob(noise).sum()
        out.append(base + torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_float32_a20_n5(kind, network):
    flow = build(kind, 20, 12, network=network)
    context, noise = torch.randn(512, 12), torch.randn(512, 40)
    dummy = flow(context, noise)
    assert (dummy - noise).abs().max() > 0.1  # the flow really moves points
    assert (flow.inverse(context, dummy) - noise).abs().max().item() <= 1e-5


@pytest.mark.parametrize("action_dim,num_steps,own", [(3, 5, "default"), (4, 2, "far"), (2, 10, "default"),
                                                      (5, 1, "edge"), (3, 3, "far")])
@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("kind", KINDS)
def test_log_prob_matches_autograd_jacobian_float64(kind, network, action_dim, num_steps, own):
    flow = build(kind, action_dim, 6, torch.float64, network, own=own, num_steps=num_steps)
    context = torch.randn(6, 6, dtype=torch.float64)
    dummy = flow(context, torch.randn(6, 2 * action_dim, dtype=torch.float64))
    closed, oracle = flow.log_prob(context, dummy), oracle_log_prob(flow, context, dummy)
    assert torch.allclose(closed, oracle, atol=1e-6, rtol=0), (closed - oracle).abs().max()


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("kind", KINDS)
def test_sampled_and_inverse_log_probs_match_the_oracle_for_every_base(kind, network, base):
    flow = build(kind, 3, 4, torch.float64, network, base)
    context = torch.randn(5, 4, dtype=torch.float64)
    dummy, sampled = flow.sample(context)
    oracle = oracle_log_prob(flow, context, dummy)
    assert torch.allclose(flow.log_prob(context, dummy), oracle, atol=1e-6, rtol=0)
    assert torch.allclose(sampled, oracle, atol=1e-6, rtol=0)  # read off the known noise, no inverse


@pytest.mark.parametrize("kind", KINDS)
def test_sample_log_prob_equals_inverse_log_prob_float32(kind):
    flow = build(kind, 8, 5)
    context = torch.randn(256, 5)
    dummy, log_prob = flow.sample(context)
    assert torch.allclose(log_prob, flow.log_prob(context, dummy), atol=1e-4)


@pytest.mark.parametrize("base", ["fixed", "state"])
@pytest.mark.parametrize("kind", KINDS)
def test_density_integrates_to_one_for_a1(kind, base):
    flow = build(kind, 1, 2, torch.float64, base=base)
    context = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    # Find where the mass lives from samples, then integrate the density of the dummy action on a fine grid.
    wide = context.expand(20000, 2)
    samples = flow(wide, flow.sample_noise(20000, context=wide))
    lo, hi = samples.min(0).values - 1.0, samples.max(0).values + 1.0
    gx = torch.linspace(lo[0].item(), hi[0].item(), 600, dtype=torch.float64)
    gy = torch.linspace(lo[1].item(), hi[1].item(), 600, dtype=torch.float64)
    grid = torch.cartesian_prod(gx, gy)
    with torch.no_grad():
        density = flow.log_prob(context.expand(grid.shape[0], 2), grid).exp()
    total = (density.sum() * (gx[1] - gx[0]) * (gy[1] - gy[0])).item()
    assert abs(total - 1.0) < 0.01, total


@pytest.mark.parametrize("kind", KINDS)
def test_entropy_is_the_base_entropy_plus_the_constant_log_det(kind):
    fixed = build(kind, 4, 3, own="far")
    assert fixed.entropy().item() == pytest.approx(8 * 0.5 * math.log(2 * math.pi * math.e)
                                                   + fixed.log_abs_det_jacobian, rel=1e-6)
    assert not fixed.entropy().requires_grad  # a fixed base: nothing to train
    learned = build(kind, 2, 3, base="learned")
    learned.entropy().backward()  # d H / d log sigma_k = 1 for each of the 2A scales
    assert torch.allclose(learned.log_noise_scale.grad, torch.ones(4))


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("kind", KINDS)
def test_act_is_the_executed_action_and_deterministic_at_zero_noise(kind, network):
    flow = build(kind, 3, 4, network=network)
    context = torch.randn(10, 4)
    a1, a2 = flow.act(context, deterministic=True), flow.act(context, deterministic=True)
    assert a1.shape == (10, 3) and torch.equal(a1, a2)
    dummy = flow(context, torch.zeros(10, 6))
    assert torch.equal(a1, flow.executed_action(dummy))
    assert not torch.equal(flow.act(context), flow.act(context))
    flow.executed_action(dummy).add_(1.0)  # an env that edits its actions in place must not change the stored pair
    assert torch.equal(a1, flow.executed_action(dummy))
    action, latent = flow.split_dummy(dummy)
    assert torch.allclose(action, a1) and torch.allclose(flow.join_dummy(action, latent), dummy, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_shapes_name_the_argument(kind):
    flow = make_flow(2, 3, kind)
    with pytest.raises(ValueError, match="context"):
        flow(torch.zeros(4, 5), torch.zeros(4, 4))
    with pytest.raises(ValueError, match="noise"):
        flow(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="dummy"):
        flow.log_prob(torch.zeros(4, 3), torch.zeros(4, 3))


@pytest.mark.parametrize("settings,field", [
    ({"hidden_dims": []}, "hidden_dims"), ({"activation": "nope"}, "activation"), ({"action_dim": 0}, "action_dim"),
    ({"context_dim": 1.5}, "context_dim")])
@pytest.mark.parametrize("kind", KINDS)
def test_bad_settings_name_the_field(kind, settings, field):
    """The declared fields are checked by their declarations, in the flows too (test_field_table.py); these are
    the rest."""
    given = {"action_dim": 2, "context_dim": 3, **settings}
    with pytest.raises(ValueError, match=field):
        make_flow(given.pop("action_dim"), given.pop("context_dim"), kind, **given)
