"""genpo-rsl: GenPO (on-policy coupled-flow policies with an exact likelihood) for rsl_rl and IsaacLab.

``import genpo_rsl`` attaches GenPO's classes to rsl_rl's packages (see ``genpo_rsl.compat``), so the config
strings "rsl_rl.algorithms.GenPO" and "rsl_rl.modules.GenPOActorCritic" / "rsl_rl.modules.GenPOActor" resolve
in rsl_rl's unmodified runner. The flow core (``genpo_rsl.flow``) needs nothing but torch.
"""

import importlib.util

from .flow import CoupledFlow

__version__ = "0.1.0"
__all__ = ["CoupledFlow", "__version__"]

if importlib.util.find_spec("rsl_rl") is not None:
    from .compat import register

    register()
