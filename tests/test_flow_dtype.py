"""The flows follow their module's dtype: the time grid and the sinusoidal frequencies are computed in it.

A float64 flow's log-prob equals an exact float64 computation (time grid i / N and frequencies from Python floats)
to 1e-12; a flow built under torch.set_default_dtype(torch.float64) works; and converting a float32 flow to float64
and back gives exactly the float32 buffers it was built with (so float32 results do not move).
"""

import math

import pytest
import torch

from genpo_rsl.flow import CoupledFlow, MultistepFlow, make_flow

KINDS = ["coupled", "multistep"]


def exact_time_features(flow, i: int) -> torch.Tensor:
    """First-layer time features of t_i = i / N with t and the frequencies computed from Python floats."""
    embedding = flow.velocity.time_embedding
    half = embedding.half
    freqs = torch.tensor([math.exp(-math.log(10000.0) * k / max(half - 1, 1)) for k in range(half)],
                         dtype=torch.float64)
    angles = (i / flow.num_steps) * freqs
    emb = torch.cat([angles.sin(), angles.cos()])
    return flow.velocity.in_time(flow.velocity.time_mlp(emb[None]))[0]


def plain_velocity(net, state, context_features, time_features) -> torch.Tensor:
    """v from its stated form, one Linear over (state, context, time) then the MLP: not the flow's fused path."""
    return net.trunk(net.in_activation(net.in_half(state) + context_features + time_features))


def exact_log_prob(flow, context: torch.Tensor, dummy: torch.Tensor) -> torch.Tensor:
    """log pi(dummy) by an independent float64 inverse (only the flow's Linear layers are reused)."""
    a, n = flow.action_dim, flow.num_steps
    ctx = flow.velocity.in_context(context)
    v = lambda state, i: plain_velocity(flow.velocity, state, ctx, exact_time_features(flow, i))  # noqa: E731
    first, second = dummy[:, :a], dummy[:, a:]
    if isinstance(flow, CoupledFlow):
        p = flow.mix
        for i in reversed(range(n)):
            second = (second - (1 - p) * first) / p
            first = (first - (1 - p) * second) / p
            second = second - v(first, i) / n
            first = first - v(second, i) / n
        log_det = 2 * a * n * math.log(p)
    else:
        b, c = flow.history_coef, flow.velocity_coef
        for i in reversed(range(n)):
            first, second = second, (first - (1 - b) * second - c / n * v(second, i)) / b
        log_det = n * a * math.log(b)
    z = torch.cat([first, second], -1) / flow.noise_scale
    base = -0.5 * z.pow(2).sum(-1) - flow.log_noise_scale.sum() - a * math.log(2 * math.pi)
    return base - log_det


def scaled(flow):
    with torch.no_grad():
        for p in flow.velocity.parameters():
            p.mul_(2.0)
    return flow


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_steps", [3, 5, 7])
def test_float64_log_prob_equals_exact_float64_computation(kind, num_steps):
    torch.manual_seed(0)
    flow = scaled(make_flow(3, 4, kind, num_steps=num_steps, hidden_dims=[32, 32]).double())
    assert flow.times.dtype == flow.velocity.time_embedding.freqs.dtype == torch.float64
    context = torch.randn(16, 4, dtype=torch.float64)
    dummy = flow(context, torch.randn(16, 6, dtype=torch.float64))
    with torch.no_grad():
        diff = (flow.log_prob(context, dummy) - exact_log_prob(flow, context, dummy)).abs().max().item()
    assert diff <= 1e-12, diff


@pytest.mark.parametrize("kind", KINDS)
def test_flow_built_under_float64_default_dtype_works(kind):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(0)
        flow = scaled(make_flow(3, 4, kind, num_steps=5, hidden_dims=[32, 32], noise_scale="learned"))
        assert {t.dtype for t in [*flow.parameters(), *flow.buffers()]} == {torch.float64}
        context = torch.randn(8, 4)
        dummy, log_prob = flow.sample(context)
        assert dummy.dtype == log_prob.dtype == torch.float64
        torch.testing.assert_close(flow.inverse(context, dummy), flow.inverse(context, flow(context, flow.inverse(
            context, dummy))), rtol=0, atol=1e-12)
        with torch.no_grad():
            assert (flow.log_prob(context, dummy) - exact_log_prob(flow, context, dummy)).abs().max() <= 1e-12
            assert (flow.log_prob(context, dummy) - log_prob).abs().max() <= 1e-10
        assert flow.act(context, deterministic=True).dtype == torch.float64
    finally:
        torch.set_default_dtype(previous)


@pytest.mark.parametrize("cls", [CoupledFlow, MultistepFlow])
def test_float32_buffers_survive_a_float64_round_trip_bitwise(cls):
    torch.manual_seed(0)
    flow = cls(2, 3, num_steps=7, hidden_dims=[8], time_embed_dim=16)
    times, freqs = flow.times.clone(), flow.velocity.time_embedding.freqs.clone()
    assert times.dtype == freqs.dtype == torch.float32
    flow.double().float()
    assert torch.equal(flow.times, times) and torch.equal(flow.velocity.time_embedding.freqs, freqs)
    # The float32 grid is what it always was: arange(N, float32) / N, frequencies computed in float32.
    assert torch.equal(times, torch.arange(7, dtype=torch.float32) / 7)
    assert torch.equal(freqs, torch.exp(-math.log(10000.0) * torch.arange(8, dtype=torch.float32) / 7))


def test_float32_checkpoint_loaded_into_float64_flow_keeps_the_exact_grid():
    torch.manual_seed(0)
    source = MultistepFlow(2, 3, num_steps=5, hidden_dims=[8])
    target = MultistepFlow(2, 3, num_steps=5, hidden_dims=[8]).double()
    target.load_state_dict(source.state_dict())
    assert torch.equal(target.times, torch.arange(5, dtype=torch.float64) / 5)
