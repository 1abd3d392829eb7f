"""The deployment form of each flow (``flow.folded()``) is the flow's sampling map, in fewer graph nodes.

One contract for every flow: in float64 the folded map equals ``executed_action(flow(context, sigma * noise))`` to
1e-10, with and without the encode-once head, for every noise-scale mode, at zero noise (None) and sampled noise,
for N = 1 and N = 3, eager and TorchScript; an absorbed affine input map equals applying it first; rsl_rl's
observation normaliser is absorbed by the export (no Sub/Div left) while a normaliser that is not affine stays;
and the exported ONNX graph of the folded policy has fewer nodes than the flow's training form.
"""

import copy
import os

import pytest
import torch
import torch.nn as nn

from genpo_rsl.export import DeterministicFlowPolicy, FoldedFlowPolicy, StochasticFlowPolicy, normalizer_affine
from genpo_rsl.flow import FLOWS, make_flow

KINDS = sorted(FLOWS)
ACTION, CONTEXT, BATCH = 4, 6, 7


def perturbed_flow(kind: str, head_dims: list[int], noise_scale: str, num_steps: int) -> nn.Module:
    """A float64 flow whose weights are moved off their initialisation (the noise head too, so sigma depends on s)."""
    torch.manual_seed(3)
    extra = {"max_noise_scale": 1.3} if noise_scale == "state" else {}
    flow = make_flow(ACTION, CONTEXT, flow=kind, hidden_dims=[16, 12], head_dims=head_dims, num_steps=num_steps,
                     noise_scale=noise_scale, time_embed_dim=8, time_hidden_dims=[8], **extra).double()
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return flow


def reference(flow: nn.Module, context: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    with torch.no_grad():
        scaled = torch.zeros(context.shape[0], 2 * ACTION, dtype=context.dtype) if noise is None \
            else noise * flow.log_scale(context).exp()
        return flow.executed_action(flow(context, scaled))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("head_dims", [[], [10, 10], [10]], ids=["paper", "head2", "head1"])
@pytest.mark.parametrize("noise_scale", ["fixed", "learned", "state"])
@pytest.mark.parametrize("num_steps", [1, 3])
def test_folded_flow_is_the_sampling_map(kind, head_dims, noise_scale, num_steps):
    flow = perturbed_flow(kind, head_dims, noise_scale, num_steps)
    folded = flow.folded()
    scripted = torch.jit.script(copy.deepcopy(folded))
    context = torch.randn(BATCH, CONTEXT, dtype=torch.float64)
    noise = torch.randn(BATCH, 2 * ACTION, dtype=torch.float64)
    for given in (None, noise):
        expected = reference(flow, context, given)
        assert expected.abs().max() > 0.05  # a map with something to get wrong
        with torch.no_grad():
            torch.testing.assert_close(folded(context, given), expected, rtol=0, atol=1e-10)
            torch.testing.assert_close(scripted(context, given), expected, rtol=0, atol=1e-10)
    assert not any(p.requires_grad for p in folded.parameters())
    # a frozen copy: later training of the flow does not move it
    before = folded(context, noise)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(1.0)
    torch.testing.assert_close(folded(context, noise), before, rtol=0, atol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("head_dims", [[], [10]], ids=["paper", "head"])
def test_an_absorbed_input_map_equals_applying_it_first(kind, head_dims):
    flow = perturbed_flow(kind, head_dims, "state", 2)
    scale = torch.rand(CONTEXT, dtype=torch.float64) + 0.5
    shift = torch.randn(CONTEXT, dtype=torch.float64)
    obs = torch.randn(BATCH, CONTEXT, dtype=torch.float64)
    noise = torch.randn(BATCH, 2 * ACTION, dtype=torch.float64)
    folded = flow.folded()
    folded.fold_input(scale, shift)
    for given in (None, noise):
        torch.testing.assert_close(folded(obs, given), reference(flow, obs * scale + shift, given), rtol=0,
                                   atol=1e-10)


class ClippingNormalizer(nn.Module):
    """(x - mean) / (std + eps), clipped to [-1, 1]: affine only near the mean."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("_mean", mean)
        self.register_buffer("_std", std)
        self.eps = 1e-2

    def forward(self, x):
        return ((x - self._mean) / (self._std + self.eps)).clamp(-1.0, 1.0)


def test_rsl_rl_normalizer_is_absorbed_and_a_clipping_one_is_kept():
    try:  # rsl_rl 3.x
        from rsl_rl.networks import EmpiricalNormalization
    except ImportError:  # 4.x / 5.x
        from rsl_rl.modules import EmpiricalNormalization

    normalizer = EmpiricalNormalization(CONTEXT)
    normalizer.train()
    normalizer.update(torch.randn(64, CONTEXT) * 3.0 + 2.0)
    stats = {k: v.clone() for k, v in normalizer.state_dict().items()}
    scale, shift = normalizer_affine(normalizer)
    x = torch.randn(5, CONTEXT) * 3.0 + 2.0
    torch.testing.assert_close(x * scale + shift, normalizer.eval()(x))
    assert all(torch.equal(stats[k], v) for k, v in normalizer.state_dict().items())  # probing changed nothing
    clipping = ClippingNormalizer(torch.zeros(CONTEXT), torch.ones(CONTEXT))
    assert normalizer_affine(clipping) is None
    assert normalizer_affine(nn.Identity()) is None

    flow = make_flow(ACTION, CONTEXT, flow="multistep", hidden_dims=[16], head_dims=[8])
    obs = torch.randn(BATCH, CONTEXT) * 3.0 + 2.0
    with torch.no_grad():
        expected = DeterministicFlowPolicy(copy.deepcopy(normalizer), flow)(obs)
        absorbed = FoldedFlowPolicy(copy.deepcopy(normalizer), flow)
        kept = FoldedFlowPolicy(copy.deepcopy(clipping), flow)
        torch.testing.assert_close(absorbed(obs), expected, rtol=1e-5, atol=1e-5)
        assert isinstance(absorbed.obs_normalizer, nn.Identity) and kept.obs_normalizer is not None
        torch.testing.assert_close(kept(obs), DeterministicFlowPolicy(clipping, flow)(obs))


@pytest.mark.parametrize("kind", KINDS)
def test_folded_export_has_fewer_onnx_nodes_than_the_training_form(kind, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from genpo_rsl.export import write_policy

    flow = make_flow(12, 48, flow=kind, hidden_dims=[32, 32], head_dims=[16, 16])
    counts = {}
    for name, module in (("training", DeterministicFlowPolicy(nn.Identity(), flow)),
                         ("folded", FoldedFlowPolicy(nn.Identity(), flow)),
                         ("stochastic", StochasticFlowPolicy(nn.Identity(), flow))):
        path = os.path.join(tmp_path, f"{name}.onnx")
        write_policy(module, path, "onnx")  # checked against the module on random inputs
        counts[name] = len(onnx.load(path).graph.node)
    assert counts["folded"] < 0.6 * counts["training"], counts
    with torch.no_grad():  # and the folded policy is the training form's map
        obs = torch.randn(BATCH, 48)
        torch.testing.assert_close(FoldedFlowPolicy(nn.Identity(), flow)(obs),
                                   DeterministicFlowPolicy(nn.Identity(), flow)(obs), rtol=1e-5, atol=1e-5)
