"""GenPO twins through mjlab's own console scripts: list-envs, train, play, the ONNX file, bad values."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import torch
import yaml
from tensordict import TensorDict

from mjlab_helpers import CARTPOLE, CHEAP, HERE, VELOCITY, cli_env, output, run_cli

# mjlab 1.6.0's tasks whose policy observations include camera images (their actor is a CNN model).
IMAGE_TASKS = {"Mjlab-Lift-Cube-Yam-Depth", "Mjlab-Lift-Cube-Yam-Rgb", "Mjlab-Multi-Cube-Seg-Yam"}


def listed_tasks(**env: str) -> list[str]:
    result = run_cli("list-envs", **env)
    tasks = re.findall(r"^\|\s+\d+\s+\|\s+(\S+)\s+\|$", result.stdout, flags=re.M)
    # mjlab 1.6.0's list-envs returns the number of tasks it listed, which becomes its exit status.
    assert tasks and result.returncode == len(tasks) and "Traceback" not in result.stderr, output(result)
    return tasks


def test_list_envs_shows_a_twin_of_every_rsl_rl_task():
    tasks = listed_tasks()
    stock = [task for task in tasks if not task.endswith(("-GenPO", "-GenPO-Paper"))]
    assert CARTPOLE in stock and VELOCITY in stock, tasks
    for task in stock:
        if task in IMAGE_TASKS:
            assert task + "-GenPO" not in tasks
        else:
            assert task + "-GenPO" in tasks, f"{task} has no GenPO twin in {tasks}"
        # Locomotion twins have the robot recipe; the paper's GenPO is a second twin, of those tasks only.
        assert (task + "-GenPO-Paper" in tasks) == ("-Velocity-" in task), task
    velocity = [task for task in stock if "-Velocity-" in task]
    assert velocity and len(tasks) == 2 * len(stock) - len(IMAGE_TASKS) + len(velocity)


def test_disable_hook_switches_the_twins_off():
    tasks = listed_tasks(GENPO_RSL_DISABLE_HOOK="1")
    assert CARTPOLE in tasks
    assert not [task for task in tasks if task.endswith("-GenPO")]


def test_train_writes_a_genpo_checkpoint(cartpole_run):
    assert cartpole_run.parent.name == "cartpole_genpo"  # experiment name + "_genpo"
    assert {path.name for path in cartpole_run.glob("model_*.pt")} >= {"model_0.pt", "model_1.pt"}
    checkpoint = torch.load(cartpole_run / "model_1.pt", weights_only=False)
    actor = checkpoint["actor_state_dict"]
    assert "flow.velocity.in_context.weight" in actor and not any(key.startswith("mlp.") for key in actor)
    assert actor["flow.times"].shape == (5,)
    stamp = checkpoint["infos"]["genpo_rsl"]["flow"]  # the flow settings that are not weights
    assert (stamp["num_steps"], stamp["mix"]) == (5, 0.9)
    assert "env_state" in checkpoint["infos"]  # mjlab's own save still ran
    agent = yaml.unsafe_load((cartpole_run / "params" / "agent.yaml").read_text())
    assert agent["actor"]["class_name"] == "genpo_rsl.v5:GenPOActor" and agent["actor"]["flow"] == "coupled"
    assert agent["algorithm"]["class_name"] == "genpo_rsl.v5:GenPO"
    assert agent["algorithm"]["compression_coef"] == 0.05  # the command line's GenPO value


def test_genpo_diagnostics_are_logged_as_diagnostics_not_losses(cartpole_run):
    """mjlab's runner logs GenPO's kl, clip_fraction, ... under Diagnostics/, not as losses (Loss/kl); rsl_rl's own
    losses keep their tags."""
    events = b"".join(path.read_bytes() for path in cartpole_run.glob("events.out.tfevents.*"))
    assert events, f"no tensorboard file in {cartpole_run}"
    assert b"Diagnostics/kl" in events and b"Diagnostics/clip_fraction" in events
    assert b"Loss/kl" not in events and b"Loss/clip_fraction" not in events
    assert b"Loss/surrogate" in events and b"Loss/value" in events


def test_play_loads_the_checkpoint_and_runs_the_deterministic_policy(cartpole_run):
    checkpoint = cartpole_run / "model_1.pt"
    result = subprocess.run(
        [sys.executable, str(HERE / "play_driver.py"), "20", CARTPOLE + "-GenPO", "--agent", "trained",
         "--checkpoint-file", str(checkpoint), "--num-envs", "2", "--device", "cpu", "--viewer", "viser"],
        cwd=cartpole_run, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, output(result)
    line = next((line for line in result.stdout.splitlines() if line.startswith("PLAY_REPORT ")), None)
    assert line, output(result)
    report = json.loads(line[len("PLAY_REPORT "):])
    assert report["error"] is None, report["error"]
    assert report["steps"] == 20
    assert report["policy"] == "GenPOActor" and not report["training"]
    assert report["deterministic"] and report["finite"] and report["action_shape"] == [2, 1]


def test_velocity_twin_exports_genpo_policy_to_onnx(velocity_run):
    """The ONNX file mjlab's velocity runner writes at each save is GenPO's policy (multistep flow here)."""
    import onnxruntime

    from genpo_rsl.v5 import GenPOActor

    onnx_path = velocity_run / f"{velocity_run.name}.onnx"
    assert onnx_path.is_file(), sorted(p.name for p in velocity_run.iterdir())
    checkpoint = torch.load(sorted(velocity_run.glob("model_*.pt"))[-1], weights_only=False)
    agent = yaml.unsafe_load((velocity_run / "params" / "agent.yaml").read_text())
    settings = {key: value for key, value in agent["actor"].items() if key != "class_name"}
    assert settings["flow"] == "multistep"
    stamp = checkpoint["infos"]["genpo_rsl"]["flow"]  # --agent.actor.flow reached the actor
    assert "history_coef" in stamp and "mix" not in stamp
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (onnx_input,), (onnx_output,) = session.get_inputs(), session.get_outputs()
    obs_dim = onnx_input.shape[-1]
    action_dim = onnx_output.shape[-1]
    actor = GenPOActor(TensorDict({"actor": torch.zeros(1, obs_dim)}, batch_size=[1]), {"actor": ["actor"]}, "actor",
                       action_dim, **settings)
    actor.load_state_dict(checkpoint["actor_state_dict"])
    actor.eval()
    obs = torch.randn(1, obs_dim, generator=torch.Generator().manual_seed(0))  # mjlab exports a batch of 1
    with torch.no_grad():
        expected = actor(TensorDict({"actor": obs}, batch_size=[1])).numpy()
    (exported,) = session.run(None, {onnx_input.name: obs.numpy()})
    assert exported.shape == expected.shape == (1, 29)  # G1's 29 joints
    np.testing.assert_allclose(exported, expected, atol=1e-5, rtol=0)
    assert np.abs(expected).max() > 1e-3  # a real policy output, not zeros


def test_bad_genpo_value_fails_before_the_environment_is_built(tmp_path):
    result = run_cli("train", CARTPOLE + "-GenPO", *CHEAP, "--agent.actor.num-steps", "0", cwd=tmp_path)
    assert result.returncode != 0, output(result)
    text = " ".join((result.stdout + result.stderr).replace("│", " ").split())
    assert "GenPO actor: actor.num_steps: must be an integer in [1, 1000], got 0" in text, output(result)
    assert "Training with" not in result.stdout and not (tmp_path / "logs").exists(), output(result)
