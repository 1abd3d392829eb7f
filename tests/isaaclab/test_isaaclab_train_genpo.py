"""IsaacLab 2.3.x's ``train.py``/``play.py --agent genpo`` end to end for the GenPO paper's eight tasks, on CPU.

For each task: IsaacLab's own config resolution (``hydra_task_config(task, "genpo")`` with the Hydra overrides a
user would type), the CLI flags applied as train.py applies them, rsl_rl's STOCK ``OnPolicyRunner`` built from
``agent_cfg.to_dict()`` on a stand-in VecEnv of the task's observation/action sizes, one ``learn`` iteration (which
saves the checkpoint), then play.py's path: the ``-Play-`` task's config, the checkpoint found by IsaacLab's
``get_checkpoint_path``, a fresh runner with ``log_dir=None``, ``runner.load``, ``get_inference_policy``.

IsaacLab 2.3.x builds rsl-rl-lib 3.x runners only (train.py requires >= 3.0.1, and its own PPO configs, which have
no ``actor``/``critic`` sections, cannot build an rsl-rl-lib 5.x runner either); these tests therefore run in the
3.0.1 and 3.1.2 worlds and skip in the 5.x world, whose IsaacLab is 3.x.
"""

from __future__ import annotations

import math

import pytest
import torch

from isaaclab_helpers import play_py, quiet, train_py

from genpo_rsl.compat import rsl_rl_major
from isaaclab_tasks_ext.tuned import PAPER_TASK_DIMS, PAPER_TASKS

pytestmark = pytest.mark.skipif(
    rsl_rl_major() != 3,
    reason="IsaacLab 2.3.x's train.py/play.py build rsl-rl-lib 3.x runners (its own PPO configs fail on 5.x too); "
           "rsl-rl-lib 5.x is IsaacLab 3.x's world",
)

#: What a user types to train briefly on CPU: ``train.py --task T --agent genpo --seed 3 --max_iterations 1
#: agent.device=cpu agent.num_steps_per_env=4 ... env.scene.num_envs=6``.
TRAIN_OVERRIDES = ("agent.device=cpu", "agent.num_steps_per_env=4", "agent.algorithm.num_learning_epochs=1",
                   "agent.algorithm.num_mini_batches=2", "agent.policy.num_steps=2", "env.scene.num_envs=6")
SEED = 3


def _play_task(task_id, registry):
    play_id = task_id.replace("-v0", "-Play-v0")
    return play_id if play_id in registry else task_id


@pytest.mark.parametrize("task_id", PAPER_TASKS)
def test_train_save_and_play(isaaclab_tasks, tmp_path, task_id):
    import gymnasium as gym

    from genpo_rsl.v3 import GenPO, GenPOActorCritic

    torch.set_num_threads(1)
    run = train_py(task_id, tmp_path, TRAIN_OVERRIDES, seed=SEED, max_iterations=1)
    runner, agent_cfg = run.runner, run.agent_cfg
    num_obs, num_actions = PAPER_TASK_DIMS[task_id]

    # The stock runner built GenPO from the strings in the config, with the overrides and CLI flags applied.
    assert type(runner.alg) is GenPO and type(runner.alg.policy) is GenPOActorCritic
    assert runner.alg.policy.obs_dim == num_obs and runner.alg.policy.action_dim == num_actions
    assert runner.alg.policy.flow.num_steps == 2
    assert run.env.num_envs == 6 and run.env_cfg.seed == agent_cfg.seed == SEED
    assert agent_cfg.experiment_name.endswith("_genpo")
    assert runner.current_learning_iteration == 0  # one iteration: 0

    # One iteration ran a PPO update and wrote the checkpoint and the tensorboard log.
    checkpoint = run.log_dir / "model_0.pt"
    assert checkpoint.is_file()
    assert list(run.log_dir.glob("events.out.tfevents.*"))
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert saved["iter"] == 0 and set(saved) >= {"model_state_dict", "optimizer_state_dict"}
    assert all(torch.isfinite(t).all() for t in saved["model_state_dict"].values())
    assert any(state for state in saved["optimizer_state_dict"]["state"].values()), "no optimizer step was taken"

    # play.py: the -Play- task's config, the latest checkpoint under the same experiment, a fresh runner. (play.py
    # resolves its config with the same hydra_task_config as train.py; attributes keep this test fast.)
    def play_overrides(cfg):  # what `agent.device=cpu agent.policy.num_steps=2` on play.py's command line sets
        cfg.device, cfg.policy.num_steps = "cpu", 2

    play = play_py(_play_task(task_id, gym.registry), tmp_path, edit_agent_cfg=play_overrides, num_envs=6)
    assert play["checkpoint"] == str(checkpoint)
    assert play["agent_cfg"].experiment_name == agent_cfg.experiment_name
    policy_nn = play["policy_nn"]
    assert type(policy_nn) is GenPOActorCritic and play["normalizer"] is policy_nn.actor_obs_normalizer
    assert policy_nn.actor[0].in_features == num_obs  # what isaaclab_rl's ONNX exporter reads

    # Deterministic inference of the loaded policy == the trained one, on the same observations.
    obs = run.env.get_observations()
    with torch.inference_mode():  # as play.py's loop
        trained = runner.get_inference_policy(device="cpu")(obs)
        loaded = play["policy"](obs)
        again = play["policy"](obs)
    assert trained.shape == (6, num_actions) and torch.isfinite(trained).all()
    torch.testing.assert_close(loaded, trained, rtol=0.0, atol=0.0)
    assert torch.equal(again, loaded)  # deterministic: same obs, same action
    policy_nn.reset(torch.ones(6, dtype=torch.bool))  # play.py's loop calls it (2.3.x)

    # The loaded weights matter: a runner that did not load the checkpoint acts differently.
    fresh = quiet(type(runner), play["env"], play["agent_cfg"].to_dict(), log_dir=None, device="cpu")
    with torch.inference_mode():
        assert not torch.allclose(fresh.get_inference_policy(device="cpu")(obs), trained)

    # play.py's step: the stand-in env takes the policy's actions.
    _, rewards, _, _ = play["env"].step(loaded)
    assert math.isfinite(float(rewards.mean()))
