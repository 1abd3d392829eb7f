"""Target of the ``"isaaclab_tasks_ext.agents:<task id>"`` entries :mod:`isaaclab_tasks_ext.registration` adds.

IsaacLab's ``load_cfg_from_registry`` resolves such a string with ``getattr(importlib.import_module(module), attr)``
and calls the result when it is callable. Every task id (``Isaac-Velocity-Rough-Anymal-D-v0`` -- not a Python
identifier, which ``getattr`` does not mind) is therefore an attribute of this module (PEP 562 ``__getattr__``)
whose value is a zero-argument factory returning that task's GenPO runner config, built on call;
``<task id>@<variant>`` gives another variant (``@paper``: ``--agent genpo_paper``; ``@symmetry``: the task's
symmetry agent with GenPO).
"""

from __future__ import annotations


class GenPOAgentFactory:
    """Zero-argument callable: ``GenPOAgentFactory(task_id, variant)()`` -> the task's GenPO runner config.

    Args:
        task_id: the IsaacLab task.
        variant: "" (``--agent genpo``), "paper" or "symmetry" (:data:`isaaclab_tasks_ext.registration.VARIANTS`).
    """

    def __init__(self, task_id: str, variant: str = "") -> None:
        self.task_id, self.variant = task_id, variant

    def __call__(self):
        from .registration import make_genpo_cfg

        return make_genpo_cfg(self.task_id, variant=self.variant)

    def __repr__(self) -> str:
        return f"GenPOAgentFactory({self.task_id!r}, variant={self.variant!r})"


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    import gymnasium

    from .registration import SOURCE_KEY, VARIANTS

    task_id, _, variant = name.partition("@")  # "<task id>@paper": another variant of the task's GenPO agent
    spec = gymnasium.registry.get(task_id)
    source = VARIANTS[variant][1] if variant in VARIANTS else None
    if spec is None or source is None or source not in spec.kwargs:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}: no registered task of that id has an "
                             f"{source or SOURCE_KEY!r} to derive a GenPO config from")
    return GenPOAgentFactory(task_id, variant)

