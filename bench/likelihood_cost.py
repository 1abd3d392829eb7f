"""Cost of one PPO policy update: closed-form log-prob vs the autograd-Jacobian log-prob of the released code.

Both variants compute log pi(a|s) for the same batch of stored dummy actions and backpropagate a clipped surrogate
through it. The Jacobian variant builds d f^-1 / d a per sample with torch.func (vmap of jacrev) and takes its
log-determinant, as the authors' code does; the closed form uses log|det J| = 2 A N log p.

    python bench/likelihood_cost.py                 # A in {12, 20}, batch 4096, hidden [512, 256, 128]
    python bench/likelihood_cost.py --smoke         # tiny sizes, seconds (exercised by the test suite)
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from torch.func import jacrev, vmap

from genpo_rsl.flow import CoupledFlow
from genpo_rsl.objective import clipped_surrogate


def jacobian_log_prob(flow: CoupledFlow, context: torch.Tensor, dummy: torch.Tensor) -> torch.Tensor:
    """log N(f^-1(a)) + log|det d f^-1/d a|, the Jacobian built by autograd for every sample."""

    def inverse_one(c: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return flow.inverse(c[None], a[None])[0]

    jac = vmap(jacrev(inverse_one, argnums=1))(context, dummy)
    return flow.base_log_prob(flow.inverse(context, dummy)) + torch.linalg.slogdet(jac)[1]


def closed_form_log_prob(flow: CoupledFlow, context: torch.Tensor, dummy: torch.Tensor) -> torch.Tensor:
    return flow.log_prob(context, dummy)


def time_update(log_prob_fn, flow, context, dummy, old_log_prob, advantages, repeats: int) -> float:
    params = list(flow.parameters())
    best = float("inf")
    for _ in range(repeats + 1):  # the first pass warms up allocators and kernels
        start = time.perf_counter()
        loss, _ = clipped_surrogate(log_prob_fn(flow, context, dummy), old_log_prob, advantages, 0.2)
        grads = torch.autograd.grad(loss, params)
        del grads
        best = min(best, time.perf_counter() - start)
    return best


def run(action_dims, batch, obs_dim, hidden, repeats, threads) -> list[dict]:
    torch.set_num_threads(threads)
    rows = []
    for action_dim in action_dims:
        torch.manual_seed(0)
        flow = CoupledFlow(action_dim, obs_dim, num_steps=5, mix=0.9, hidden_dims=hidden, activation="elu")
        context = torch.randn(batch, obs_dim)
        with torch.no_grad():
            dummy, old_log_prob = flow.sample(context)
        advantages = torch.randn(batch)
        # Equal log-probs first: the two methods must agree before their speed means anything.
        with torch.no_grad():
            diff = (closed_form_log_prob(flow, context[:256], dummy[:256])
                    - jacobian_log_prob(flow, context[:256], dummy[:256])).abs().max().item()
        t_closed = time_update(closed_form_log_prob, flow, context, dummy, old_log_prob, advantages, repeats)
        t_jac = time_update(jacobian_log_prob, flow, context, dummy, old_log_prob, advantages, max(1, repeats // 2))
        rows.append({"action_dim": action_dim, "batch": batch, "hidden": hidden, "closed_form_s": t_closed,
                     "jacobian_s": t_jac, "speedup": t_jac / t_closed, "max_abs_log_prob_diff": diff})
        print(f"A={action_dim:3d} batch={batch} hidden={hidden}: closed form {t_closed * 1e3:8.1f} ms, "
              f"autograd Jacobian {t_jac * 1e3:9.1f} ms, speedup {t_jac / t_closed:6.1f}x, "
              f"max |log-prob diff| {diff:.2e}")
    return rows


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"A={r['action_dim']}" for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar([i - 0.2 for i in x], [r["closed_form_s"] * 1e3 for r in rows], 0.4, label="closed form")
    ax.bar([i + 0.2 for i in x], [r["jacobian_s"] * 1e3 for r in rows], 0.4, label="autograd Jacobian")
    ax.set_xticks(list(x), labels)
    ax.set_yscale("log")
    ax.set_ylabel("one policy update (ms, log)")
    ax.set_title(f"log-prob + backward, batch {rows[0]['batch']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="bench/results/likelihood_cost")
    args = parser.parse_args(argv)
    if args.smoke:
        rows = run([2], 32, 8, [16, 16], 1, args.threads)
    else:
        rows = run([12, 20], args.batch, 48, [512, 256, 128], args.repeats, args.threads)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(rows, f, indent=2)
    plot(rows, os.path.join(args.out, "likelihood_cost.png"))
    print(f"wrote {args.out}/results.json and likelihood_cost.png")
    return rows


if __name__ == "__main__":
    main()
