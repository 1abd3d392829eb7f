"""No import circles in genpo_rsl, and every module imports first in a fresh interpreter.

The static check reads every module's imports (also those inside functions, which run later but still tie the
modules together): genpo_rsl.compat's register() imports the adapters, so nothing the adapters import may import
genpo_rsl.compat, and genpo_rsl.world, which says which rsl_rl world is installed, imports nothing of genpo_rsl.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

from genpo_rsl.world import rsl_rl_major

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "genpo_rsl"


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: pathlib.Path) -> set[str]:
    """The genpo_rsl modules ``name`` imports anywhere in its source (``from . import x`` counts as module x)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in MODULES)
    # The package itself (genpo_rsl/__init__) runs before any of its submodules, and reading its attributes at call
    # time (e.g. __version__) ties nothing together: only edges between submodules count.
    found.discard("genpo_rsl")
    return found - {name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_module_graph_has_no_circle():
    graph = {name: imported_modules(name, path) for name, path in MODULES.items()}
    # the graph sees function-level imports (register() imports the adapter's classes inside the function)
    assert "genpo_rsl.v3" in graph["genpo_rsl.v3.world"] and "genpo_rsl.v5" in graph["genpo_rsl.v5.world"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    # Control: a circle (config imports the flows; a flow importing config back) is found.
    graph["genpo_rsl.flow"].add("genpo_rsl.config")
    assert find_cycle(graph) is not None


# The layers, lowest first: a module may import its own layer's and lower layers' modules, never a higher one's.
LAYERS = (
    ("genpo_rsl.flow",),
    ("genpo_rsl.world", "genpo_rsl.config", "genpo_rsl.objective", "genpo_rsl.ppo_common"),
    ("genpo_rsl.v3", "genpo_rsl.v5", "genpo_rsl.checkpoint", "genpo_rsl.export", "genpo_rsl.overrides",
     "genpo_rsl.compat", "genpo_rsl.hints"),
    ("genpo_rsl.runner", "genpo_rsl.envs", "genpo_rsl.train_config", "genpo_rsl.video", "genpo_rsl.rundir"),
    ("genpo_rsl.demos", "genpo_rsl.integrations"),
    ("genpo_rsl.scripts",),
)


def layer_of(name: str) -> int | None:
    for index, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return index
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{name} -> {target}" for name, targets in sorted(graph.items()) for target in sorted(targets)
            if layer_of(target) is None or layer_of(target) > layer_of(name)]


def test_layers_point_down():
    graph = {name: imported_modules(name, path) for name, path in MODULES.items() if name != "genpo_rsl"}
    unplaced = [name for name in graph if layer_of(name) is None]
    assert not unplaced, f"put these modules into a layer: {unplaced}"
    assert upward_imports(graph) == []
    # Control: a lower layer importing a higher one (demos -> scripts, as it once did) is caught.
    graph["genpo_rsl.demos.policy"].add("genpo_rsl.scripts.common")
    assert upward_imports(graph) == ["genpo_rsl.demos.policy -> genpo_rsl.scripts.common"]


def test_the_world_module_imports_nothing_of_genpo_rsl():
    assert imported_modules("genpo_rsl.world", MODULES["genpo_rsl.world"]) == set()
    for name in ("genpo_rsl.checkpoint", "genpo_rsl.overrides", "genpo_rsl.config"):
        assert not imported_modules(name, MODULES[name]) & {"genpo_rsl.compat", "genpo_rsl.v3", "genpo_rsl.v5"}
    # A checkpoint's messages name their fix through genpo_rsl.hints, not through the override parser.
    assert "genpo_rsl.overrides" not in imported_modules("genpo_rsl.checkpoint", MODULES["genpo_rsl.checkpoint"])


OTHER_WORLD = "genpo_rsl.v5" if rsl_rl_major() == 3 else "genpo_rsl.v3"
# Each module is imported first in a forked child of an interpreter that has loaded the third-party packages but
# nothing of genpo_rsl: the same import order as a fresh interpreter, without paying torch's import per module.
FORK_IMPORTS = """
import importlib, os, sys, traceback
import numpy, torch, tensordict, gymnasium, rsl_rl.runners  # third-party only: loaded once, shared by the children
assert not any(m.startswith("genpo_rsl") for m in sys.modules)
for name in sys.argv[1:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(name)
            result = "ok"
        except ModuleNotFoundError as error:  # an optional third-party package (Genesis, mjlab, ...) is absent
            result = "ok" if (error.name or "").split(".")[0] != "genpo_rsl" else traceback.format_exc()
        except BaseException:
            result = traceback.format_exc()
        os.write(write, result.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as stream:
        result = stream.read()
    os.waitpid(pid, 0)
    if result != "ok":
        print(f"{name} failed to import first:\\n{result}")
print("done")
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_each_module_imports_first():
    names = [n for n in MODULES if not n.startswith(OTHER_WORLD)]
    proc = subprocess.run([sys.executable, "-c", FORK_IMPORTS, *names], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout == "done\n", proc.stdout[-4000:] + proc.stderr[-3000:]
    assert len(names) > 20  # the walk found the package
