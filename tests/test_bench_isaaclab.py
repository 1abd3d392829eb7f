"""bench/isaaclab/compare.py without Isaac Sim: the commands it would launch (--dry-run), the results it builds from
tensorboard logs (--from-logs, on small synthetic event files written here), and a whole launch-and-report cycle
with a fake ``isaaclab.sh`` that writes such logs."""

from __future__ import annotations

import importlib.util
import json
import shlex
import stat
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PAPER_TASKS = ("Isaac-Ant-v0", "Isaac-Humanoid-v0", "Isaac-Lift-Cube-Franka-v0", "Isaac-Quadcopter-Direct-v0",
               "Isaac-Velocity-Flat-Anymal-D-v0", "Isaac-Velocity-Rough-Unitree-Go2-v0", "Isaac-Velocity-Rough-H1-v0",
               "Isaac-Repose-Cube-Shadow-Direct-v0")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Writes rsl_rl-style scalars with tensorboard's own event writer (no torch needed, so also usable by the fake
# launcher below): write_events(folder, {tag: [value per iteration]}).
WRITER_SOURCE = textwrap.dedent("""
    import time
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    def write_events(folder, scalars):
        writer = EventFileWriter(str(folder))
        for tag, values in scalars.items():
            for step, value in enumerate(values):
                summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(value))])
                writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))
        writer.close()
""")
_namespace: dict = {}
exec(WRITER_SOURCE, _namespace)
write_events = _namespace["write_events"]


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("bench_isaaclab_compare", REPO_ROOT / "bench" / "isaaclab" /
                                                  "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_logs(runs, task, algo, seed, stamp="2025-01-01_00-00-00"):
    """Where IsaacLab's train.py, launched in compare.py's run folder, puts a run's tensorboard files."""
    experiment = task.lower() + ("_genpo" if algo == "genpo" else "")
    return runs / task / algo / f"seed{seed}" / "logs" / "rsl_rl" / experiment / stamp


def test_task_list_is_the_papers(compare):
    assert tuple(compare.PAPER_TASKS) == PAPER_TASKS


def test_dry_run_prints_equal_budget_commands_and_writes_nothing(compare, tmp_path, capsys):
    out = tmp_path / "out"
    result = compare.main(["--isaaclab", "/opt/IsaacLab", "--seeds", "0", "1", "--max_iterations", "50",
                           "--num_envs", "128", "--out", str(out), "--dry-run"])
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("(cd ")]
    assert len(result["jobs"]) == len(printed) == 8 * 2 * 2
    assert not out.exists()
    by_key = {(job["task"], job["seed"], job["algo"]): job["cmd"] for job in result["jobs"]}
    train_py = "/opt/IsaacLab/scripts/reinforcement_learning/rsl_rl/train.py"
    for task in PAPER_TASKS:
        for seed in (0, 1):
            genpo, ppo = by_key[(task, seed, "genpo")], by_key[(task, seed, "ppo")]
            assert genpo[:3] == ppo[:3] == ["/opt/IsaacLab/isaaclab.sh", "-p", train_py]
            # The same command but for --agent genpo: same task, seed, iterations, envs, headless.
            assert [a for a in genpo if a not in ("--agent", "genpo")] == ppo
            assert genpo[genpo.index("--agent") + 1] == "genpo" and "--agent" not in ppo
            for flag, value in (("--task", task), ("--seed", str(seed)), ("--max_iterations", "50"),
                                ("--num_envs", "128")):
                assert ppo[ppo.index(flag) + 1] == value
            assert "--headless" in ppo
    assert len({job["cwd"] for job in result["jobs"]}) == len(result["jobs"])  # every run has its own folder
    for line, job in zip(printed, result["jobs"]):  # each printed line is the exact command, shell-quoted
        cwd, cmd = line[len("(cd "):-1].split(" && ", 1)
        assert shlex.split(cwd) == [str(out / "runs" / job["task"] / job["algo"] / f"seed{job['seed']}")]
        assert shlex.split(cmd) == job["cmd"]


def test_dry_run_for_isaaclab3_uses_its_cli_and_task_ids(compare, tmp_path, capsys):
    result = compare.main(["--isaaclab-version", "3", "--seeds", "0", "--out", str(tmp_path), "--dry-run"])
    jobs = result["jobs"]
    assert {job["task"] for job in jobs} == set(PAPER_TASKS) - {"Isaac-Quadcopter-Direct-v0"}
    assert "no such task" in capsys.readouterr().err
    for job in jobs:
        assert job["cmd"][:4] == ["isaaclab", "train", "--rl_library", "rsl_rl"]
        assert "--headless" not in job["cmd"] and "--max_iterations" not in job["cmd"]  # task's own budget
    ant = next(job["cmd"] for job in jobs if job["task"] == "Isaac-Ant-v0")
    assert ant[ant.index("--task") + 1] == "Isaac-Ant"


def test_dry_run_without_isaaclab_dir_is_an_error(compare, tmp_path):
    with pytest.raises(SystemExit, match="--isaaclab DIR"):
        compare.main(["--out", str(tmp_path), "--dry-run"])


def test_from_logs_builds_table_json_and_curves(compare, tmp_path):
    runs = tmp_path / "runs"
    iterations = 20
    for seed in (0, 1):
        for task in ("Isaac-Ant-v0", "Isaac-Quadcopter-Direct-v0"):
            write_events(_run_logs(runs, task, "genpo", seed), {
                "Train/mean_reward": [it + 10 * seed for it in range(iterations)],
                "Train/mean_reward/time": [-1000.0] * iterations,  # a different tag rsl_rl also writes: not read
                "Loss/value_function": [0.5] * iterations})
        write_events(_run_logs(runs, "Isaac-Ant-v0", "ppo", seed), {"Train/mean_reward": [-it for it in range(10)]})
    out = tmp_path / "results"
    result = compare.main(["--from-logs", str(runs), "--out", str(out)])

    # Final = mean of the last 10% of iterations: GenPO seed 0 -> (18 + 19) / 2, seed 1 -> 28.5; PPO -> -9 (1 point).
    ant = result["summary"]["Isaac-Ant-v0"]
    assert ant["genpo"] == {"final_mean": 23.5, "final_std": 5.0, "num_seeds": 2, "iterations": [20]}
    assert ant["ppo"] == {"final_mean": -9.0, "final_std": 0.0, "num_seeds": 2, "iterations": [10]}
    assert set(result["summary"]["Isaac-Quadcopter-Direct-v0"]) == {"genpo"}
    assert result["runs"]["Isaac-Ant-v0"]["genpo"][1]["values"] == [float(it + 10) for it in range(iterations)]
    assert result["runs"]["Isaac-Ant-v0"]["genpo"][1]["best"] == 29.0

    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["summary"] == json.loads(json.dumps(result["summary"]))
    table = (out / "results.md").read_text()
    assert "| Isaac-Ant-v0 | 23.50 ± 5.00 (n=2) | -9.00 ± 0.00 (n=2) | +32.50 | 10, 20 |" in table
    assert "| Isaac-Quadcopter-Direct-v0 | 23.50 ± 5.00 (n=2) | -- | -- | 20 |" in table
    assert "| Isaac-Humanoid-v0 | -- | -- | -- | -- |" in table
    for name in ("Isaac-Ant-v0.png", "Isaac-Quadcopter-Direct-v0.png", "all.png"):
        data = (out / "curves" / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000, name
    assert not (out / "curves" / "Isaac-Humanoid-v0.png").exists()


def test_from_logs_uses_the_newest_run_of_a_seed(compare, tmp_path):
    runs = tmp_path / "runs"
    write_events(_run_logs(runs, "Isaac-Ant-v0", "genpo", 0, stamp="2025-01-01_00-00-00"), {"Train/mean_reward": [1.0]})
    write_events(_run_logs(runs, "Isaac-Ant-v0", "genpo", 0, stamp="2025-01-02_00-00-00"), {"Train/mean_reward": [7.0]})
    result = compare.main(["--from-logs", str(runs), "--out", str(tmp_path / "out"), "--tasks", "Isaac-Ant-v0"])
    run = result["runs"]["Isaac-Ant-v0"]["genpo"][0]
    assert run["final"] == 7.0 and run["log_dir"].endswith("2025-01-02_00-00-00")


def test_from_logs_errors(compare, tmp_path):
    with pytest.raises(SystemExit, match="no tensorboard event files"):
        compare.main(["--from-logs", str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    runs = tmp_path / "runs"
    write_events(_run_logs(runs, "Isaac-Ant-v0", "ppo", 0), {"Loss/surrogate": [0.1, 0.2]})
    with pytest.raises(ValueError, match="no scalar 'Train/mean_reward'"):
        compare.main(["--from-logs", str(runs), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out" / "results.json").exists()


def test_launch_then_report_with_a_fake_isaaclab(compare, tmp_path):
    """The whole cycle with a stand-in ``isaaclab.sh -p train.py`` that logs like rsl_rl: runs are launched in their
    own folders with the flags of the plan, a failing run is reported, and finished runs are not launched again."""
    isaaclab = tmp_path / "IsaacLab"
    isaaclab.mkdir()
    fake_train = isaaclab / "fake_train.py"
    fake_train.write_text(WRITER_SOURCE + textwrap.dedent("""
        import argparse, os, sys
        parser = argparse.ArgumentParser()
        for flag in ("--task", "--agent", "--seed", "--max_iterations"):
            parser.add_argument(flag)
        args, rest = parser.parse_known_args()
        assert rest == ["--headless"], rest
        with open(os.path.join(os.path.dirname(__file__), "launches.txt"), "a") as f:
            f.write(f"{os.getcwd()} {args.agent} {args.seed}\\n")
        if args.agent == "genpo" and args.seed == "1":
            sys.exit(3)  # one run fails
        offset = 100 if args.agent == "genpo" else 0
        write_events(os.path.join("logs", "rsl_rl", "exp", "2025-01-01_00-00-00"),
                     {"Train/mean_reward": [offset + i for i in range(int(args.max_iterations))]})
    """))
    script = isaaclab / "isaaclab.sh"
    script.write_text(f'#!/bin/sh\n# isaaclab.sh -p <script> <args>\nshift\nshift\nexec {shlex.quote(sys.executable)} '
                      f'{shlex.quote(str(fake_train))} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / "out"
    argv = ["--isaaclab", str(isaaclab), "--tasks", "Isaac-Ant-v0", "--seeds", "0", "1", "--max_iterations", "4",
            "--out", str(out)]
    with pytest.raises(SystemExit, match="1 run"):
        compare.main(argv)
    launches = (isaaclab / "launches.txt").read_text().splitlines()
    assert len(launches) == 4
    assert f"{out / 'runs' / 'Isaac-Ant-v0' / 'ppo' / 'seed0'} None 0" in launches
    assert (out / "runs" / "Isaac-Ant-v0" / "genpo" / "seed0" / "done").is_file()
    assert not (out / "runs" / "Isaac-Ant-v0" / "genpo" / "seed1" / "done").exists()
    results = json.loads((out / "results.json").read_text())
    assert results["summary"]["Isaac-Ant-v0"]["genpo"]["final_mean"] == 103.0
    assert results["summary"]["Isaac-Ant-v0"]["ppo"]["num_seeds"] == 2
    assert results["missing"] == [str(out / "runs" / "Isaac-Ant-v0" / "genpo" / "seed1")]

    # Second call: only the failed run is launched again (and fails again).
    with pytest.raises(SystemExit, match="1 run"):
        compare.main(argv)
    launches = (isaaclab / "launches.txt").read_text().splitlines()
    assert launches[4:] == [f"{out / 'runs' / 'Isaac-Ant-v0' / 'genpo' / 'seed1'} genpo 1"]
    assert (out / "runs" / "Isaac-Ant-v0" / "genpo" / "seed1" / "train.log").is_file()
