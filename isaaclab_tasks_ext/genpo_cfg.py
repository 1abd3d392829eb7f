"""GenPO runner configurations in IsaacLab's ``configclass`` style, in both of IsaacLab's rsl_rl schemas.

The configuration an IsaacLab script gets for ``--agent genpo`` (see :func:`derive_genpo_cfg`) follows the schema of
the task's own rsl_rl configuration, which is the schema of the rsl-rl-lib that IsaacLab version runs:

* IsaacLab 2.3.x (rsl-rl-lib 3.x): :class:`GenPORunnerCfg` -- runner fields, ``policy`` (the actor-critic's
  constructor keywords plus ``class_name``) and ``algorithm``. rsl_rl 3.x builds the classes with ``eval(class_name)``
  inside its runner module, so the class names are dotted paths into ``rsl_rl`` to which ``import genpo_rsl``
  attaches GenPO's classes (``rsl_rl.modules.GenPOActorCritic``, ``rsl_rl.algorithms.GenPO``). Hydra overrides:
  ``agent.policy.num_steps=10 agent.algorithm.compression_coef=0.05``.
* IsaacLab 3.x (rsl-rl-lib >= 5): :class:`GenPOModelRunnerCfg` -- runner fields, ``actor`` (GenPO's actor model),
  ``critic`` (an ``MLPModel``, as the task's) and ``algorithm``. rsl_rl 5.x resolves ``"module:Class"`` itself, so
  the class names are ``genpo_rsl.v5:GenPOActor`` / ``genpo_rsl.v5:GenPO`` (as :mod:`genpo_rsl.train_config` writes
  them). Hydra overrides: ``agent.actor.num_steps=10 agent.critic.hidden_dims=[256,256]``. Like IsaacLab 3.x's own
  configs it goes through IsaacLab's ``handle_deprecated_rsl_rl_cfg`` before ``to_dict`` (its scripts always do).

``cfg.to_dict()`` is what IsaacLab's stock scripts hand to rsl_rl's ``OnPolicyRunner``; every field below is a Hydra
override on the command line. IsaacLab type-checks overrides against the current value
(``isaaclab.utils.dict.update_class_from_dict``), so floats must be written as floats (``...mix=1.0``, not ``=1``).

* The runner configs subclass ``RslRlOnPolicyRunnerCfg`` (same runner fields, ``class_name="OnPolicyRunner"``: the
  stock scripts only build ``OnPolicyRunner``/``DistillationRunner``).
* :class:`GenPOAlgorithmCfg` subclasses ``RslRlPpoAlgorithmCfg``: every PPO field plus GenPO's.
* The actor configs are standalone configclasses sharing :class:`GenPOFlowCfg`, not subclasses of IsaacLab's
  Gaussian ones: those carry ``init_noise_std``/``noise_std_type``/``state_dependent_std``, which GenPO's policy has
  no use for and rejects; GenPO's base-noise settings are ``noise_scale``/``init_noise_scale``.

GenPO's own fields (names, types, choices, defaults, help) are generated from their declarations
(:func:`genpo_rsl.flow.policy_fields`, :data:`genpo_rsl.config.ALGORITHM_FIELDS`), so a field declared there is a
Hydra override here without an edit.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import MISSING
from typing import Any

from isaaclab.utils import configclass
from isaaclab_rl.rsl_rl.rl_cfg import RslRlOnPolicyRunnerCfg, RslRlPpoAlgorithmCfg

from genpo_rsl.compat import rsl_rl_major
from genpo_rsl.config import ALGORITHM_FIELDS
from genpo_rsl.flow import policy_fields

# rsl-rl-lib 3.x (IsaacLab 2.3.x): names eval'd in rsl_rl's runner module, attached there by `import genpo_rsl`.
GENPO_POLICY_CLASS = "rsl_rl.modules.GenPOActorCritic"
GENPO_ALGORITHM_CLASS = "rsl_rl.algorithms.GenPO"
# rsl-rl-lib >= 4 (IsaacLab 3.x): "module:Class", imported by rsl_rl's resolve_callable.
GENPO_ACTOR_CLASS = "genpo_rsl.v5:GenPOActor"
GENPO_MODEL_ALGORITHM_CLASS = "genpo_rsl.v5:GenPO"
EXPERIMENT_SUFFIX = "_genpo"


def _declared(name: str, doc: str, fields, bases: tuple = (), extra: dict | None = None) -> type:
    """A configclass whose fields are GenPO's declarations (``genpo_rsl.flow.fields.Field``): type (a ``Literal`` of
    the choices for a string field), default and help text (in the class docstring), so IsaacLab's Hydra overrides
    accept exactly what ``genpo-train`` and mjlab accept. ``extra``: {name: (type, default)} fields before them."""
    annotations, namespace = {}, {}
    for key, (kind, default) in (extra or {}).items():
        annotations[key], namespace[key] = kind, default
    lines = [doc, "", "Fields (GenPO's declarations):", ""]
    for field in fields:
        annotations[field.name] = field.type_hint()
        namespace[field.name] = copy.deepcopy(field.default)
        lines.append(f"* ``{field.name}`` (default ``{field.default!r}``): {field.help} Allowed: {field.range_text()}.")
    namespace.update(__annotations__=annotations, __doc__="\n".join(lines), __module__=__name__, __qualname__=name)
    return configclass(type(name, bases, namespace))


GenPOFlowCfg = _declared(
    "GenPOFlowCfg", "The flow's settings (the part of the actor config that both schemas share). Override: "
    "``agent.policy.<field>=...`` (IsaacLab 2.3), ``agent.actor.<field>=...`` (IsaacLab 3.x).", policy_fields())


@configclass
class GenPOActorCriticCfg(GenPOFlowCfg):
    """GenPO's actor-critic (rsl_rl 3.x ``policy`` section): a flow over the doubled action + an MLP critic."""

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


@configclass
class GenPOActorModelCfg(GenPOFlowCfg):
    """GenPO's actor (rsl-rl-lib >= 4 ``actor`` section): :class:`genpo_rsl.v5.GenPOActor`, a flow policy."""

    class_name: str = GENPO_ACTOR_CLASS
    """The actor class, imported by rsl_rl's ``resolve_callable``."""

    hidden_dims: list[int] = MISSING
    """Hidden sizes of the flow's velocity MLP."""

    activation: str = MISSING
    """Activation of the velocity and time-embedding MLPs (rsl_rl names: elu, relu, mish, ...)."""

    obs_normalization: bool = False
    """Whether to normalize the actor's observations (empirical running mean/std)."""

    distribution_cfg: None = None
    """rsl_rl 5's model-config field for a Gaussian head; GenPO's distribution is its flow, so it stays None."""

    stochastic: bool = False
    """Legacy model-config field that IsaacLab 3.x's ``handle_deprecated_rsl_rl_cfg`` reads and deletes (before the
    runner is built); it never reaches the actor."""


GenPOAlgorithmCfg = _declared(
    "GenPOAlgorithmCfg", "GenPO's algorithm: rsl_rl's PPO fields (clipping, GAE, adaptive learning rate, ...) plus "
    "GenPO's. ``class_name``: rsl_rl 3.x ``eval``s it once ``import genpo_rsl`` has attached the class; "
    ":class:`GenPOModelRunnerCfg` uses :data:`GENPO_MODEL_ALGORITHM_CLASS`.", ALGORITHM_FIELDS,
    bases=(RslRlPpoAlgorithmCfg,), extra={"class_name": (str, GENPO_ALGORITHM_CLASS)})


@configclass
class GenPORunnerCfg(RslRlOnPolicyRunnerCfg):
    """rsl_rl ``OnPolicyRunner`` configuration that trains GenPO, ``policy`` schema (IsaacLab 2.3.x, rsl-rl-lib 3.x)."""

    policy: GenPOActorCriticCfg = GenPOActorCriticCfg()
    """The GenPO actor-critic."""

    algorithm: GenPOAlgorithmCfg = GenPOAlgorithmCfg()
    """The GenPO algorithm."""


@configclass
class GenPOModelRunnerCfg(RslRlOnPolicyRunnerCfg):
    """rsl_rl ``OnPolicyRunner`` configuration that trains GenPO, ``actor``/``critic`` schema (IsaacLab 3.x,
    rsl-rl-lib >= 5). ``policy`` stays unset."""

    actor: GenPOActorModelCfg = GenPOActorModelCfg()
    """The GenPO actor."""

    critic: Any = MISSING
    """The critic: IsaacLab's ``RslRlMLPModelCfg`` with the task's critic sizes."""

    algorithm: GenPOAlgorithmCfg = GenPOAlgorithmCfg(class_name=GENPO_MODEL_ALGORITHM_CLASS)
    """The GenPO algorithm."""


# ---------------------------------------------------------------------------------------------------------------
# Deriving a GenPO configuration from a task's own rsl_rl PPO configuration
# ---------------------------------------------------------------------------------------------------------------

#: PPO hyperparameters copied from the task's own ``algorithm`` section.
PPO_FIELDS = tuple(
    f.name for f in dataclasses.fields(RslRlPpoAlgorithmCfg) if f.name not in ("class_name", "rnd_cfg", "symmetry_cfg")
)
#: Sections of a runner config (whatever IsaacLab version defines); every other field is a runner field.
SECTIONS = ("policy", "actor", "critic", "student", "teacher", "algorithm")
#: Runner fields copied from the task's own configuration (``experiment_name`` gets ``EXPERIMENT_SUFFIX``; in the
#: ``policy`` schema ``empirical_normalization`` is folded into the policy's normalisation flags).
RUNNER_FIELDS = tuple(
    f.name for f in dataclasses.fields(RslRlOnPolicyRunnerCfg) if f.name not in SECTIONS and f.name != "class_name"
)


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


def _source_networks(rsl_rl_cfg) -> dict[str, Any]:
    """The task's network settings, from whichever schema its config uses: ``policy`` (IsaacLab 2.3.x; unset
    normalisation flags fall back to ``empirical_normalization``) or ``actor``/``critic`` (IsaacLab 3.x)."""
    policy = getattr(rsl_rl_cfg, "policy", MISSING)
    if not is_missing(policy):
        empirical = getattr(rsl_rl_cfg, "empirical_normalization", None)
        return {"actor_hidden_dims": list(policy.actor_hidden_dims),
                "critic_hidden_dims": list(policy.critic_hidden_dims),
                "actor_activation": policy.activation, "critic_activation": policy.activation,
                "actor_obs_normalization": _normalization(policy.actor_obs_normalization, empirical),
                "critic_obs_normalization": _normalization(policy.critic_obs_normalization, empirical)}
    actor, critic = getattr(rsl_rl_cfg, "actor", MISSING), getattr(rsl_rl_cfg, "critic", MISSING)
    if is_missing(actor) or is_missing(critic):
        raise ValueError(f"derive_genpo_cfg: {type(rsl_rl_cfg).__name__} has neither a policy section nor actor and "
                         "critic sections")
    return {"actor_hidden_dims": list(actor.hidden_dims), "critic_hidden_dims": list(critic.hidden_dims),
            "actor_activation": actor.activation, "critic_activation": critic.activation,
            "actor_obs_normalization": bool(actor.obs_normalization),
            "critic_obs_normalization": bool(critic.obs_normalization)}


def uses_model_schema() -> bool:
    """Whether GenPO configs take the ``actor``/``critic`` schema here: the installed IsaacLab's runner config has
    ``actor``/``critic`` sections (IsaacLab 3.x) and the installed rsl-rl-lib is >= 4 (for rsl-rl-lib 3.x IsaacLab
    itself requires the ``policy`` section)."""
    return "actor" in {f.name for f in dataclasses.fields(RslRlOnPolicyRunnerCfg)} and rsl_rl_major() >= 4


def derive_genpo_cfg(rsl_rl_cfg: RslRlOnPolicyRunnerCfg,
                     keep_symmetry: bool = False) -> GenPORunnerCfg | GenPOModelRunnerCfg:
    """GenPO's runner configuration for a task, derived from the task's own rsl_rl PPO runner configuration, in the
    schema of the installed IsaacLab and rsl-rl-lib (:func:`uses_model_schema`): :class:`GenPORunnerCfg`
    (``policy``; IsaacLab 2.3.x) or :class:`GenPOModelRunnerCfg` (``actor``/``critic``; IsaacLab 3.x). The task's
    config may use either schema.

    Kept from the task: every runner field (seed, device, ``num_steps_per_env``, ``max_iterations``, ``obs_groups``,
    ``clip_actions``, ``save_interval``, logger and project names, run/resume settings, and any extra attribute a
    task adds), the actor's hidden sizes and activation, the critic's hidden sizes (and, in the actor/critic schema,
    activation), the observation normalisation flags and every PPO hyperparameter (learning rate and schedule,
    gamma, lambda, epochs, mini-batches, clip, desired KL, entropy and value coefficients, gradient norm, clipped
    value loss, advantage normalisation).

    Replaced: ``experiment_name`` gets the suffix ``"_genpo"`` (so GenPO's runs and checkpoints never mix with PPO's
    and ``play.py --agent genpo`` finds GenPO's latest run), the policy (actor) and algorithm classes become GenPO's
    with the defaults of :mod:`genpo_rsl.config`, the critic becomes a feed-forward MLP, ``symmetry_cfg`` is
    dropped unless ``keep_symmetry`` (a task's symmetry agent: GenPO mirrors its doubled action with the task's
    function), recurrent settings are dropped (GenPO's flow is an MLP), and ``empirical_normalization``
    (deprecated) is folded into the normalisation flags. ``rnd_cfg`` is kept.
    """
    if not isinstance(rsl_rl_cfg, RslRlOnPolicyRunnerCfg):
        raise TypeError(
            "derive_genpo_cfg expects an isaaclab_rl RslRlOnPolicyRunnerCfg (the task's rsl_rl_cfg_entry_point), "
            f"got {type(rsl_rl_cfg).__name__}"
        )
    if getattr(rsl_rl_cfg, "class_name", "OnPolicyRunner") != "OnPolicyRunner":
        raise TypeError(f"derive_genpo_cfg: only OnPolicyRunner configs can be derived, got {rsl_rl_cfg.class_name!r}")
    if is_missing(rsl_rl_cfg.algorithm):
        raise ValueError(f"derive_genpo_cfg: {type(rsl_rl_cfg).__name__} has no algorithm section")
    nets = _source_networks(rsl_rl_cfg)

    algorithm = GenPOAlgorithmCfg(**{name: _copy(getattr(rsl_rl_cfg.algorithm, name)) for name in PPO_FIELDS})
    algorithm.rnd_cfg = _copy(getattr(rsl_rl_cfg.algorithm, "rnd_cfg", None))
    if keep_symmetry:
        algorithm.symmetry_cfg = _copy(getattr(rsl_rl_cfg.algorithm, "symmetry_cfg", None))
    runner_kwargs = {name: _copy(getattr(rsl_rl_cfg, name)) for name in RUNNER_FIELDS}
    runner_kwargs["experiment_name"] = f"{rsl_rl_cfg.experiment_name}{EXPERIMENT_SUFFIX}"
    runner_kwargs["empirical_normalization"] = None  # folded into the normalisation flags
    if uses_model_schema():
        from isaaclab_rl.rsl_rl import RslRlMLPModelCfg  # IsaacLab 3.x

        algorithm.class_name = GENPO_MODEL_ALGORITHM_CLASS
        actor = GenPOActorModelCfg(hidden_dims=nets["actor_hidden_dims"], activation=nets["actor_activation"],
                                   obs_normalization=nets["actor_obs_normalization"])
        critic = RslRlMLPModelCfg(hidden_dims=nets["critic_hidden_dims"], activation=nets["critic_activation"],
                                  obs_normalization=nets["critic_obs_normalization"])
        cfg = GenPOModelRunnerCfg(actor=actor, critic=critic, algorithm=algorithm, **runner_kwargs)
    else:
        policy = GenPOActorCriticCfg(
            actor_obs_normalization=nets["actor_obs_normalization"],
            critic_obs_normalization=nets["critic_obs_normalization"],
            actor_hidden_dims=nets["actor_hidden_dims"], critic_hidden_dims=nets["critic_hidden_dims"],
            activation=nets["actor_activation"])
        cfg = GenPORunnerCfg(policy=policy, algorithm=algorithm, **runner_kwargs)

    # Extra runner attributes a task adds outside the schema (e.g. Spot's ``store_code_state = False``).
    known = set(SECTIONS) | {f.name for f in dataclasses.fields(cfg)}
    for name, value in vars(rsl_rl_cfg).items():
        if name not in known and not name.startswith("_") and not callable(value):
            setattr(cfg, name, _copy(value))
    return cfg


def to_model_schema(sections: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Nested settings written in the ``policy`` schema (``{"policy": {...}, "algorithm": {...}}``) in the
    ``actor``/``critic`` schema: ``actor_hidden_dims`` -> ``actor.hidden_dims``, ``critic_hidden_dims`` ->
    ``critic.hidden_dims``, ``activation`` -> both, ``*_obs_normalization`` -> ``<model>.obs_normalization``, flow
    settings -> ``actor``; other sections unchanged."""
    out = {section: dict(values) for section, values in sections.items() if section != "policy"}
    actor, critic = {}, {}
    for key, value in sections.get("policy", {}).items():
        if key in ("actor_hidden_dims", "critic_hidden_dims"):
            (actor if key.startswith("actor") else critic)["hidden_dims"] = value
        elif key in ("actor_obs_normalization", "critic_obs_normalization"):
            (actor if key.startswith("actor") else critic)["obs_normalization"] = value
        elif key == "activation":
            actor[key] = critic[key] = value
        else:
            actor[key] = value
    for section, values in (("actor", actor), ("critic", critic)):
        if values:
            out[section] = values
    return out
