"""In-process: the twins' configs, mjlab's own command-line parse of the GenPO fields (good and bad values), and
crossed checkpoints through ``MjlabOnPolicyRunner.load`` (the load that ``play`` and ``train --agent.resume`` call)."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, fields

import pytest
import tyro

import mjlab  # loads the mjlab.tasks entry points, ours included
from mjlab.rl import MjlabOnPolicyRunner, RslRlOnPolicyRunnerCfg, RslRlPpoAlgorithmCfg
from mjlab.scripts.train import TrainConfig
from mjlab.tasks.registry import list_tasks, load_env_cfg, load_rl_cfg, load_runner_cls

from genpo_rsl.checkpoint import CheckpointError
from genpo_rsl.config import FLOW_DEFAULTS, GENPO_ALGORITHM_DEFAULTS, recipe
from genpo_rsl.integrations import mjlab as integration
from mjlab_helpers import CARTPOLE, VELOCITY

TWIN = CARTPOLE + "-GenPO"


def parse(task: str, *args: str) -> TrainConfig:
    """What ``train <task> <args>`` parses (mjlab.scripts.train.main's second tyro.cli call)."""
    return tyro.cli(TrainConfig, args=list(args), default=TrainConfig.from_task(task), config=mjlab.TYRO_FLAGS)


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").replace("╭", " ").replace("╰", " ").split())


def test_every_ppo_task_has_a_twin_with_its_settings():
    twins = {task for task in list_tasks() if task.endswith(("-GenPO", "-GenPO-Paper"))}
    assert set(integration.TWINS) == twins
    assert set(integration.TWINS.values()) | set(integration.SKIPPED) == set(list_tasks()) - twins
    for twin, task in integration.TWINS.items():
        ppo, genpo = load_rl_cfg(task), load_rl_cfg(twin)
        chosen = "paper" if twin.endswith("-Paper") else integration.task_recipe(task)
        assert chosen == ("robot" if "-Velocity-" in task and not twin.endswith("-Paper") else
                          "paper" if twin.endswith("-Paper") else None)
        sections = recipe(chosen) if chosen else {"policy": {}, "algorithm": {}}
        for f in fields(RslRlOnPolicyRunnerCfg):
            if f.name not in ("actor", "algorithm", "experiment_name"):
                assert getattr(genpo, f.name) == getattr(ppo, f.name), (twin, f.name)
        assert genpo.experiment_name == ppo.experiment_name + "_genpo" + ("_paper" if chosen == "paper" else "")
        for f in fields(RslRlPpoAlgorithmCfg):
            if f.name != "class_name":
                want = sections["algorithm"].get(f.name, getattr(ppo.algorithm, f.name))
                assert getattr(genpo.algorithm, f.name) == want, (twin, f.name)
        assert (genpo.actor.hidden_dims, genpo.actor.activation, genpo.actor.obs_normalization) == (
            tuple(ppo.actor.hidden_dims), ppo.actor.activation, ppo.actor.obs_normalization)
        assert load_runner_cls(twin) is load_runner_cls(task)
        assert load_env_cfg(twin) == load_env_cfg(task) and load_env_cfg(twin, play=True) == load_env_cfg(task, play=True)
        # Every GenPO setting of genpo_rsl.config is a typed field with its default, or the recipe's value.
        expected = {**FLOW_DEFAULTS, **sections["policy"]}
        assert {key: getattr(genpo.actor, key) for key in FLOW_DEFAULTS} == {
            key: tuple(v) if isinstance(v, list) else v for key, v in expected.items()}
        assert {key: getattr(genpo.algorithm, key) for key in GENPO_ALGORITHM_DEFAULTS} == {
            **GENPO_ALGORITHM_DEFAULTS, **{k: v for k, v in sections["algorithm"].items()
                                           if k in GENPO_ALGORITHM_DEFAULTS}}


def test_image_tasks_have_no_twin_and_say_why():
    assert set(integration.SKIPPED) == {"Mjlab-Lift-Cube-Yam-Depth", "Mjlab-Lift-Cube-Yam-Rgb", "Mjlab-Multi-Cube-Seg-Yam"}
    for task, reason in integration.SKIPPED.items():
        assert load_rl_cfg(task).actor.cnn_cfg is not None and "images" in reason and "camera" in reason
    with pytest.raises(ValueError, match="images"):
        integration.derive_mjlab_genpo_cfg(load_rl_cfg("Mjlab-Lift-Cube-Yam-Rgb"))


def test_register_again_adds_nothing():
    before = list_tasks()
    integration.register_genpo_twins()
    assert list_tasks() == before


def test_genpo_fields_parse_from_mjlab_command_line():
    cfg = parse(VELOCITY + "-GenPO", "--agent.actor.num-steps", "3", "--agent.actor.flow", "multistep",
                "--agent.actor.history-coef", "0.9", "--agent.actor.time-hidden-dims", "(32, 16)",
                "--agent.actor.noise-scale", "learned", "--agent.algorithm.compression-coef", "0.05",
                "--agent.algorithm.kl-estimator", "k1", "--agent.algorithm.learning-rate", "3e-4")
    actor, algorithm = asdict(cfg.agent)["actor"], asdict(cfg.agent)["algorithm"]
    assert (actor["num_steps"], actor["flow"], actor["history_coef"], actor["time_hidden_dims"], actor["noise_scale"]) \
        == (3, "multistep", 0.9, (32, 16), "learned")
    assert (algorithm["compression_coef"], algorithm["kl_estimator"], algorithm["learning_rate"]) == (0.05, "k1", 3e-4)
    assert cfg.agent.experiment_name == "g1_velocity_genpo"


def test_help_lists_every_genpo_field(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "240")
    with pytest.raises(SystemExit) as exited:
        parse(TWIN, "--help")
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for key in FLOW_DEFAULTS:
        assert f"--agent.actor.{key.replace('_', '-')}" in text, key
    for key in GENPO_ALGORITHM_DEFAULTS:
        assert f"--agent.algorithm.{key.replace('_', '-')}" in text, key


BAD_VALUES = [
    (["--agent.actor.num-steps", "0"], "GenPO actor: actor.num_steps: must be an integer in [1, 1000], got 0"),
    (["--agent.actor.mix", "1.5"], "mix"),
    (["--agent.actor.init-noise-scale", "0"], "init_noise_scale"),
    (["--agent.actor.activation", "bogus"], "bogus"),
    (["--agent.actor.time-hidden-dims", "(0,)"], "time_hidden_dims"),
    (["--agent.actor.flow", "multistep", "--agent.actor.history-coef", "0"], "history_coef"),
    (["--agent.actor.flow", "multistep", "--agent.actor.mix", "0.5"], "is a setting of flow='coupled'"),
    (["--agent.actor.flow", "diffusion"], "diffusion"),  # tyro's choice check: {coupled,multistep}
    (["--agent.actor.noise-scale", "bogus"], "bogus"),
    (["--agent.algorithm.compression-coef", "-1"], "GenPO algorithm: algorithm.compression_coef"),
    (["--agent.algorithm.compression-fraction", "0"], "compression_fraction"),
    (["--agent.algorithm.roundtrip-fail", "1e-5"], "roundtrip_fail"),
    (["--agent.algorithm.kl-estimator", "k2"], "k2"),
    (["--agent.algorithm.gamma", "1.5"], "algorithm.gamma"),
]


@pytest.mark.parametrize("args, message", BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_bad_genpo_value_is_rejected_while_parsing(args, message, capsys):
    with pytest.raises(SystemExit) as exited:
        parse(TWIN, *args)
    assert exited.value.code != 0
    text = flat(capsys.readouterr().err)
    assert message in text, text
    assert "Traceback" not in text


# ---------------------------------------------------------------------------------------------- crossed checkpoints
@pytest.fixture(scope="module")
def cartpole_env():
    from mjlab.envs import ManagerBasedRlEnv
    from mjlab.rl import RslRlVecEnvWrapper

    cfg = load_env_cfg(CARTPOLE)
    cfg.scene.num_envs = 2
    env = RslRlVecEnvWrapper(ManagerBasedRlEnv(cfg=cfg, device="cpu"))
    yield env
    env.close()


def make_runner(task: str, env, **actor):
    agent = dataclasses.replace(load_rl_cfg(task), logger="tensorboard")
    agent.actor = dataclasses.replace(agent.actor, **actor)
    return (load_runner_cls(task) or MjlabOnPolicyRunner)(env, asdict(agent), log_dir=None, device="cpu")


def test_gaussian_checkpoint_to_a_twin_is_a_clear_error(cartpole_env, cartpole_run, tmp_path):
    gaussian = tmp_path / "model_0.pt"
    make_runner(CARTPOLE, cartpole_env).save(str(gaussian))
    twin = make_runner(TWIN, cartpole_env)
    with pytest.raises(CheckpointError) as error:
        twin.load(str(gaussian), load_cfg={"actor": True}, strict=True, map_location="cpu")  # as play does
    assert "Gaussian PPO policy" in str(error.value) and f"without '-GenPO'" in str(error.value)
    with pytest.raises(CheckpointError, match="Gaussian PPO policy"):
        twin.load(str(gaussian))  # as train --agent.resume does
    # The stock task loads its own checkpoint as before.
    make_runner(CARTPOLE, cartpole_env).load(str(gaussian), load_cfg={"actor": True}, strict=True)


def test_genpo_checkpoint_to_the_stock_task_is_a_clear_error(cartpole_env, cartpole_run):
    genpo = str(cartpole_run / "model_1.pt")
    stock = make_runner(CARTPOLE, cartpole_env)
    with pytest.raises(CheckpointError) as error:
        stock.load(genpo, load_cfg={"actor": True}, strict=True, map_location="cpu")
    assert "GenPO" in str(error.value) and "Gaussian PPO policy" in str(error.value)
    assert "-GenPO" in str(error.value)
    # The twin with the run's flow settings loads it; with other flow steps it says which to set.
    make_runner(TWIN, cartpole_env).load(genpo, load_cfg={"actor": True}, strict=True)
    with pytest.raises(CheckpointError, match="num_steps") as error:
        make_runner(TWIN, cartpole_env, num_steps=3).load(genpo, load_cfg={"actor": True}, strict=True)
    assert "--agent.actor.num-steps 5" in str(error.value)  # the fix in mjlab's flag syntax
    assert "--agent.resume" in str(error.value)  # mjlab's play takes no --agent flags: the message says so
    with pytest.raises(CheckpointError, match="coupled flow, but the policy config asks for flow='multistep'"):
        make_runner(TWIN, cartpole_env, flow="multistep").load(genpo, load_cfg={"actor": True})
    # mix is not a weight: only the stamp the wrapped save writes tells a mix=0.5 config from the run's 0.9.
    with pytest.raises(CheckpointError, match="mix=0.9 in the checkpoint vs 0.5 in the config"):
        make_runner(TWIN, cartpole_env, mix=0.5).load(genpo, load_cfg={"actor": True})
