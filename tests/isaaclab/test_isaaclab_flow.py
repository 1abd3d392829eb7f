"""The ``flow`` setting through IsaacLab 2.3.x's stock path: ``agent.policy.flow=multistep`` (and its coefficients)
as Hydra overrides, train.py's stock OnPolicyRunner, play.py's load, and bad values before training.

IsaacLab 2.3.x builds rsl-rl-lib 3.x runners only, so these run in the 3.0.1 and 3.1.2 worlds; IsaacLab 3.x's
``agent.actor.flow=multistep`` is covered by test_isaaclab3_train_genpo.py (its driver trains a multistep run).
"""

from __future__ import annotations

import pytest
import torch

from isaaclab_helpers import hydra_task_cfg, play_py, train_py

from genpo_rsl.compat import rsl_rl_major

pytestmark = pytest.mark.skipif(rsl_rl_major() != 3, reason="IsaacLab 2.3.x's train.py builds rsl-rl-lib 3.x runners")

TASK = "Isaac-Velocity-Flat-Anymal-D-v0"
TRAIN_OVERRIDES = ("agent.device=cpu", "agent.num_steps_per_env=4", "agent.algorithm.num_learning_epochs=1",
                   "agent.algorithm.num_mini_batches=2", "agent.policy.num_steps=2", "env.scene.num_envs=6")


def test_multistep_flow_trains_saves_and_plays(isaaclab_tasks, tmp_path):
    from genpo_rsl.flow import MultistepFlow

    torch.set_num_threads(1)
    run = train_py(TASK, tmp_path, (*TRAIN_OVERRIDES, "agent.policy.flow=multistep", "agent.policy.history_coef=0.95"),
                   seed=3, max_iterations=1)
    flow = run.runner.alg.policy.flow
    assert type(flow) is MultistepFlow and (flow.history_coef, flow.velocity_coef, flow.num_steps) == (0.95, 1.0, 2)
    assert run.agent_cfg.to_dict()["policy"]["flow"] == "multistep"
    checkpoint = run.log_dir / "model_0.pt"
    assert checkpoint.is_file()

    def play_overrides(cfg):  # `agent.device=cpu agent.policy.num_steps=2 agent.policy.flow=multistep ...`
        cfg.device, cfg.policy.num_steps, cfg.policy.flow, cfg.policy.history_coef = "cpu", 2, "multistep", 0.95

    play = play_py(TASK.replace("-v0", "-Play-v0"), tmp_path, edit_agent_cfg=play_overrides, num_envs=6)
    assert play["checkpoint"] == str(checkpoint)
    obs = run.env.get_observations()
    with torch.inference_mode():
        trained = run.runner.get_inference_policy(device="cpu")(obs)
        loaded = play["policy"](obs)
    torch.testing.assert_close(loaded, trained, rtol=0.0, atol=0.0)

    # The same checkpoint played with the paper's (coupled) agent: a clear error naming the override to type.
    from genpo_rsl.checkpoint import CheckpointError

    def coupled(cfg):
        cfg.device, cfg.policy.num_steps = "cpu", 2

    with pytest.raises(CheckpointError, match=r"multistep flow.*flow='coupled'.*agent\.policy\.flow=multistep"):
        play_py(TASK.replace("-v0", "-Play-v0"), tmp_path, agent="genpo_paper", edit_agent_cfg=coupled, num_envs=6)


@pytest.mark.parametrize("override,match", [
    ("agent.policy.flow=belm", r"policy\.flow: must be one of \['coupled', 'multistep'\]"),
    ("agent.policy.history_coef=1.5", r"policy\.history_coef: must be a number in \(0, 1\]"),
    ("agent.policy.velocity_coef=0.0", r"policy\.velocity_coef: must be a finite number > 0"),
])
def test_bad_flow_values_fail_before_training(isaaclab_tasks, tmp_path, override, match):
    overrides = (*TRAIN_OVERRIDES, "agent.policy.flow=multistep", override)
    with pytest.raises(ValueError, match=match):
        train_py(TASK, tmp_path, overrides, seed=3, max_iterations=1)


def test_flow_fields_are_hydra_overrides(isaaclab_tasks, tmp_path):
    _, agent_cfg = hydra_task_cfg(TASK, "genpo", ["agent.policy.flow=multistep", "agent.policy.velocity_coef=1.97"],
                                  tmp_path)
    assert (agent_cfg.policy.flow, agent_cfg.policy.velocity_coef, agent_cfg.policy.history_coef) == (
        "multistep", 1.97, 0.97)
