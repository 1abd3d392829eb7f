"""GenPO's configuration fields, their defaults, and validation shared by every rsl_rl adapter.

The fields live in two places of an rsl_rl runner config, as in rsl_rl itself: the policy's (``actor`` in rsl_rl
4.x/5.x, ``policy`` in 3.x) and the ``algorithm``'s. This module knows nothing of rsl_rl; it only checks values
and names, so that a typo or an out-of-range value fails before any training starts, naming the field.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from .flow import FLOWS, field_owners, flow_field, policy_defaults, policy_fields
from .flow.fields import Field, defaults, markdown_rows


class _PolicyDefaults(Mapping):
    """{policy setting: default}, read from the registered flows on every access (a flow registered later, e.g. by
    a test, is included)."""

    def __getitem__(self, key: str) -> Any:
        return policy_defaults()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(policy_defaults())

    def __len__(self) -> int:
        return len(policy_defaults())

    def __repr__(self) -> str:
        return repr(policy_defaults())


#: Policy (flow) fields beyond the usual hidden_dims / activation / obs_normalization: ``flow`` (which flow), the
#: fields every flow takes (``genpo_rsl.flow.base.COMMON_FIELDS``) and each flow's own (its ``own_fields``).
FLOW_DEFAULTS: Mapping[str, Any] = _PolicyDefaults()

COMPRESSION_FORMS = ("l2", "squared")
ENTROPY_TERMS = ("closed_form", "stored_samples")
KL_ESTIMATORS = ("k1", "k3")

#: Algorithm fields GenPO adds to rsl_rl's PPO, each declared once.
ALGORITHM_FIELDS: tuple[Field, ...] = (
    Field("compression_coef", 0.01, "nu, the weight of the compression loss nu E||x - y|| that keeps the coupled "
          "flow's two halves together, so their average is a faithful action (the multistep flow has none).",
          low=0.0),
    Field("compression_form", "l2", "'l2': ||x - y|| (the released code); 'squared': ||x - y||^2 (the paper).",
          choices=COMPRESSION_FORMS),
    Field("compression_fraction", 0.25, "Share of each minibatch the compression sample is drawn for: a random "
          "subset's mean is an unbiased estimate of the full mean at that share of its 2N velocity passes; 1.0 is "
          "the paper's loss bit for bit (cost and learning: docs/results/speed).",
          low=0.0, low_open=True, high=1.0),
    Field("entropy_term", "closed_form", "What entropy_coef multiplies: 'closed_form', the exact entropy of the "
          "doubled action (a constant with noise_scale='fixed', so the bonus has no gradient; with 'learned' or "
          "'state' it raises sigma); 'stored_samples', the released code's -mean log pi(stored samples), a "
          "cross-entropy that pushes away from the rollout policy.", choices=ENTROPY_TERMS),
    Field("kl_estimator", "k3", "Sample KL(pi_old || pi_new) for the adaptive learning rate: 'k3' = "
          "mean(exp(r) - 1 - r) (>= 0, low variance); 'k1' = mean(-r) (the released code).", choices=KL_ESTIMATORS),
    Field("roundtrip_warn", 1e-3, "Inversion round-trip error (max abs, checked every update) above which training "
          "warns.", low=0.0, low_open=True),
    Field("roundtrip_fail", 1e-1, "Inversion round-trip error above which training stops before the bad model is "
          "saved; at least roundtrip_warn.", low=0.0, low_open=True),
)
GENPO_ALGORITHM_DEFAULTS: dict[str, Any] = defaults(ALGORITHM_FIELDS)
#: Named recipes: settings over the package defaults, as ``{"policy": {flow fields}, "algorithm": {fields}}``
#: (rsl_rl 5.x names; every client translates them into its own schema).
#: - "paper": the GenPO paper's policy (coupled flow, fixed N(0, I) base, compression 0.01, the whole network run at
#:   every flow step), which the package defaults are; one flag away on every robot task
#:   (genpo-train --recipe paper, IsaacLab --agent genpo_paper, mjlab's <task>-GenPO-Paper twins).
#: - "robot": the locomotion recipe chosen by evidence on Go2 (docs/results/go2/README.md): the multistep flow
#:   (which executes a flow sample, so needs no compression), a state-dependent base-noise scale bounded smoothly
#:   at 1.3 (unbounded, the entropy bonus inflated it and the robots kept falling; at 1.1 both Go2 tasks tracked
#:   less than at 1.3, 3 seeds each), the observation encoded once with a [128, 128] velocity head per flow step
#:   (a [64, 64] head at 3 steps costs about PPO's iteration but tracked less on Go2 Omni, 3 seeds), and twice
#:   PPO's desired KL for the adaptive rate: GenPO's KL is
#:   that of the 2A-dim dummy action, whose second half the environment never sees, so at PPO's 0.01 the executed
#:   action moved half as fast; and 3 learning epochs instead of the tasks' 5 (the update is most of an iteration:
#:   with 3 GenPO's iteration costs 0.88x PPO's on Go2, against 1.24x, and it tracked as much per env step, 3 seeds
#:   per task). Every robot task's GenPO default (Genesis, IsaacLab's locomotion tasks, mjlab's velocity twins).
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {"policy": {"flow": "coupled", "noise_scale": "fixed", "head_dims": []},
              "algorithm": {"compression_coef": 0.01}},
    "robot": {"policy": {"flow": "multistep", "noise_scale": "state", "head_dims": [128, 128],
                         "max_noise_scale": 1.3},
              "algorithm": {"desired_kl": 0.02, "num_learning_epochs": 3}},
}


#: Algorithm fields a recipe sets that keep the task's own value when symmetry augmentation is on (rsl_rl's
#: ``symmetry_cfg.use_data_augmentation``). Augmentation doubles every minibatch; on Go2 Omni the robot recipe's
#: 3 learning epochs then took off later and tracked less than the task's 5 (docs/results/go2/README.md, "Symmetry at
#: 3 learning epochs"). An explicit override still wins.
TASK_VALUES_WITH_AUGMENTATION: tuple[str, ...] = ("num_learning_epochs",)


def recipe(name: str, augmentation: bool = False) -> dict[str, dict[str, Any]]:
    """A copy of the recipe ``name`` (see :data:`RECIPES`); a ValueError names the recipes for another name.

    Args:
        name: a key of :data:`RECIPES`.
        augmentation: the run mirrors its samples (symmetry augmentation): the fields of
            :data:`TASK_VALUES_WITH_AUGMENTATION` are left out, so they keep the task's values.
    """
    if name not in RECIPES:
        raise ValueError(f"recipe: must be one of {list(RECIPES)}, got {name!r}")
    left_out = {"algorithm": TASK_VALUES_WITH_AUGMENTATION} if augmentation else {}
    return {section: {k: list(v) if isinstance(v, list) else v for k, v in values.items()
                      if k not in left_out.get(section, ())}
            for section, values in RECIPES[name].items()}


#: rsl_rl PPO fields whose values rsl_rl leaves unchecked: the allowed schedules.
SCHEDULES = ("adaptive", "fixed")


def configuration_tables() -> str:
    """README's configuration tables (policy fields, then algorithm fields), generated from the declarations."""
    header = ["| field | default | meaning |", "|---|---|---|"]
    return "\n".join(["Policy fields GenPO adds (rsl_rl 5.x `actor` section, 3.x `policy` section):", "", *header,
                      *markdown_rows(policy_fields(), field_owners()), "",
                      "Algorithm fields GenPO adds to rsl_rl's `PPO`:", "", *header,
                      *markdown_rows(ALGORITHM_FIELDS)])


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
    """Check low <= value <= high (open ends with the flags) and finiteness; the message names the field and range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (
            float("inf"), float("-inf")):
        raise ValueError(f"{field}: must be a finite number, got {value!r}")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        interval = ("(" if low_open or low is None else "[") + f"{lo}, {hi}" + (")" if high_open or high is None else "]")
        raise ValueError(f"{field}: must be in {interval}, got {value!r}")


def validate_flow_cfg(section: str, cfg: dict) -> None:
    """Check a policy config's GenPO fields as given (before the defaults are merged), each by its declaration.

    ``section`` is the config section's name for the messages ("actor" in rsl_rl 4.x/5.x, "policy" in 3.x). A
    setting that only another flow takes must keep its default: a changed one would be silently ignored.
    """
    flow = cfg.get("flow", flow_field().default)
    flow_field().check(flow, section)
    owners = field_owners()
    for field in policy_fields():
        if field.name not in cfg or field.name == "flow":
            continue
        owner = owners.get(field.name)
        if owner is not None and owner != flow:
            if cfg[field.name] != field.default:
                raise ValueError(
                    f"{section}.{field.name}: {cfg[field.name]!r} is a setting of flow={owner!r}, but {section}.flow "
                    f"is {flow!r}, which does not use it. Fix: remove {field.name} (or set it back to "
                    f"{field.default!r}), or set {section}.flow={owner!r}. Allowed flows: {list(FLOWS)}.")
            continue
        field.check(cfg[field.name], section)


def validate_genpo_algorithm(cfg: dict) -> None:
    """Validate GenPO's algorithm fields (by their declarations) and the PPO fields rsl_rl itself leaves unchecked."""
    for field in ALGORITHM_FIELDS:
        if field.name in cfg:
            field.check(cfg[field.name], "algorithm")
    warn = cfg.get("roundtrip_warn", GENPO_ALGORITHM_DEFAULTS["roundtrip_warn"])
    check_number("algorithm.roundtrip_fail", cfg.get("roundtrip_fail", GENPO_ALGORITHM_DEFAULTS["roundtrip_fail"]),
                 low=warn)
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
    if "schedule" in cfg:
        check_choice("algorithm.schedule", cfg["schedule"], SCHEDULES)
    for field in ("num_learning_epochs", "num_mini_batches"):
        if field in cfg and (isinstance(cfg[field], bool) or not isinstance(cfg[field], int) or cfg[field] < 1):
            raise ValueError(f"algorithm.{field}: must be an integer >= 1, got {cfg[field]!r}")
