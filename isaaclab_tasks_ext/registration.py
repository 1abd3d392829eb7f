"""Add GenPO as an agent of every IsaacLab task that has an rsl_rl agent.

How IsaacLab 2.3.2 resolves ``--agent``: the stock ``scripts/reinforcement_learning/rsl_rl/train.py`` (and
``play.py``) declare ``--agent`` with default ``"rsl_rl_cfg_entry_point"`` and decorate their ``main`` with
``hydra_task_config(args_cli.task, args_cli.agent)``; that calls
``isaaclab_tasks.utils.parse_cfg.load_cfg_from_registry(task, args_cli.agent)``, which reads
``gym.spec(task).kwargs[args_cli.agent]`` verbatim. So ``--agent genpo`` needs the key ``"genpo"``; the key
``"genpo_cfg_entry_point"`` is added as well, in the ``*_cfg_entry_point`` naming IsaacLab's own keys use (and that
its "Existing RL library" error message lists).

The value of both keys is the string ``"isaaclab_tasks_ext.agents:<task id>"``. ``load_cfg_from_registry``
imports the module, takes the attribute (a zero-argument factory, see :mod:`isaaclab_tasks_ext.agents`) and calls
it: the GenPO config is built lazily, from the task's own ``rsl_rl_cfg_entry_point`` at that moment. A string keeps
the spec's kwargs plain data (``gym.make`` deep-copies them and passes them to the env, whose ``**kwargs`` ignores
them; ``EnvSpec.to_json`` still works).
"""

from __future__ import annotations

import importlib
import warnings

#: Tasks with this key get a GenPO agent (derived from that config).
SOURCE_KEY = "rsl_rl_cfg_entry_point"
#: Tasks with this key (IsaacLab's symmetry agents) also get a GenPO agent that keeps the symmetry config.
SYMMETRY_SOURCE_KEY = "rsl_rl_with_symmetry_cfg_entry_point"
#: The kinds of GenPO agent: variant -> (recipe, the task's config it is derived from). "" is ``--agent genpo``:
#: the task's default recipe (the robot recipe on locomotion tasks, :func:`task_recipe`); "paper" the paper's
#: GenPO; "symmetry" the task's symmetry agent with GenPO (its symmetry_cfg kept; the task's default recipe).
VARIANTS: dict[str, tuple[str | None, str]] = {"": (None, SOURCE_KEY), "paper": ("paper", SOURCE_KEY),
                                               "symmetry": (None, SYMMETRY_SOURCE_KEY)}
#: The spec kwargs keys that get a GenPO entry, and the variant each gives. ``--agent genpo`` / ``--agent
#: genpo_paper`` look them up; the ``*_cfg_entry_point`` keys follow the naming of IsaacLab's own
#: (``genpo_with_symmetry_cfg_entry_point`` beside ``rsl_rl_with_symmetry_cfg_entry_point``).
AGENT_VARIANTS: dict[str, str] = {"genpo": "", "genpo_cfg_entry_point": "", "genpo_paper": "paper",
                                  "genpo_paper_cfg_entry_point": "paper", "genpo_with_symmetry_cfg_entry_point": "symmetry"}
AGENT_KEYS: tuple[str, ...] = tuple(AGENT_VARIANTS)
#: Module whose attributes (task ids) are the factories.
ENTRY_MODULE = "isaaclab_tasks_ext.agents"


def entry_point(task_id: str, key: str = "genpo") -> str:
    """The ``"module:Attr"`` value registered for ``task_id`` under the agent ``key`` (``Attr`` is the task id, with
    ``@<variant>`` for a key of another variant)."""
    variant = AGENT_VARIANTS[key]
    return f"{ENTRY_MODULE}:{task_id}" + (f"@{variant}" if variant else "")


def agent_keys(kwargs: dict) -> list[str]:
    """The GenPO agent keys a task with these spec kwargs gets: those whose source config it has."""
    return [key for key, variant in AGENT_VARIANTS.items() if VARIANTS[variant][1] in kwargs]


def task_recipe(task_id: str) -> str | None:
    """The recipe a task's ``--agent genpo`` config gets: "robot" for the locomotion (velocity-tracking) tasks, the
    ones the robot recipe was chosen on (docs/results/go2), else None (the package defaults, the paper's GenPO)."""
    return "robot" if "-Velocity-" in task_id.split(":")[-1] else None


def register_genpo_agents(registry=None) -> list[str]:
    """Add the GenPO agent keys (:func:`agent_keys`) to every gymnasium spec that has :data:`SOURCE_KEY`. Idempotent.

    A key a spec already has is left alone (a task that ships its own GenPO config keeps it). Each changed spec
    gets a new kwargs dict, so a kwargs dict shared between specs is never modified behind another spec's back.

    Args:
        registry: a gymnasium registry mapping (default: ``gymnasium.registry``).

    Returns:
        The ids of the specs changed by this call (empty when everything was already registered).
    """
    if registry is None:
        import gymnasium

        registry = gymnasium.registry
    changed = []
    for task_id, spec in list(registry.items()):
        kwargs = spec.kwargs
        if not isinstance(kwargs, dict) or SOURCE_KEY not in kwargs:
            continue
        missing = [key for key in agent_keys(kwargs) if key not in kwargs]
        if not missing:
            continue
        spec.kwargs = {**kwargs, **{key: entry_point(spec.id, key) for key in missing}}
        changed.append(task_id)
    return changed


def attach_genpo_classes() -> bool:
    """``import genpo_rsl`` so that rsl_rl finds the classes GenPO's config names, and check that it does.

    rsl_rl 3.x resolves ``policy.class_name``/``algorithm.class_name`` with ``eval`` in its runner module, where
    ``rsl_rl.modules.GenPOActorCritic`` and ``rsl_rl.algorithms.GenPO`` exist only after ``import genpo_rsl``
    attached them. IsaacLab's stock scripts never import genpo_rsl, but they always load the agent config (this
    package's factory) before building the runner, so the factory does it. (rsl_rl 5.x imports the
    ``"genpo_rsl.v5:..."`` names of the actor/critic schema itself.) Returns whether the config's classes resolve;
    warns (does not raise) otherwise, naming the cause: the config itself is valid without them.
    """
    try:
        importlib.import_module("genpo_rsl")
        from genpo_rsl.compat import rsl_rl_major, rsl_rl_version

        from .genpo_cfg import (GENPO_ACTOR_CLASS, GENPO_ALGORITHM_CLASS, GENPO_MODEL_ALGORITHM_CLASS,
                                GENPO_POLICY_CLASS, uses_model_schema)
    except Exception as exc:  # noqa: BLE001
        warnings.warn(f"genpo_rsl: `import genpo_rsl` failed ({type(exc).__name__}: {exc}); rsl_rl will not find "
                      "GenPO's classes", RuntimeWarning, stacklevel=2)
        return False
    if uses_model_schema():
        from rsl_rl.utils import resolve_callable

        names, resolve = (GENPO_ACTOR_CLASS, GENPO_MODEL_ALGORITHM_CLASS), resolve_callable
    elif rsl_rl_major() != 3:
        warnings.warn(
            f"genpo_rsl: this IsaacLab takes rsl_rl configs in the `policy` schema of rsl-rl-lib 3.x (IsaacLab 2.3.x), "
            f"but rsl-rl-lib {rsl_rl_version()} is installed, whose runner needs `actor`/`critic` sections: "
            "IsaacLab 2.3.x's train.py fails with it for every agent, its own PPO included. Install rsl-rl-lib 3.x "
            "(IsaacLab 2.3's requirement) or use IsaacLab 3.x.", RuntimeWarning, stacklevel=2)
        return False
    else:
        import rsl_rl.runners.on_policy_runner as runner_module

        names = (GENPO_POLICY_CLASS, GENPO_ALGORITHM_CLASS)

        def resolve(name):  # what rsl_rl 3.x's runner does with a class name
            return eval(name, vars(runner_module))  # noqa: S307 - a constant of ours, not input
    missing = []
    for name in names:
        try:
            resolve(name)
        except Exception:  # noqa: BLE001 - any failure means the runner will not find it either
            missing.append(name)
    if missing:
        warnings.warn(f"genpo_rsl: after `import genpo_rsl`, rsl_rl still cannot resolve {', '.join(missing)}; the "
                      "runner will fail to build the GenPO policy/algorithm", RuntimeWarning, stacklevel=2)
        return False
    return True


def make_genpo_cfg(task_id: str, attach: bool = True, variant: str = ""):
    """The GenPO runner config of a task: its rsl_rl config derived (:func:`derive_genpo_cfg`), plus the paper's
    settings for the paper's eight tasks (:mod:`isaaclab_tasks_ext.tuned`), then a recipe's settings.

    Args:
        task_id: the IsaacLab task.
        attach: run :func:`attach_genpo_classes` first.
        variant: a key of :data:`VARIANTS`: "" (the task's default recipe, :func:`task_recipe`), "paper" (the
            paper's recipe) or "symmetry" (derived from the task's symmetry agent, whose symmetry_cfg it keeps).

    The task's rsl_rl config is loaded with IsaacLab's own ``load_cfg_from_registry`` (any entry form IsaacLab
    accepts). An IsaacLab 3.x ``PresetCfg`` of runner configs (named alternatives, ``default`` among them, chosen
    with ``presets=<name>``) gives a preset of the GenPO configs of its on-policy alternatives. ``attach`` runs
    :func:`attach_genpo_classes` first.
    """
    from isaaclab_tasks.utils.parse_cfg import load_cfg_from_registry

    from .genpo_cfg import derive_genpo_cfg
    from .tuned import apply_recipe, apply_tuned

    if variant not in VARIANTS:
        raise ValueError(f"make_genpo_cfg: variant must be one of {list(VARIANTS)}, got {variant!r}")
    recipe, source = VARIANTS[variant]
    chosen = recipe or task_recipe(task_id)

    def genpo(rsl_rl_cfg):
        cfg = derive_genpo_cfg(rsl_rl_cfg, keep_symmetry=source == SYMMETRY_SOURCE_KEY)
        apply_tuned(cfg, task_id)
        if chosen:
            apply_recipe(cfg, chosen)
        return cfg

    task_id = task_id.split(":")[-1]
    if attach:
        attach_genpo_classes()
    base = load_cfg_from_registry(task_id, source)
    if isinstance(base, dict):
        raise TypeError(f"{task_id}: its {source} is a YAML dict; GenPO needs an RslRlOnPolicyRunnerCfg")
    if _is_preset(base):
        return _genpo_preset(task_id, base, genpo)
    return genpo(base)


def _is_preset(cfg) -> bool:
    try:
        from isaaclab_tasks.utils import PresetCfg  # IsaacLab 3.x
    except ImportError:
        return False
    return isinstance(cfg, PresetCfg)


def _genpo_preset(task_id: str, base, genpo):
    """A new preset whose alternatives are the GenPO configs of ``base``'s on-policy runner alternatives. (IsaacLab
    reads a preset's alternatives from its class attributes, so the task's preset cannot be edited in place.)"""
    import dataclasses

    from isaaclab_rl.rsl_rl import RslRlOnPolicyRunnerCfg
    from isaaclab_tasks.utils import preset

    options = {}
    for field in dataclasses.fields(base):
        value = getattr(type(base), field.name, None)
        value = getattr(base, field.name) if value is None else value
        if isinstance(value, RslRlOnPolicyRunnerCfg) and getattr(value, "class_name", None) == "OnPolicyRunner":
            options[field.name] = genpo(value)
    if "default" not in options:
        raise TypeError(f"{task_id}: the default of its rsl_rl preset {type(base).__name__} is not an OnPolicyRunner "
                        "config; GenPO cannot be derived from it")
    return preset(**options)
