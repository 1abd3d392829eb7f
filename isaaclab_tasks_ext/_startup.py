"""Interpreter start-up hook: add ``--agent genpo`` to IsaacLab's tasks right after ``isaaclab_tasks`` is imported.

IsaacLab 2.3's stock ``scripts/reinforcement_learning/rsl_rl/{train,play}.py`` resolve ``--agent <key>`` as a key
of ``gym.spec(task).kwargs`` and import nothing of a third-party package before they do. This module is executed
from the one-line ``genpo_rsl_isaaclab.pth`` file installed into site-packages (``.pth`` lines starting with
``import`` run at interpreter start) and puts a tiny finder at the front of ``sys.meta_path``. The finder ignores
every import except ``isaaclab_tasks`` itself; for that one it wraps the real loader so that, once
``isaaclab_tasks`` has finished executing (all of IsaacLab's ``gym.register`` calls done), it calls
``isaaclab_tasks_ext.registration.register_genpo_agents()``.

Constraints this module keeps:

* stdlib only, and nothing is imported at start-up beyond ``os``/``sys``/``importlib``'s already-loaded parts:
  no torch, no gymnasium, no isaaclab. Without IsaacLab the finder only compares one string per import;
* idempotent: ``install()`` twice installs one finder (also across a re-import of this module: IsaacLab's
  ``AppLauncher`` temporarily removes every module whose name contains "lab" -- this one included -- from
  ``sys.modules``), and every (re-)import of ``isaaclab_tasks`` re-runs the registration, which itself only adds
  what is missing (a re-import re-registers IsaacLab's specs, dropping the keys added before);
* never breaks an import: a failing registration is reported as a warning, ``isaaclab_tasks`` stays imported;
* switched off by ``GENPO_RSL_DISABLE_HOOK=1`` (or ``true``/``yes``/``on``): read by ``install()`` and again when
  ``isaaclab_tasks`` is imported, so setting it in a running process before that import also works.
"""

import os
import sys

DISABLE_ENV = "GENPO_RSL_DISABLE_HOOK"
TARGET = "isaaclab_tasks"
_MARKER = "_genpo_rsl_isaaclab_hook"  # attribute that identifies our finder, whichever copy of this module made it


def disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _run_registration() -> None:
    """Add the genpo agent entries; report (never raise) a failure."""
    if disabled():
        return
    try:
        from isaaclab_tasks_ext.registration import register_genpo_agents

        register_genpo_agents()
    except Exception as exc:  # noqa: BLE001 - a start-up hook must not break IsaacLab's import
        import warnings

        warnings.warn(
            f"genpo_rsl: could not add the 'genpo' agent to IsaacLab's tasks ({type(exc).__name__}: {exc}). "
            f"`--agent genpo` will not be available; set {DISABLE_ENV}=1 to silence this.",
            RuntimeWarning,
            stacklevel=2,
        )


class _PostImportLoader:
    """Delegates to the real loader of ``isaaclab_tasks`` and runs the registration after its ``exec_module``."""

    def __init__(self, loader) -> None:
        self._loader = loader

    def __getattr__(self, name):  # get_filename, get_data, is_package, get_resource_reader, ...
        return getattr(self._loader, name)

    def create_module(self, spec):
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module) -> None:
        # The module keeps the real loader, as if this wrapper had never been there.
        module.__loader__ = self._loader
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        self._loader.exec_module(module)
        _run_registration()


class _PostImportFinder:
    """``sys.meta_path`` entry that only reacts to ``isaaclab_tasks`` (a ``MetaPathFinder`` by protocol)."""

    _genpo_rsl_isaaclab_hook = True

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET or disabled():
            return None
        # Ask the finders after this one (site-packages, editable-install finders, ...) for the real spec.
        seen_self = False
        for finder in list(sys.meta_path):
            if not seen_self:
                seen_self = finder is self
                continue
            if getattr(finder, _MARKER, False):
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is None:
                continue
            loader = spec.loader
            if loader is None or not hasattr(loader, "exec_module") or isinstance(loader, _PostImportLoader):
                return spec
            spec.loader = _PostImportLoader(loader)
            return spec
        return None

    def invalidate_caches(self) -> None:
        pass


def installed() -> bool:
    return any(getattr(finder, _MARKER, False) for finder in sys.meta_path)


def install() -> bool:
    """Install the post-import hook (idempotent). Returns whether a hook is installed afterwards.

    If ``isaaclab_tasks`` is already imported (the hook came late, e.g. installed by IsaacLab 3.x's entry point),
    the registration runs now as well.
    """
    if disabled():
        return False
    if not installed():
        sys.meta_path.insert(0, _PostImportFinder())
    if TARGET in sys.modules:
        _run_registration()
    return True


def uninstall() -> None:
    """Remove every copy of the hook from ``sys.meta_path`` (for tests)."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if not getattr(finder, _MARKER, False)]
