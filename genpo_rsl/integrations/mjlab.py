"""mjlab: a GenPO twin ``<task id>-GenPO`` of every mjlab task trained with rsl_rl's PPO.

mjlab imports every entry point of the group ``mjlab.tasks`` at ``import mjlab`` (setup.py points it here), so its
own ``train``, ``play`` and ``list-envs`` commands see the twins::

    train Mjlab-Velocity-Flat-Unitree-Go1-GenPO --agent.actor.num-steps 3 --agent.algorithm.compression-coef 0.05
    play Mjlab-Velocity-Flat-Unitree-Go1-GenPO --agent trained --checkpoint-file logs/rsl_rl/.../model_100.pt

A twin has the task's own env and play env configs and runner class (so velocity tasks still write an ONNX file at
every save, now of GenPO's exported policy), the task's runner and PPO settings and network sizes, and GenPO's
actor and algorithm with typed fields (they show in ``train <twin> --help``); its experiment name ends in
``_genpo``. The GenPO fields are generated from their declarations (:func:`genpo_rsl.flow.policy_fields`,
:data:`genpo_rsl.config.ALGORITHM_FIELDS`), and checked when mjlab's command line builds the config, so a
bad value fails before the environment is built, with GenPO's own message.

Not twinned (:data:`SKIPPED` says why): tasks whose policy sees images (their actor is rsl_rl's CNN model; GenPO's
flow conditions on a flat observation vector), recurrent actors, and configs of another runner or algorithm.

Checkpoints: every mjlab runner loads through ``MjlabOnPolicyRunner.load``; this module checks the checkpoint there
first (:func:`genpo_rsl.checkpoint.check_loaded_dict`), so a Gaussian checkpoint given to a twin, or a GenPO one
given to the stock task, is a :class:`~genpo_rsl.checkpoint.CheckpointError` naming the task id to use; and
``MjlabOnPolicyRunner.save`` stamps a GenPO run's flow settings, which load compares with the config.
``GENPO_RSL_DISABLE_HOOK=1`` turns all of it off.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from dataclasses import asdict, dataclass, field, fields
from typing import Annotated, Any, Literal

import torch
import tyro
from tensordict import TensorDict

from genpo_rsl import config as genpo_config
from genpo_rsl import flow as genpo_flow
from genpo_rsl.checkpoint import (GAUSSIAN, GENPO, CheckpointError, check_loaded_dict, genpo_stamp, inspect_checkpoint,
                                  read_checkpoint)
from genpo_rsl.integrations import hook_disabled
from genpo_rsl.overrides import use_override_style
from genpo_rsl.runner import log_diagnostics_apart

from mjlab.rl import MjlabOnPolicyRunner, RslRlModelCfg, RslRlOnPolicyRunnerCfg, RslRlPpoAlgorithmCfg

TWIN_SUFFIX = "-GenPO"
EXPERIMENT_SUFFIX = "_genpo"
#: Locomotion tasks get a second twin, ``<task id>-GenPO-Paper``: the paper's GenPO (their -GenPO twin has the robot
#: recipe, genpo_rsl.config.RECIPES); its runs are under ``<experiment>_genpo_paper``.
PAPER_SUFFIX = "-Paper"
ACTOR_CLASS = "genpo_rsl.v5:GenPOActor"
ALGORITHM_CLASS = "genpo_rsl.v5:GenPO"

#: Twin task id -> the task it was derived from (filled by :func:`register_genpo_twins`).
TWINS: dict[str, str] = {}
#: Task id -> why it has no twin.
SKIPPED: dict[str, str] = {}

# ---------------------------------------------------------------------------------------------------------------
# GenPO's config dataclasses, generated from the field declarations so that a field added there shows up here
# ---------------------------------------------------------------------------------------------------------------

def _field_spec(field: genpo_flow.Field) -> tuple[str, Any, Any]:
    """(name, type, dataclass field) for one GenPO setting, from its declaration: the choices as a Literal, lists
    as tuples (as mjlab's own hidden_dims), the declaration's help text for ``--help``."""
    default = field.default
    if field.kind == "choice":
        kind: Any = Literal[field.choices]
    elif field.kind == "int_list":
        kind = tuple[int, ...]
        default = tuple(default)
    else:
        kind = type(default)
    text = f"{field.help} Allowed: {field.range_text()}."
    return field.name, Annotated[kind, tyro.conf.arg(help=text)], dataclasses.field(default=default)


def _prefixed(section: str, error: Exception) -> ValueError:
    return ValueError(f"GenPO {section}: {error}")


def _check_actor_cfg(cfg) -> None:
    """Build a throwaway GenPOActor on a 1-dim observation: it checks every field exactly as training will, so a
    bad value fails while mjlab parses its command line. The global RNG is left untouched."""
    if cfg.class_name != ACTOR_CLASS:
        return
    from genpo_rsl.v5 import GenPOActor

    settings = asdict(cfg)
    settings.pop("class_name")
    obs = TensorDict({"actor": torch.zeros(1, 1)}, batch_size=[1])
    try:
        with torch.random.fork_rng(devices=[]), use_override_style("mjlab"):
            GenPOActor(obs, {"actor": ["actor"]}, "actor", 1, **settings)
    except (ValueError, TypeError) as error:
        raise _prefixed("actor", error) from None


def _check_algorithm_cfg(cfg) -> None:
    if cfg.class_name != ALGORITHM_CLASS:
        return
    try:
        genpo_config.validate_genpo_algorithm(asdict(cfg))
    except ValueError as error:
        raise _prefixed("algorithm", error) from None


def _make_cfg_class(name: str, doc: str, specs: list, bases: tuple = (), check=None) -> type:
    cls = dataclasses.make_dataclass(name, specs, bases=bases,
                                     namespace={"__doc__": doc, "__post_init__": lambda self: check(self)})
    cls.__module__ = __name__  # make_dataclass (Python 3.11) does not; tyro resolves the field types through it
    return cls


GenPOActorCfg = _make_cfg_class(
    "GenPOActorCfg",
    "GenPO's actor (genpo_rsl.v5.GenPOActor): a flow over the doubled action, conditioned on the actor observation.",
    [("class_name", Annotated[str, tyro.conf.arg(help="Actor class, resolved by rsl_rl.")], field(default=ACTOR_CLASS)),
     ("hidden_dims", Annotated[tuple[int, ...], tyro.conf.arg(help="Hidden sizes of the flow's velocity MLP.")],
      field(default=(256, 256, 256))),
     ("activation", Annotated[str, tyro.conf.arg(help="Activation of the velocity and time MLPs.")],
      field(default="elu")),
     ("obs_normalization", Annotated[bool, tyro.conf.arg(help="Normalize the actor observation (running mean/std).")],
      field(default=False)),
     *(_field_spec(f) for f in genpo_flow.policy_fields())],
    check=_check_actor_cfg,
)

GenPOAlgorithmCfg = _make_cfg_class(
    "GenPOAlgorithmCfg",
    "GenPO's algorithm (genpo_rsl.v5.GenPO): every PPO field of mjlab's RslRlPpoAlgorithmCfg plus GenPO's.",
    [("class_name", Annotated[str, tyro.conf.arg(help="Algorithm class, resolved by rsl_rl.")],
      field(default=ALGORITHM_CLASS)),
     *(_field_spec(f) for f in genpo_config.ALGORITHM_FIELDS)],
    bases=(RslRlPpoAlgorithmCfg,),
    check=_check_algorithm_cfg,
)


@dataclass
class MjlabGenPORunnerCfg(RslRlOnPolicyRunnerCfg):
    """mjlab's on-policy runner config with GenPO's actor and algorithm; the critic stays the task's MLP."""

    actor: GenPOActorCfg = field(default_factory=GenPOActorCfg)  # type: ignore[valid-type]
    """GenPO's actor."""
    algorithm: GenPOAlgorithmCfg = field(default_factory=GenPOAlgorithmCfg)  # type: ignore[valid-type]
    """GenPO's algorithm."""


# ---------------------------------------------------------------------------------------------------------------
# Deriving a twin's config from a task's PPO config
# ---------------------------------------------------------------------------------------------------------------

def why_no_twin(rl_cfg: Any) -> str | None:
    """None when GenPO can stand in for the task's policy, else the reason it cannot."""
    from rsl_rl.algorithms import PPO
    from rsl_rl.models import MLPModel
    from rsl_rl.utils import resolve_callable

    if type(rl_cfg) is not RslRlOnPolicyRunnerCfg or rl_cfg.class_name != "OnPolicyRunner":
        return f"its rl config is a {type(rl_cfg).__name__} (runner {getattr(rl_cfg, 'class_name', '?')!r}), not " \
               "rsl_rl's on-policy runner config"
    try:
        algorithm = resolve_callable(rl_cfg.algorithm.class_name)
        actor = resolve_callable(rl_cfg.actor.class_name)
    except (ImportError, AttributeError, ValueError) as error:
        return f"its algorithm or actor class does not resolve ({error})"
    if algorithm is not PPO:
        return f"it trains {rl_cfg.algorithm.class_name!r}, not rsl_rl's PPO"
    if rl_cfg.actor.cnn_cfg is not None or not issubclass(actor, MLPModel) or actor.__name__ != "MLPModel":
        groups = ", ".join(rl_cfg.obs_groups.get("actor", ()))
        return (f"its policy observations include images (actor groups: {groups}; actor {rl_cfg.actor.class_name!r} "
                "with a CNN encoder); GenPO's flow conditions on a flat observation vector")
    if rl_cfg.actor.rnn_type is not None:
        return f"its actor is recurrent ({rl_cfg.actor.rnn_type}); GenPO's flow is feed-forward"
    return None


def task_recipe(task_id: str) -> str | None:
    """The recipe a task's ``-GenPO`` twin gets: "robot" for the velocity (locomotion) tasks, the ones the robot
    recipe was chosen on (docs/results/go2); else None (the package defaults, the paper's GenPO)."""
    return "robot" if "-Velocity-" in task_id else None


def derive_mjlab_genpo_cfg(rl_cfg: RslRlOnPolicyRunnerCfg, recipe_name: str | None = None) -> MjlabGenPORunnerCfg:
    """The twin's config: the task's runner fields, critic, PPO settings and actor sizes; GenPO's actor and
    algorithm with genpo_rsl's defaults and then the recipe's settings; ``experiment_name`` + ``"_genpo"`` (so
    GenPO's runs never mix with PPO's), + ``"_paper"`` for the paper's recipe.

    Args:
        rl_cfg: the task's rsl_rl runner config.
        recipe_name: a recipe of :data:`genpo_rsl.config.RECIPES` ("paper", "robot"), or None for none.
    """
    reason = why_no_twin(rl_cfg)
    if reason:
        raise ValueError(f"derive_mjlab_genpo_cfg: no GenPO config for this task: {reason}")
    runner = {f.name: copy.deepcopy(getattr(rl_cfg, f.name)) for f in fields(RslRlOnPolicyRunnerCfg)
              if f.name not in ("actor", "algorithm")}
    runner["experiment_name"] = f"{rl_cfg.experiment_name}{EXPERIMENT_SUFFIX}" + (
        "_paper" if recipe_name == "paper" else "")
    source = rl_cfg.actor
    actor = GenPOActorCfg(hidden_dims=tuple(source.hidden_dims), activation=source.activation,
                          obs_normalization=source.obs_normalization)
    algorithm = GenPOAlgorithmCfg(**{f.name: copy.deepcopy(getattr(rl_cfg.algorithm, f.name))
                                     for f in fields(RslRlPpoAlgorithmCfg) if f.name != "class_name"})
    if recipe_name is not None:
        chosen = genpo_config.recipe(recipe_name)
        actor = dataclasses.replace(actor, **{k: tuple(v) if isinstance(v, list) else v
                                              for k, v in chosen["policy"].items()})
        algorithm = dataclasses.replace(algorithm, **chosen["algorithm"])
    return MjlabGenPORunnerCfg(actor=actor, algorithm=algorithm, **runner)


def register_genpo_twins() -> dict[str, str]:
    """Register ``<id>-GenPO`` for every registered task GenPO can train that has none yet; returns :data:`TWINS`.

    Runs at ``import mjlab`` for mjlab's tasks and for the plugins whose entry points load before this one; a
    plugin that registers tasks later can call it again (it only adds what is missing).
    """
    import mjlab.tasks  # noqa: F401  (populates the registry; already imported when mjlab's CLI runs)
    from mjlab.tasks.registry import list_tasks, load_env_cfg, load_rl_cfg, load_runner_cls, register_mjlab_task

    registered = set(list_tasks())
    for task_id in sorted(registered):
        if task_id.endswith((TWIN_SUFFIX, TWIN_SUFFIX + PAPER_SUFFIX)) or task_id + TWIN_SUFFIX in registered:
            continue
        rl_cfg = load_rl_cfg(task_id)
        reason = why_no_twin(rl_cfg)
        if reason:
            SKIPPED[task_id] = reason
            continue
        twins = {task_id + TWIN_SUFFIX: task_recipe(task_id)}
        if task_recipe(task_id) is not None:  # the paper's GenPO, one task id away
            twins[task_id + TWIN_SUFFIX + PAPER_SUFFIX] = "paper"
        for twin, recipe_name in twins.items():
            register_mjlab_task(twin, env_cfg=load_env_cfg(task_id), play_env_cfg=load_env_cfg(task_id, play=True),
                                rl_cfg=derive_mjlab_genpo_cfg(rl_cfg, recipe_name),
                                runner_cls=load_runner_cls(task_id))
            TWINS[twin] = task_id
    return TWINS


# ---------------------------------------------------------------------------------------------------------------
# Checkpoint check in the load path every mjlab runner shares
# ---------------------------------------------------------------------------------------------------------------

def check_mjlab_checkpoint(runner: MjlabOnPolicyRunner, path: str, load_cfg: dict | None = None) -> None:
    """Check the checkpoint at ``path`` against the runner's live models: GenPO vs Gaussian, observation/action
    sizes, flow settings. Legacy rsl_rl 3.x dicts are left to mjlab's own migration (GenPO.load checks after it)."""
    loaded = read_checkpoint(path, map_location="cpu")
    if inspect_checkpoint(loaded, path).layout != 5:
        return
    alg = runner.alg
    models = {"actor": getattr(alg, "_raw_actor", getattr(alg, "actor", None)),
              "critic": getattr(alg, "_raw_critic", getattr(alg, "critic", None))}
    if load_cfg is not None:
        models = {name: model for name, model in models.items() if load_cfg.get(name)}
    try:
        with use_override_style("mjlab"):  # fixes spelled as mjlab flags: --agent.actor.num-steps 5
            check_loaded_dict(loaded, path=path, strict=False, **models)
    except CheckpointError as error:
        info, live = inspect_checkpoint(loaded, path), "actor" in models and models["actor"] is not None
        live_kind = GENPO if live and hasattr(models["actor"], "flow") else GAUSSIAN
        if info.policy == GAUSSIAN and live_kind == GENPO:
            hint = (f" In mjlab: a '<task id>{TWIN_SUFFIX}' task loads only GenPO checkpoints (its runs are under "
                    f"logs/rsl_rl/<experiment>{EXPERIMENT_SUFFIX}/); load this one with the stock task id, without "
                    f"'{TWIN_SUFFIX}'.")
        elif info.policy == GENPO and live_kind == GAUSSIAN:
            hint = (f" In mjlab: load it with the task's GenPO twin, '<task id>{TWIN_SUFFIX}' (e.g. play "
                    f"Mjlab-Velocity-Flat-Unitree-Go1{TWIN_SUFFIX} --checkpoint-file ...).")
        elif live_kind == GENPO:
            hint = (" In mjlab: play builds the policy from the task's registered config (it takes no --agent "
                    "flags), so it loads runs trained with the twin's default GenPO settings; a run trained with other "
                    "--agent.actor.* values continues with `train <task> --agent.resume True --agent.load-run <run> "
                    "<the same --agent.actor.* flags>`.")
        else:
            hint = ""
        raise CheckpointError(f"{error}{hint}") from None


def _genpo_flow(runner: MjlabOnPolicyRunner):
    """The flow of the runner's GenPO actor, or None for a Gaussian one (or an algorithm without a raw actor)."""
    return getattr(getattr(runner.alg, "_raw_actor", None), "flow", None)


def _install_checkpoint_check() -> None:
    """Wrap ``MjlabOnPolicyRunner.load``, ``save`` and ``__init__`` (every mjlab runner inherits them or calls them
    through ``super()``): load runs :func:`check_mjlab_checkpoint` first; save stamps a GenPO actor's flow settings
    into ``infos["genpo_rsl"]`` (as GenPORunner does): ``mix`` and the multistep coefficients are not weights, so
    only the stamp lets load tell a run's settings from other ones in the config; a runner built for a GenPO actor
    logs GenPO's diagnostics apart from the losses (:func:`genpo_rsl.runner.log_diagnostics_apart`)."""
    original_load, original_save = MjlabOnPolicyRunner.load, MjlabOnPolicyRunner.save
    if getattr(original_load, "_genpo_checked", False):
        return

    @functools.wraps(original_load)
    def load(self, path: str, load_cfg: dict | None = None, strict: bool = True, map_location: str | None = None):
        check_mjlab_checkpoint(self, path, load_cfg)
        return original_load(self, path, load_cfg, strict, map_location)

    @functools.wraps(original_save)
    def save(self, path: str, infos: dict | None = None) -> None:
        flow = _genpo_flow(self)
        if flow is not None and (infos is None or isinstance(infos, dict)):
            infos = {**(infos or {}), "genpo_rsl": genpo_stamp(flow)}
        return original_save(self, path, infos)

    original_init = MjlabOnPolicyRunner.__init__

    @functools.wraps(original_init)
    def init(self, *args, **kwargs) -> None:
        original_init(self, *args, **kwargs)
        if _genpo_flow(self) is not None:
            log_diagnostics_apart(self)  # GenPO's kl, clip_fraction, ... are not losses: not "Mean kl loss"

    load._genpo_checked = True
    MjlabOnPolicyRunner.load, MjlabOnPolicyRunner.save, MjlabOnPolicyRunner.__init__ = load, save, init


if not hook_disabled():
    register_genpo_twins()
    _install_checkpoint_check()
