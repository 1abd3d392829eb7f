"""Import IsaacLab's own Python sources on a machine without Isaac Sim (CPU, no Omniverse Kit).

IsaacLab's packages (``isaaclab``, ``isaaclab_rl``, ``isaaclab_tasks``, ...) import Isaac Sim's runtime at module
level: ``omni.*``, ``carb``, ``isaacsim.*`` and ``pxr`` (USD with NVIDIA's PhysX schemas). Those only exist inside
an Isaac Sim installation. :func:`install` puts stand-ins for exactly those four top-level names into
``sys.modules`` -- every submodule and every attribute of a stand-in is a fabricated placeholder that can be
imported, subclassed, called and used as a decorator, and that does nothing -- and then puts the unpacked
IsaacLab sources (``tools/fetch_isaaclab.sh``) on ``sys.path``. Nothing of IsaacLab itself is faked: its task
registration, configclasses, Hydra helpers and the rsl_rl exporter are the real 2.3.2 code (or, with
``install(ISAACLAB3_VERSION)``, the real 3.0.0 code, whose wheel is one flat tree; one IsaacLab per interpreter).

What works this way: ``import isaaclab_tasks`` (every task registers with gymnasium), ``import isaaclab_rl.rsl_rl``,
``load_cfg_from_registry`` for agent configs and most env configs, ``hydra_task_config`` and the rsl_rl exporter.
What does not: anything that needs the simulator (``gym.make``, ``AppLauncher``). Env configs whose module runs
``torch.jit.script`` on functions that call Isaac Sim (``Isaac-Ant-Direct-v0``, ``Isaac-Humanoid-Direct-v0``)
need ``PYTORCH_JIT=0`` in the environment before torch is imported; the Shadow-Hand-Vision env config imports
torchvision.

Usage (also runnable as ``python tests/isaaclab/standins.py`` to print where the sources are)::

    from tests.isaaclab import standins
    standins.install()          # raises IsaacLabSourcesMissing if the sources were not fetched
    import isaaclab_tasks
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types
from pathlib import Path

#: Top-level modules of Isaac Sim's runtime that IsaacLab imports. The stand-ins cover these and nothing else.
STANDIN_ROOTS = ("omni", "carb", "isaacsim", "pxr")

#: IsaacLab source packages put on sys.path (the folders under ``<wheel>/isaaclab/source``). ``isaaclab_contrib``
#: is needed because ``isaaclab/scene/interactive_scene.py`` imports ``isaaclab_contrib.sensors``;
#: ``isaaclab_assets`` because many task configs import their robot configs from it.
SOURCE_PACKAGES = ("isaaclab", "isaaclab_rl", "isaaclab_tasks", "isaaclab_assets", "isaaclab_contrib")

ISAACLAB_VERSION = os.environ.get("ISAACLAB_VERSION", "2.3.2.post1")
#: The IsaacLab 3.x release the rsl-rl-lib 5.x tests run against (IsaacLab 3.x requires rsl-rl-lib >= 5.0.1).
ISAACLAB3_VERSION = os.environ.get("ISAACLAB3_VERSION", "3.0.0")
REPO_ROOT = Path(__file__).resolve().parents[2]


class IsaacLabSourcesMissing(RuntimeError):
    """The unpacked IsaacLab sources are not where :func:`source_root` looks."""


def _unpacked(version: str) -> Path:
    cache = Path(os.environ.get("ISAACLAB_CACHE_DIR", REPO_ROOT / ".cache" / "isaaclab"))
    return cache / f"isaaclab-{version}"


def source_root(version: str | None = None) -> Path:
    """Folder holding the source roots of IsaacLab's packages.

    For the default 2.x version: ``$ISAACLAB_SOURCE_DIR`` if set, else ``$ISAACLAB_CACHE_DIR`` (default
    ``<repo>/.cache/isaaclab``) + ``isaaclab-<version>/isaaclab/source``, as ``tools/fetch_isaaclab.sh`` unpacks the
    2.x wheel (each package at ``<root>/<pkg>/<pkg>``). IsaacLab 3.x wheels are flat: ``isaaclab-<version>`` itself
    holds the packages.
    """
    version = version or ISAACLAB_VERSION
    explicit = os.environ.get("ISAACLAB_SOURCE_DIR")
    if explicit and version == ISAACLAB_VERSION:
        return Path(explicit)
    nested = _unpacked(version) / "isaaclab" / "source"
    return nested if (nested / "isaaclab_tasks" / "isaaclab_tasks").is_dir() else _unpacked(version)


def pythonpath_entries(version: str | None = None) -> list[str]:
    """The sys.path entries :func:`install` adds (also for a subprocess's PYTHONPATH)."""
    root = source_root(version)
    if (root / "isaaclab_tasks" / "isaaclab_tasks").is_dir():  # 2.x: one source root per package
        return [str(root / pkg) for pkg in SOURCE_PACKAGES if (root / pkg).is_dir()]
    return [str(root)]  # 3.x: one flat tree


def sources_available(version: str | None = None) -> bool:
    entries = [Path(entry) for entry in pythonpath_entries(version)]
    return all(any((entry / pkg / "__init__.py").is_file() for entry in entries)
               for pkg in ("isaaclab", "isaaclab_rl", "isaaclab_tasks"))


def missing_reason(version: str | None = None) -> str:
    version = version or ISAACLAB_VERSION
    return (
        f"IsaacLab {version} sources not found under {source_root(version)}; "
        f"run tools/fetch_isaaclab.sh (ISAACLAB_VERSION={version}) or set ISAACLAB_SOURCE_DIR to fetch them"
    )


# ----------------------------------------------------------------------------------------------------------------
# Stand-in objects
# ----------------------------------------------------------------------------------------------------------------


class _StandinMeta(type):
    """Metaclass of fabricated classes: class-level attribute access fabricates more placeholders."""

    def __getattr__(cls, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _make_class(f"{cls.__qualname__}.{name}", cls.__module__)

    def __iter__(cls):
        return iter(())

    def __bool__(cls):
        return False

    def __or__(cls, other):  # ``Standin | None`` in annotations evaluated at runtime
        return cls

    __ror__ = __or__

    def __getitem__(cls, item):  # ``Standin[int]`` in annotations
        return cls

    def __repr__(cls):
        return f"<Isaac Sim stand-in {cls.__module__}.{cls.__qualname__}>"


class _StandinBase(metaclass=_StandinMeta):
    """Instances accept any constructor arguments; every attribute and call returns another placeholder."""

    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _make_class(f"{type(self).__qualname__}.{name}", type(self).__module__)()

    def __call__(self, *args, **kwargs):
        # A placeholder used as a decorator returns the decorated object unchanged.
        if len(args) == 1 and not kwargs and callable(args[0]):
            return args[0]
        return type(self)()

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return False

    def __len__(self):
        return 0

    def __getitem__(self, item):
        return type(self)()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _make_class(qualname: str, module: str) -> type:
    name = qualname.rsplit(".", 1)[-1]
    cls = _StandinMeta(name, (_StandinBase,), {"__module__": module, "__qualname__": qualname})
    return cls


class _StandinModule(types.ModuleType):
    """A package whose every missing attribute is a fabricated class (so ``from omni.x import Y`` works)."""

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        value = _make_class(name, self.__name__)
        setattr(self, name, value)
        return value


class _StandinLoader(importlib.abc.Loader):
    def create_module(self, spec):
        module = _StandinModule(spec.name)
        module.__file__ = f"<Isaac Sim stand-in {spec.name}>"
        module.__path__ = []  # a package: submodules resolve through the finder below
        module.__standin__ = True
        return module

    def exec_module(self, module):
        parent, _, child = module.__name__.rpartition(".")
        if parent and parent in sys.modules:
            setattr(sys.modules[parent], child, module)


class _StandinFinder(importlib.abc.MetaPathFinder):
    """Resolves ``omni``, ``carb``, ``isaacsim``, ``pxr`` and any of their submodules to stand-ins."""

    _genpo_rsl_standins = True

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".", 1)[0] not in STANDIN_ROOTS:
            return None
        return importlib.machinery.ModuleSpec(fullname, _StandinLoader(), is_package=True)


def is_standin(module: types.ModuleType) -> bool:
    return bool(getattr(module, "__standin__", False))


def install_standins() -> None:
    """Put the Isaac Sim stand-in finder first on ``sys.meta_path`` (idempotent)."""
    if not any(getattr(f, "_genpo_rsl_standins", False) for f in sys.meta_path):
        sys.meta_path.insert(0, _StandinFinder())


def add_sources_to_path(version: str | None = None) -> Path:
    if not sources_available(version):
        raise IsaacLabSourcesMissing(missing_reason(version))
    for entry in reversed(pythonpath_entries(version)):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    return source_root(version)


def install(version: str | None = None) -> Path:
    """Stand-ins for Isaac Sim's runtime + IsaacLab's sources on sys.path. Returns the source root."""
    root = add_sources_to_path(version)
    install_standins()
    return root


def uninstall(purge_modules: bool = True, version: str | None = None) -> None:
    """Undo :func:`install`: remove the stand-in finder and the source entries from ``sys.path``, and (by default)
    drop every imported IsaacLab / stand-in module (and the ``isaaclab_tasks_ext`` modules built on IsaacLab) from
    ``sys.modules`` so later code in the same interpreter sees neither. The gymnasium registry keeps the tasks
    IsaacLab registered."""
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "_genpo_rsl_standins", False)]
    entries = set(pythonpath_entries(version))
    sys.path[:] = [p for p in sys.path if p not in entries]
    if purge_modules:
        # Also the plugin modules that hold references to IsaacLab's classes (all but the stdlib-only hook).
        roots = set(STANDIN_ROOTS) | set(SOURCE_PACKAGES)
        keep = {"isaaclab_tasks_ext", "isaaclab_tasks_ext._startup"}
        for name in list(sys.modules):
            if name.split(".", 1)[0] in roots or (name.startswith("isaaclab_tasks_ext.") and name not in keep):
                del sys.modules[name]


if __name__ == "__main__":
    for _version in (ISAACLAB_VERSION, ISAACLAB3_VERSION):
        print(f"IsaacLab {_version} sources: {source_root(_version)} "
              f"({'present' if sources_available(_version) else 'MISSING'})")
