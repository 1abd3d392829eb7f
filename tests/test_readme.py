"""README.md stays true: its rsl_rl config examples build and train with the stock runner in the installed world,
and its first two commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from genpo_rsl.compat import rsl_rl_major
from genpo_rsl.envs import PointReachVecEnv

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def config_example(world: int) -> str:
    marker = '"actor": {' if world >= 4 else '"policy": {'
    blocks = [b for b in python_blocks() if "cfg = {" in b and marker in b]
    assert len(blocks) == 1, f"expected one README config example for rsl_rl {world}.x, found {len(blocks)}"
    return blocks[0]


def test_readme_config_example_trains_with_stock_runner(tmp_path):
    from rsl_rl.runners import OnPolicyRunner

    namespace: dict = {}
    exec(config_example(rsl_rl_major()), namespace)
    cfg = namespace["cfg"]
    runner = OnPolicyRunner(PointReachVecEnv(num_envs=4, seed=0), cfg, log_dir=str(tmp_path), device="cpu")
    assert type(runner.alg).__name__ == "GenPO"
    runner.learn(num_learning_iterations=1)


def test_readme_opens_with_the_commands_ci_runs():
    commands = re.findall(r"```bash\n(.*?)```", README, flags=re.S)[0]
    assert "bash tools/install.sh && .venv/bin/genpo-train --task HalfCheetah-v5" in commands
    assert "bash tools/install.sh && bash tools/test.sh" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash tools/install.sh" in ci and "bash tools/test.sh" in ci


def test_the_api_page_names_flow_methods_that_exist():
    from genpo_rsl.flow import CoupledFlow

    api = (ROOT / "docs" / "api.md").read_text()
    for name in ("forward", "inverse", "log_prob", "sample", "act", "entropy"):
        assert hasattr(CoupledFlow, name)
        assert f"flow.{name}(" in api or name == "forward"


def test_readme_links_only_to_files_that_exist():
    """The front page and the docs pages link into docs/, bench/ and tests/: every relative link resolves."""
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+?)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"
