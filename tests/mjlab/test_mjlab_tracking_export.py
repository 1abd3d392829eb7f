"""mjlab's motion-tracking runner exports GenPO's policy: its ``export_policy_to_onnx`` (``_OnnxMotionModel``, run
unchanged here) reads ``policy.input_size`` of ``actor.as_onnx()``, which GenPO's export module now has, and the
ONNX file it writes returns GenPO's deterministic action (checked with onnxruntime). A tracking env needs a motion
file, so the runner's exporter is driven directly with a small motion stand-in and the tracking twin's own config."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from tensordict import TensorDict

import mjlab  # noqa: F401  (loads the mjlab.tasks entry points, ours included)
from mjlab.tasks.registry import load_rl_cfg
from mjlab.tasks.tracking.rl import runner as tracking_runner

from genpo_rsl.v5 import GenPOActor

TWIN = "Mjlab-Tracking-Flat-Unitree-G1-GenPO"


def test_the_tracking_exporter_writes_genpos_policy(tmp_path):
    import onnxruntime

    cfg = load_rl_cfg(TWIN).actor
    settings = {k: v for k, v in vars(cfg).items() if k not in ("class_name", "hidden_dims", "activation",
                                                                "obs_normalization", "distribution_cfg")}
    obs_dim, action_dim, frames = 20, 6, 5
    torch.manual_seed(0)
    actor = GenPOActor(TensorDict({"actor": torch.zeros(2, obs_dim)}, batch_size=[2]), {"actor": ["actor"]}, "actor",
                       action_dim, hidden_dims=list(cfg.hidden_dims), activation=cfg.activation,
                       obs_normalization=cfg.obs_normalization, **settings).eval()
    motion = SimpleNamespace(**{name: torch.randn(frames, 3) for name in (
        "joint_pos", "joint_vel", "body_pos_w", "body_quat_w", "body_lin_vel_w", "body_ang_vel_w")})
    command = SimpleNamespace(motion=motion)
    runner = SimpleNamespace(  # what export_policy_to_onnx reads of the runner
        env=SimpleNamespace(unwrapped=SimpleNamespace(command_manager=SimpleNamespace(get_term=lambda name: command))),
        alg=SimpleNamespace(get_policy=lambda: actor))
    tracking_runner.MotionTrackingOnPolicyRunner.export_policy_to_onnx(runner, str(tmp_path), "policy.onnx")

    session = onnxruntime.InferenceSession(str(tmp_path / "policy.onnx"), providers=["CPUExecutionProvider"])
    obs = torch.randn(1, obs_dim, generator=torch.Generator().manual_seed(1))
    actions, joint_pos, *_ = session.run(None, {"obs": obs.numpy(), "time_step": np.array([[2.0]], np.float32)})
    with torch.no_grad():
        expected = actor(TensorDict({"actor": obs}, batch_size=[1])).numpy()
    np.testing.assert_allclose(actions, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(joint_pos, motion.joint_pos[2:3].numpy())
    assert np.abs(expected).max() > 1e-4
