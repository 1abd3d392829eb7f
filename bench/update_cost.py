"""Cost of one GenPO minibatch, in units of one Gaussian actor forward+backward, next to each flow's floor.

A "pass" is one velocity-net evaluation with its backward. The floor is what a flow cannot go below: the coupled
flow's exact log-prob runs its inverse, 2N passes, and its compression sample 2N passes more on the share
``compression_fraction`` of the minibatch; the multistep flow's log-prob is N passes and it has no compression
term. The unit is rsl_rl's Gaussian actor (MLP of the same hidden sizes, Normal log-prob) forward+backward on the
same minibatch; PPO's minibatch is that plus the critic's.

    python bench/update_cost.py                  # 6144 samples, 48 obs, 12 actions, hidden [256, 256], N = 5
    python bench/update_cost.py --smoke          # tiny sizes, seconds (exercised by the test suite)
    python bench/update_cost.py --profile        # also print torch.profiler's top ops for one coupled minibatch
    python bench/update_cost.py --obs-dim 45 --hidden 512 256 128 --head-dims 128 128   # Go2's size, encode once

Times are medians of interleaved repeats on one thread; on a shared machine read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from genpo_rsl import objective  # noqa: E402
from genpo_rsl.flow import make_activation, make_flow  # noqa: E402
from genpo_rsl.ppo_common import GenPOMixin  # noqa: E402

PPO_FIELDS = {"clip_param": 0.2, "value_loss_coef": 1.0, "entropy_coef": 0.0, "use_clipped_value_loss": True,
              "desired_kl": None, "schedule": "fixed", "normalize_advantage_per_mini_batch": False}


class MinibatchLoss(GenPOMixin):
    """GenPO's own config intake and minibatch loss (``GenPOMixin._minibatch_loss``), without an rsl_rl PPO."""

    def __init__(self, **genpo_cfg):
        self.__dict__.update(self._take_genpo_cfg({**PPO_FIELDS, **genpo_cfg}, set(PPO_FIELDS)))


def mlp(inputs: int, hidden: list[int], outputs: int, activation: str) -> nn.Sequential:
    layers, width = [], inputs
    for h in hidden:
        layers += [nn.Linear(width, h), make_activation(activation)]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, outputs))


def median_times(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each callable, the repeats interleaved so that machine load hits all alike."""
    for fn in fns.values():  # warm-up: allocator, kernels
        fn()
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: sorted(s)[len(s) // 2] for name, s in samples.items()}


def run(batch: int, obs_dim: int, action_dim: int, hidden: list[int], num_steps: int, fractions: list[float],
        repeats: int, rollout_batches: list[int], head_dims: list[int] | None = None) -> dict:
    torch.manual_seed(0)
    activation = "elu"
    actor, critic = mlp(obs_dim, hidden, action_dim, activation), mlp(obs_dim, hidden, 1, activation)
    log_std = nn.Parameter(torch.zeros(action_dim))
    flows = {kind: make_flow(action_dim, obs_dim, kind, num_steps=num_steps, hidden_dims=hidden,
                             activation=activation) for kind in ("coupled", "multistep")}
    if head_dims:  # encode once: hidden sizes -> the encoder, head_dims -> the per-step velocity head
        flows.update({f"{kind}+head": make_flow(action_dim, obs_dim, kind, num_steps=num_steps, hidden_dims=hidden,
                                                activation=activation, head_dims=head_dims)
                      for kind in ("coupled", "multistep")})
    context = torch.randn(batch, obs_dim)
    advantages, returns = torch.randn(batch), torch.randn(batch, 1)
    with torch.no_grad():
        gauss_actions = actor(context) + torch.randn(batch, action_dim)
        gauss_old = torch.distributions.Normal(actor(context), 1.0).log_prob(gauss_actions).sum(-1)
        stored = {kind: flow.sample(context) for kind, flow in flows.items()}
        old_values = critic(context)

    def gaussian_actor():
        log_prob = torch.distributions.Normal(actor(context), log_std.exp()).log_prob(gauss_actions).sum(-1)
        objective.clipped_surrogate(log_prob, gauss_old, advantages, 0.2)[0].backward()

    def critic_pass():
        objective.value_loss(critic(context), old_values, returns, 0.2, True).backward()

    def ppo_minibatch():
        log_prob = torch.distributions.Normal(actor(context), log_std.exp()).log_prob(gauss_actions).sum(-1)
        surrogate = objective.clipped_surrogate(log_prob, gauss_old, advantages, 0.2)[0]
        (surrogate + objective.value_loss(critic(context), old_values, returns, 0.2, True)).backward()

    flow = flows["coupled"]
    half = torch.randn(batch, action_dim, requires_grad=True)

    def velocity_pass():
        flow.velocity(half, flow.step_conditions(context)[0]).sum().backward()

    def log_prob_of(kind):
        dummy, old = stored[kind]
        return lambda: objective.clipped_surrogate(flows[kind].log_prob(context, dummy), old, advantages,
                                                   0.2)[0].backward()

    def compression_of(fraction):
        return lambda: objective.compression_loss(
            flow.sample(objective.compression_contexts(context, fraction))[0], "l2").backward()

    def genpo_minibatch(kind, **cfg):
        algo = MinibatchLoss(**cfg)
        dummy, old = stored[kind]

        def step():
            loss, _ = algo._minibatch_loss(flows[kind], context, dummy, old, advantages, critic(context), old_values,
                                           returns)
            loss.backward()
        return step

    def roundtrip():
        objective.roundtrip_error(flow, context[:256])

    fns = {"gaussian actor": gaussian_actor, "critic": critic_pass, "PPO minibatch": ppo_minibatch,
           "velocity pass": velocity_pass, "coupled log-prob": log_prob_of("coupled"),
           "multistep log-prob": log_prob_of("multistep"), "round-trip check (256)": roundtrip}
    for fraction in fractions:
        fns[f"coupled compression f={fraction:g}"] = compression_of(fraction)
        fns[f"coupled minibatch f={fraction:g}"] = genpo_minibatch("coupled", compression_fraction=fraction)
    fns["coupled minibatch coef=0"] = genpo_minibatch("coupled", compression_coef=0.0)
    fns["multistep minibatch"] = genpo_minibatch("multistep")
    if head_dims:
        fns[f"coupled+head minibatch f={fractions[-1]:g}"] = genpo_minibatch("coupled+head",
                                                                            compression_fraction=fractions[-1])
        fns["coupled+head minibatch coef=0"] = genpo_minibatch("coupled+head", compression_coef=0.0)
        fns["multistep+head minibatch"] = genpo_minibatch("multistep+head")
    times = median_times(fns, repeats)
    unit = times["gaussian actor"]
    n = num_steps
    floors = {"gaussian actor": 1, "critic": 1, "PPO minibatch": 2, "velocity pass": 1, "coupled log-prob": 2 * n,
              "multistep log-prob": n, "coupled minibatch coef=0": 2 * n + 1, "multistep minibatch": n + 1}
    for fraction in fractions:
        floors[f"coupled compression f={fraction:g}"] = 2 * n * fraction
        floors[f"coupled minibatch f={fraction:g}"] = 2 * n * (1 + fraction) + 1
    rows = [{"what": name, "ms": t * 1e3, "units": t / unit, "floor_units": floors.get(name)}
            for name, t in times.items()]
    rollout = rollout_cost(actor, log_std, flows, obs_dim, rollout_batches, repeats)
    return {"batch": batch, "obs_dim": obs_dim, "action_dim": action_dim, "hidden": hidden, "num_steps": num_steps,
            "head_dims": head_dims,
            "threads": torch.get_num_threads(), "unit_ms": unit * 1e3, "rows": rows, "rollout": rollout,
            "ratio_vs_ppo": {name: times[name] / times["PPO minibatch"] for name in times if "minibatch" in name}}


def rollout_cost(actor, log_std, flows, obs_dim, batches, repeats) -> list[dict]:
    """One rollout step's policy call (sample + log-prob, inference mode), in units of the Gaussian actor's."""
    out = []
    for batch in batches:
        obs = torch.randn(batch, obs_dim)

        def gaussian():
            dist = torch.distributions.Normal(actor(obs), log_std.exp())
            action = dist.sample()
            dist.log_prob(action).sum(-1)

        fns = {"gaussian": gaussian, **{kind: (lambda f=flow: f.sample(obs)) for kind, flow in flows.items()}}
        with torch.inference_mode():
            times = median_times(fns, max(repeats, 20 if batch <= 64 else repeats))
            ops = {k: op_count(fn) for k, fn in fns.items()}
        out.append({"batch": batch, **{f"{k}_ms": t * 1e3 for k, t in times.items()},
                    **{f"{k}_units": t / times["gaussian"] for k, t in times.items() if k != "gaussian"},
                    **{f"{k}_ops": n for k, n in ops.items()}})
    return out


def op_count(fn) -> int:
    """The top-level aten ops one call of ``fn`` dispatches (after a warm-up call): at small batches the time goes
    per op, and unlike a time the count does not depend on what else the machine runs."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    fn()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(1 for event in prof.events() if event.name.startswith("aten::") and event.cpu_parent is None)


def profile(result_args) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    batch, obs_dim, action_dim, hidden, num_steps = result_args
    flow = make_flow(action_dim, obs_dim, "coupled", num_steps=num_steps, hidden_dims=hidden, activation="elu")
    critic = mlp(obs_dim, hidden, 1, "elu")
    context = torch.randn(batch, obs_dim)
    with torch.no_grad():
        dummy, old = flow.sample(context)
        old_values = critic(context)
    algo = MinibatchLoss()
    step = lambda: algo._minibatch_loss(flow, context, dummy, old, torch.randn(batch), critic(context),  # noqa: E731
                                        old_values, torch.randn(batch, 1))[0].backward()
    step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def report(result: dict) -> str:
    lines = [f"Per minibatch of {result['batch']} samples ({result['obs_dim']} obs, {result['action_dim']} actions, "
             f"hidden {result['hidden']}, N = {result['num_steps']}, {result['threads']} thread"
             + (f"; +head: hidden sizes as the encoder, head {result['head_dims']}" if result.get("head_dims") else "")
             + "); unit = one Gaussian "
             f"actor forward+backward = {result['unit_ms']:.1f} ms",
             "", "| what | ms | units | floor (passes) | units / floor |", "|---|---:|---:|---:|---:|"]
    for row in result["rows"]:
        floor = row["floor_units"]
        ratio = f"{row['units'] / floor:.2f}" if floor else ""
        lines.append(f"| {row['what']} | {row['ms']:.1f} | {row['units']:.2f} | "
                     f"{'' if floor is None else f'{floor:g}'} | {ratio} |")
    lines += ["", "GenPO minibatch / PPO minibatch (actor + critic): "
              + ", ".join(f"{k} {v:.2f}x" for k, v in result["ratio_vs_ppo"].items() if k != "PPO minibatch")]
    lines += ["", "Rollout policy call (sample + log-prob, inference mode) in units of the Gaussian actor's:"]
    for r in result["rollout"]:
        lines.append(f"  batch {r['batch']}: Gaussian {r['gaussian_ms']:.3f} ms; coupled {r['coupled_units']:.2f}x "
                     f"(floor 2N = {2 * result['num_steps']}), multistep {r['multistep_units']:.2f}x "
                     f"(floor N = {result['num_steps']})"
                     + "".join(f", {k} {r[f'{k}_units']:.2f}x" for k in ("coupled+head", "multistep+head")
                               if f"{k}_units" in r))
        lines.append("    aten ops per call: " + ", ".join(f"{k} {v}" for k, v in r.items() if k.endswith("_ops"))
                     .replace("_ops", ""))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--batch", type=int, default=6144)
    parser.add_argument("--num-steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--obs-dim", type=int, default=48)
    parser.add_argument("--action-dim", type=int, default=12)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--head-dims", type=int, nargs="*", default=None,
                        help="also measure the encode-once flows (policy.head_dims), e.g. --head-dims 128 128")
    parser.add_argument("--out", default="bench/results/update_cost")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.smoke:
        sizes = (64, 8, 2, [16, 16], 2)
        result = run(*sizes, fractions=[1.0, 0.25], repeats=2, rollout_batches=[4], head_dims=args.head_dims)
    else:
        sizes = (args.batch, args.obs_dim, args.action_dim, args.hidden, args.num_steps)
        result = run(*sizes, fractions=args.fractions, repeats=args.repeats, rollout_batches=[16, 1024],
                     head_dims=args.head_dims)
    text = report(result)
    print(text)
    if args.profile:
        profile(sizes)
    from harness import save_json

    os.makedirs(args.out, exist_ok=True)
    save_json(result, os.path.join(args.out, "results.json"))
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(text + "\n")
    print(f"wrote {args.out}/results.json and table.md")
    return result


if __name__ == "__main__":
    main()
