"""GenPO runner configurations in IsaacLab's ``configclass`` style (IsaacLab 2.3.x, rsl-rl-lib 3.x schema).

``GenPORunnerCfg().to_dict()`` is what IsaacLab's stock ``train.py``/``play.py`` hand to rsl_rl's
``OnPolicyRunner``; every field below is a Hydra override on the command line, e.g.
``agent.policy.num_steps=10 agent.algorithm.compression_coef=0.05``. IsaacLab type-checks overrides against the
current value (``isaaclab.utils.dict.update_class_from_dict``), so floats must be written as floats
(``agent.policy.mix=1.0``, not ``=1``).

The dict shape is rsl_rl 3.x's, the one IsaacLab 2.3.2's ``RslRlOnPolicyRunnerCfg`` produces: runner fields at the
top, ``policy`` (the actor-critic's constructor keywords plus ``class_name``) and ``algorithm`` (the algorithm's
constructor keywords plus ``class_name``). rsl_rl 3.x builds the classes with ``eval(class_name)`` inside its
runner module, so ``class_name`` is a dotted path into ``rsl_rl`` to which ``import genpo_rsl`` attaches GenPO's
classes (``rsl_rl.modules.GenPOActorCritic``, ``rsl_rl.algorithms.GenPO``).

* :class:`GenPORunnerCfg` subclasses ``RslRlOnPolicyRunnerCfg`` (same runner fields, ``class_name="OnPolicyRunner"``:
  the stock scripts only build ``OnPolicyRunner``/``DistillationRunner``).
* :class:`GenPOAlgorithmCfg` subclasses ``RslRlPpoAlgorithmCfg``: every PPO field plus GenPO's.
* :class:`GenPOActorCriticCfg` is a standalone configclass, not a subclass of ``RslRlPpoActorCriticCfg``: that class
  carries the Gaussian ``init_noise_std``/``noise_std_type``/``state_dependent_std``, which GenPO's policy has no
  use for and rejects; GenPO's base-noise settings are ``noise_scale``/``init_noise_scale``.

GenPO's own defaults come from :mod:`genpo_rsl.config` (``FLOW_DEFAULTS``, ``GENPO_ALGORITHM_DEFAULTS``).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import MISSING
from typing import Literal

from isaaclab.utils import configclass
from isaaclab_rl.rsl_rl.rl_cfg import RslRlBaseRunnerCfg, RslRlOnPolicyRunnerCfg, RslRlPpoAlgorithmCfg

from genpo_rsl.config import FLOW_DEFAULTS, GENPO_ALGORITHM_DEFAULTS

GENPO_POLICY_CLASS = "rsl_rl.modules.GenPOActorCritic"
GENPO_ALGORITHM_CLASS = "rsl_rl.algorithms.GenPO"
EXPERIMENT_SUFFIX = "_genpo"


@configclass
class GenPOActorCriticCfg:
    """GenPO's actor-critic (rsl_rl 3.x ``policy`` section): a coupled flow over the doubled action + an MLP critic."""

    class_name: str = GENPO_POLICY_CLASS
    """The policy class, resolved by rsl_rl 3.x's ``eval`` once ``import genpo_rsl`` has attached it."""

    actor_obs_normalization: bool = MISSING
    """Whether to normalize the actor's observations (empirical running mean/std)."""

    critic_obs_normalization: bool = MISSING
    """Whether to normalize the critic's observations."""

    actor_hidden_dims: list[int] = MISSING
    """Hidden sizes of the flow's velocity MLP."""

    critic_hidden_dims: list[int] = MISSING
    """Hidden sizes of the critic MLP."""

    activation: str = MISSING
    """Activation of the velocity, time-embedding and critic MLPs (rsl_rl names: elu, relu, mish, ...)."""

    num_steps: int = FLOW_DEFAULTS["num_steps"]
    """N, the number of coupled flow steps."""

    mix: float = FLOW_DEFAULTS["mix"]
    """p, the mixing coefficient of the two halves after every step (0 < p <= 1)."""

    time_embed_dim: int = FLOW_DEFAULTS["time_embed_dim"]
    """Size of the sinusoidal time embedding."""

    time_hidden_dims: list[int] = list(FLOW_DEFAULTS["time_hidden_dims"])
    """Hidden sizes of the MLP applied to the time embedding."""

    noise_scale: Literal["fixed", "learned"] = FLOW_DEFAULTS["noise_scale"]
    """Base noise: "fixed" N(0, I) (the paper), or "learned" (a state-independent, learned scale)."""

    init_noise_scale: float = FLOW_DEFAULTS["init_noise_scale"]
    """Initial base-noise scale (the constant scale when ``noise_scale="fixed"``)."""


@configclass
class GenPOAlgorithmCfg(RslRlPpoAlgorithmCfg):
    """GenPO's algorithm: rsl_rl's PPO fields (clipping, GAE, adaptive learning rate, ...) plus GenPO's."""

    class_name: str = GENPO_ALGORITHM_CLASS
    """The algorithm class, resolved by rsl_rl 3.x's ``eval`` once ``import genpo_rsl`` has attached it."""

    compression_coef: float = GENPO_ALGORITHM_DEFAULTS["compression_coef"]
    """nu, the weight of the compression loss that keeps the two action halves together."""

    compression_form: Literal["l2", "squared"] = GENPO_ALGORITHM_DEFAULTS["compression_form"]
    """"l2": ||x - y|| (the released code), "squared": ||x - y||^2 (the paper)."""

    entropy_term: Literal["closed_form", "stored_samples"] = GENPO_ALGORITHM_DEFAULTS["entropy_term"]
    """Entropy for the bonus (``entropy_coef``) and the log; see :data:`genpo_rsl.config.GENPO_ALGORITHM_DEFAULTS`."""

    kl_estimator: Literal["k1", "k3"] = GENPO_ALGORITHM_DEFAULTS["kl_estimator"]
    """Sample-based KL estimate that drives the adaptive learning rate."""

    roundtrip_warn: float = GENPO_ALGORITHM_DEFAULTS["roundtrip_warn"]
    """Inversion round-trip error above which a warning is logged."""

    roundtrip_fail: float = GENPO_ALGORITHM_DEFAULTS["roundtrip_fail"]
    """Inversion round-trip error above which training stops."""


@configclass
class GenPORunnerCfg(RslRlOnPolicyRunnerCfg):
    """rsl_rl ``OnPolicyRunner`` configuration that trains GenPO (IsaacLab 2.3.x / rsl-rl-lib 3.x)."""

    policy: GenPOActorCriticCfg = GenPOActorCriticCfg()
    """The GenPO actor-critic."""

    algorithm: GenPOAlgorithmCfg = GenPOAlgorithmCfg()
    """The GenPO algorithm."""


# ---------------------------------------------------------------------------------------------------------------
# Deriving a GenPO configuration from a task's own rsl_rl PPO configuration
# ---------------------------------------------------------------------------------------------------------------

#: PPO hyperparameters copied from the task's own ``algorithm`` section.
PPO_FIELDS = tuple(
    f.name for f in dataclasses.fields(RslRlPpoAlgorithmCfg) if f.name not in ("class_name", "rnd_cfg", "symmetry_cfg")
)
#: Runner fields copied from the task's own configuration (``experiment_name`` gets ``EXPERIMENT_SUFFIX``;
#: ``empirical_normalization`` is folded into the policy's normalisation flags).
RUNNER_FIELDS = tuple(f.name for f in dataclasses.fields(RslRlBaseRunnerCfg))


def is_missing(value) -> bool:
    """True for ``dataclasses.MISSING``; configclass deep-copies defaults, so identity with MISSING is not enough."""
    return value is MISSING or isinstance(value, type(MISSING))


def _copy(value):
    return MISSING if is_missing(value) else copy.deepcopy(value)


def _normalization(policy_value, empirical) -> bool:
    """The task's normalisation flag, with rsl_rl's fallback to the deprecated runner-level ``empirical_normalization``
    when the policy leaves it unset (13 of IsaacLab 2.3.2's rsl_rl tasks do)."""
    if isinstance(policy_value, bool):
        return policy_value
    return bool(empirical) if isinstance(empirical, bool) else False


def derive_genpo_cfg(rsl_rl_cfg: RslRlOnPolicyRunnerCfg) -> GenPORunnerCfg:
    """GenPO's runner configuration for a task, derived from the task's own rsl_rl PPO runner configuration.

    Kept from the task: every runner field (seed, device, ``num_steps_per_env``, ``max_iterations``, ``obs_groups``,
    ``clip_actions``, ``save_interval``, logger and project names, run/resume settings, and any extra attribute a
    task adds), the actor's hidden sizes and activation, the critic's hidden sizes, the observation normalisation
    flags and every PPO hyperparameter (learning rate and schedule, gamma, lambda, epochs, mini-batches, clip,
    desired KL, entropy and value coefficients, gradient norm, clipped value loss, advantage normalisation).

    Replaced: ``experiment_name`` gets the suffix ``"_genpo"`` (so GenPO's runs and checkpoints never mix with PPO's
    and ``play.py --agent genpo`` finds GenPO's latest run), the policy and algorithm classes become GenPO's with
    the defaults of :mod:`genpo_rsl.config`, ``rnd_cfg``/``symmetry_cfg`` are dropped (GenPO supports neither), a
    recurrent actor-critic's RNN settings are dropped (GenPO's flow is an MLP), and ``empirical_normalization``
    (deprecated) is folded into the policy's ``actor_obs_normalization``/``critic_obs_normalization``.
    """
    if not isinstance(rsl_rl_cfg, RslRlOnPolicyRunnerCfg):
        raise TypeError(
            "derive_genpo_cfg expects an isaaclab_rl RslRlOnPolicyRunnerCfg (the task's rsl_rl_cfg_entry_point), "
            f"got {type(rsl_rl_cfg).__name__}"
        )
    if getattr(rsl_rl_cfg, "class_name", "OnPolicyRunner") != "OnPolicyRunner":
        raise TypeError(f"derive_genpo_cfg: only OnPolicyRunner configs can be derived, got {rsl_rl_cfg.class_name!r}")
    src_policy, src_alg = rsl_rl_cfg.policy, rsl_rl_cfg.algorithm
    if is_missing(src_policy) and not is_missing(getattr(rsl_rl_cfg, "actor", MISSING)):
        raise NotImplementedError(
            f"derive_genpo_cfg: {type(rsl_rl_cfg).__name__} uses the actor/critic schema of IsaacLab >= 2.3.2 main / "
            "3.x (rsl-rl-lib >= 4); the GenPO configs here follow IsaacLab 2.3.x's rsl-rl-lib 3.x 'policy' schema"
        )
    if is_missing(src_policy) or is_missing(src_alg):
        raise ValueError(f"derive_genpo_cfg: {type(rsl_rl_cfg).__name__} has no policy/algorithm section")
    empirical = rsl_rl_cfg.empirical_normalization

    policy = GenPOActorCriticCfg(
        actor_obs_normalization=_normalization(src_policy.actor_obs_normalization, empirical),
        critic_obs_normalization=_normalization(src_policy.critic_obs_normalization, empirical),
        actor_hidden_dims=list(src_policy.actor_hidden_dims),
        critic_hidden_dims=list(src_policy.critic_hidden_dims),
        activation=src_policy.activation,
    )
    algorithm = GenPOAlgorithmCfg(**{name: _copy(getattr(src_alg, name)) for name in PPO_FIELDS})

    runner_kwargs = {name: _copy(getattr(rsl_rl_cfg, name)) for name in RUNNER_FIELDS}
    runner_kwargs["experiment_name"] = f"{rsl_rl_cfg.experiment_name}{EXPERIMENT_SUFFIX}"
    runner_kwargs["empirical_normalization"] = None
    cfg = GenPORunnerCfg(policy=policy, algorithm=algorithm, **runner_kwargs)

    # Extra runner attributes a task adds outside the schema (e.g. Spot's ``store_code_state = False``).
    known = set(RUNNER_FIELDS) | {f.name for f in dataclasses.fields(GenPORunnerCfg)}
    for name, value in vars(rsl_rl_cfg).items():
        if name not in known and not name.startswith("_") and not callable(value):
            setattr(cfg, name, _copy(value))
    return cfg
