"""GenPO for IsaacLab: ``--agent genpo`` on every rsl_rl task of ``isaaclab_tasks``, through the stock scripts.

``isaaclab.sh -p scripts/reinforcement_learning/rsl_rl/train.py --task Isaac-Velocity-Rough-Anymal-D-v0 --agent
genpo`` trains GenPO with nothing in IsaacLab edited or copied: IsaacLab resolves ``--agent genpo`` as the key
``"genpo"`` of ``gym.spec(task).kwargs`` (``isaaclab_tasks.utils.hydra.hydra_task_config`` ->
``load_cfg_from_registry``), and this package adds that key to every task that has an ``rsl_rl_cfg_entry_point``:

* :mod:`isaaclab_tasks_ext._startup` -- the stdlib-only hook run from ``genpo_rsl_isaaclab.pth`` at interpreter
  start; it calls :func:`register_genpo_agents` right after ``isaaclab_tasks`` has been imported
  (``GENPO_RSL_DISABLE_HOOK=1`` turns it off);
* :mod:`isaaclab_tasks_ext.registration` -- :func:`register_genpo_agents` and :func:`make_genpo_cfg`;
* :mod:`isaaclab_tasks_ext.agents` -- the module the ``"module:Attr"`` entry strings point at;
* :mod:`isaaclab_tasks_ext.genpo_cfg` -- the configclasses (``GenPORunnerCfg`` for IsaacLab 2.3.x,
  ``GenPOModelRunnerCfg`` for IsaacLab 3.x) and :func:`derive_genpo_cfg`;
* :mod:`isaaclab_tasks_ext.tuned` -- the GenPO paper's settings for its eight IsaacLab benchmarks;
* :mod:`isaaclab_tasks_ext.tasks` -- the ``isaaclab.tasks`` entry-point target for IsaacLab 3.x's CLI.

This ``__init__`` imports nothing (the ``.pth`` hook imports ``isaaclab_tasks_ext._startup`` at every interpreter
start); the names below are loaded on first use.
"""

__all__ = ["AGENT_KEYS", "derive_genpo_cfg", "make_genpo_cfg", "register_genpo_agents"]

_LAZY = {
    "AGENT_KEYS": "isaaclab_tasks_ext.registration",
    "register_genpo_agents": "isaaclab_tasks_ext.registration",
    "make_genpo_cfg": "isaaclab_tasks_ext.registration",
    "derive_genpo_cfg": "isaaclab_tasks_ext.genpo_cfg",
}


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
