"""The time part of the flow's step conditions is kept between inference calls, and never goes stale.

Without gradients (rollouts, evaluation, export checks) a flow reuses the N time rows of its first layer
(``ExactFlow._inference_step_bias``); with gradients it recomputes them. Every way the weights change must show in
the next inference call: an optimizer step, ``load_state_dict``, a dtype move. A deepcopy or pickle does not carry
the kept tensor (it may be an inference-mode tensor).
"""

import copy
import io

import pytest
import torch

from genpo_rsl.flow import make_flow

KINDS = ["coupled", "multistep"]


def build(kind: str, **fields):
    torch.manual_seed(0)
    return make_flow(3, 5, kind, num_steps=4, hidden_dims=[16, 16], **fields)


@pytest.mark.parametrize("head_dims", [[], [8]])
@pytest.mark.parametrize("kind", KINDS)
def test_inference_calls_equal_the_gradient_path_and_follow_every_weight_change(kind, head_dims):
    flow = build(kind, head_dims=head_dims)
    context = torch.randn(6, 5)
    noise = flow.sample_noise(6)
    with torch.inference_mode():
        first = flow(context, noise)
    assert torch.equal(first, flow(context, noise).detach())

    optimizer = torch.optim.SGD(flow.parameters(), lr=0.5)
    flow(context, noise).square().sum().backward()
    optimizer.step()
    with torch.no_grad():
        stepped = flow(context, noise)
    assert not torch.equal(stepped, first)
    assert torch.equal(stepped, flow(context, noise).detach())

    flow.load_state_dict(build(kind, head_dims=head_dims).state_dict())
    with torch.inference_mode():
        assert torch.equal(flow(context, noise), first)

    flow.double()
    with torch.no_grad():
        doubled = flow(context.double(), noise.double())
    assert doubled.dtype == torch.float64
    assert torch.allclose(doubled, first.double(), atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_time_layer_changed_in_place_is_seen(kind):
    flow = build(kind)
    context, noise = torch.randn(4, 5), torch.zeros(4, 6)
    with torch.no_grad():
        before = flow(context, noise)
        flow.velocity.in_time.weight.mul_(3.0)  # only the time rows change
        after = flow(context, noise)
    assert not torch.equal(before, after)
    assert torch.equal(after, flow(context, noise).detach())


@pytest.mark.parametrize("kind", KINDS)
def test_copies_do_not_carry_the_kept_rows(kind):
    flow = build(kind)
    context = torch.randn(4, 5)
    with torch.inference_mode():
        expected = flow.act(context, deterministic=True)
    copied = copy.deepcopy(flow)
    buffer = io.BytesIO()
    torch.save(flow, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    for other in (copied, loaded):
        assert "_step_bias_cache" not in other.__dict__
        with torch.no_grad():
            assert torch.equal(other.act(context, deterministic=True), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_weights_made_in_inference_mode_are_used_and_not_kept(kind):
    # IsaacLab's play builds and loads the policy inside torch.inference_mode(): its weights keep no version
    # counter, and may still change in place there.
    with torch.inference_mode():
        flow = build(kind)
        context, noise = torch.randn(4, 5), torch.zeros(4, 6)
        before = flow(context, noise)
        flow.velocity.in_time.weight.mul_(3.0)
        after = flow(context, noise)
    assert not torch.equal(before, after)
    assert "_step_bias_cache" not in flow.__dict__
    with torch.no_grad():
        assert torch.equal(flow(context, noise), after)
