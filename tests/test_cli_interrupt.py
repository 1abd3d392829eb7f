"""Ctrl-C during genpo-train, with real signals to a training subprocess: the interrupted iteration is saved as
model_<iteration>.pt, the printed --resume command finishes the run, and the result equals an uninterrupted run
bit for bit (toy env, CPU: its state is in the checkpoint). A second signal quits at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest
import torch

ITERATIONS = 40
# Tiny networks, short rollouts: each iteration takes a fraction of a second, so the signal lands mid-run.
ARGS = ["--task", "toy/PointReach", "--num-envs", "8", "--max-iterations", str(ITERATIONS), "--seed", "3",
        "policy.hidden_dims=[16,16]", "policy.num_steps=2", "policy.time_embed_dim=8", "policy.time_hidden_dims=[8]",
        "num_steps_per_env=8", "save_interval=1000"]
TRAIN = [sys.executable, "-m", "genpo_rsl.scripts.train"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def start(argv: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen([*TRAIN, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    # A one-page pipe: the child blocks on its log output a few iterations after the last line read here, so it
    # cannot run to the end of training while this process waits for the CPU (the log is ~1.5 KB per iteration).
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(proc.stdout.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
    return proc


def read_until(proc: subprocess.Popen, pattern: str, timeout: float = 300.0) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
        assert time.monotonic() < deadline, "".join(seen[-20:])
    raise AssertionError(f"{pattern!r} never printed; exit {proc.wait()}:\n{''.join(seen[-30:])}")


def actor_weights(path: str) -> dict[str, torch.Tensor]:
    saved = torch.load(path, weights_only=False)
    return saved.get("actor_state_dict") or saved["model_state_dict"]


def test_sigint_saves_the_iteration_and_the_printed_command_resumes_it_exactly(tmp_path):
    straight = subprocess.run([*TRAIN, *ARGS, "--log-dir", str(tmp_path / "straight")], capture_output=True,
                              text=True, env=ENV)
    assert straight.returncode == 0, straight.stdout[-2000:] + straight.stderr[-2000:]

    log_dir = tmp_path / "interrupted"
    proc = start([*ARGS, "--log-dir", str(log_dir)])
    read_until(proc, r"Learning iteration 3/")
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 130, output[-3000:]
    assert "SIGINT received: finishing this iteration" in output and "Traceback" not in output
    saved = re.search(r"stopped after iteration (\d+) \(SIGINT\); saved (\S+)", output)
    assert saved, output[-3000:]
    iteration, checkpoint = int(saved.group(1)), saved.group(2)
    assert 3 <= iteration < ITERATIONS - 1 and checkpoint == str(log_dir / f"model_{iteration}.pt")
    assert torch.load(checkpoint, weights_only=False)["iter"] == iteration  # rsl_rl's numbering
    assert not any(name.endswith(".tmp") for name in os.listdir(log_dir))  # written atomically

    command = shlex.split(output.split("resume with:")[1].strip().splitlines()[0])
    assert command[0] == "genpo-train" and command[command.index("--resume") + 1] == checkpoint
    assert command[-1] == f"max_iterations={ITERATIONS - iteration - 1}"
    resumed = subprocess.run([*TRAIN, *command[1:]], capture_output=True, text=True, env=ENV)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]

    expected = actor_weights(str(tmp_path / "straight" / "model_final.pt"))
    got = actor_weights(str(log_dir / "model_final.pt"))
    assert expected.keys() == got.keys()
    assert [key for key in expected if not torch.equal(expected[key], got[key])] == []
    assert torch.load(str(log_dir / "model_final.pt"), weights_only=False)["iter"] == ITERATIONS - 1


def test_a_second_signal_quits_at_once(tmp_path):
    # Longer iterations (more envs and steps), so that the second signal comes before the first iteration ends.
    proc = start(["--task", "toy/PointReach", "--num-envs", "256", "--max-iterations", "50", "num_steps_per_env=64",
                  "--log-dir", str(tmp_path)])
    read_until(proc, r"Learning iteration 1/")
    proc.send_signal(signal.SIGTERM)  # as a cluster scheduler sends it
    read_until(proc, r"SIGTERM received")
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output[-3000:]
    assert "genpo-train: interrupted" in output and "resume with" not in output and "Traceback" not in output


def test_ctrl_c_while_the_console_script_imports_is_one_line_and_status_130(monkeypatch, capsys):
    """genpo_cli (the console scripts' entry) imports genpo_rsl (torch, rsl_rl: seconds) under a Ctrl-C guard."""
    import importlib

    import genpo_cli

    def interrupted(name):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib, "import_module", interrupted)
    assert genpo_cli.train() == 130
    assert capsys.readouterr().err == "genpo-train: interrupted\n"
    monkeypatch.undo()
    monkeypatch.setattr("sys.argv", ["genpo-play", "--help"])  # the real import: the command runs (its --help)
    assert genpo_cli.play() == 0 and "usage: genpo-play" in capsys.readouterr().out
