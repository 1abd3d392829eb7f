"""GenPO's loss terms and learning-rate rule as plain tensor functions, shared by the rsl_rl 3.x and 5.x adapters.

Nothing here knows rsl_rl: an adapter feeds it a minibatch's tensors and adds the terms up.
"""

from __future__ import annotations

import torch

from .flow import ExactFlow


def clipped_surrogate(new_log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor,
                      clip_param: float) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped policy loss and the fraction of samples whose ratio was clipped. All inputs (B,)."""
    ratio = torch.exp(new_log_prob - old_log_prob)
    loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1.0 - clip_param, 1.0 + clip_param)).mean()
    clip_fraction = ((ratio - 1.0).abs() > clip_param).float().mean()
    return loss, clip_fraction


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_param: float,
               clipped: bool) -> torch.Tensor:
    """rsl_rl's value loss: squared error, optionally clipped around the rollout's values."""
    if not clipped:
        return (returns - values).pow(2).mean()
    values_clipped = old_values + (values - old_values).clamp(-clip_param, clip_param)
    return torch.max((values - returns).pow(2), (values_clipped - returns).pow(2)).mean()


def half_gap(dummy: torch.Tensor) -> torch.Tensor:
    """||x - y|| per sample, (B,): how far the two halves of a dummy action are apart."""
    half = dummy.shape[-1] // 2
    return (dummy[..., :half] - dummy[..., half:]).norm(dim=-1)


def compression_contexts(context: torch.Tensor, fraction: float) -> torch.Tensor:
    """The contexts (k, C) a minibatch's compression sample is drawn for: all B of them at ``fraction`` 1 (the
    paper's loss, bit for bit: no RNG is drawn), else a uniformly random subset of k = max(1, round(fraction B))
    drawn without replacement. The compression loss is a mean over samples, so the mean over a simple random
    subset is an unbiased estimate of the minibatch's mean (and of its expectation over the noise) at ``fraction``
    of the cost; only its variance grows."""
    if fraction >= 1.0:
        return context
    count = max(1, round(fraction * context.shape[0]))
    return context[torch.randperm(context.shape[0], device=context.device)[:count]]


def compression_loss(dummy: torch.Tensor, form: str) -> torch.Tensor:
    """E||x - y|| ("l2", released code) or E||x - y||^2 ("squared", paper) over fresh reparameterised samples."""
    gap = half_gap(dummy)
    return gap.mean() if form == "l2" else gap.pow(2).mean()


def kl_estimate(old_log_prob: torch.Tensor, new_log_prob: torch.Tensor, estimator: str = "k3") -> torch.Tensor:
    """Sample-based KL(pi_old || pi_new) from log-probs of actions drawn from pi_old (Schulman's k1 / k3)."""
    log_ratio = new_log_prob - old_log_prob
    if estimator == "k1":
        return (-log_ratio).mean()
    return (torch.expm1(log_ratio) - log_ratio).mean()


def adapt_learning_rate(learning_rate: float, kl: float, desired_kl: float,
                        min_lr: float = 1e-5, max_lr: float = 1e-2) -> float:
    """rsl_rl's adaptive schedule: divide by 1.5 above 2x the target KL, multiply by 1.5 below half of it."""
    if kl > 2.0 * desired_kl:
        return max(min_lr, learning_rate / 1.5)
    if 0.0 < kl < 0.5 * desired_kl:
        return min(max_lr, learning_rate * 1.5)
    return learning_rate


def entropy_bonus_term(flow: ExactFlow, context: torch.Tensor, new_log_prob: torch.Tensor,
                       entropy_term: str) -> torch.Tensor:
    """The entropy the bonus maximises (a scalar, the mean over the minibatch's states); see
    ``genpo_rsl.config.GENPO_ALGORITHM_DEFAULTS``."""
    if entropy_term == "stored_samples":
        return -new_log_prob.mean()
    return flow.entropy() if not flow.state_dependent_noise else flow.entropy(context).mean()


@torch.no_grad()
def roundtrip_error(flow: ExactFlow, context: torch.Tensor) -> float:
    """max |f^-1(f(e)) - e| over fresh noise for these contexts: the flow's numerical health."""
    noise = flow.sample_noise(context.shape[0], context.device, context)
    return (flow.inverse(context, flow(context, noise)) - noise).abs().max().item()
