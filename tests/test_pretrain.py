"""Learning from demonstrations: the likelihood bound, behaviour cloning, bad demo files, fine-tuning from a
pretrained checkpoint. Real rsl_rl (whichever world is installed), real toy envs."""

from __future__ import annotations

import copy
import math
import os

import numpy as np
import pytest
import torch

import genpo_rsl.flow as flows
from genpo_rsl.demos import (DemoError, LatentProposal, PretrainConfig, estimate_log_likelihood,
                             importance_log_likelihood, join_dummy, load_actor, pretrain, save_demos, split_dummy,
                             warm_up_critic)
from genpo_rsl.demos.policy import PolicyView

from genpo_rsl.world import rsl_rl_major  # noqa: E402

MAJOR = rsl_rl_major()
FLOW_KINDS = ["coupled", "multistep"]


def make_flow(kind: str, action_dim: int, context_dim: int = 1):
    cls = flows.CoupledFlow if kind == "coupled" else flows.MultistepFlow
    return cls(action_dim, context_dim, num_steps=3, hidden_dims=[16, 16])


def bimodal_demos(path, count=800, noise=0.1, seed=0):
    """toy/TwoGoalReach demonstrations: half of the actions at each goal (-1, 0) and (+1, 0)."""
    rng = np.random.default_rng(seed)
    side = np.where(np.arange(count) % 2 == 0, -1.0, 1.0)
    actions = np.stack([side, np.zeros(count)], 1) + noise * rng.standard_normal((count, 2))
    save_demos(path, np.tile([[1.0, 0.0]], (count, 1)), actions)
    return str(path)


# ---------------------------------------------------------------------------------------------- the objective
@pytest.mark.parametrize("kind", FLOW_KINDS)
def test_split_and_join_are_inverse_with_unit_jacobian(kind):
    flow = make_flow(kind, action_dim=2)
    action, latent = torch.randn(5, 2), torch.randn(5, 2)
    dummy = join_dummy(flow, action, latent)
    back_action, back_latent = split_dummy(flow, dummy)
    torch.testing.assert_close(back_action, action)
    torch.testing.assert_close(back_latent, latent)
    torch.testing.assert_close(flow.executed_action(dummy) if hasattr(flow, "executed_action")
                               else flow.average(dummy), action)  # the executed part is the demonstrated action
    jacobian = torch.autograd.functional.jacobian(lambda v: join_dummy(flow, v[:2], v[2:]), torch.randn(4))
    assert abs(abs(float(torch.linalg.det(jacobian))) - 1.0) < 1e-6  # so p(a, z) = p_flow(dummy)


@pytest.mark.parametrize("kind", FLOW_KINDS)
def test_bound_is_below_the_exact_marginal_and_tightens_with_samples(kind):
    """A = 1: log pi(a | s) by numerical integration of the exact 2-D density over the latent, vs L_K."""
    torch.manual_seed(0)
    flow = make_flow(kind, action_dim=1)
    with torch.no_grad():  # a non-trivial density, not the near-identity flow of a fresh init
        for p in flow.velocity.trunk.parameters():
            p.mul_(3.0)
    context, action = torch.zeros(1, 1), torch.tensor([[0.3]])
    # The exact marginal in float64 (a float32 sum over the grid is off by ~1e-2, as much as the tolerances below).
    exact_flow = copy.deepcopy(flow).double()
    grid = torch.linspace(-20.0, 20.0, 400_001, dtype=torch.float64)
    with torch.no_grad():
        log_density = exact_flow.log_prob(context.double().expand(len(grid), 1),
                                          join_dummy(flow, action.double().expand(len(grid), 1), grid[:, None]))
    exact = float(torch.logsumexp(log_density, 0) + math.log(float(grid[1] - grid[0])))
    assert float(log_density[0]) < exact - 20 and float(log_density[-1]) < exact - 20  # the grid holds the mass

    def mean_bound(proposal, k, repeats=100):
        with torch.no_grad():
            draws = torch.stack([importance_log_likelihood(flow, proposal, context, action, k) for _ in range(repeats)])
        return float(draws.mean()), float(draws.std()) / math.sqrt(repeats)

    proposal = LatentProposal.for_flow(flow)
    untrained = {k: mean_bound(proposal, k) for k in (1, 16, 512)}
    # The proposal as pretraining fits it: ascend the K = 8 bound (the flow is held fixed here).
    optimizer = torch.optim.Adam(proposal.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        (-importance_log_likelihood(flow, proposal, context, action, 8).mean()).backward()
        optimizer.step()
    trained = {k: mean_bound(proposal, k) for k in (1, 16, 512)}
    for means in (untrained, trained):
        for k, (mean, stderr) in means.items():
            assert mean <= exact + 3 * stderr + 1e-3, (k, mean, exact)  # a lower bound (in expectation)
        assert means[1][0] < means[16][0] < means[512][0] + 1e-3  # tighter with more samples
    assert exact - trained[512][0] < 0.05  # and close to exact with a fitted proposal
    assert exact - trained[1][0] < exact - untrained[1][0]  # fitting the proposal tightens the bound itself
    estimate = float(estimate_log_likelihood(flow, proposal, context, action, num_samples=4096, chunk=512))
    assert abs(estimate - exact) < 0.05


def test_bound_gradient_reaches_flow_and_proposal():
    flow = make_flow("coupled", action_dim=2, context_dim=3)
    proposal = LatentProposal.for_flow(flow)
    bound = importance_log_likelihood(flow, proposal, torch.randn(4, 3), torch.randn(4, 2), num_samples=4)
    bound.mean().backward()
    assert all(p.grad is not None for p in flow.velocity.parameters() if p.requires_grad)
    assert proposal.net[-1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="num_samples"):
        importance_log_likelihood(flow, proposal, torch.randn(4, 3), torch.randn(4, 2), num_samples=0)


# ---------------------------------------------------------------------------------------------- pretraining
def sample_fractions(runner, env, count=4000):
    from tensordict import TensorDict

    from genpo_rsl.runner import inference_policy

    obs = TensorDict({"policy": torch.tensor([[1.0, 0.0]]).expand(count, 2).clone()}, batch_size=[count])
    return env.mode_fractions(inference_policy(runner, deterministic=False)(obs)).tolist()


def test_genpo_pretraining_separates_the_modes_where_the_gaussian_cannot(tmp_path):
    demos = bimodal_demos(tmp_path / "bimodal.npz")
    genpo = pretrain("toy/TwoGoalReach", demos, algo="genpo", seed=0, log_dir=str(tmp_path / "genpo"), log=None,
                     config=PretrainConfig(epochs=45, batch_size=100, learning_rate=3e-3, num_samples=4, eval_samples=32),
                     keep_runner=True)
    gaussian = pretrain("toy/TwoGoalReach", demos, algo="ppo", seed=0, log_dir=str(tmp_path / "ppo"), log=None,
                        config=PretrainConfig(epochs=150, batch_size=200, learning_rate=3e-3), keep_runner=True)
    genpo_fractions = sample_fractions(genpo.runner, genpo.env)
    gaussian_fractions = sample_fractions(gaussian.runner, gaussian.env)
    assert min(genpo_fractions) >= 0.35, genpo_fractions  # both goals held
    assert max(gaussian_fractions) < 0.3, gaussian_fractions  # one Gaussian spreads over both and the gap
    # The flow also explains the demonstrations better (held-out log-likelihood, both in nats per demo step).
    assert genpo.summary["heldout_log_likelihood"] > gaussian.summary["heldout_log_likelihood"] + 0.5
    assert genpo.history[-1]["train_log_likelihood"] > genpo.history[0]["train_log_likelihood"]
    for result in (genpo, gaussian):
        result.env.close()


def test_normaliser_is_fitted_on_the_demos(tmp_path):
    rng = np.random.default_rng(0)
    observations = rng.normal(3.0, 2.0, size=(500, 6))
    path = tmp_path / "reach.npz"
    save_demos(path, observations, rng.normal(size=(500, 2)))
    result = pretrain("toy/PointReach", str(path), algo="genpo", log_dir=str(tmp_path / "run"), log=None,
                      config=PretrainConfig(epochs=1, eval_samples=4), keep_runner=True)
    view = PolicyView(result.runner)
    normalizer = view.module.actor_obs_normalizer if (MAJOR == 3) else view.module.obs_normalizer
    np.testing.assert_allclose(normalizer.mean.numpy(), observations.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(normalizer.std.numpy(), observations.std(0), rtol=1e-3, atol=1e-4)
    result.env.close()


def test_held_actor_normaliser_keeps_the_demo_statistics_while_the_critic_s_follow_the_rollouts(tmp_path):
    from genpo_rsl.demos import hold_actor_normalizer

    rng = np.random.default_rng(0)
    path = tmp_path / "reach.npz"
    save_demos(path, rng.normal(3.0, 2.0, size=(300, 6)), rng.normal(size=(300, 2)))
    result = pretrain("toy/PointReach", str(path), algo="genpo", log_dir=str(tmp_path / "run"), log=None,
                      config=PretrainConfig(epochs=1, eval_samples=4), keep_runner=True)
    runner, view = result.runner, PolicyView(result.runner)
    runner.disable_logs = True
    actor_norm = view.module.actor_obs_normalizer if (MAJOR == 3) else view.module.obs_normalizer
    critic_norm = view.module.critic_obs_normalizer if (MAJOR == 3) else runner.alg._raw_critic.obs_normalizer
    actor_before, critic_before = actor_norm.mean.clone(), critic_norm.mean.clone()
    hold_actor_normalizer(runner)
    runner.learn(1)  # rollouts of PointReach look nothing like N(3, 2^2) observations
    assert torch.equal(actor_norm.mean, actor_before)
    assert not torch.equal(critic_norm.mean, critic_before)
    result.env.close()


def test_genpo_train_hold_obs_normalizer_keeps_the_pretrained_statistics_and_resumes_with_them(tmp_path, capsys):
    import shlex

    from genpo_rsl.scripts import train
    from genpo_rsl.scripts.common import load_run

    rng = np.random.default_rng(2)
    demos = tmp_path / "reach.npz"  # observations nothing like PointReach's rollouts: the statistics would move
    save_demos(demos, rng.normal(3.0, 2.0, size=(200, 6)), np.clip(rng.normal(size=(200, 2)), -1, 1))
    checkpoint = pretrain("toy/PointReach", str(demos), algo="genpo", log_dir=str(tmp_path / "bc"), log=None,
                          cfg_overrides={"policy.actor_hidden_dims": [32, 32]},
                          config=PretrainConfig(epochs=1, eval_samples=4)).checkpoint

    def actor_statistics(path: str) -> dict:
        actor, _ = _actor_and_critic(path)
        return {k: v for k, v in actor.items() if "normalizer" in k}

    common = ["--task", "toy/PointReach", "--init", checkpoint, "--max-iterations", "1", "--num-envs", "4"]
    held = train.run([*common, "--hold-obs-normalizer", "--log-dir", str(tmp_path / "held")])
    followed = train.run([*common, "--log-dir", str(tmp_path / "followed")])
    pretrained = actor_statistics(checkpoint)
    assert pretrained and pretrained.keys() == actor_statistics(held).keys()
    assert all(torch.equal(v, actor_statistics(held)[k]) for k, v in pretrained.items())
    assert any(not torch.equal(v, actor_statistics(followed)[k]) for k, v in pretrained.items())
    assert load_run(held)["hold_obs_normalizer"] is True

    # The printed resume command repeats what --init set (it is not in the checkpoint) and the hold.
    args = train.parse_args([*common, "--hold-obs-normalizer", "algorithm.learning_rate=0.0002"])
    inherited = train.resolve_config(args)[3]
    command = shlex.split(train.resume_command(args, str(tmp_path / "held"), held, 1, inherited))
    assert "--hold-obs-normalizer" in command and "--init" not in command
    # The user's overrides come after (and so win over) what --init set.
    assert command.index("algorithm.compression_coef=0.0") < command.index("algorithm.learning_rate=0.0002")
    assert "policy.actor_hidden_dims=[32, 32]" in command
    resumed = train.run(command[1:])
    segment = load_run(resumed)["resumes"][-1]["overrides"]  # the resume's segment of the run's record
    assert segment["algorithm.compression_coef"] == 0.0
    assert segment["algorithm.learning_rate"] == 0.0002
    assert all(torch.equal(v, actor_statistics(resumed)[k]) for k, v in pretrained.items())

    capsys.readouterr()
    assert train.main(["--task", "toy/PointReach", "--hold-obs-normalizer", "--max-iterations", "1",
                       "--log-dir", str(tmp_path / "x")]) == 2
    assert "--hold-obs-normalizer: needs --init" in capsys.readouterr().err

# ---------------------------------------------------------------------------------------------- bad demo files
def _bad_files(tmp_path):
    good_obs, good_act = np.zeros((10, 2), np.float32), np.zeros((10, 2), np.float32)
    nan_act = good_act.copy()
    nan_act[3, 1] = np.nan
    inf_obs = good_obs.copy()
    inf_obs[7, 0] = np.inf
    huge_obs = good_obs.copy()
    huge_obs[2, 1] = 1e30  # finite, but no recording has it
    cases = {
        "missing_actions": ({"observations": good_obs}, "missing array"),
        "wrong_action_size": ({"observations": good_obs, "actions": np.zeros((10, 3))}, "action size 3"),
        "wrong_obs_size": ({"observations": np.zeros((10, 5)), "actions": good_act}, "observation size 5"),
        "nan_action": ({"observations": good_obs, "actions": nan_act}, "NaN or inf"),
        "inf_observation": ({"observations": inf_obs, "actions": good_act}, "NaN or inf"),
        "absurd_observation": ({"observations": huge_obs, "actions": good_act}, "absurd size"),
        "empty": ({"observations": np.zeros((0, 2)), "actions": np.zeros((0, 2))}, "empty"),
        "mismatched_lengths": ({"observations": good_obs, "actions": good_act[:9]}, "pair up"),
        "one_dimensional": ({"observations": good_obs, "actions": np.zeros(10)}, "shape"),
        "bad_episode_starts": ({"observations": good_obs, "actions": good_act, "episode_starts": np.ones(4, bool)},
                               "episode_starts"),
    }
    for name, (arrays, _) in cases.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
    (tmp_path / "not_npz.npz").write_bytes(b"plain text")
    cases["not_npz"] = ({}, "not a readable .npz")
    return {name: (str(tmp_path / f"{name}.npz"), match) for name, (_, match) in cases.items()}


def test_bad_demo_files_fail_clearly_before_any_training(tmp_path, monkeypatch, capsys):
    import genpo_rsl.demos.cloning as cloning
    from genpo_rsl.scripts import pretrain as pretrain_cli

    def no_training(*args, **kwargs):
        raise AssertionError("training started on a bad demo file")

    monkeypatch.setattr(cloning, "fit", no_training)
    for name, (path, match) in _bad_files(tmp_path).items():
        log_dir = tmp_path / f"log_{name}"
        with pytest.raises(DemoError, match=match):
            pretrain("toy/TwoGoalReach", path, log_dir=str(log_dir), log=None)
        assert not log_dir.exists(), name  # nothing written
        assert pretrain_cli.main(["--task", "toy/TwoGoalReach", "--demos", path, "--log-dir", str(log_dir)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("genpo-pretrain: error: --demos") and path in err, (name, err)
    with pytest.raises(DemoError, match="no such file"):
        pretrain("toy/TwoGoalReach", str(tmp_path / "absent.npz"), log=None)
    assert pretrain_cli.main(["--task", "toy/TwoGoalReach", "--demos", str(tmp_path / "x.npz"), "--epochs", "0"]) == 2
    assert "--epochs: must be an integer >= 1" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- downstream
@pytest.mark.parametrize("algo,flow", [("genpo", "coupled"), ("genpo", "multistep"), ("ppo", None)])
def test_pretrained_checkpoint_loads_in_play_export_and_init(tmp_path, algo, flow):
    from genpo_rsl.runner import GenPORunner
    from genpo_rsl.scripts import play
    from genpo_rsl.scripts.common import load_run, load_runner
    from genpo_rsl.scripts import pretrain as pretrain_cli

    rng = np.random.default_rng(0)
    demos = tmp_path / "reach.npz"
    save_demos(demos, rng.normal(size=(300, 6)), np.clip(rng.normal(size=(300, 2)), -1, 1))
    policy_overrides = ["policy.actor_hidden_dims=[32,32]"] + ([f"policy.flow={flow}"] if flow else [])
    checkpoint = pretrain_cli.run(["--task", "toy/PointReach", "--demos", str(demos), "--algo", algo, "--epochs", "2",
                                   "--log-dir", str(tmp_path / "bc"), *policy_overrides])
    run = load_run(checkpoint)
    assert run["genpo_rsl_pretrain"]["latent"] == flow  # the objective integrated out that flow's latent half
    hidden = run["train_cfg"]["policy"]["actor_hidden_dims"] if "policy" in run["train_cfg"] else \
        run["train_cfg"]["actor"]["hidden_dims"]
    assert run["algo"] == algo and hidden == [32, 32] and "genpo_rsl_pretrain" in run
    result = play.run(["--checkpoint", checkpoint, "--episodes", "2", "--deterministic"])
    assert len(result["returns"]) == 2 and all(np.isfinite(result["returns"]))
    if algo == "genpo":
        from genpo_rsl.scripts import export

        report = export.run(["--checkpoint", checkpoint, "--format", "jit"])
        assert os.path.isfile(report.path)

    # Fine-tune start: a fresh runner of the same settings takes the actor, keeps its own critic.
    runner, env, _ = load_runner(checkpoint, num_envs=4, quiet=True)
    pretrained = {k: v.clone() for k, v in PolicyView(runner).module.state_dict().items()}
    env.close()
    from genpo_rsl.envs import make_task_env

    env = make_task_env("toy/PointReach", 4, 1, "cpu")
    from rsl_rl.runners import OnPolicyRunner

    stock = OnPolicyRunner(env, copy.deepcopy(run["train_cfg"]), log_dir=None, device="cpu")
    stock.load(checkpoint)  # the installed rsl_rl's own runner reads it as one of its checkpoints
    loaded_actor = stock.alg.policy.state_dict() if hasattr(stock.alg, "policy") else stock.alg.actor.state_dict()
    assert all(torch.equal(loaded_actor[k], pretrained[k]) for k in loaded_actor if k in pretrained)
    fresh = GenPORunner(env, copy.deepcopy(run["train_cfg"]), log_dir=None, device="cpu")
    fresh.disable_logs = True
    view = PolicyView(fresh)
    critic_before = {k: v.clone() for k, v in (view.module.state_dict() if (MAJOR == 3) else
                                               fresh.alg._raw_critic.state_dict()).items() if "critic" in k or not (MAJOR == 3)}
    load_actor(fresh, checkpoint)
    now = view.module.state_dict()
    actor_keys = [k for k in now if not k.startswith(("critic.", "critic_obs_normalizer."))]
    assert actor_keys and all(torch.equal(now[k], pretrained[k]) for k in actor_keys)
    critic_now = view.module.state_dict() if (MAJOR == 3) else fresh.alg._raw_critic.state_dict()
    assert all(torch.equal(critic_now[k], v) for k, v in critic_before.items())  # critic untouched

    # Critic warm-up: only the critic moves, the learning rate and normaliser setting come back.
    actor_params = [p.detach().clone() for p in view.actor_parameters()]
    lr, schedule = fresh.alg.learning_rate, fresh.alg.schedule
    warm_up_critic(fresh, 2)
    assert all(torch.equal(a, b) for a, b in zip(actor_params, view.actor_parameters()))
    critic_after = view.module.state_dict() if (MAJOR == 3) else fresh.alg._raw_critic.state_dict()
    assert any(not torch.equal(critic_after[k], v) for k, v in critic_before.items() if v.is_floating_point())
    assert fresh.alg.learning_rate == lr and fresh.alg.schedule == schedule
    assert all(p.requires_grad for p in view.actor_parameters())
    fresh.learn(1)  # and then the actor trains
    assert any(not torch.equal(a, b) for a, b in zip(actor_params, view.actor_parameters()))
    env.close()


def test_init_rejects_a_checkpoint_of_another_policy_kind(tmp_path):
    from genpo_rsl.checkpoint import CheckpointError
    from genpo_rsl.runner import GenPORunner
    from genpo_rsl.envs import make_task_env
    from genpo_rsl.rundir import load_run

    demos = tmp_path / "reach.npz"
    save_demos(demos, np.zeros((50, 6)), np.zeros((50, 2)))
    gaussian = pretrain("toy/PointReach", str(demos), algo="ppo", log_dir=str(tmp_path / "ppo"), log=None,
                        config=PretrainConfig(epochs=1))
    genpo = pretrain("toy/PointReach", str(demos), algo="genpo", log_dir=str(tmp_path / "genpo"), log=None,
                     config=PretrainConfig(epochs=1, eval_samples=4))
    env = make_task_env("toy/PointReach", 2, 0, "cpu")
    runner = GenPORunner(env, load_run(genpo.checkpoint)["train_cfg"], log_dir=None, device="cpu")
    with pytest.raises(CheckpointError, match="Gaussian"):
        load_actor(runner, gaussian.checkpoint)
    env.close()


def _actor_and_critic(checkpoint: str) -> tuple[dict, dict]:
    from genpo_rsl.checkpoint import read_checkpoint

    loaded = read_checkpoint(checkpoint, map_location="cpu")
    if "model_state_dict" in loaded:  # rsl_rl 3.x: one dict, critic keys by prefix
        state = loaded["model_state_dict"]
        critic = {k: v for k, v in state.items() if k.startswith(("critic.", "critic_obs_normalizer."))}
        return {k: v for k, v in state.items() if k not in critic}, critic
    return loaded["actor_state_dict"], loaded["critic_state_dict"]


@pytest.mark.parametrize("algo", ["genpo", "ppo"])
def test_genpo_train_init_fine_tunes_from_the_pretrained_actor(tmp_path, algo, capsys):
    from genpo_rsl.scripts import train

    rng = np.random.default_rng(1)
    demos = tmp_path / "reach.npz"
    save_demos(demos, rng.normal(size=(200, 6)), np.clip(rng.normal(size=(200, 2)), -1, 1))
    checkpoint = pretrain("toy/PointReach", str(demos), algo=algo, log_dir=str(tmp_path / "bc"), log=None,
                          cfg_overrides={"policy.actor_hidden_dims": [32, 32]},
                          config=PretrainConfig(epochs=2, eval_samples=4)).checkpoint
    # No hidden-size override here: genpo-train takes the pretrained actor's policy overrides from its run.json.
    final = train.run(["--task", "toy/PointReach", "--algo", algo, "--init", checkpoint, "--critic-warmup", "1",
                       "--max-iterations", "1", "--num-envs", "4", "--log-dir", str(tmp_path / "ft")])
    pretrained_actor, pretrained_critic = _actor_and_critic(checkpoint)
    warm_actor, warm_critic = _actor_and_critic(str(tmp_path / "ft" / "model_0.pt"))  # after the warm-up iteration
    final_actor, _ = _actor_and_critic(final)
    assert pretrained_actor.keys() == warm_actor.keys()
    assert all(torch.equal(pretrained_actor[k], warm_actor[k]) for k in pretrained_actor)  # loaded, then frozen
    assert any(not torch.equal(pretrained_critic[k], warm_critic[k]) for k in warm_critic)  # fresh, then trained
    assert any(not torch.equal(pretrained_actor[k], final_actor[k]) for k in final_actor)  # then the actor trains
    if algo == "genpo":  # fine-tuning turns the compression term off unless the command line sets it
        from genpo_rsl.config import GENPO_ALGORITHM_DEFAULTS
        from genpo_rsl.scripts.common import load_run

        assert GENPO_ALGORITHM_DEFAULTS["compression_coef"] > 0
        assert load_run(final)["train_cfg"]["algorithm"]["compression_coef"] == 0.0
        again = train.run(["--task", "toy/PointReach", "--init", checkpoint, "--max-iterations", "1", "--num-envs",
                           "2", "--log-dir", str(tmp_path / "ft2"), "algorithm.compression_coef=0.02"])
        assert load_run(again)["train_cfg"]["algorithm"]["compression_coef"] == 0.02

    common = ["--task", "toy/PointReach", "--algo", algo, "--num-envs", "2", "--max-iterations", "1"]
    capsys.readouterr()
    assert train.main([*common, "--init", checkpoint, "--resume", checkpoint, "--log-dir", str(tmp_path / "x")]) == 2
    assert "--init and --resume" in capsys.readouterr().err
    assert train.main([*common, "--critic-warmup", "2", "--log-dir", str(tmp_path / "y")]) == 2
    assert "--critic-warmup: needs --init" in capsys.readouterr().err
    other = "ppo" if algo == "genpo" else "genpo"
    assert train.main(["--task", "toy/PointReach", "--algo", other, "--num-envs", "2", "--max-iterations", "1",
                       "--init", checkpoint, "--log-dir", str(tmp_path / "z")]) == 2
    assert "genpo-train: error:" in capsys.readouterr().err
