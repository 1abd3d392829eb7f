"""KEY=VALUE overrides into both worlds' runner configs, and the one-line error wrapper of the commands."""

from __future__ import annotations

import pytest

from genpo_rsl.config import FLOW_DEFAULTS, GENPO_ALGORITHM_DEFAULTS
from genpo_rsl.overrides import (OverrideError, apply_overrides, load_config_file, override_hint, parse_overrides,
                                 parse_value, use_override_style)
from genpo_rsl.scripts.common import CommandExit, UsageError, run_command
from genpo_rsl.train_config import build_runner_cfg, task_settings


def built(algo: str, major: int) -> dict:
    return build_runner_cfg(algo, task_settings("toy/PointReach"), major=major)


def test_values_are_yaml_with_dotless_floats():
    assert parse_value("3") == 3 and parse_value("0.95") == 0.95 and parse_value("learned") == "learned"
    assert parse_value("5e-4") == 5e-4 and parse_value("[1e-3, 2]") == [1e-3, 2]  # PyYAML alone reads '5e-4'
    assert parse_value("[64, 64]") == [64, 64] and parse_value("true") is True and parse_value("null") is None
    assert parse_value("'5e-4'") == "5e-4"  # quoted stays a string
    assert parse_overrides(["a.b=1", "c=x", "a.b=2"]) == {"c": "x", "a.b": 2}
    for bad in ("policy.num_steps", "=3", "policy num_steps=3"):
        with pytest.raises(OverrideError, match="KEY=VALUE"):
            parse_overrides([bad])


@pytest.mark.parametrize("major", [3, 5])
def test_both_worlds_names_reach_the_same_fields(major):
    cfg = built("genpo", major)
    out = apply_overrides(cfg, ["agent.policy.num_steps=3", "actor.mix=0.95", "policy.actor_hidden_dims=[32, 16]",
                                "critic.hidden_dims=[8]", "algorithm.learning_rate=5e-4", "num_steps_per_env=12",
                                "agent.max_iterations=7", "policy.activation=tanh", "actor.noise_scale=learned"])
    policy = out["policy"] if major == 3 else out["actor"]
    assert policy["num_steps"] == 3 and policy["mix"] == 0.95 and policy["noise_scale"] == "learned"
    if major == 3:
        assert policy["actor_hidden_dims"] == [32, 16] and policy["critic_hidden_dims"] == [8]
        assert policy["activation"] == "tanh"
    else:
        assert policy["hidden_dims"] == [32, 16] and out["critic"]["hidden_dims"] == [8]
        assert policy["activation"] == out["critic"]["activation"] == "tanh"
    assert out["algorithm"]["learning_rate"] == 5e-4
    assert out["num_steps_per_env"] == 12 and out["max_iterations"] == 7
    assert cfg["num_steps_per_env"] != 12  # the input config is not changed


@pytest.mark.parametrize("major", [3, 5])
def test_gaussian_ppo_takes_rsl_rls_own_fields(major):
    out = apply_overrides(built("ppo", major), {"policy.init_noise_std": 0.5, "algorithm.entropy_coef": 0.01})
    std = out["policy"]["init_noise_std"] if major == 3 else out["actor"]["distribution_cfg"]["init_std"]
    assert std == 0.5 and out["algorithm"]["entropy_coef"] == 0.01
    with pytest.raises(OverrideError, match="num_steps"):  # a flow field is not a field of Gaussian PPO's actor
        apply_overrides(built("ppo", major), ["policy.num_steps=3"])


@pytest.mark.parametrize("major", [3, 5])
def test_every_genpo_default_field_is_accepted(major):
    """The allowed keys come from genpo_rsl.config, so fields other modules add there work without a change here."""
    cfg = built("genpo", major)
    out = apply_overrides(cfg, {f"policy.{key}": value for key, value in FLOW_DEFAULTS.items()}
                          | {f"algorithm.{key}": value for key, value in GENPO_ALGORITHM_DEFAULTS.items()})
    assert out == cfg


@pytest.mark.parametrize("major", [3, 5])
@pytest.mark.parametrize("key, match", [
    ("policy.num_step=3", "did you mean 'policy.num_steps'"),
    ("agent.algorithm.learnin_rate=1e-3", "did you mean 'agent.algorithm.learning_rate'"),
    ("num_step_per_env=3", "did you mean 'num_steps_per_env'"),
    ("polcy.mix=0.9", "did you mean 'policy'"),
    ("policy.num_steps=2.5", "policy.num_steps: expected an integer"),
    ("policy.mix=abc", "policy.mix: expected a number"),
    ("actor.hidden_dims=64", "expected a list"),
    ("seed=3", "use --seed 3"),
])
def test_mistakes_name_the_fix(major, key, match):
    with pytest.raises(OverrideError, match="(?i)" + match.replace("(", r"\(").replace(".", r"\.")):
        apply_overrides(built("genpo", major), [key])


def test_config_file_nested_or_dotted(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("agent:\n  policy:\n    num_steps: 2\n  algorithm.learning_rate: 5e-4\nsave_interval: 3\n")
    assert load_config_file(path) == {"agent.policy.num_steps": 2, "agent.algorithm.learning_rate": 5e-4,
                                      "save_interval": 3}
    (tmp_path / "bad.yaml").write_text("- a\n- b\n")
    with pytest.raises(OverrideError, match="mapping"):
        load_config_file(tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError, match="--config"):
        load_config_file(tmp_path / "missing.yaml")


def test_override_hint_follows_the_entry_point():
    assert override_hint("num_steps", 3, style="genpo", major=5) == "policy.num_steps=3"
    assert override_hint("num_steps", 3, style="genpo", major=3) == "policy.num_steps=3"
    assert override_hint("num_steps", 3, style="isaaclab", major=3) == "agent.policy.num_steps=3"
    assert override_hint("num_steps", 3, style="isaaclab", major=5) == "agent.actor.num_steps=3"
    assert override_hint("num_steps", 3, style="mjlab", major=5) == "--agent.actor.num-steps 3"
    assert override_hint("hidden_dims", [64, 64], style="isaaclab", major=3) == "agent.policy.actor_hidden_dims=[64,64]"
    assert override_hint("num_steps", 3, major=5) == "agent.actor.num_steps=3"  # IsaacLab's form by default
    # No process-wide style: an error that names a setting as its fix is re-spelled by the entry point it passes
    # through, and spelled in IsaacLab's form everywhere else (a later error is not affected by an earlier style).
    from genpo_rsl.hints import FixableError

    with pytest.raises(FixableError, match=r"Fix: add policy\.num_steps=3 to load it"), use_override_style("genpo"):
        raise FixableError("Fix: add <fix> to load it.", [("num_steps", 3)])
    with pytest.raises(FixableError, match=r"Fix: add --agent\.(actor|policy)\.num-steps 3 to"), use_override_style("mjlab"):
        raise FixableError("Fix: add <fix> to load it.", [("num_steps", 3)])
    hint = override_hint("num_steps", 3)
    assert hint.startswith("agent.") and str(FixableError("<fix>", [("num_steps", 3)])) == hint
    with pytest.raises(ValueError, match="override style"):
        override_hint("num_steps", 3, style="hydra")


def test_run_command_one_line_exit_2_and_debug(capsys, monkeypatch):
    monkeypatch.delenv("GENPO_RSL_DEBUG", raising=False)

    def bad_input(argv):
        raise UsageError("policy.mix: must be in (0, 1],\n got 2")

    assert run_command("genpo-x", bad_input, []) == 2
    err = capsys.readouterr().err
    assert err == "genpo-x: error: policy.mix: must be in (0, 1], got 2\n"  # one line, no traceback
    assert run_command("genpo-x", bad_input, ["--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("GENPO_RSL_DEBUG", "1")
    assert run_command("genpo-x", bad_input, []) == 2
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.delenv("GENPO_RSL_DEBUG")

    def missing_file(argv):
        open("/no/such/file.pt")

    assert run_command("genpo-x", missing_file, []) == 2
    assert capsys.readouterr().err.startswith("genpo-x: error: [Errno 2]")

    def stopped(argv):
        raise CommandExit(130, "genpo-x: stopped")

    assert run_command("genpo-x", stopped, []) == 130 and capsys.readouterr().err == "genpo-x: stopped\n"

    def bug(argv):
        raise ZeroDivisionError("internal")

    with pytest.raises(ZeroDivisionError):  # an internal error keeps its traceback
        run_command("genpo-x", bug, [])


def test_readme_override_examples_apply(tmp_path):
    """Every KEY=VALUE of README's genpo-train examples, and its --config example, applies to a real config."""
    import pathlib
    import re
    import shlex

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    commands = [line for block in re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
                for line in block.replace("\\\n", " ").splitlines() if line.startswith("genpo-train ")]
    tokens = [token for line in commands for token in shlex.split(line, comments=True)
              if "=" in token and not token.startswith(("-", "["))]  # "[KEY=VALUE ...]" is the usage line
    assert len(tokens) >= 8, tokens
    for major in (3, 5):
        apply_overrides(built("genpo", major), tokens)
        config = tmp_path / "hopper.yaml"
        config.write_text(re.search(r"```yaml\n# hopper.yaml\n(.*?)```", readme, flags=re.S).group(1))
        out = apply_overrides(built("genpo", major), load_config_file(config))
        assert out["policy" if major == 3 else "actor"]["num_steps"] == 2 and out["num_steps_per_env"] == 256
