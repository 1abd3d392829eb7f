"""Deployment: exported GenPO policies (ONNX through onnxruntime, TorchScript) reproduce the torch policy, in both
inference modes, at the sizes of the paper's eight tasks; genpo-export; bad input; offscreen video.

Parity: 1000 random observations, max |onnxruntime - torch| <= 1e-5, TorchScript equal to float32 tolerance; batch
1 and 64 through the same file (dynamic batch axis). The stochastic export takes standard-normal noise (B, 2A): fed
the draws the torch policy makes under the same seed, it returns the torch policy's sampled actions.
Each network is exported once per mode and format (module-scoped fixture); a dynamo ONNX export takes seconds, so
the eight-size sweep runs in the rsl_rl 5.x world and the 3.x worlds check Anymal-D's network (see PARITY_TASKS).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil

import numpy as np
import pytest
import torch
from tensordict import TensorDict

onnxruntime = pytest.importorskip("onnxruntime", reason="the export tests need the 'export' extra (onnxruntime)")
pytest.importorskip("onnxscript", reason="torch's ONNX exporter needs onnxscript (the 'export' extra)")

from genpo_rsl.checkpoint import CheckpointError, describe_checkpoint  # noqa: E402
from genpo_rsl.compat import register, rsl_rl_major  # noqa: E402
from genpo_rsl.config import FLOW_DEFAULTS  # noqa: E402
from genpo_rsl.export import ExportError, StochasticFlowPolicy, export_module, write_policy  # noqa: E402
from genpo_rsl.runner import GenPORunner, export, inference_policy  # noqa: E402
from genpo_rsl.scripts import export as export_cli
from genpo_rsl.scripts.common import load_runner  # noqa: E402
from genpo_rsl.scripts import train as train_cli  # noqa: E402
from genpo_rsl.envs import make_task_env  # noqa: E402
from genpo_rsl.train_config import build_runner_cfg, task_settings  # noqa: E402
from isaaclab_tasks_ext.tuned import PAPER_TASK_DIMS, tuned_overrides  # noqa: E402

MAJOR = rsl_rl_major()
NUM_OBS = 1000
ONNX_TOLERANCE = 1e-5
register()


# ---------------------------------------------------------------------------------------------- helpers
def make_policy(obs_dim: int, action_dim: int, policy_cfg: dict, seed: int = 0,
                noise_scale: str = "learned") -> torch.nn.Module:
    """The installed world's GenPO policy with a paper task's network, trained-looking normaliser statistics and a
    learned, non-uniform noise scale (so that the stochastic export must apply it); ``noise_scale="state"``: one
    that depends on the observation."""
    torch.manual_seed(seed)
    obs = TensorDict({"policy": torch.zeros(2, obs_dim)}, batch_size=[2])
    flow_cfg = {k: v for k, v in policy_cfg.items() if k in FLOW_DEFAULTS}
    flow_cfg["noise_scale"] = "state" if noise_scale == "state-bounded" else noise_scale
    if noise_scale == "state-bounded":  # the robot recipe's network, with a smooth upper bound on sigma
        flow_cfg.update(max_noise_scale=1.2, init_noise_scale=0.8, head_dims=[32, 32])
    activation = policy_cfg.get("activation", "elu")
    if MAJOR >= 4:
        from genpo_rsl.v5 import GenPOActor

        policy = GenPOActor(obs, {"actor": ["policy"]}, "actor", action_dim,
                            hidden_dims=policy_cfg["actor_hidden_dims"], activation=activation,
                            obs_normalization=True, **flow_cfg)
        normalizer = policy.obs_normalizer
    else:
        from genpo_rsl.v3 import GenPOActorCritic

        policy = GenPOActorCritic(obs, {"policy": ["policy"], "critic": ["policy"]}, action_dim,
                                  actor_obs_normalization=True, actor_hidden_dims=policy_cfg["actor_hidden_dims"],
                                  critic_hidden_dims=[8], activation=activation, **flow_cfg)
        normalizer = policy.actor_obs_normalizer
    normalizer.train()
    normalizer.update(torch.randn(512, obs_dim) * 3.0 + 1.0)
    with torch.no_grad():
        if noise_scale.startswith("state"):
            policy.flow.noise_scale_head.weight.copy_(torch.randn(2 * action_dim, obs_dim) * 0.05)
            policy.flow.noise_scale_head.bias.copy_(torch.randn(2 * action_dim) * 0.3 - 0.5)
        else:
            policy.flow.log_noise_scale.copy_(torch.randn(2 * action_dim) * 0.3 - 0.5)
    return policy.eval()


def torch_actions(policy: torch.nn.Module, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
    """What each world's inference path returns (5.x GenPOActor.act, 3.x GenPOActorCritic.act_inference)."""
    td = TensorDict({"policy": obs}, batch_size=[obs.shape[0]])
    with torch.no_grad():
        if MAJOR >= 4:
            return policy.act(td, deterministic=deterministic)
        return policy.act_inference(td, deterministic=deterministic)


def observations(obs_dim: int, n: int = NUM_OBS, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, obs_dim, generator=torch.Generator().manual_seed(seed)) * 3.0 + 1.0


def sampled_reference(policy, obs: torch.Tensor, seed: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """(standard-normal noise, the torch policy's sampled actions): the policy draws its noise under ``seed``."""
    torch.manual_seed(seed)
    actions = torch_actions(policy, obs, deterministic=False)
    torch.manual_seed(seed)
    noise = torch.randn(obs.shape[0], 2 * policy.flow.action_dim)
    return noise, actions


def run_onnx(path: str, obs: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {"obs": obs.numpy()}
    if noise is not None:
        feeds["noise"] = noise.numpy()
    return torch.from_numpy(session.run(["actions"], feeds)[0])


def quiet_runner(env, cfg) -> GenPORunner:
    with contextlib.redirect_stdout(io.StringIO()):
        return GenPORunner(env, cfg, log_dir=None, device="cpu")


# ---------------------------------------------------------------------------------------------- paper-sized parity
def _short(task_id: str) -> str:
    return task_id.replace("Isaac-", "").replace("-v0", "")


# The exported graph is built from genpo_rsl's own modules; what differs between the rsl_rl worlds is the policy
# class and its normaliser. The 5.x world checks all eight sizes; each 3.x world checks Anymal-D's (a dynamo ONNX
# export takes seconds, and CI runs every world).
PARITY_TASKS = sorted(PAPER_TASK_DIMS) if MAJOR >= 4 else ["Isaac-Velocity-Flat-Anymal-D-v0"]
# (task, flow, noise scale): the coupled flow at every parity size, the multistep flow and the state-dependent noise
# scale at Anymal-D's in every world.
PARITY_CASES = ([(task, "coupled", "learned") for task in PARITY_TASKS]
                + [("Isaac-Velocity-Flat-Anymal-D-v0", "multistep", "learned"),
                   ("Isaac-Velocity-Flat-Anymal-D-v0", "coupled", "state"),
                   ("Isaac-Velocity-Flat-Anymal-D-v0", "multistep", "state-bounded")])


@pytest.fixture(scope="module", params=PARITY_CASES,
                ids=lambda case: f"{_short(case[0])}-{case[1]}" + (f"-{case[2]}" if case[2] != "learned" else ""))
def paper_export(request, tmp_path_factory):
    """A paper task's GenPO policy (coupled or multistep flow), exported once per mode and format."""
    task, flow, noise_scale = request.param
    obs_dim, action_dim = PAPER_TASK_DIMS[task]
    policy = make_policy(obs_dim, action_dim, {**tuned_overrides(task)["policy"], "flow": flow},
                         noise_scale=noise_scale)
    assert policy.flow.kind == flow and policy.flow.noise_scale_mode == noise_scale.split("-")[0]
    folder = tmp_path_factory.mktemp(f"{_short(task)}-{flow}-{noise_scale}")
    files = {}
    for stochastic in (False, True):
        module = export_module(policy, "onnx", stochastic)
        for fmt, suffix in (("onnx", ".onnx"), ("jit", ".pt")):
            report = write_policy(module, folder / (("stochastic" if stochastic else "policy") + suffix), fmt)
            files[fmt, stochastic] = report.path
    return policy, files, obs_dim, action_dim


@pytest.mark.parametrize("stochastic", [False, True], ids=["deterministic", "stochastic"])
def test_onnx_reproduces_the_torch_policy(paper_export, stochastic):
    policy, files, obs_dim, action_dim = paper_export
    path = files["onnx", stochastic]
    assert os.listdir(os.path.dirname(path)).count(os.path.basename(path) + ".data") == 0  # weights inside
    obs = observations(obs_dim)
    if stochastic:
        noise, expected = sampled_reference(policy, obs)
    else:
        noise, expected = None, torch_actions(policy, obs, deterministic=True)
    assert expected.shape == (NUM_OBS, action_dim)  # the A-dim action, not the 2A dummy
    error = float((run_onnx(path, obs, noise) - expected).abs().max())
    assert error <= ONNX_TOLERANCE, f"max |onnxruntime - torch| = {error:.2e}"
    for batch in (1, 64):  # the dynamic batch axis
        out = run_onnx(path, obs[:batch], None if noise is None else noise[:batch])
        assert out.shape == (batch, action_dim)
        assert float((out - expected[:batch]).abs().max()) <= ONNX_TOLERANCE
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [(i.name, i.shape[1]) for i in session.get_inputs()]
    assert names == ([("obs", obs_dim), ("noise", 2 * action_dim)] if stochastic else [("obs", obs_dim)])
    assert [(o.name, o.shape[1]) for o in session.get_outputs()] == [("actions", action_dim)]


@pytest.mark.parametrize("stochastic", [False, True], ids=["deterministic", "stochastic"])
def test_torchscript_reproduces_the_torch_policy(paper_export, stochastic):
    policy, files, obs_dim, action_dim = paper_export
    scripted = torch.jit.load(files["jit", stochastic])
    obs = observations(obs_dim)
    with torch.no_grad():
        if stochastic:
            noise, expected = sampled_reference(policy, obs)
            for batch in (1, 64, NUM_OBS):
                torch.testing.assert_close(scripted(obs[:batch], noise[:batch]), expected[:batch])
            # zero noise is the deterministic policy
            torch.testing.assert_close(scripted(obs, torch.zeros_like(noise)), torch_actions(policy, obs, True))
        else:
            expected = torch_actions(policy, obs, deterministic=True)
            for batch in (1, 64, NUM_OBS):
                torch.testing.assert_close(scripted(obs[:batch]), expected[:batch])
    scripted.reset()  # the interface rsl_rl's and IsaacLab's exported policies have


# ---------------------------------------------------------------------------------------------- runner-level export
@pytest.fixture(scope="module")
def point_reach_runners():
    """Untrained runners on toy/PointReach (4 envs), observation normalisation on: GenPO with the coupled flow
    ("genpo"), with the multistep flow ("genpo_multistep"), and Gaussian PPO ("ppo")."""
    runners = {}
    for name, algo, flow in (("genpo", "genpo", "coupled"), ("genpo_multistep", "genpo", "multistep"),
                             ("ppo", "ppo", "coupled")):
        torch.manual_seed(0)
        env = make_task_env("toy/PointReach", 4, 0, "cpu")
        settings = task_settings("toy/PointReach", {"num_envs": 4, "flow": {"flow": flow}})
        runners[name] = quiet_runner(env, build_runner_cfg(algo, settings))
    yield runners
    for runner in runners.values():
        runner.env.close()


def test_inference_policy_returns_the_environment_action_in_both_modes(point_reach_runners):
    for algo, runner in point_reach_runners.items():
        obs = runner.env.get_observations()
        num_actions = runner.env.num_actions
        deterministic = inference_policy(runner, deterministic=True)
        stochastic = inference_policy(runner, deterministic=False)
        assert deterministic(obs).shape == stochastic(obs).shape == (runner.env.num_envs, num_actions), algo
        assert torch.equal(deterministic(obs), deterministic(obs))
        assert not torch.equal(stochastic(obs), stochastic(obs)), algo
    # the multistep flow's environment action is x_N, the first half of its dummy action (x_N, x_{N-1})
    runner = point_reach_runners["genpo_multistep"]
    policy = runner.alg.policy if MAJOR < 4 else runner.alg.get_policy()
    obs = runner.env.get_observations()
    context = policy.context(obs)
    dummy = policy.flow(context, torch.zeros(context.shape[0], 2 * runner.env.num_actions))
    assert torch.equal(inference_policy(runner, deterministic=True)(obs), dummy[:, : runner.env.num_actions])


@pytest.mark.parametrize("name", ["genpo", "genpo_multistep"])
def test_runner_export_matches_the_inference_policy(point_reach_runners, tmp_path, name):
    runner = point_reach_runners[name]
    obs = runner.env.get_observations()
    expected = inference_policy(runner, deterministic=True)(obs)
    jit_path = export(runner, tmp_path / "policy.pt")
    torch.testing.assert_close(torch.jit.load(jit_path)(obs["policy"]), expected)
    # stochastic: the runner's sampled actions, given the noise the runner draws under the same seed
    stochastic = export(runner, tmp_path / "stochastic.pt", "jit", stochastic=True)
    torch.manual_seed(3)
    sampled = inference_policy(runner, deterministic=False)(obs)
    torch.manual_seed(3)
    noise = torch.randn(obs.batch_size[0], 2 * runner.env.num_actions)
    torch.testing.assert_close(torch.jit.load(stochastic)(obs["policy"], noise), sampled)
    onnx_path = export(runner, tmp_path / "onnx" / "policy.onnx", "onnx")
    assert sorted(os.listdir(tmp_path / "onnx")) == ["policy.onnx"]  # no .data side file, no temporary file
    assert float((run_onnx(onnx_path, obs["policy"]) - expected).abs().max()) <= ONNX_TOLERANCE
    obs_dim = obs["policy"].shape[1]
    with pytest.raises(Exception, match=rf"(?s)invalid dimensions for input: obs.*Expected: {obs_dim}"):
        run_onnx(onnx_path, torch.zeros(3, obs_dim + 1))


def test_gaussian_policies_export_their_mean(point_reach_runners, tmp_path):
    runner = point_reach_runners["ppo"]
    obs = runner.env.get_observations()
    expected = inference_policy(runner, deterministic=True)(obs)
    torch.testing.assert_close(torch.jit.load(export(runner, tmp_path / "ppo.pt"))(obs["policy"]), expected)
    onnx_path = export(runner, tmp_path / "ppo.onnx", "onnx")
    assert float((run_onnx(onnx_path, obs["policy"]) - expected).abs().max()) <= ONNX_TOLERANCE
    with pytest.raises(ValueError, match="stochastic export: only GenPO"):
        export(runner, tmp_path / "x.pt", stochastic=True)
    with pytest.raises(ValueError, match="format"):
        export(runner, tmp_path / "x.tflite", "tflite")
    assert not os.path.exists(tmp_path / "x.pt") and not os.path.exists(tmp_path / "x.tflite")


@pytest.mark.skipif(MAJOR < 4, reason="rsl_rl 3.x's OnPolicyRunner has no export_policy_to_jit/onnx (IsaacLab 2.3 "
                                      "exports with isaaclab_rl's exporter: tests/isaaclab/test_isaaclab_export.py)")
@pytest.mark.parametrize("name", ["genpo", "genpo_multistep"])
def test_stock_5x_runner_exports_genpo_unchanged(point_reach_runners, tmp_path, name):
    """IsaacLab 3.x's play.py calls the stock OnPolicyRunner.export_policy_to_jit/onnx, which use GenPOActor's
    as_jit()/as_onnx(). Their ONNX file is rsl_rl's: batch size 1 and the weights in policy.onnx.data beside it."""
    runner = point_reach_runners[name]
    obs = runner.env.get_observations()
    expected = inference_policy(runner, deterministic=True)(obs)
    runner.export_policy_to_jit(str(tmp_path), "policy.pt")
    torch.testing.assert_close(torch.jit.load(str(tmp_path / "policy.pt"))(obs["policy"]), expected)
    runner.export_policy_to_onnx(str(tmp_path), "policy.onnx")
    assert os.path.isfile(tmp_path / "policy.onnx.data")  # the weights: ship both files together
    out = run_onnx(str(tmp_path / "policy.onnx"), obs["policy"][:1])
    assert float((out - expected[:1]).abs().max()) <= ONNX_TOLERANCE


# ---------------------------------------------------------------------------------------------- bad input
def test_wrong_observation_or_noise_size_is_named(point_reach_runners, tmp_path):
    """The exported modules check their inputs (eager and TorchScript; ONNX graphs have static feature sizes)."""
    runner = point_reach_runners["genpo"]
    obs_dim = runner.env.get_observations()["policy"].shape[1]
    module = export_module(runner.alg.policy if MAJOR < 4 else runner.alg.get_policy(), "jit", stochastic=True)
    assert isinstance(module, StochasticFlowPolicy)
    bad_obs, good_obs = torch.zeros(3, obs_dim + 1), torch.zeros(3, obs_dim)
    with pytest.raises(ValueError, match=rf"obs: expected shape \(batch, {obs_dim}\), got \[3, {obs_dim + 1}\]"):
        module(bad_obs, torch.zeros(3, 2 * module.action_dim))
    with pytest.raises(ValueError, match=r"noise: expected shape \(3, 4\)"):
        module(good_obs, torch.zeros(3, 2))
    scripted = torch.jit.load(write_policy(module, tmp_path / "s.pt", "jit").path)
    with pytest.raises(torch.jit.Error, match=rf"obs: expected shape \(batch, {obs_dim}\)"):
        scripted(bad_obs, torch.zeros(3, 2 * module.action_dim))
    # onnxruntime's own check names the input and the expected size: test_runner_export_matches_the_inference_policy


def test_failed_export_leaves_nothing_behind(point_reach_runners, tmp_path, monkeypatch):
    import genpo_rsl.export as export_lib

    runner = point_reach_runners["genpo"]
    target = tmp_path / "policy.onnx"
    target.write_bytes(b"previous export")

    def half_written(module, dummy, file):  # an exporter dying mid-write, external-data side file included
        with open(file, "wb") as f:
            f.write(b"partial")
        with open(file + ".data", "wb") as f:
            f.write(b"partial weights")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(export_lib, "_export_onnx", half_written)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export(runner, target, "onnx")
    assert sorted(os.listdir(tmp_path)) == ["policy.onnx"] and target.read_bytes() == b"previous export"

    monkeypatch.undo()
    monkeypatch.setattr(export_lib, "_max_abs_error", lambda *args: 0.5)  # a file that does not match the policy
    with pytest.raises(ExportError, match="export check failed.*0.5"):
        export(runner, tmp_path / "new.pt", "jit")
    assert sorted(os.listdir(tmp_path)) == ["policy.onnx"]
    with pytest.raises(NotImplementedError, match="not supported"):
        export_module(torch.nn.Linear(3, 2))


# ---------------------------------------------------------------------------------------------- genpo-export
@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """One-iteration genpo-train runs (GenPO and Gaussian PPO) on toy/PointReach: {algo: checkpoint}."""
    root = tmp_path_factory.mktemp("runs")
    runs = {}
    for algo in ("genpo", "ppo"):
        with contextlib.redirect_stdout(io.StringIO()):
            runs[algo] = train_cli.run(["--task", "toy/PointReach", "--algo", algo, "--num-envs", "4",
                                        "--max-iterations", "1", "--log-dir", str(root / algo)])
    return runs


def _loaded_policy(checkpoint):
    runner, env, _ = load_runner(checkpoint, quiet=True)
    env.close()
    obs = observations(describe_checkpoint(checkpoint).obs_dim, n=32)
    return runner, obs, TensorDict({"policy": obs}, batch_size=[32])


def test_genpo_export_cli_writes_beside_the_checkpoint(trained_runs, capsys):
    checkpoint = trained_runs["genpo"]
    runner, obs, td = _loaded_policy(checkpoint)
    expected = inference_policy(runner, deterministic=True)(td)

    assert export_cli.main(["--checkpoint", checkpoint]) == 0
    path = os.path.join(os.path.dirname(checkpoint), "exported", "policy.onnx")
    assert f"wrote {path} [onnx]: obs (batch, 6) -> actions (batch, 2)" in capsys.readouterr().out
    assert float((run_onnx(path, obs) - expected).abs().max()) <= ONNX_TOLERANCE

    report = export_cli.run(["--checkpoint", checkpoint, "--format", "jit", "--stochastic"])
    assert report.path == os.path.join(os.path.dirname(checkpoint), "exported", "policy_stochastic.pt")
    assert [name for name, _ in report.inputs] == ["obs", "noise"] and report.max_abs_error <= 1e-6
    torch.testing.assert_close(torch.jit.load(report.path)(obs, torch.zeros(32, 4)), expected)


def test_genpo_export_cli_rejects_bad_checkpoints(trained_runs, tmp_path, capsys):
    gaussian = trained_runs["ppo"]
    out = tmp_path / "out" / "policy.onnx"
    with pytest.raises(CheckpointError, match="holds a Gaussian PPO policy, not a GenPO policy.*Fix"):
        export_cli.run(["--checkpoint", gaussian, "--output", str(out)])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_cli.run(["--checkpoint", str(tmp_path / "model_9.pt"), "--output", str(out)])
    # a truncated copy (an interrupted save) beside the run's run.json
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(os.path.join(os.path.dirname(trained_runs["genpo"]), "run.json"), run_dir)
    data = open(trained_runs["genpo"], "rb").read()
    truncated = run_dir / "model_final.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        export_cli.run(["--checkpoint", str(truncated), "--output", str(out)])
    assert not os.path.exists(out.parent) and not os.path.exists(run_dir / "exported")
    assert export_cli.main(["--checkpoint", str(truncated)]) == 2  # a user error: one line, exit status 2
    assert "genpo-export: error:" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- video
@pytest.fixture()
def pendulum_runner():
    from genpo_rsl.envs import make_env

    env = make_env("InvertedPendulum-v5", num_envs=1, seed=0, render_mode="rgb_array",
                   env_kwargs={"width": 64, "height": 48})
    runner = quiet_runner(env, build_runner_cfg("genpo", task_settings("InvertedPendulum-v5", {"num_envs": 1})))
    yield runner, env
    env.close()


def test_record_video_writes_an_mp4_with_the_rollouts_frames(pendulum_runner, tmp_path):
    imageio = pytest.importorskip("imageio.v3")  # with imageio-ffmpeg: the 'video' extra
    from genpo_rsl.video import OffscreenRenderingUnavailable, record_video

    runner, env = pendulum_runner
    path = tmp_path / "videos" / "rollout.mp4"
    try:
        result = record_video(runner, env, path, deterministic=True, max_steps=8)
    except OffscreenRenderingUnavailable as error:
        pytest.skip(f"no OpenGL backend for offscreen rendering: {error}")
    assert os.environ.get("MUJOCO_GL")  # chosen for headless machines when unset
    assert result["frames"] >= 2 and result["fps"] == 25.0  # InvertedPendulum's render_fps
    frames = imageio.imread(path)
    assert frames.shape == (result["frames"], 48, 64, 3)
    assert frames.max() > 50  # something was drawn, not a black buffer
    assert sorted(os.listdir(path.parent)) == ["rollout.mp4"]


# gymnasium's renderer, whose GL context creation failed on purpose, errors again in its __del__
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_record_video_errors_are_clear(pendulum_runner, tmp_path, monkeypatch):
    pytest.importorskip("imageio_ffmpeg")
    from genpo_rsl.video import OffscreenRenderingUnavailable, record_video

    runner, env = pendulum_runner
    toy = make_task_env("toy/PointReach", 1, 0, "cpu")
    with pytest.raises(TypeError, match="cannot render frames; --video works for gymnasium MuJoCo tasks"):
        record_video(runner, toy, tmp_path / "toy.mp4")
    monkeypatch.setenv("MUJOCO_GL", "no-such-backend")
    with pytest.raises(OffscreenRenderingUnavailable, match="MUJOCO_GL=no-such-backend.*apt-get install.*libegl1"):
        record_video(runner, env, tmp_path / "bad.mp4")
    assert os.listdir(tmp_path) == []


def test_paper_networks_cover_the_eight_tasks():
    assert len(PAPER_TASK_DIMS) == 8
    sizes = {dims: tuple(tuned_overrides(task)["policy"]["actor_hidden_dims"])
             for task, dims in PAPER_TASK_DIMS.items()}
    assert sizes == {(60, 8): (400, 200, 100), (87, 21): (400, 200, 100), (36, 8): (256, 128, 64), (12, 4): (64, 64),
                     (48, 12): (128, 128, 128), (235, 12): (512, 256, 128), (256, 19): (512, 256, 128),
                     (157, 20): (512, 512, 256, 128)}
    assert np.all([tuned_overrides(task)["policy"]["num_steps"] == 5 for task in PAPER_TASK_DIMS])
