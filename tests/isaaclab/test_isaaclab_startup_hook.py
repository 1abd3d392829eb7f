"""The ``genpo_rsl_isaaclab.pth`` start-up hook, each case in a fresh interpreter.

The ``.pth`` file is processed the way Python's ``site`` module processes it at start-up (``site.addsitedir`` on a
folder holding a copy of it), so its one line is what runs.
"""

from __future__ import annotations

import json
import shutil
import textwrap

import standins
from isaaclab_helpers import REPO_ROOT, require_sources, run_python

PTH = REPO_ROOT / "isaaclab_tasks_ext" / "genpo_rsl_isaaclab.pth"

# Modules a start-up hook may import (besides isaaclab_tasks_ext and isaaclab_tasks_ext._startup).
HEAVY = ("torch", "numpy", "gymnasium", "isaaclab", "isaaclab_tasks", "isaaclab_rl", "genpo_rsl", "rsl_rl",
         "warp", "hydra", "omegaconf", "tensordict")


def _site_dir(tmp_path):
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    shutil.copy(PTH, site_dir / PTH.name)
    return site_dir


def _run(code, tmp_path, env_extra=None, with_isaaclab=True):
    """Process the .pth, then run ``code``; the child prints one JSON line, returned as a dict."""
    prelude = textwrap.dedent(f"""
        import json, sys, time
        before = set(sys.modules)
        t0 = time.perf_counter()
        import site
        site_before = set(sys.modules)
        site.addsitedir({str(_site_dir(tmp_path))!r})
        hook_seconds = time.perf_counter() - t0
        hook_modules = sorted(set(sys.modules) - site_before)
        finders = [f for f in sys.meta_path if getattr(f, "_genpo_rsl_isaaclab_hook", False)]
    """)
    if with_isaaclab:
        prelude += textwrap.dedent(f"""
            sys.path.insert(0, {str(REPO_ROOT / "tests" / "isaaclab")!r})
            import standins
            standins.install()
        """)
    proc = run_python(prelude + textwrap.dedent(code), env_extra=env_extra)
    assert proc.returncode == 0, f"child failed:\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-6000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout + proc.stderr
    result = json.loads(lines[-1])
    result["stderr"] = proc.stderr
    return result


def test_pth_file_is_one_import_line():
    lines = [line for line in PTH.read_text().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("import ")


def test_hook_is_a_cheap_noop_without_isaaclab(tmp_path):
    """No IsaacLab anywhere: the hook imports nothing but itself, and imports behave as before."""
    result = _run("""
        import importlib.util
        missing = importlib.util.find_spec("isaaclab_tasks") is None
        try:
            import isaaclab_tasks
            error = None
        except ModuleNotFoundError as exc:
            error = str(exc)
        import email.mime.text, xml.dom.minidom  # ordinary imports still work
        t1 = time.perf_counter()
        for _ in range(20000):
            finders[0].find_spec("some_module", None)
        per_call = (time.perf_counter() - t1) / 20000
        print(json.dumps({"finders": len(finders), "hook_modules": hook_modules, "hook_seconds": hook_seconds,
                          "missing": missing, "error": error, "per_call": per_call,
                          "heavy": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
    """ % (HEAVY,), tmp_path, with_isaaclab=False)
    assert result["finders"] == 1
    assert result["missing"], "this test needs an interpreter in which isaaclab_tasks is not importable"
    assert result["error"] == "No module named 'isaaclab_tasks'"
    assert set(result["hook_modules"]) <= {"isaaclab_tasks_ext", "isaaclab_tasks_ext._startup"}
    assert result["heavy"] == []
    assert result["hook_seconds"] < 1.0  # typically ~1 ms
    assert result["per_call"] < 1e-4  # one string comparison per import


def test_env_var_disables_the_hook(tmp_path):
    result = _run("""
        print(json.dumps({"finders": len(finders), "hook_modules": hook_modules}))
    """, tmp_path, env_extra={"GENPO_RSL_DISABLE_HOOK": "1"}, with_isaaclab=False)
    assert result["finders"] == 0


def test_hook_registers_after_isaaclab_tasks_and_survives_reimport(tmp_path):
    """Import isaaclab_tasks, drop every module whose name contains "lab" (what IsaacLab's AppLauncher does while it
    starts Kit), import it again, put the old modules back: every rsl_rl task has each GenPO key exactly once."""
    require_sources()
    result = _run("""
        import contextlib, io, re
        with contextlib.redirect_stdout(io.StringIO()):
            import isaaclab_tasks
        import gymnasium as gym
        from isaaclab_tasks_ext.registration import AGENT_KEYS, agent_keys, entry_point

        def snapshot():
            rsl = sorted(s.id for s in gym.registry.values() if "rsl_rl_cfg_entry_point" in s.kwargs)
            ok = all(gym.spec(t).kwargs.get(k) == entry_point(t, k) for t in rsl for k in agent_keys(gym.spec(t).kwargs))
            counts = sorted({sum(1 for key in gym.spec(t).kwargs if key in AGENT_KEYS)
                             - len(agent_keys(gym.spec(t).kwargs)) for t in rsl})
            genpo = sorted(s.id for s in gym.registry.values() if any(k in s.kwargs for k in AGENT_KEYS))
            return {"rsl": len(rsl), "ok": ok, "counts": counts, "same_ids": genpo == rsl}

        first = snapshot()
        spec_before = gym.spec("Isaac-Velocity-Rough-Anymal-D-v0")
        # AppLauncher._create_app: hide every ".*lab.*" module, Kit may import isaaclab_tasks again, restore.
        pattern = re.compile(".*lab.*")
        hidden = {name: sys.modules.pop(name) for name in list(sys.modules) if pattern.match(name)}
        assert "isaaclab_tasks" in hidden and "isaaclab_tasks_ext._startup" in hidden
        with contextlib.redirect_stdout(io.StringIO()):
            import isaaclab_tasks
        reregistered = gym.spec("Isaac-Velocity-Rough-Anymal-D-v0") is not spec_before
        second = snapshot()
        sys.modules.update(hidden)
        third = snapshot()
        from isaaclab_tasks_ext.registration import register_genpo_agents
        again = register_genpo_agents()
        import isaaclab_tasks_ext._startup as startup
        startup.install(); startup.install()
        n_finders = sum(1 for f in sys.meta_path if getattr(f, "_genpo_rsl_isaaclab_hook", False))
        print(json.dumps({"first": first, "second": second, "third": third, "again": again,
                          "reregistered": reregistered, "finders": n_finders, "hook_modules": hook_modules}))
    """, tmp_path)
    for stage in ("first", "second", "third"):
        assert result[stage]["rsl"] > 0
        assert result[stage]["ok"] and result[stage]["same_ids"], (stage, result[stage])
        assert result[stage]["counts"] == [0], (stage, result[stage])  # each of a task's GenPO keys once
    assert result["first"]["rsl"] == result["second"]["rsl"] == result["third"]["rsl"]
    assert result["reregistered"], "the re-import should have replaced IsaacLab's specs (so the hook had to rerun)"
    assert result["again"] == []
    assert result["finders"] == 1
    assert set(result["hook_modules"]) <= {"isaaclab_tasks_ext", "isaaclab_tasks_ext._startup"}


def test_env_var_set_before_import_skips_registration(tmp_path):
    require_sources()
    result = _run("""
        import contextlib, io, os
        os.environ["GENPO_RSL_DISABLE_HOOK"] = "1"
        with contextlib.redirect_stdout(io.StringIO()):
            import isaaclab_tasks
        import gymnasium as gym
        n = sum(1 for s in gym.registry.values() if "genpo" in s.kwargs)
        rsl = sum(1 for s in gym.registry.values() if "rsl_rl_cfg_entry_point" in s.kwargs)
        print(json.dumps({"finders": len(finders), "genpo": n, "rsl": rsl}))
    """, tmp_path)
    assert result["finders"] == 1 and result["rsl"] > 0 and result["genpo"] == 0


def test_failing_registration_does_not_break_isaaclab_tasks(tmp_path):
    require_sources()
    result = _run("""
        import contextlib, io, types, warnings
        broken = types.ModuleType("isaaclab_tasks_ext.registration")
        def register_genpo_agents():
            raise RuntimeError("boom")
        broken.register_genpo_agents = register_genpo_agents
        sys.modules["isaaclab_tasks_ext.registration"] = broken
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("always")
            import isaaclab_tasks
        import gymnasium as gym
        print(json.dumps({"imported": "isaaclab_tasks" in sys.modules,
                          "rsl": sum(1 for s in gym.registry.values() if "rsl_rl_cfg_entry_point" in s.kwargs),
                          "warnings": [str(w.message) for w in caught if "genpo_rsl" in str(w.message)]}))
    """, tmp_path)
    assert result["imported"] and result["rsl"] > 0
    assert any("boom" in message for message in result["warnings"]), result["warnings"]


def test_isaaclab3_entry_point_module_registers_when_isaaclab_tasks_is_loaded(tmp_path):
    """IsaacLab 3.x loads ``isaaclab.tasks`` entry points with ``ep.load()``; here without the .pth hook (switched
    off at interpreter start, as the package's installed .pth would otherwise register first), after isaaclab_tasks
    was imported (``isaaclab list_envs`` order)."""
    require_sources()
    code = textwrap.dedent(f"""
        import contextlib, io, json, os, sys
        sys.path.insert(0, {str(REPO_ROOT / "tests" / "isaaclab")!r})
        import standins
        standins.install()
        with contextlib.redirect_stdout(io.StringIO()):
            import isaaclab_tasks
        import gymnasium as gym
        before = sum(1 for s in gym.registry.values() if "genpo" in s.kwargs)
        os.environ.pop("GENPO_RSL_DISABLE_HOOK")
        from importlib.metadata import EntryPoint
        EntryPoint(name="genpo_rsl", value="isaaclab_tasks_ext.tasks", group="isaaclab.tasks").load()
        after = sum(1 for s in gym.registry.values() if "genpo" in s.kwargs)
        rsl = sum(1 for s in gym.registry.values() if "rsl_rl_cfg_entry_point" in s.kwargs)
        print(json.dumps({{"before": before, "after": after, "rsl": rsl}}))
    """)
    proc = run_python(code, env_extra={"GENPO_RSL_DISABLE_HOOK": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["before"] == 0 and result["after"] == result["rsl"] > 0


def test_sources_helper_reports_where_to_fetch():
    assert "tools/fetch_isaaclab.sh" in standins.missing_reason()
