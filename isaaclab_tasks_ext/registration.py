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

#: The spec kwargs keys that get the GenPO entry. ``--agent genpo`` looks up the first.
AGENT_KEYS: tuple[str, ...] = ("genpo", "genpo_cfg_entry_point")
#: Tasks with this key get a GenPO agent (derived from that config).
SOURCE_KEY = "rsl_rl_cfg_entry_point"
#: Module whose attributes (task ids) are the factories.
ENTRY_MODULE = "isaaclab_tasks_ext.agents"


def entry_point(task_id: str) -> str:
    """The ``"module:Attr"`` value registered for ``task_id``."""
    return f"{ENTRY_MODULE}:{task_id}"


def register_genpo_agents(registry=None) -> list[str]:
    """Add :data:`AGENT_KEYS` to every gymnasium spec that has :data:`SOURCE_KEY`. Idempotent.

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
        missing = [key for key in AGENT_KEYS if key not in kwargs]
        if not missing:
            continue
        spec.kwargs = {**kwargs, **{key: entry_point(spec.id) for key in missing}}
        changed.append(task_id)
    return changed


def genpo_task_ids(registry=None) -> list[str]:
    """Ids of the specs that carry a GenPO agent entry (all of :data:`AGENT_KEYS`)."""
    if registry is None:
        import gymnasium

        registry = gymnasium.registry
    return sorted(tid for tid, spec in registry.items() if all(key in spec.kwargs for key in AGENT_KEYS))


def attach_genpo_classes() -> bool:
    """``import genpo_rsl`` so that rsl_rl's ``eval`` of the class names finds GenPO's classes.

    rsl_rl 3.x resolves ``policy.class_name``/``algorithm.class_name`` with ``eval`` in its runner module, where
    ``rsl_rl.modules.GenPOActorCritic`` and ``rsl_rl.algorithms.GenPO`` exist only after ``import genpo_rsl``
    attached them. IsaacLab's stock scripts never import genpo_rsl, but they always load the agent config (this
    package's factory) before building the runner, so the factory does it. Returns whether both classes resolve;
    warns (does not raise) otherwise: the config itself is valid without them.
    """
    try:
        importlib.import_module("genpo_rsl")
        import rsl_rl.algorithms
        import rsl_rl.modules
    except Exception as exc:  # noqa: BLE001
        warnings.warn(f"genpo_rsl: `import genpo_rsl` failed ({type(exc).__name__}: {exc}); rsl_rl will not find "
                      "GenPO's classes", RuntimeWarning, stacklevel=2)
        return False
    from .genpo_cfg import GENPO_ALGORITHM_CLASS, GENPO_POLICY_CLASS

    wanted = ((GENPO_POLICY_CLASS, rsl_rl.modules), (GENPO_ALGORITHM_CLASS, rsl_rl.algorithms))
    missing = [name for name, module in wanted if not hasattr(module, name.rsplit(".", 1)[-1])]
    if missing:
        warnings.warn(f"genpo_rsl: after `import genpo_rsl`, rsl_rl still lacks {', '.join(missing)}; the runner "
                      "will fail to build the GenPO policy/algorithm", RuntimeWarning, stacklevel=2)
        return False
    return True


def make_genpo_cfg(task_id: str, attach: bool = True):
    """The GenPO runner config of a task: its rsl_rl config derived (:func:`derive_genpo_cfg`), plus the paper's
    settings for the paper's eight tasks (:mod:`isaaclab_tasks_ext.tuned`).

    The task's rsl_rl config is loaded with IsaacLab's own ``load_cfg_from_registry`` (any entry form IsaacLab
    accepts). ``attach`` runs :func:`attach_genpo_classes` first.
    """
    from isaaclab_tasks.utils.parse_cfg import load_cfg_from_registry

    from .genpo_cfg import derive_genpo_cfg
    from .tuned import apply_tuned

    task_id = task_id.split(":")[-1]
    if attach:
        attach_genpo_classes()
    base = load_cfg_from_registry(task_id, SOURCE_KEY)
    if isinstance(base, dict):
        raise TypeError(f"{task_id}: its {SOURCE_KEY} is a YAML dict; GenPO needs an RslRlOnPolicyRunnerCfg")
    cfg = derive_genpo_cfg(base)
    apply_tuned(cfg, task_id)
    return cfg
