"""compression_fraction: 1 is the paper's compression loss bit for bit; below 1 the loss on a random subset of the
minibatch is an unbiased estimate of the full one; out-of-range values fail naming the field."""

from __future__ import annotations

import pytest
import torch

from genpo_rsl import objective
from genpo_rsl.config import GENPO_ALGORITHM_DEFAULTS
from genpo_rsl.flow import CoupledFlow, MultistepFlow
from genpo_rsl.ppo_common import GenPOMixin

PPO_FIELDS = {"clip_param": 0.2, "value_loss_coef": 1.0, "entropy_coef": 0.0, "use_clipped_value_loss": True,
              "desired_kl": None, "schedule": "fixed", "normalize_advantage_per_mini_batch": False}


class MinibatchLoss(GenPOMixin):
    """GenPO's real config intake and minibatch loss, with the PPO attributes it reads set directly."""

    def __init__(self, **genpo_cfg):
        rest = self._take_genpo_cfg({**PPO_FIELDS, **genpo_cfg}, set(PPO_FIELDS))
        self.__dict__.update(rest)


def minibatch(flow, batch=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    context = torch.randn(batch, flow.context_dim, generator=gen)
    with torch.no_grad():
        actions, old_log_prob = flow.sample(context)
    values = torch.randn(batch, 1, generator=gen)
    return dict(context=context, actions=actions, old_log_prob=old_log_prob + 0.01,
                advantages=torch.randn(batch, generator=gen), values=values.requires_grad_(),
                old_values=values.detach() + 0.1, returns=torch.randn(batch, 1, generator=gen))


def paper_loss(flow, mb, coef, form):
    """The loss as written before compression_fraction existed: compression on a fresh sample of every context."""
    new_log_prob = flow.log_prob(mb["context"], mb["actions"])
    surrogate, _ = objective.clipped_surrogate(new_log_prob, mb["old_log_prob"], mb["advantages"], 0.2)
    value = objective.value_loss(mb["values"], mb["old_values"], mb["returns"], 0.2, True)
    loss = surrogate + value - 0.0 * flow.entropy()
    return loss + coef * objective.compression_loss(flow.sample(mb["context"])[0], form)


@pytest.mark.parametrize("form", ["l2", "squared"])
def test_fraction_one_is_the_paper_loss_bit_for_bit(form):
    torch.manual_seed(0)
    flow = CoupledFlow(3, 5, num_steps=3, hidden_dims=[16, 16])
    mb = minibatch(flow)
    algo = MinibatchLoss(compression_coef=0.05, compression_form=form, compression_fraction=1.0)
    torch.manual_seed(7)
    loss, stats = algo._minibatch_loss(flow, **mb)
    next_draw = torch.randn(3)
    grads = torch.autograd.grad(loss, list(flow.parameters()))
    torch.manual_seed(7)
    reference = paper_loss(flow, mb, 0.05, form)
    reference_next_draw = torch.randn(3)
    reference_grads = torch.autograd.grad(reference, list(flow.parameters()))
    assert torch.equal(loss, reference)
    assert all(torch.equal(g, r) for g, r in zip(grads, reference_grads))
    assert torch.equal(next_draw, reference_next_draw), "fraction 1 must draw exactly the paper loss's random numbers"


def test_subset_size_and_no_rng_at_one():
    context = torch.arange(100.0).unsqueeze(-1)
    state = torch.get_rng_state()
    assert objective.compression_contexts(context, 1.0) is context
    assert torch.equal(torch.get_rng_state(), state)
    subset = objective.compression_contexts(context, 0.25)
    assert subset.shape == (25, 1) and subset.unique().numel() == 25  # without replacement
    assert objective.compression_contexts(context, 1e-6).shape == (1, 1)  # at least one sample


def test_subset_mean_is_unbiased_and_the_check_would_catch_a_biased_one():
    """Sorted per-sample values: a subset that is not uniformly random (e.g. the first k) would be far off."""
    batch, fraction, draws = 64, 0.25, 4000
    values = torch.linspace(0.0, 1.0, batch).pow(2).double().unsqueeze(-1)
    full = values.mean().item()
    torch.manual_seed(0)
    estimates = torch.stack([objective.compression_contexts(values, fraction).mean() for _ in range(draws)])
    k = round(fraction * batch)
    # Standard error of the average of the draws (simple random sampling without replacement).
    se = (values.std().item() / k ** 0.5) * ((batch - k) / (batch - 1)) ** 0.5 / draws ** 0.5
    assert abs(estimates.mean().item() - full) < 4 * se
    assert abs(values[:k].mean().item() - full) > 50 * se  # a biased selection fails this tolerance by far


def test_fractional_compression_loss_is_unbiased_through_the_flow():
    """E[loss on a random quarter, fresh noise] = E[loss on all contexts, fresh noise] for a real flow."""
    torch.manual_seed(0)
    flow = CoupledFlow(2, 3, num_steps=2, hidden_dims=[16], time_hidden_dims=[8])
    # Contexts that spread the per-sample gap widely, so a biased subset would show.
    context = torch.cat([torch.zeros(24, 3), 4.0 * torch.ones(8, 3)])
    with torch.no_grad():
        flow.velocity.trunk[-1].weight.mul_(20.0)
        draws = 3000

        def per_draw_losses(contexts):  # (draws, k, C) -> each draw's compression loss, in one flow call
            dummy = flow.sample(contexts.flatten(0, 1))[0]
            return objective.half_gap(dummy).view(draws, -1).mean(-1)

        full = per_draw_losses(context.expand(draws, -1, -1))
        part = per_draw_losses(torch.stack([objective.compression_contexts(context, 0.25) for _ in range(draws)]))
        first = per_draw_losses(context[:8].expand(draws, -1, -1))
    se = (full.var() / draws + part.var() / draws).sqrt().item()
    assert abs(part.mean().item() - full.mean().item()) < 4 * se
    assert abs(first.mean().item() - full.mean().item()) > 10 * se  # the first quarter (a biased subset) is caught


def test_fraction_below_one_trains_on_the_subset():
    torch.manual_seed(0)
    flow = CoupledFlow(3, 5, num_steps=3, hidden_dims=[16, 16])
    mb = minibatch(flow, batch=64)
    algo = MinibatchLoss(compression_coef=0.05, compression_fraction=0.25)
    calls = []
    original = flow.forward
    flow.forward = lambda context, noise: (calls.append(context.shape[0]), original(context, noise))[1]
    loss, _ = algo._minibatch_loss(flow, **mb)
    assert calls == [16]  # one compression pass, on a quarter of the minibatch
    loss.backward()
    assert flow.velocity.trunk[-1].weight.grad.abs().sum() > 0


def test_no_compression_pass_when_not_trained():
    """compression_coef = 0 (coupled) and the multistep flow log the stored actions' gap: no flow pass for it."""
    for flow, cfg in ((CoupledFlow(3, 5, num_steps=3, hidden_dims=[16]), {"compression_coef": 0.0}),
                      (MultistepFlow(3, 5, num_steps=3, hidden_dims=[16]), {})):
        mb = minibatch(flow)
        flow.forward = lambda *args: pytest.fail("a flow forward pass was run only to log the compression term")
        _, stats = MinibatchLoss(**cfg)._minibatch_loss(flow, **mb)
        assert torch.equal(stats["compression"], objective.compression_loss(mb["actions"], "l2"))


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, "half", True, float("nan")])
def test_out_of_range_fraction_names_the_field(bad):
    with pytest.raises(ValueError, match=r"algorithm\.compression_fraction"):
        MinibatchLoss(compression_fraction=bad)


def test_default_is_in_range():
    assert 0.0 < GENPO_ALGORITHM_DEFAULTS["compression_fraction"] <= 1.0
