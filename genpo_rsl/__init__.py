"""genpo-rsl: GenPO (on-policy coupled-flow policies with an exact likelihood) for rsl_rl and IsaacLab."""

from .flow import CoupledFlow

__version__ = "0.1.0"
__all__ = ["CoupledFlow", "__version__"]
