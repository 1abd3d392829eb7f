"""Target of the ``isaaclab.tasks`` entry point (IsaacLab 3.x).

IsaacLab 3.x's CLI (``isaaclab train|play|list_envs``; ``isaaclab.cli.load_external_tasks`` and
``isaaclab_rl.entrypoints.dispatch.run_cli`` in the isaaclab 3.0.0 wheel) runs
``for ep in importlib.metadata.entry_points(group="isaaclab.tasks"): ep.load()`` -- it imports the referenced module
and calls nothing, sometimes before ``isaaclab_tasks`` is imported (``run_cli``), sometimes after (``list_envs``).
Importing this module therefore installs the same post-import hook as the ``.pth`` file (a no-op if the ``.pth``
already did, or if ``GENPO_RSL_DISABLE_HOOK`` is set) and, when ``isaaclab_tasks`` is already imported, registers
the GenPO agents at once.

IsaacLab 3.x runs rsl-rl-lib 5.x with the ``actor``/``critic`` runner schema; :mod:`isaaclab_tasks_ext.genpo_cfg`
builds GenPO's configs in that schema there (``GenPOModelRunnerCfg``), and in IsaacLab 2.3.x's ``policy`` schema
under IsaacLab 2.3.x.
"""

from __future__ import annotations

from . import _startup

_startup.install()
