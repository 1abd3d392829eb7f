"""IsaacLab 2.3's ``play.py`` export path for ``--agent genpo``, with IsaacLab 2.3.2's real exporter.

``play.py`` (rsl-rl-lib 3.x) builds the stock ``OnPolicyRunner`` from the agent config, loads the checkpoint, takes
``runner.get_inference_policy()`` for the rollout and hands ``runner.alg.policy`` and its ``actor_obs_normalizer``
to ``isaaclab_rl.rsl_rl.export_policy_as_jit`` / ``export_policy_as_onnx`` (which script/export ``policy.actor``
after the normaliser and size the ONNX input from ``policy.actor[0].in_features``). These tests replay exactly those
steps on a CPU stand-in of the task's env. IsaacLab 3.x (rsl-rl-lib 5.x) calls the runner's own
``export_policy_to_jit/onnx`` instead: tests/test_export.py covers that.
"""

from __future__ import annotations

import os

import pytest
import torch

from genpo_rsl.compat import rsl_rl_major
from genpo_standin_vecenv import make_standin_env
from isaaclab_helpers import quiet

pytestmark = pytest.mark.skipif(
    rsl_rl_major() >= 4, reason="IsaacLab 2.3's play.py and exporter are for rsl-rl-lib 3.x; the 5.x world's "
                                "export path (IsaacLab 3.x) is tested in tests/test_export.py")

TASK = "Isaac-Velocity-Flat-Anymal-D-Play-v0"  # 48 observations x 12 actions
NUM_ENVS = 4


@pytest.fixture(scope="module")
def played_checkpoint(isaaclab_tasks, tmp_path_factory):
    """A GenPO checkpoint trained one iteration by the stock runner (normaliser on), then loaded the way play.py
    loads it. Returns (runner, env, checkpoint path)."""
    from isaaclab_tasks.utils.parse_cfg import load_cfg_from_registry
    from rsl_rl.runners import OnPolicyRunner

    agent_cfg = quiet(load_cfg_from_registry, TASK, "genpo")
    agent_cfg.policy.actor_obs_normalization = True  # the exports must carry the normaliser
    agent_cfg.num_steps_per_env = 8
    env = make_standin_env(TASK, num_envs=NUM_ENVS)
    torch.manual_seed(0)
    log_dir = str(tmp_path_factory.mktemp("logs"))
    trainer = quiet(OnPolicyRunner, env, agent_cfg.to_dict(), log_dir=log_dir, device="cpu")
    quiet(trainer.learn, num_learning_iterations=1)
    path = os.path.join(log_dir, "model_1.pt")
    trainer.save(path)

    runner = quiet(OnPolicyRunner, env, agent_cfg.to_dict(), log_dir=None, device="cpu")
    runner.load(path)
    return runner, env, path


def test_play_py_exports_genpo_with_isaaclab_exporter(played_checkpoint):
    from isaaclab_rl.rsl_rl import export_policy_as_jit, export_policy_as_onnx

    onnxruntime = pytest.importorskip("onnxruntime")
    runner, env, resume_path = played_checkpoint
    # --- play.py, rsl-rl-lib 3.x branch
    policy = runner.get_inference_policy(device=env.device)
    policy_nn = runner.alg.policy
    normalizer = policy_nn.actor_obs_normalizer
    export_model_dir = os.path.join(os.path.dirname(resume_path), "exported")
    export_policy_as_jit(policy_nn, normalizer=normalizer, path=export_model_dir, filename="policy.pt")
    export_policy_as_onnx(policy_nn, normalizer=normalizer, path=export_model_dir, filename="policy.onnx")
    obs = env.get_observations()
    with torch.inference_mode():
        actions = policy(obs)
    env.step(actions)
    # ---
    assert actions.shape == (NUM_ENVS, 12)  # the environment action (x + y) / 2, not the 24-dim dummy action
    with torch.inference_mode():
        assert torch.equal(policy(obs), actions)  # play.py's policy is the deterministic (zero-noise) one
    assert float(normalizer.mean.abs().max()) > 0.0  # trained statistics, so the normaliser matters below

    scripted = torch.jit.load(os.path.join(export_model_dir, "policy.pt"))
    torch.testing.assert_close(scripted(obs["policy"]), actions)

    # IsaacLab's ONNX export: batch size 1 (no dynamic axes) and, with torch's dynamo exporter, the weights in a
    # policy.onnx.data file beside policy.onnx: both files must be deployed together.
    assert {"policy.onnx", "policy.onnx.data"} <= set(os.listdir(export_model_dir))
    session = onnxruntime.InferenceSession(os.path.join(export_model_dir, "policy.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("obs", [1, 48])]
    for row in range(NUM_ENVS):
        out = session.run(["actions"], {"obs": obs["policy"][row : row + 1].numpy()})[0]
        assert float((torch.from_numpy(out) - actions[row : row + 1]).abs().max()) <= 1e-5
