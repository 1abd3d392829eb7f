"""Genesis tests: collected only where Genesis is importable (tools/test_genesis.sh runs them in .venv-genesis).

Genesis allows one ``gs.init`` per process and every scene build costs seconds (the first on a machine compiles
kernels for about 90 s), so the tests share a few small envs.
"""

import importlib.util

import pytest
import torch

torch.set_num_threads(1)

# This folder itself is importable as a namespace package "genesis" (pytest puts tests/ on sys.path): only a real
# package (one with an origin) counts.
_spec = importlib.util.find_spec("genesis")
if _spec is None or _spec.origin is None:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def go2_env():
    """8 Go2 robots with sampled commands and 0.5 s (25-step) episodes, so time-outs come quickly."""
    from genpo_rsl.envs import make_env

    env = make_env("genesis/Go2-Velocity-Flat-Omni", num_envs=8, seed=3, episode_length_s=0.5)
    yield env
    env.close()
