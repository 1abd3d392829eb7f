"""The rsl_rl 3.x adapter (genpo_rsl.v3) against an installed rsl-rl-lib 3.0.1 or 3.1.x.

Runs only in a 3.x world: ``PYTHONPATH=.cache/rsl_rl-3.0.1 python -m pytest tests/test_rsl_rl_v3.py`` (the CI runs
every world). The world-independent runner and checkpoint tests are in test_runner_checkpoints.py.
"""

from __future__ import annotations

import copy
import glob
import importlib.util
import os

import pytest
import torch
import torch.nn as nn

from genpo_rsl.compat import register, rsl_rl_major, rsl_rl_version

if rsl_rl_major() != 3:
    pytest.skip(f"rsl_rl 3.x adapter tests; installed rsl-rl-lib is {rsl_rl_version()} (the CI runs the 3.x worlds "
                "with PYTHONPATH=.cache/rsl_rl-3.*)", allow_module_level=True)

import rsl_rl  # noqa: E402
import rsl_rl.runners.on_policy_runner as runner_module  # noqa: E402
from rsl_rl.modules import ActorCritic  # noqa: E402
from rsl_rl.runners import OnPolicyRunner  # noqa: E402
from tensordict import TensorDict  # noqa: E402

from genpo_rsl.checkpoint import CheckpointError  # noqa: E402
from genpo_rsl.envs.toy import PointReachVecEnv, ZeroCostVecEnv  # noqa: E402
from genpo_rsl.v3 import GenPO, GenPOActorCritic  # noqa: E402

register()

OBS_DIM, ACT_DIM, NUM_ENVS, STEPS = 5, 3, 8, 6
GROUPS = {"policy": ["policy"], "critic": ["policy"]}
POLICY = {"actor_hidden_dims": [16, 16], "critic_hidden_dims": [16], "activation": "elu",
          "actor_obs_normalization": True, "critic_obs_normalization": True,
          "num_steps": 3, "time_embed_dim": 8, "time_hidden_dims": [8]}


def make_cfg(**algorithm) -> dict:
    return {
        "num_steps_per_env": STEPS,
        "save_interval": 100,
        "obs_groups": copy.deepcopy(GROUPS),
        "policy": {"class_name": "rsl_rl.modules.GenPOActorCritic", **copy.deepcopy(POLICY)},
        "algorithm": {"class_name": "rsl_rl.algorithms.GenPO", "num_learning_epochs": 2, "num_mini_batches": 2,
                      "learning_rate": 1e-3, **algorithm},
    }


def make_obs(n: int = NUM_ENVS, dim: int = OBS_DIM, seed: int = 0) -> TensorDict:
    generator = torch.Generator().manual_seed(seed)
    return TensorDict({"policy": torch.randn(n, dim, generator=generator)}, batch_size=[n])


def make_policy(**overrides) -> GenPOActorCritic:
    return GenPOActorCritic(make_obs(), GROUPS, ACT_DIM, **{**POLICY, **overrides})


class RecordingEnv(ZeroCostVecEnv):
    """ZeroCostVecEnv that records the shape of every action it receives."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.action_shapes: list[tuple[int, ...]] = []

    def step(self, actions):
        self.action_shapes.append(tuple(actions.shape))
        return super().step(actions)


# ---------------------------------------------------------------------------------------------- class resolution
def test_class_name_strings_resolve_in_the_unmodified_runner_namespace():
    namespace = vars(runner_module)  # rsl_rl 3.x resolves class_name with eval() in this module
    assert eval("rsl_rl.modules.GenPOActorCritic", namespace) is GenPOActorCritic
    assert eval("rsl_rl.algorithms.GenPO", namespace) is GenPO
    assert issubclass(GenPOActorCritic, ActorCritic)
    assert issubclass(GenPO, rsl_rl.algorithms.PPO)


# ---------------------------------------------------------------------------------------------- policy
def test_policy_interface_shapes_and_exact_log_prob():
    policy = make_policy()
    obs = make_obs()
    dummy = policy.act(obs)
    assert dummy.shape == (NUM_ENVS, 2 * ACT_DIM)
    sampled_log_prob = policy._log_prob.clone()
    # The log-prob through the inverse flow equals the one taken from the sampled noise.
    torch.testing.assert_close(policy.get_actions_log_prob(dummy), sampled_log_prob, atol=1e-4, rtol=1e-4)
    assert policy.evaluate(obs).shape == (NUM_ENVS, 1)
    assert policy.entropy.shape == (NUM_ENVS,)
    # The 3.x storage copies mu/sigma into (N, 2A) slots.
    storage_slot = torch.zeros(NUM_ENVS, 2 * ACT_DIM)
    storage_slot.copy_(policy.action_mean)
    storage_slot.copy_(policy.flow.noise_scale)  # GenPO.act stores sigma; action_std is the logged action spread
    assert torch.all(storage_slot == 1.0)  # default init_noise_scale
    action = policy.act_inference(obs)
    assert action.shape == (NUM_ENVS, ACT_DIM)
    assert torch.equal(action, policy.act_inference(obs))  # deterministic: zero noise
    assert not torch.equal(policy.act_inference(obs, deterministic=False), action)
    torch.testing.assert_close(action, policy.flow.executed_action(policy.action_mean))
    assert policy.is_recurrent is False
    assert policy.load_state_dict(policy.state_dict()) is True


def test_both_hidden_state_keyword_spellings_are_accepted():
    policy = make_policy()
    obs = make_obs()
    masks = torch.ones(NUM_ENVS, dtype=torch.bool)
    for keyword in ("hidden_states", "hidden_state"):  # 3.0.1 PPO.update / 3.1.x PPO.update
        assert policy.act(obs, masks=masks, **{keyword: None}).shape == (NUM_ENVS, 2 * ACT_DIM)
        assert policy.evaluate(obs, masks=masks, **{keyword: None}).shape == (NUM_ENVS, 1)


def test_flow_parameters_are_part_of_the_policy_exactly_once():
    policy = make_policy(noise_scale="learned")
    keys = list(policy.state_dict())
    flow_keys = [k for k in keys if ".flow." in k or k.startswith("flow.")]
    assert flow_keys and all(k.startswith("actor.flow.") for k in flow_keys)
    assert len(flow_keys) == len(policy.flow.state_dict())
    assert not any(k in ("std", "log_std") or k.startswith("actor.0.") for k in keys)  # no Gaussian leftovers
    params = list(policy.parameters())
    assert len(params) == len({id(p) for p in params})
    flow_ids = {id(p) for p in policy.flow.parameters()}
    assert flow_ids <= {id(p) for p in params}
    assert id(policy.flow.log_noise_scale) in flow_ids  # learned noise scale is trained with the rest


def test_actor_satisfies_the_isaaclab_exporter_contract(tmp_path):
    policy = make_policy()
    policy.actor_obs_normalizer.update(torch.randn(64, OBS_DIM) * 3.0 + 1.0)
    obs = make_obs(3)
    expected = policy.act_inference(obs)
    assert policy.actor[0].in_features == OBS_DIM  # the ONNX path sizes its dummy input from this
    exporter = _isaaclab_exporter()
    if exporter is None:  # the same steps, done by hand
        actor = copy.deepcopy(policy.actor).to("cpu")
        scripted = torch.jit.script(_ExporterLike(actor, copy.deepcopy(policy.actor_obs_normalizer)))
        torch.testing.assert_close(scripted(obs["policy"]), expected)
        return
    exporter.export_policy_as_jit(policy, policy.actor_obs_normalizer, str(tmp_path))
    torch.testing.assert_close(torch.jit.load(str(tmp_path / "policy.pt"))(obs["policy"]), expected)
    exporter.export_policy_as_onnx(policy, str(tmp_path), normalizer=policy.actor_obs_normalizer)
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(tmp_path / "policy.onnx"))
    out = session.run(None, {"obs": obs["policy"][:1].numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(out), expected[:1], atol=1e-5, rtol=1e-5)


class _ExporterLike(nn.Module):
    """What isaaclab_rl.rsl_rl.exporter._TorchPolicyExporter scripts for a feed-forward policy."""

    def __init__(self, actor: nn.Module, normalizer: nn.Module) -> None:
        super().__init__()
        self.actor = actor
        self.normalizer = normalizer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.actor(self.normalizer(x))


def _isaaclab_exporter():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    patterns = [os.path.join(root, ".cache", "isaaclab", "**", "isaaclab_rl", "rsl_rl", "exporter.py"),
                "/tmp/ref/isaaclab-*/**/isaaclab_rl/rsl_rl/exporter.py"]
    for pattern in patterns:
        found = sorted(glob.glob(pattern, recursive=True))
        if found:  # exporter.py only imports copy, os and torch
            spec = importlib.util.spec_from_file_location("isaaclab_rsl_rl_exporter", found[0])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    return None


# ---------------------------------------------------------------------------------------------- config errors
def test_unknown_and_gaussian_policy_keys_raise_clear_errors():
    with pytest.raises(ValueError, match=r"unknown config key.*'num_stepz'.*did you mean 'num_steps'"):
        make_policy(num_stepz=4)
    with pytest.raises(ValueError, match=r"'init_noise_std' is a Gaussian ActorCritic key.*init_noise_scale"):
        make_policy(init_noise_std=1.0)
    with pytest.raises(ValueError, match="mix"):
        make_policy(mix=1.5)


def test_unknown_or_invalid_algorithm_keys_raise_clear_errors():
    with pytest.raises(ValueError, match=r"algorithm: unknown config key.*'compresion_coef'"):
        GenPO(make_policy(), compresion_coef=0.1)
    with pytest.raises(ValueError, match="algorithm.kl_estimator"):
        GenPO(make_policy(), kl_estimator="k2")
    with pytest.raises(ValueError, match="symmetry"):
        GenPO(make_policy(), symmetry_cfg={"use_data_augmentation": True})
    gaussian = ActorCritic(make_obs(), GROUPS, ACT_DIM, actor_hidden_dims=[8], critic_hidden_dims=[8])
    with pytest.raises(TypeError, match="rsl_rl.modules.GenPOActorCritic"):
        GenPO(gaussian)


# ---------------------------------------------------------------------------------------------- algorithm
def test_storage_holds_2a_dummy_actions_while_env_gets_a():
    env = RecordingEnv(NUM_ENVS, OBS_DIM, ACT_DIM, episode_length=4)
    runner = OnPolicyRunner(env, make_cfg(), log_dir=None)
    alg = runner.alg
    assert isinstance(alg, GenPO) and isinstance(alg.policy, GenPOActorCritic)
    assert alg.storage.actions.shape == (STEPS, NUM_ENVS, 2 * ACT_DIM)
    assert alg.storage.mu.shape == alg.storage.sigma.shape == (STEPS, NUM_ENVS, 2 * ACT_DIM)
    obs = env.get_observations()
    with torch.inference_mode():
        for step in range(STEPS):
            actions = alg.act(obs)
            torch.testing.assert_close(actions, alg.policy.flow.executed_action(alg.transition.actions))
            obs, rewards, dones, extras = env.step(actions)
            alg.process_env_step(obs, rewards, dones, extras)
        alg.compute_returns(obs)
    assert set(env.action_shapes) == {(NUM_ENVS, ACT_DIM)}
    stored = alg.storage.actions
    assert stored.abs().sum() > 0 and stored.shape[-1] == 2 * ACT_DIM
    # The stored log-probs are the exact densities of the stored dummy actions.
    flat_obs = alg.storage.observations.flatten(0, 1)
    exact = alg.policy.flow.log_prob(alg.policy.context(flat_obs), stored.flatten(0, 1))
    torch.testing.assert_close(exact, alg.storage.actions_log_prob.flatten(), atol=1e-4, rtol=1e-4)


def test_update_reports_genpo_diagnostics_and_adapts_lr_from_sample_kl():
    env = ZeroCostVecEnv(NUM_ENVS, OBS_DIM, ACT_DIM, episode_length=4)
    # desired_kl far above any KL of one small update: the adaptive rule multiplies the LR by 1.5 per minibatch.
    runner = OnPolicyRunner(env, make_cfg(desired_kl=10.0, schedule="adaptive"), log_dir=None)
    alg = runner.alg
    normalizer = alg.policy.actor_obs_normalizer
    obs = env.get_observations()
    with torch.inference_mode():
        for _ in range(STEPS):
            obs, rewards, dones, extras = env.step(alg.act(obs))
            alg.process_env_step(obs, rewards, dones, extras)
        alg.compute_returns(obs)
    assert int(normalizer.count) == 0  # not moved during the rollout (3.x PPO would have moved it every step)
    losses = alg.update()
    assert {"value_function", "surrogate", "entropy", "kl", "clip_fraction", "compression", "roundtrip_error",
            "noise_scale", "gap_abs"} <= set(losses)
    assert all(isinstance(v, float) and v == v for v in losses.values())
    assert losses["roundtrip_error"] < 1e-3 and losses["kl"] >= 0.0 and losses["noise_scale"] == 1.0
    # x1.5 per minibatch (2 epochs x 2 minibatches); the first minibatch's KL may round to exactly 0 (ratio 1),
    # which the rule treats as "no information" and leaves the LR alone.
    assert 1e-3 * 1.5**3 * (1 - 1e-9) <= alg.learning_rate <= 1e-3 * 1.5**4 * (1 + 1e-9)
    assert alg.optimizer.param_groups[0]["lr"] == alg.learning_rate
    assert int(normalizer.count) == STEPS * NUM_ENVS  # moved once, after the epochs


def test_training_changes_the_flow_and_keeps_the_likelihood_exact(tmp_path):
    env = PointReachVecEnv(NUM_ENVS, seed=0)
    runner = OnPolicyRunner(env, make_cfg(), log_dir=str(tmp_path))
    runner.git_status_repos = []  # no git diff of the checkout into the log
    before = copy.deepcopy(runner.alg.policy.flow.state_dict())
    runner.learn(num_learning_iterations=2)
    after = runner.alg.policy.flow.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    assert os.path.exists(tmp_path / "model_1.pt")
    context = runner.alg.policy.context(env.get_observations())
    noise = runner.alg.policy.flow.sample_noise(context.shape[0])
    roundtrip = runner.alg.policy.flow.inverse(context, runner.alg.policy.flow(context, noise))
    torch.testing.assert_close(roundtrip, noise, atol=1e-4, rtol=1e-4)


def test_gaussian_state_dict_into_genpo_policy_names_the_cause():
    gaussian = ActorCritic(make_obs(), GROUPS, ACT_DIM, actor_hidden_dims=[8], critic_hidden_dims=[16])
    with pytest.raises(CheckpointError, match=r"Gaussian PPO policy.*GenPO coupled-flow"):
        make_policy().load_state_dict(gaussian.state_dict())
    other_sizes = GenPOActorCritic(make_obs(dim=OBS_DIM + 2), GROUPS, ACT_DIM, **POLICY)
    with pytest.raises(CheckpointError, match=rf"policy observation size {OBS_DIM + 2} in the checkpoint vs {OBS_DIM}"):
        make_policy().load_state_dict(other_sizes.state_dict())
    with pytest.raises(CheckpointError, match="num_steps"):
        make_policy().load_state_dict(make_policy(num_steps=4).state_dict())
