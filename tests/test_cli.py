"""genpo-train and genpo-play, in-process, in whichever rsl_rl world is installed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from genpo_rsl.compat import rsl_rl_major
from genpo_rsl.scripts import play, train


@pytest.mark.parametrize("algo", ["genpo", "ppo"])
def test_train_then_play(tmp_path, algo):
    log_dir = tmp_path / algo
    final = train.run(["--task", "toy/PointReach", "--algo", algo, "--num-envs", "4", "--max-iterations", "2",
                       "--log-dir", str(log_dir)])
    run = json.loads((log_dir / "run.json").read_text())
    assert run["algo"] == algo and run["rsl_rl_major"] == rsl_rl_major()
    result = play.run(["--checkpoint", final, "--episodes", "3", "--deterministic"])
    assert len(result["returns"]) == 3 and all(r < 0 for r in result["returns"])  # PointReach pays -distance
    again = play.run(["--checkpoint", final, "--episodes", "3", "--deterministic"])
    assert again["returns"] == result["returns"]  # deterministic actions, same seed: same rollout


def test_play_rejects_missing_checkpoint_and_runless_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file"):
        play.run(["--checkpoint", str(tmp_path / "missing.pt")])
    stray = tmp_path / "model.pt"
    stray.write_bytes(b"not a checkpoint")
    with pytest.raises(FileNotFoundError, match="run.json"):
        play.run(["--checkpoint", str(stray)])


def test_console_scripts_exit_zero_and_print_usage():
    for module in ("genpo_rsl.scripts.train", "genpo_rsl.scripts.play"):
        proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and "usage" in proc.stdout


def test_train_rejects_bad_numbers(tmp_path):
    with pytest.raises(SystemExit):
        train.run(["--task", "toy/PointReach", "--num-envs", "0", "--log-dir", str(tmp_path)])
