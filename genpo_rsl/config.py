"""GenPO's configuration fields, their defaults, and validation shared by every rsl_rl adapter.

The fields live in two places of an rsl_rl runner config, as in rsl_rl itself: the policy's (``actor`` in rsl_rl
4.x/5.x, ``policy`` in 3.x) and the ``algorithm``'s. This module knows nothing of rsl_rl; it only checks values
and names, so that a typo or an out-of-range value fails before any training starts, naming the field.
"""

from __future__ import annotations

import difflib
from typing import Any

from .flow import FLOW_SPECIFIC_FIELDS, FLOWS
from .flow.base import check_positive, check_unit_interval

# Policy (flow) fields beyond the usual hidden_dims / activation / obs_normalization.
FLOW_DEFAULTS: dict[str, Any] = {
    # "coupled": GenPO's coupled flow (paper), 2 velocity calls per step, the env gets (x + y) / 2;
    # "multistep": the GenPO++ multistep flow, 1 velocity call per step, the env gets x_N (see genpo_rsl.flow).
    "flow": "coupled",
    "num_steps": 5,  # N flow steps (paper: 5 for every task)
    "mix": 0.9,  # coupled only: p, the mixing coefficient (paper: 0.9; released code: 0.95)
    "history_coef": 0.97,  # multistep only: b in (0, 1], weight of x_{i-1} (authors' IsaacLab configs: 0.97)
    "velocity_coef": 1.0,  # multistep only: c > 0 in c dt v (authors' configs: 1.0; their page writes 1 + b)
    "time_embed_dim": 32,  # sinusoidal time-embedding size (paper: 32; 16 for Quadcopter)
    "time_hidden_dims": [64, 64],  # MLP on the time embedding (released code: [256, 256])
    # "fixed": base N(0, I) (paper); "learned": state-independent sigma, exact entropy; "state": log sigma(s)
    # linear in the observation, exact per-state entropy.
    "noise_scale": "fixed",
    "init_noise_scale": 1.0,
}

# Algorithm fields GenPO adds to rsl_rl's PPO.
GENPO_ALGORITHM_DEFAULTS: dict[str, Any] = {
    # nu * E||x - y||: keeps the two halves together so their average is a faithful action.
    "compression_coef": 0.01,
    # "l2": ||x - y|| (released code), "squared": ||x - y||^2 (paper).
    "compression_form": "l2",
    # Share of each minibatch the compression sample is drawn for, in (0, 1]: a random subset's mean is an unbiased
    # estimate of the full mean at that share of its 2N velocity passes. 1.0: the paper's loss, bit for bit.
    # 0.25: the coupled minibatch costs 13.8 instead of 24.2 Gaussian-actor passes, learning unchanged within the
    # seed spread (docs/results/speed/README.md).
    "compression_fraction": 0.25,
    # Entropy used for the bonus (entropy_coef) and the log:
    #   "closed_form": the exact entropy of the doubled action, H(base) + 2AN log p. With noise_scale="fixed"
    #       it is a constant, so the bonus has no gradient (honest: a fixed N(0, I) base has no entropy to
    #       raise); with noise_scale="learned" or "state" its gradient raises sigma.
    #   "stored_samples": the released code's -mean log pi(stored samples). That is a cross-entropy, not the
    #       current policy's entropy; its expected gradient is zero at the rollout policy and, once the policy
    #       moves, it pushes away from the rollout policy (it grows the KL).
    "entropy_term": "closed_form",
    # Sample-based KL(pi_old || pi_new) estimate that drives the adaptive learning rate (no Gaussian closed form):
    #   "k3": mean(exp(r) - 1 - r), r = log pi_new - log pi_old (unbiased, always >= 0, low variance);
    #   "k1": mean(log pi_old - log pi_new) (released code; unbiased but can be negative).
    "kl_estimator": "k3",
    # Inversion round-trip check of a sample batch, logged every update. Above warn: a warning; above fail:
    # training stops before the bad model is saved.
    "roundtrip_warn": 1e-3,
    "roundtrip_fail": 1e-1,
}

COMPRESSION_FORMS = ("l2", "squared")
ENTROPY_TERMS = ("closed_form", "stored_samples")
KL_ESTIMATORS = ("k1", "k3")


def check_unknown_keys(section: str, given: dict, allowed: set[str] | list[str]) -> None:
    """Raise a ValueError naming every unknown key in ``given`` with its closest allowed spelling."""
    allowed = set(allowed)
    unknown = [k for k in given if k not in allowed]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(allowed), n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ValueError(
        f"{section}: unknown config key(s) {', '.join(hints)}. Allowed keys: {', '.join(sorted(allowed))}."
    )


def check_choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{field}: must be one of {list(choices)}, got {value!r}")


def check_number(field: str, value: Any, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> None:
    """Check low <= value <= high (open ends with the flags); the message names the field and the range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{field}: must be a number, got {value!r}")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        interval = ("(" if low_open or low is None else "[") + f"{lo}, {hi}" + (")" if high_open or high is None else "]")
        raise ValueError(f"{field}: must be in {interval}, got {value!r}")


def validate_flow_cfg(section: str, cfg: dict) -> None:
    """Check the flow choice and its coefficients in a policy config as given (before FLOW_DEFAULTS are merged).

    ``section`` is the config section's name for the messages ("actor" in rsl_rl 4.x/5.x, "policy" in 3.x). A
    setting that only the other flow takes must keep its default: a changed one would be silently ignored.
    """
    flow = cfg.get("flow", FLOW_DEFAULTS["flow"])
    check_choice(f"{section}.flow", flow, tuple(FLOWS))
    # The flows' own checks, so a message reads the same from the config and from the flow's constructor.
    if flow == "coupled":
        check_unit_interval(f"{section}.mix", cfg.get("mix", FLOW_DEFAULTS["mix"]), "the paper uses 0.9")
    else:
        check_unit_interval(f"{section}.history_coef", cfg.get("history_coef", FLOW_DEFAULTS["history_coef"]),
                            "the authors' IsaacLab configs use 0.97")
        check_positive(f"{section}.velocity_coef", cfg.get("velocity_coef", FLOW_DEFAULTS["velocity_coef"]),
                       "the authors' configs use 1.0")
    for other, fields in FLOW_SPECIFIC_FIELDS.items():
        for key in fields:
            if other != flow and key in cfg and cfg[key] != FLOW_DEFAULTS[key]:
                raise ValueError(
                    f"{section}.{key}: {cfg[key]!r} is a setting of flow={other!r}, but {section}.flow is {flow!r}, "
                    f"which does not use it. Fix: remove {key} (or set it back to {FLOW_DEFAULTS[key]!r}), or set "
                    f"{section}.flow={other!r}. Allowed flows: {list(FLOWS)}.")


def validate_genpo_algorithm(cfg: dict) -> None:
    """Validate GenPO's and PPO's numeric algorithm fields that rsl_rl itself leaves unchecked."""
    get = cfg.get
    check_number("algorithm.compression_coef", get("compression_coef", 0.0), low=0.0)
    check_choice("algorithm.compression_form", get("compression_form", "l2"), COMPRESSION_FORMS)
    check_number("algorithm.compression_fraction", get("compression_fraction", 1.0), low=0.0, high=1.0, low_open=True)
    check_choice("algorithm.entropy_term", get("entropy_term", "closed_form"), ENTROPY_TERMS)
    check_choice("algorithm.kl_estimator", get("kl_estimator", "k3"), KL_ESTIMATORS)
    check_number("algorithm.roundtrip_warn", get("roundtrip_warn", 1e-3), low=0.0, low_open=True)
    check_number("algorithm.roundtrip_fail", get("roundtrip_fail", 1e-1), low=get("roundtrip_warn", 1e-3))
    for field in ("entropy_coef", "value_loss_coef", "max_grad_norm"):
        if field in cfg:
            check_number(f"algorithm.{field}", cfg[field], low=0.0)
    for field in ("learning_rate", "clip_param"):
        if field in cfg:
            check_number(f"algorithm.{field}", cfg[field], low=0.0, low_open=True)
    for field in ("gamma", "lam"):
        if field in cfg:
            check_number(f"algorithm.{field}", cfg[field], low=0.0, high=1.0)
    if cfg.get("desired_kl") is not None:
        check_number("algorithm.desired_kl", cfg["desired_kl"], low=0.0, low_open=True)
    for field in ("num_learning_epochs", "num_mini_batches"):
        if field in cfg and (isinstance(cfg[field], bool) or not isinstance(cfg[field], int) or cfg[field] < 1):
            raise ValueError(f"algorithm.{field}: must be an integer >= 1, got {cfg[field]!r}")
