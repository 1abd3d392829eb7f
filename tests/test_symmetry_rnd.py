"""Symmetry (data augmentation, mirror loss) and RND with GenPO, in whichever rsl_rl world is installed.

The task's mirror function sees only A-dim actions; augmented samples are exact doubled actions of the mirrored
states (each A-dim part mirrored alike) and their log-probs are the flow's own; the mirror loss compares deterministic
executed actions; RND trains and resumes; bad symmetry and RND configs fail before training, naming the field.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch
from tensordict import TensorDict

from genpo_rsl.compat import register, rsl_rl_major
from genpo_rsl.envs import make_env, symmetry_cfg
from genpo_rsl.envs.toy import point_reach_symmetric_states
from genpo_rsl.flow import FLOWS, make_flow
from genpo_rsl.ppo_common import DoubledActionSymmetry
from genpo_rsl.scripts import train
from genpo_rsl.train_config import build_runner_cfg, task_settings
from genpo_rsl.world import adapter

MAJOR = rsl_rl_major()
KINDS = sorted(FLOWS)
SMALL = ["--task", "toy/PointReach", "--num-envs", "4", "--max-iterations", "2", "policy.hidden_dims=[16,16]",
         "policy.time_embed_dim=8", "policy.time_hidden_dims=[8]", "num_steps_per_env=8"]
ACTION_SIGN = torch.tensor([-1.0, 1.0])  # toy/PointReach's mirror: x -> -x


def small_runner(flow: str, symmetry: dict | None, rnd: dict | None = None, num_envs: int = 4):
    """A stock OnPolicyRunner of GenPO on toy/PointReach with the given symmetry / RND config."""
    from rsl_rl.runners import OnPolicyRunner

    register()
    settings = task_settings("toy/PointReach", {"num_envs": num_envs, "num_steps_per_env": 8, "hidden_dims": [16, 16],
                                                "flow": {"flow": flow, "time_embed_dim": 8, "time_hidden_dims": [8]}})
    cfg = build_runner_cfg("genpo", settings)
    cfg["algorithm"]["symmetry_cfg"], cfg["algorithm"]["rnd_cfg"] = symmetry, rnd
    torch.manual_seed(0)
    env = make_env("toy/PointReach", num_envs=num_envs, seed=0)
    with contextlib.redirect_stdout(io.StringIO()):
        runner = OnPolicyRunner(env, cfg, log_dir=None, device="cpu")
    if hasattr(runner, "disable_logs"):
        runner.disable_logs = True  # rsl_rl 3.x stores its code state under log_dir even when that is None
    return runner


def learn(runner, iterations: int = 2) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        runner.learn(iterations)


@pytest.mark.parametrize("kind", KINDS)
def test_the_mirror_function_only_sees_action_dim_actions_and_augmented_log_probs_are_the_flows(kind):
    seen: list[tuple[int, ...]] = []

    def recording(env=None, obs=None, actions=None):
        if actions is not None:
            seen.append(tuple(actions.shape))
        return point_reach_symmetric_states(env=env, obs=obs, actions=actions)

    runner = small_runner(kind, {"use_data_augmentation": True, "use_mirror_loss": True, "mirror_loss_coeff": 0.5,
                                 "data_augmentation_func": recording})
    flow = adapter().policy_module(runner).flow
    calls = []
    original_log_prob = flow.log_prob

    def log_prob(context, dummy):  # what the update scores: the contexts and doubled actions it is given
        calls.append((context.detach().clone(), dummy.detach().clone()))
        return original_log_prob(context, dummy)

    flow.log_prob = log_prob
    learn(runner)
    assert seen and all(shape[1] == 2 for shape in seen), seen  # A = 2, never the doubled 4
    assert calls
    for context, dummy in calls:
        n = context.shape[0] // 2
        # The second half: each A-dim part of the first half's doubled actions, mirrored alike.
        parts = flow.action_parts(dummy[:n])
        expected = flow.join_action_parts([part * ACTION_SIGN for part in parts])
        torch.testing.assert_close(dummy[n:], expected, rtol=0, atol=0)
        torch.testing.assert_close(flow.executed_action(dummy[n:]), flow.executed_action(dummy[:n]) * ACTION_SIGN)


@pytest.mark.parametrize("kind", KINDS)
def test_an_equivariant_policy_has_zero_mirror_loss_and_the_reused_log_probs_are_exact(kind):
    torch.manual_seed(1)
    flow = make_flow(2, 6, kind, num_steps=3, hidden_dims=[16, 16], time_embed_dim=8, time_hidden_dims=[8])
    symmetry = DoubledActionSymmetry(point_reach_symmetric_states, use_data_augmentation=True, use_mirror_loss=True,
                                     mirror_loss_coeff=1.0)
    obs = TensorDict({"policy": torch.randn(32, 6)}, batch_size=[32])
    contexts = symmetry.mirrored_observations(obs)["policy"]  # the identity context: the raw observation
    assert symmetry.mirror_loss(flow, contexts, 32) > 1e-6  # a generic network is not equivariant

    # Equivariant by construction: the velocity is a constant that the mirror leaves alone (0 in x, b in y), so
    # the flow commutes with x -> -x and the deterministic action (0, c) is its own mirror image.
    last = flow.velocity.trunk[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, 0.7]))
    loss = symmetry.mirror_loss(flow, contexts, 32)
    assert loss.item() < 1e-12 and loss.requires_grad  # trained, not only logged (use_mirror_loss)
    dummy, log_prob = flow.sample(obs["policy"])
    augmented_obs, augmented, old = symmetry.augment(flow, obs, dummy, log_prob)
    # rsl_rl reuses the originals' old log-probs for the mirrored samples: exact for an equivariant policy.
    torch.testing.assert_close(flow.log_prob(augmented_obs["policy"][32:], augmented[32:]), old[32:], atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(old[32:], log_prob)


def test_the_mirror_loss_is_logged_not_trained_unless_asked():
    flow = make_flow(2, 6, "coupled", num_steps=2, hidden_dims=[8], time_embed_dim=4, time_hidden_dims=[4])
    logged = DoubledActionSymmetry(point_reach_symmetric_states, use_data_augmentation=True)
    obs = TensorDict({"policy": torch.randn(8, 6)}, batch_size=[8])
    loss = logged.mirror_loss(flow, logged.mirrored_observations(obs)["policy"], 8)
    assert loss.item() > 0 and not loss.requires_grad


@pytest.mark.parametrize("mode", ["augmentation", "mirror_loss", "both"])
def test_genpo_train_symmetry_flag_trains_records_and_resumes(tmp_path, mode):
    folder = tmp_path / mode
    with contextlib.redirect_stdout(io.StringIO()) as out:
        final = train.run([*SMALL, "--symmetry", mode, "--log-dir", str(folder)])
    assert "symmetry" in out.getvalue()  # the update's log: rsl_rl's "symmetry" loss entry
    run = json.loads((folder / "run.json").read_text())
    assert run["symmetry"] == mode
    assert run["train_cfg"]["algorithm"]["symmetry_cfg"] == symmetry_cfg("toy/PointReach", mode)
    with contextlib.redirect_stdout(io.StringIO()):
        resumed = train.run(["--resume", final, "--max-iterations", "1"])
    assert torch.load(resumed, map_location="cpu", weights_only=False)["iter"] > 0


def test_rnd_trains_saves_and_resumes(tmp_path):
    rnd = "algorithm.rnd_cfg={num_outputs: 4, predictor_hidden_dims: [8], target_hidden_dims: [8], weight: 0.5}"
    with contextlib.redirect_stdout(io.StringIO()) as out:
        final = train.run([*SMALL, rnd, "--log-dir", str(tmp_path / "rnd")])
    assert "rnd" in out.getvalue()
    saved = torch.load(final, map_location="cpu", weights_only=False)
    assert "rnd_state_dict" in saved and "rnd_optimizer_state_dict" in saved
    predictor = {k: v for k, v in saved["rnd_state_dict"].items() if k.startswith("predictor.")}
    with contextlib.redirect_stdout(io.StringIO()):
        resumed = train.run(["--resume", final, "--max-iterations", "1"])
    again = torch.load(resumed, map_location="cpu", weights_only=False)
    assert again["iter"] > saved["iter"]
    # The predictor kept training after the resume (it was restored, then stepped by its own optimizer).
    assert any(not torch.equal(again["rnd_state_dict"][k], v) for k, v in predictor.items())


def test_our_envs_give_rsl_rl_the_step_dt_rnd_scales_by():
    env = make_env("Pendulum-v1", num_envs=2, seed=0)
    try:
        assert env.unwrapped is env and env.step_dt == pytest.approx(0.05)
    finally:
        env.close()
    assert make_env("toy/PointReach", num_envs=2).unwrapped.step_dt == pytest.approx(0.1)


def test_stock_ppo_with_rnd_builds_on_the_gymnasium_adapter():
    """rsl_rl's resolve_rnd_config reads env.unwrapped.step_dt; GymnasiumVecEnv used to lack it."""
    from rsl_rl.runners import OnPolicyRunner

    settings = task_settings("Pendulum-v1", {"num_envs": 2, "num_steps_per_env": 4, "hidden_dims": [8]})
    cfg = build_runner_cfg("ppo", settings)
    cfg["algorithm"]["rnd_cfg"] = {"num_outputs": 4, "predictor_hidden_dims": [8], "target_hidden_dims": [8],
                                   "weight": 1.0}
    env = make_env("Pendulum-v1", num_envs=2, seed=0)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runner = OnPolicyRunner(env, cfg, log_dir=None, device="cpu")
        assert runner.alg.rnd.initial_weight == pytest.approx(0.05)  # 1.0 x Pendulum's 0.05 s
    finally:
        env.close()


@pytest.mark.parametrize("bad, message", [
    # mirrored observations but not actions: 2 copies against 1
    (lambda env=None, obs=None, actions=None: (point_reach_symmetric_states(env, obs)[0], actions), r"k copies"),
    # doubled actions handed back (what a mirror written for the 2A action would do)
    (lambda env=None, obs=None, actions=None: (point_reach_symmetric_states(env, obs)[0],
                                               None if actions is None else torch.zeros(2 * len(actions), 4)),
     r"actions of shape \(k \* \d+, 2\)"),
    (lambda env=None, obs=None, actions=None: obs, r"a pair \(obs, actions\)"),
])
def test_a_wrong_mirror_function_fails_before_training_naming_the_field(bad, message):
    with pytest.raises(ValueError, match=r"algorithm\.symmetry_cfg\.data_augmentation_func: .*" + message):
        runner = small_runner("multistep", {"use_data_augmentation": True, "data_augmentation_func": bad})
        learn(runner, 1)  # rsl_rl 3.x builds storage (where the function is checked) in the runner's constructor


@pytest.mark.parametrize("config, message", [
    ({"num_outputs": 4, "weight": 1.0}, r"algorithm\.rnd_cfg: missing predictor_hidden_dims, target_hidden_dims"),
    ({"num_outputs": 4, "predictor_hidden_dims": [8], "target_hidden_dims": [8], "weight": float("nan")},
     r"algorithm\.rnd_cfg\.weight"),
])
def test_a_bad_rnd_config_fails_before_training_naming_the_field(config, message):
    with pytest.raises(ValueError, match=message):
        small_runner("coupled", None, rnd=config)


def test_bad_symmetry_settings_and_tasks_without_a_mirror_are_named(capsys):
    with pytest.raises(ValueError, match=r"symmetry_cfg\.data_augmentation_func: missing"):
        small_runner("coupled", {"use_data_augmentation": True})
    with pytest.raises(ValueError, match=r"symmetry_cfg\.use_mirror_loss: must be true or false"):
        small_runner("coupled", {"use_mirror_loss": "yes", "data_augmentation_func": point_reach_symmetric_states})
    with pytest.raises(ValueError, match=r"cannot import 'no_such_module:mirror'"):
        small_runner("coupled", {"use_data_augmentation": True, "data_augmentation_func": "no_such_module:mirror"})
    code = train.main(["--task", "toy/TwoGoalReach", "--symmetry", "augmentation", "--max-iterations", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "has no mirror function" in err and "toy/PointReach" in err


@pytest.mark.skipif(MAJOR == 3, reason="rsl_rl 3.x's GenPOActorCritic has no recurrent form to refuse")
def test_symmetry_with_a_recurrent_critic_is_refused():
    from rsl_rl.runners import OnPolicyRunner

    register()
    settings = task_settings("toy/PointReach", {"num_envs": 4, "num_steps_per_env": 8, "hidden_dims": [16]})
    cfg = build_runner_cfg("genpo", settings)
    cfg["critic"] = {**cfg["critic"], "class_name": "RNNModel", "rnn_type": "gru", "rnn_hidden_dim": 8,
                     "rnn_num_layers": 1}
    cfg["algorithm"]["symmetry_cfg"] = symmetry_cfg("toy/PointReach", "augmentation")
    env = make_env("toy/PointReach", num_envs=4)
    with pytest.raises(ValueError, match=r"algorithm\.symmetry_cfg: .*recurrent"), \
            contextlib.redirect_stdout(io.StringIO()):
        OnPolicyRunner(env, cfg, log_dir=None, device="cpu")
