"""One thin module per framework that runs rsl_rl: it registers GenPO there and configures it, nothing else.

* :mod:`genpo_rsl.integrations.mjlab` -- ``<task id>-GenPO`` twins of mjlab's rsl_rl tasks (entry point
  ``mjlab.tasks``, loaded by ``import mjlab``).

The IsaacLab integration lives in the top-level package ``isaaclab_tasks_ext`` (its ``.pth`` start-up hook must be
importable without genpo_rsl's dependencies). Every integration is switched off by ``GENPO_RSL_DISABLE_HOOK=1``.
"""

import os

DISABLE_ENV = "GENPO_RSL_DISABLE_HOOK"


def hook_disabled() -> bool:
    """Whether ``GENPO_RSL_DISABLE_HOOK`` is set to 1/true/yes/on (the same switch as the IsaacLab hook's)."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
