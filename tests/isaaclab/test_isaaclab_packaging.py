"""Packaging of the IsaacLab glue: the installed ``.pth`` hook, the class-name strings in rsl_rl's own resolvers,
and the wheel's contents. Each check runs in a fresh interpreter, so nothing a previous test imported helps it."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import pytest

from isaaclab_helpers import HERE, REPO_ROOT, require_sources

from genpo_rsl.compat import rsl_rl_major

PTH_NAME = "genpo_rsl_isaaclab.pth"
PTH_SOURCE = REPO_ROOT / "isaaclab_tasks_ext" / PTH_NAME


def _python(code: str, cwd, timeout: float = 300) -> dict:
    """Run ``code`` in a fresh interpreter of this venv, from ``cwd`` and with only the caller's PYTHONPATH (the rsl_rl
    world): the repository is NOT put on sys.path, so the installed package is what gets imported. The child prints
    one JSON line, returned as a dict."""
    env = {k: v for k, v in os.environ.items() if k != "GENPO_RSL_DISABLE_HOOK"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          cwd=str(cwd), timeout=timeout)
    assert proc.returncode == 0, f"child failed:\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-6000:]}"
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def test_installed_pth_adds_genpo_without_any_manual_step(tmp_path):
    """The venv's ``pip install -e .`` put ``genpo_rsl_isaaclab.pth`` into site-packages: a fresh interpreter that only
    stands in Isaac Sim and imports ``isaaclab_tasks`` (what train.py does) finds ``--agent genpo`` on every rsl_rl
    task."""
    require_sources()
    result = _python(f"""
        import json, os, site, sys
        hook_at_start = any(getattr(f, "_genpo_rsl_isaaclab_hook", False) for f in sys.meta_path)
        pth = [os.path.join(d, {PTH_NAME!r}) for d in site.getsitepackages()
               if os.path.isfile(os.path.join(d, {PTH_NAME!r}))]
        sys.path.insert(0, {str(HERE)!r})  # the test helpers only
        import standins
        standins.install()
        import contextlib, io
        with contextlib.redirect_stdout(io.StringIO()):
            import isaaclab_tasks
            from isaaclab_tasks.utils.parse_cfg import load_cfg_from_registry
            cfg = load_cfg_from_registry("Isaac-Velocity-Flat-Anymal-D-v0", "genpo")
        import gymnasium as gym
        import isaaclab_tasks_ext
        rsl = [s.id for s in gym.registry.values() if "rsl_rl_cfg_entry_point" in s.kwargs]
        genpo = [s.id for s in gym.registry.values() if "genpo" in s.kwargs]
        print(json.dumps({{"hook_at_start": hook_at_start, "pth": pth,
                          "pth_text": open(pth[0]).read() if pth else None,
                          "package": isaaclab_tasks_ext.__file__, "rsl": len(rsl), "same": sorted(rsl) == sorted(genpo),
                          "cfg": type(cfg).__name__, "experiment": cfg.experiment_name}}))
    """, cwd=tmp_path)
    assert result["pth"], (f"{PTH_NAME} is not in this interpreter's site-packages: install the project into the venv "
                           "(tools/install.sh, i.e. `pip install -e .`)")
    assert result["pth_text"] == PTH_SOURCE.read_text(), f"the installed {PTH_NAME} is stale: reinstall the project"
    assert result["hook_at_start"], f"{PTH_NAME} did not install the hook at interpreter start"
    assert result["package"].startswith(str(REPO_ROOT)), result["package"]  # the editable install of this checkout
    assert result["rsl"] > 0 and result["same"]
    assert (result["cfg"], result["experiment"]) == ("GenPORunnerCfg", "anymal_d_flat_genpo")


@pytest.mark.skipif(rsl_rl_major() != 3, reason="rsl-rl-lib 3.x resolves class names with eval; 5.x is tested below")
def test_rsl_rl3_runner_evals_the_class_names(tmp_path):
    """rsl-rl-lib 3.x's OnPolicyRunner does ``eval(class_name)`` in its own module: after ``import genpo_rsl`` (and
    only then) the config's strings name GenPO's classes there."""
    result = _python("""
        import json
        import rsl_rl.runners.on_policy_runner as runner_module
        names = ("rsl_rl.modules.GenPOActorCritic", "rsl_rl.algorithms.GenPO")
        def resolve(name):
            try:
                return eval(name, vars(runner_module))
            except AttributeError:
                return None
        before = [resolve(name) for name in names]
        import genpo_rsl
        from genpo_rsl.v3 import GenPO, GenPOActorCritic
        after = [resolve(name) for name in names]
        print(json.dumps({"before": [b is None for b in before],
                          "after": [after[0] is GenPOActorCritic, after[1] is GenPO]}))
    """, cwd=tmp_path)
    assert result == {"before": [True, True], "after": [True, True]}


@pytest.mark.skipif(rsl_rl_major() != 5, reason="rsl-rl-lib 5.x resolves class names with resolve_callable; "
                                                 "3.x is tested above")
def test_rsl_rl5_resolve_callable_finds_the_classes(tmp_path):
    result = _python("""
        import json
        from rsl_rl.utils import resolve_callable
        def resolve(name):
            try:
                return resolve_callable(name)
            except Exception:
                return None
        before = resolve("rsl_rl.algorithms.GenPO")
        import genpo_rsl
        from genpo_rsl.v5 import GenPO, GenPOActor
        print(json.dumps({"before": before is None,
                          "algorithm": resolve("rsl_rl.algorithms.GenPO") is GenPO,
                          "actor": resolve("rsl_rl.modules.GenPOActor") is GenPOActor,
                          "module_path": resolve("genpo_rsl.v5:GenPOActor") is GenPOActor}))
    """, cwd=tmp_path)
    assert result == {"before": True, "algorithm": True, "actor": True, "module_path": True}


def test_wheel_has_the_pth_at_its_root_and_the_isaaclab_entry_point(tmp_path):
    """``pip wheel`` (offline, no build isolation: ~2 s) of a copy of the project: the ``.pth`` sits at the wheel's
    root (so it lands in site-packages, where Python runs it), is listed in RECORD (``pip uninstall`` removes it), and
    the ``isaaclab.tasks`` entry point IsaacLab 3.x loads is declared."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md"):
        if (REPO_ROOT / name).is_file():
            shutil.copy(REPO_ROOT / name, src / name)
    for package in ("genpo_rsl", "isaaclab_tasks_ext"):
        shutil.copytree(REPO_ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path / "wheelhouse"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("genpo_rsl-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert PTH_NAME in names, f"{PTH_NAME} is not at the wheel's root: {sorted(n for n in names if '/' not in n)}"
        assert zf.read(PTH_NAME) == PTH_SOURCE.read_bytes()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/RECORD"))
        record = zf.read(f"{dist_info}/RECORD").decode()
        entry_points = configparser.ConfigParser()
        entry_points.read_string(zf.read(f"{dist_info}/entry_points.txt").decode())
    assert any(line.split(",")[0] == PTH_NAME for line in record.splitlines())
    assert dict(entry_points["isaaclab.tasks"]) == {"genpo_rsl": "isaaclab_tasks_ext.tasks"}
    assert "isaaclab_tasks_ext/tasks.py" in names and "isaaclab_tasks_ext/_startup.py" in names
