"""The stock OnPolicyRunner with GenPO, GenPORunner's conveniences and checkpoint checks, in every rsl_rl world.

The same tests run under rsl-rl-lib 3.0.1, 3.1.x (``PYTHONPATH=.cache/rsl_rl-3.x``) and 5.5.1 (the venv's); the
config dicts differ per world (3.x: "policy" section, 5.x: "actor"/"critic" sections).
"""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from genpo_rsl import checkpoint
from genpo_rsl.checkpoint import CheckpointError, describe_checkpoint, load_checkpoint
from genpo_rsl.compat import register, rsl_rl_major, rsl_rl_version
from genpo_rsl.envs.toy import PointReachVecEnv, ZeroCostVecEnv
from genpo_rsl.runner import GenPORunner, evaluate, export, inference_policy, run_episodes
from rsl_rl.runners import OnPolicyRunner

register()
MAJOR = rsl_rl_major()
OBS_DIM, ACT_DIM, NUM_ENVS, STEPS = 6, 2, 8, 8  # PointReachVecEnv: 6 observations, 2 actions
FLOW = {"num_steps": 3, "time_embed_dim": 8, "time_hidden_dims": [8]}
PPO_KEYS = {"num_learning_epochs": 2, "num_mini_batches": 2, "learning_rate": 1e-3}


def genpo_cfg() -> dict:
    """The runner config for GenPO in the installed world, with the "rsl_rl.<subpackage>.<Class>" strings."""
    cfg = {"num_steps_per_env": STEPS, "save_interval": 100,
           "algorithm": {"class_name": "rsl_rl.algorithms.GenPO", **PPO_KEYS}}
    if MAJOR == 3:
        cfg["obs_groups"] = {"policy": ["policy"], "critic": ["policy"]}
        cfg["policy"] = {"class_name": "rsl_rl.modules.GenPOActorCritic", "actor_hidden_dims": [16, 16],
                         "critic_hidden_dims": [16], "activation": "elu", "actor_obs_normalization": True,
                         "critic_obs_normalization": True, **FLOW}
    else:
        cfg["obs_groups"] = {"actor": ["policy"], "critic": ["policy"]}
        cfg["actor"] = {"class_name": "rsl_rl.modules.GenPOActor", "hidden_dims": [16, 16], "activation": "elu",
                        "obs_normalization": True, **FLOW}
        cfg["critic"] = {"class_name": "MLPModel", "hidden_dims": [16], "activation": "elu", "obs_normalization": True}
    return cfg


def gaussian_cfg() -> dict:
    """rsl_rl's own Gaussian PPO in the installed world."""
    cfg = {"num_steps_per_env": STEPS, "save_interval": 100, "algorithm": {"class_name": "PPO", **PPO_KEYS}}
    if MAJOR == 3:
        cfg["obs_groups"] = {"policy": ["policy"], "critic": ["policy"]}
        cfg["policy"] = {"class_name": "ActorCritic", "actor_hidden_dims": [16, 16], "critic_hidden_dims": [16],
                         "activation": "elu", "init_noise_std": 1.0, "actor_obs_normalization": True,
                         "critic_obs_normalization": True}
    else:
        cfg["obs_groups"] = {"actor": ["policy"], "critic": ["policy"]}
        cfg["actor"] = {"class_name": "MLPModel", "hidden_dims": [16, 16], "activation": "elu",
                        "obs_normalization": True,
                        "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0}}
        cfg["critic"] = {"class_name": "MLPModel", "hidden_dims": [16], "activation": "elu", "obs_normalization": True}
    return cfg


def quiet(runner):
    """No git diff of the checkout into the log directory (slow, and irrelevant here)."""
    holder = runner if MAJOR == 3 else runner.logger
    holder.git_status_repos = []
    return runner


def storage_actions(runner) -> torch.Tensor:
    return runner.alg.storage.actions


class RecordingEnv(PointReachVecEnv):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.action_shapes: set[tuple[int, ...]] = set()

    def step(self, actions):
        self.action_shapes.add(tuple(actions.shape))
        return super().step(actions)


class ResettableEnv(PointReachVecEnv):
    """PointReach with IsaacLab's ``reset() -> (obs, extras)``, which restarts every episode."""

    def reset(self):
        everyone = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self._reset_envs(everyone)
        self.episode_length_buf[:] = 0
        self.stats.current_returns[:] = 0.0
        self.stats.current_lengths[:] = 0
        self._obs = self._make_obs()
        return self.get_observations(), {}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A stock OnPolicyRunner trained 2 iterations with GenPO, and its checkpoint."""
    log_dir = tmp_path_factory.mktemp("genpo_run")
    env = RecordingEnv(NUM_ENVS, seed=0)
    runner = quiet(OnPolicyRunner(env, genpo_cfg(), log_dir=str(log_dir)))
    runner.learn(num_learning_iterations=2)
    path = str(log_dir / "checkpoint.pt")
    runner.save(path)
    return runner, env, path


@pytest.fixture(scope="module")
def gaussian_checkpoint(tmp_path_factory):
    # GenPORunner: rsl_rl 3.x's own save() fails before learn() (it reads logger_type, set by learn()).
    runner = GenPORunner(PointReachVecEnv(NUM_ENVS, seed=0), gaussian_cfg(), log_dir=None)
    path = str(tmp_path_factory.mktemp("gaussian") / "gaussian.pt")
    runner.save(path)
    return path


def obs_batch(n: int = NUM_ENVS, seed: int = 3) -> TensorDict:
    generator = torch.Generator().manual_seed(seed)
    return TensorDict({"policy": torch.randn(n, OBS_DIM, generator=generator)}, batch_size=[n])


# ---------------------------------------------------------------------------------------------- class resolution
def test_class_name_strings_resolve_in_the_installed_world():
    import rsl_rl.algorithms

    if MAJOR == 3:  # each adapter imports only in its own world
        import rsl_rl.runners.on_policy_runner as runner_module

        from genpo_rsl import v3

        namespace = vars(runner_module)  # rsl_rl 3.x: eval() in the runner module
        assert eval("rsl_rl.algorithms.GenPO", namespace) is v3.GenPO
        assert eval("rsl_rl.modules.GenPOActorCritic", namespace) is v3.GenPOActorCritic
    else:
        from rsl_rl.utils import resolve_callable

        from genpo_rsl import v5

        assert resolve_callable("rsl_rl.algorithms.GenPO") is v5.GenPO
        assert resolve_callable("rsl_rl.modules.GenPOActor") is v5.GenPOActor
    assert rsl_rl.algorithms.GenPO.__module__.startswith(f"genpo_rsl.v{MAJOR}")


# ---------------------------------------------------------------------------------------------- stock runner
def test_stock_runner_trains_saves_and_reloads_identical_actions(trained):
    runner, env, path = trained
    assert env.action_shapes == {(NUM_ENVS, ACT_DIM)}  # the env always got A-dim actions
    assert storage_actions(runner).shape == (STEPS, NUM_ENVS, 2 * ACT_DIM)  # storage holds 2A dummy actions
    fresh = OnPolicyRunner(PointReachVecEnv(NUM_ENVS, seed=7), genpo_cfg(), log_dir=None)
    obs = obs_batch()
    before = fresh.get_inference_policy()(obs)
    fresh.load(path)
    assert fresh.current_learning_iteration == runner.current_learning_iteration == 1
    expected = runner.get_inference_policy()(obs)
    reloaded = fresh.get_inference_policy()(obs)
    assert reloaded.shape == (NUM_ENVS, ACT_DIM)
    assert torch.equal(reloaded, expected)
    assert not torch.equal(before, expected)


# ---------------------------------------------------------------------------------------------- checkpoint errors
def _other_major_checkpoint(runner) -> dict:
    """The trained GenPO model, written in the other rsl_rl major's layout."""
    if MAJOR == 3:
        sd = runner.alg.policy.state_dict()
        actor = {k[len("actor."):]: v for k, v in sd.items() if k.startswith("actor.flow.")}
        actor.update({"obs_normalizer." + k.split(".", 1)[1]: v for k, v in sd.items()
                      if k.startswith("actor_obs_normalizer.")})
        critic = {"mlp." + k[len("critic."):]: v for k, v in sd.items() if k.startswith("critic.")}
        return {"actor_state_dict": actor, "critic_state_dict": critic, "optimizer_state_dict": {}, "iter": 1,
                "infos": {"genpo_rsl": {"rsl_rl_version": "5.5.1", "genpo_rsl_version": "0.1.0"}}}
    actor = runner.alg.get_policy().state_dict()
    sd = {"actor." + k: v for k, v in actor.items() if k.startswith("flow.")}
    sd.update({"actor_obs_normalizer." + k.split(".", 1)[1]: v for k, v in actor.items()
               if k.startswith("obs_normalizer.")})
    return {"model_state_dict": sd, "optimizer_state_dict": {}, "iter": 1, "infos": None}


def test_checkpoint_from_the_other_rsl_rl_major_names_its_writer(trained, tmp_path):
    runner, _, _ = trained
    path = str(tmp_path / "other_major.pt")
    torch.save(_other_major_checkpoint(runner), path)
    writer = "rsl_rl 4.x/5.x" if MAJOR == 3 else "rsl_rl 3.x"
    pattern = rf"written by {writer}.*installed rsl-rl-lib is {rsl_rl_version()}"
    with pytest.raises(CheckpointError, match=pattern):
        load_checkpoint(path)
    genpo_runner = GenPORunner(PointReachVecEnv(NUM_ENVS, seed=0), genpo_cfg(), log_dir=None)
    with pytest.raises(CheckpointError, match=pattern) as error:
        genpo_runner.load(path)
    assert "rsl-rl-lib==" in str(error.value)  # the fix names the version to install
    info = describe_checkpoint(path)
    assert info.layout == (5 if MAJOR == 3 else 3) and info.policy == checkpoint.GENPO
    assert (info.obs_dim, info.action_dim) == (OBS_DIM, ACT_DIM)


def test_gaussian_and_genpo_checkpoints_do_not_cross(trained, gaussian_checkpoint):
    _, _, genpo_path = trained
    genpo_runner = GenPORunner(PointReachVecEnv(NUM_ENVS, seed=0), genpo_cfg(), log_dir=None)
    with pytest.raises(CheckpointError, match=r"holds a Gaussian PPO policy.*GenPO coupled-flow policy.*Fix"):
        genpo_runner.load(gaussian_checkpoint)
    gaussian_runner = GenPORunner(PointReachVecEnv(NUM_ENVS, seed=0), gaussian_cfg(), log_dir=None)
    with pytest.raises(CheckpointError, match=r"holds a GenPO coupled-flow policy.*Gaussian PPO policy.*Fix"):
        gaussian_runner.load(genpo_path)
    assert describe_checkpoint(gaussian_checkpoint).policy == checkpoint.GAUSSIAN
    assert describe_checkpoint(gaussian_checkpoint).action_dim == ACT_DIM


def test_stock_runner_rejects_a_gaussian_checkpoint_with_a_clear_error(gaussian_checkpoint):
    if MAJOR >= 4:
        from genpo_rsl.v5 import GenPO

        if "load" not in vars(GenPO):
            pytest.skip("genpo_rsl.v5.GenPO has no load() override yet (it would call "
                        "genpo_rsl.checkpoint.check_loaded_dict before PPO.load)")
    stock = OnPolicyRunner(PointReachVecEnv(NUM_ENVS, seed=0), genpo_cfg(), log_dir=None)
    with pytest.raises(CheckpointError, match="Gaussian PPO policy"):
        stock.load(gaussian_checkpoint)


def test_checkpoint_for_other_observation_or_action_sizes(trained):
    _, _, path = trained
    for obs_dim, act_dim, message in ((5, ACT_DIM, "policy observation size 6 in the checkpoint vs 5 here"),
                                      (OBS_DIM, 3, "action size 2 in the checkpoint vs 3 here")):
        runner = GenPORunner(ZeroCostVecEnv(NUM_ENVS, obs_dim, act_dim), genpo_cfg(), log_dir=None)
        with pytest.raises(CheckpointError, match=message) as error:
            runner.load(path)
        assert "task" in str(error.value)  # the fix: the task it was trained on


def test_unreadable_or_non_checkpoint_files(trained, tmp_path):
    runner, _, path = trained
    data = open(path, "rb").read()
    cases = {
        "truncated.pt": (data[: len(data) // 2], r"cannot read checkpoint.*truncated"),
        "empty.pt": (b"", r"empty \(0 bytes\)"),
        "text.pt": (b"this is not a checkpoint\n" * 10, r"cannot read checkpoint.*not written by torch.save"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(tmp_path / name)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match=r"neither 'model_state_dict'.*nor 'actor_state_dict'"):
        load_checkpoint(tmp_path / "bare.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="holds a list"):
        load_checkpoint(tmp_path / "list.pt")
    exported = export(runner, tmp_path / "policy.pt")  # a TorchScript export is not a checkpoint
    with pytest.raises(CheckpointError, match="exported TorchScript policy"):
        load_checkpoint(exported)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    genpo_runner = GenPORunner(PointReachVecEnv(NUM_ENVS, seed=0), genpo_cfg(), log_dir=None)
    with pytest.raises(CheckpointError, match="truncated"):
        genpo_runner.load(str(tmp_path / "truncated.pt"))


def test_describe_checkpoint_and_version_stamp(trained, tmp_path):
    runner, _, stock_path = trained
    info = describe_checkpoint(stock_path)
    assert (info.layout, info.policy, info.obs_dim, info.action_dim, info.critic_obs_dim, info.flow_steps) == (
        MAJOR if MAJOR == 3 else 5, checkpoint.GENPO, OBS_DIM, ACT_DIM, OBS_DIM, FLOW["num_steps"])
    assert info.iteration == 1 and info.written_by == {}  # the stock runner records no versions
    genpo_runner = GenPORunner(PointReachVecEnv(NUM_ENVS, seed=0), genpo_cfg(), log_dir=None)
    genpo_runner.load(stock_path)
    stamped = str(tmp_path / "stamped.pt")
    genpo_runner.save(stamped)
    info = describe_checkpoint(stamped)
    assert info.written_by["rsl_rl_version"] == rsl_rl_version()
    assert f"saved by rsl-rl-lib {rsl_rl_version()}" in str(info) and "GenPO coupled-flow" in str(info)


# ---------------------------------------------------------------------------------------------- GenPORunner
def test_genpo_runner_adds_to_the_installed_runner(trained):
    assert issubclass(GenPORunner, OnPolicyRunner)
    runner = GenPORunner(PointReachVecEnv(NUM_ENVS, seed=0), genpo_cfg(), log_dir=None)
    runner.load(trained[2])
    obs = obs_batch()
    deterministic = runner.inference_policy()
    action = deterministic(obs)
    assert action.shape == (NUM_ENVS, ACT_DIM)
    assert torch.equal(action, deterministic(obs))
    assert torch.equal(action, runner.get_inference_policy()(obs))  # the stock path agrees
    stochastic = runner.inference_policy(deterministic=False)
    first, second = stochastic(obs), stochastic(obs)
    assert first.shape == (NUM_ENVS, ACT_DIM) and not torch.equal(first, second)


def test_evaluate_counts_complete_episodes_and_matches_env_bookkeeping():
    env = PointReachVecEnv(NUM_ENVS, seed=0, episode_length=10)
    runner = GenPORunner(env, genpo_cfg(), log_dir=None)
    env.step(torch.zeros(NUM_ENVS, ACT_DIM))  # episodes in progress: not counted
    result = runner.evaluate(num_episodes=12)
    assert result["num_episodes"] == 12 and result["lengths"] == [10] * 12
    assert result["steps"] == 29  # 9 steps to finish the partial episode, then 2 full episodes per env
    assert result["mean"] == pytest.approx(sum(result["returns"]) / 12, rel=1e-9)
    # Our accumulated returns are the env's own (undiscounted) episode returns.
    for value in result["returns"]:
        assert min(abs(value - r) for r in env.episode_returns) < 1e-4
    assert result["std"] > 0.0
    assert runner.alg.get_policy().training if MAJOR >= 4 else runner.alg.policy.training


def test_run_episodes_acts_with_a_given_function_and_keeps_its_bookkeeping():
    env = PointReachVecEnv(NUM_ENVS, seed=0, episode_length=10)
    runner = GenPORunner(env, genpo_cfg(), log_dir=None)
    calls, stepped = [], []

    def act(obs):
        calls.append(torch.is_grad_enabled())
        return torch.full((NUM_ENVS, ACT_DIM), 0.25)

    env.step(torch.zeros(NUM_ENVS, ACT_DIM))  # an episode in progress: skipped, as for the policy's own actions
    finished, steps = run_episodes(runner, NUM_ENVS, reset=False, act=act,
                                   on_step=lambda obs, actions, dones, counted: stepped.append(actions))
    assert steps == 19 and len(calls) == 19 and not any(calls)  # under no_grad
    assert all(torch.equal(a, torch.full((NUM_ENVS, ACT_DIM), 0.25)) for a in stepped)  # the env got act's actions
    assert [len(per) for per in finished] == [1] * NUM_ENVS and all(n == 10 for per in finished for _, n in per)
    own = run_episodes(runner, NUM_ENVS, reset=False)[0]
    assert own != finished  # the policy's own actions score differently from the constant ones
    assert runner.alg.get_policy().training if MAJOR >= 4 else runner.alg.policy.training
    with pytest.raises(ValueError, match="act: must be a callable"):
        run_episodes(runner, NUM_ENVS, act="mean")


def test_evaluate_resets_envs_that_can_reset_and_works_for_gaussian_baselines():
    env = ResettableEnv(NUM_ENVS, seed=0, episode_length=10)
    runner = OnPolicyRunner(env, gaussian_cfg(), log_dir=None)  # the module function takes a stock runner
    env.step(torch.zeros(NUM_ENVS, ACT_DIM))
    result = evaluate(runner, num_episodes=NUM_ENVS, deterministic=False)
    assert result["steps"] == 10 and result["num_episodes"] == NUM_ENVS  # reset: every first episode counts


def test_export_jit_and_onnx_reproduce_the_deterministic_policy(trained, tmp_path):
    runner, _, path = trained
    obs = obs_batch(1)
    expected = inference_policy(runner)(obs)
    jit_path = export(runner, tmp_path / "out" / "policy.pt")  # the module functions take a stock runner
    torch.testing.assert_close(torch.jit.load(jit_path)(obs["policy"]), expected)
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    onnx_path = export(runner, tmp_path / "out" / "policy.onnx", format="onnx")
    session = onnxruntime.InferenceSession(onnx_path)
    assert [i.name for i in session.get_inputs()] == ["obs"]
    out = session.run(None, {"obs": obs["policy"].numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(out), expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="format"):
        export(runner, tmp_path / "x.bin", format="tflite")
