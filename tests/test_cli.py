"""genpo-train, genpo-play and genpo-export as a user runs them, in whichever rsl_rl world is installed: overrides,
one-line errors with exit status 2, the checkpoint-mismatch hint, and the logged action spread."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

import pytest
import torch

from genpo_rsl.compat import register, rsl_rl_major
from genpo_rsl.scripts import export, play, train

MAJOR = rsl_rl_major()
SMALL = ["--task", "toy/PointReach", "--num-envs", "4", "--max-iterations", "1", "policy.hidden_dims=[16,16]",
         "policy.time_embed_dim=8", "policy.time_hidden_dims=[8]", "num_steps_per_env=8"]


def quiet_train(argv):
    with contextlib.redirect_stdout(io.StringIO()):
        return train.run(argv)


def main_of(module, argv, capsys):
    """(exit status, stderr) of a command's console-script entry point."""
    with contextlib.redirect_stdout(io.StringIO()):
        code = module.main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("algo", ["genpo", "ppo"])
def test_train_then_play(tmp_path, algo):
    log_dir = tmp_path / algo
    final = quiet_train(["--task", "toy/PointReach", "--algo", algo, "--num-envs", "4", "--max-iterations", "2",
                         "--log-dir", str(log_dir)])
    run = json.loads((log_dir / "run.json").read_text())
    assert run["algo"] == algo and run["rsl_rl_major"] == rsl_rl_major()
    result = play.run(["--checkpoint", final, "--episodes", "3", "--deterministic"])
    assert len(result["returns"]) == 3 and all(r < 0 for r in result["returns"])  # PointReach pays -distance
    again = play.run(["--checkpoint", final, "--episodes", "3", "--deterministic"])
    assert again["returns"] == result["returns"]  # deterministic actions, same seed: same rollout


def test_overrides_reach_the_models_run_json_and_play(tmp_path):
    log_dir = tmp_path / "run"
    config = tmp_path / "genpo.yaml"
    config.write_text("agent:\n  policy:\n    num_steps: 4\n  algorithm:\n    learning_rate: 5e-4\n")
    final = quiet_train([*SMALL, "--log-dir", str(log_dir), "--config", str(config), "policy.num_steps=2",
                         "agent.policy.mix=0.95", "algorithm.compression_coef=0.05", "save_interval=7"])
    run = json.loads((log_dir / "run.json").read_text())
    policy = run["train_cfg"]["policy" if MAJOR == 3 else "actor"]
    assert policy["num_steps"] == 2 and policy["mix"] == 0.95  # the command line wins over --config
    assert run["train_cfg"]["algorithm"]["learning_rate"] == 5e-4 and run["train_cfg"]["save_interval"] == 7
    assert run["overrides"]["policy.num_steps"] == 2
    saved = torch.load(final, weights_only=False)
    assert saved["infos"]["genpo_rsl"]["flow"]["num_steps"] == 2 and saved["infos"]["genpo_rsl"]["flow"]["mix"] == 0.95
    # play and export rebuild the same model from run.json (a 2-step flow with p = 0.95 loads without complaint)
    runner, env, _ = play.load_runner(final, quiet=True)
    env.close()
    flow = runner.alg.policy.flow if MAJOR == 3 else runner.alg.get_policy().flow
    assert flow.num_steps == 2 and flow.mix == 0.95
    assert len(play.run(["--checkpoint", final, "--episodes", "2"])["returns"]) == 2


def test_a_run_of_the_other_world_replays_its_overrides(tmp_path):
    """run.json of the other rsl_rl world: the config is rebuilt from its settings plus the same overrides."""
    final = quiet_train([*SMALL, "--log-dir", str(tmp_path), "policy.num_steps=2"])
    run = json.loads((tmp_path / "run.json").read_text())
    run["rsl_rl_major"] = 8 - MAJOR  # 3 <-> 5
    run["train_cfg"] = {"experiment_name": "x"}  # the other schema: not usable here
    (tmp_path / "run.json").write_text(json.dumps(run))
    runner, env, _ = play.load_runner(final, quiet=True)
    env.close()
    assert (runner.alg.policy.flow if MAJOR == 3 else runner.alg.get_policy().flow).num_steps == 2


@pytest.mark.parametrize("override, message", [
    ("policy.num_step=3", "unknown key 'policy.num_step'.*Did you mean 'policy.num_steps'"),
    ("policy.mix=1.5", r"^genpo-train: error: policy.mix: must be a number in \(0, 1\]"),  # named as typed
    ("policy.init_noise_scale=.inf", r"policy.init_noise_scale: must be a finite number > 0, got inf"),
    ("policy.max_noise_scale=0", r"policy.max_noise_scale: must be a number in \(0, "),
    ("algorithm.learning_rate=-1", r"algorithm.learning_rate: must be in \(0.0, inf\)"),
    ("policy.num_steps=abc", "policy.num_steps: expected an integer"),
])
def test_bad_overrides_fail_before_training_in_one_line(tmp_path, capsys, override, message):
    code, err = main_of(train, [*SMALL, "--log-dir", str(tmp_path), override], capsys)
    assert code == 2
    assert err.startswith("genpo-train: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert __import__("re").search(message, err), err
    assert not os.listdir(tmp_path)  # no run.json, no checkpoint: nothing trained


def test_user_mistakes_are_one_line_and_exit_2(tmp_path, capsys):
    final = quiet_train([*SMALL, "--log-dir", str(tmp_path / "run")])
    stray = tmp_path / "alone" / "model_0.pt"
    stray.parent.mkdir()
    stray.write_bytes(open(final, "rb").read())  # copied away from its run.json
    truncated = tmp_path / "run" / "model_cut.pt"
    truncated.write_bytes(open(final, "rb").read()[:1000])
    cases = [
        (play, ["--checkpoint", "/no/such.pt"], "no file at '/no/such.pt'"),
        (play, ["--checkpoint", str(stray)], "has no run.json beside it"),
        (play, ["--checkpoint", str(truncated)], "truncated"),
        (export, ["--checkpoint", str(truncated)], "truncated"),
        (export, ["--checkpoint", "/no/such.pt"], "does not exist"),
        (train, ["--task", "NoSuchTask-v0", "--log-dir", str(tmp_path / "x")], "NoSuchTask-v0"),
        (train, ["--task", "toy/PointReach", "--num-envs", "0", "--log-dir", str(tmp_path / "x")], "--num-envs"),
        (train, [*SMALL, "--log-dir", str(tmp_path / "y"), "seed=3"], "use --seed 3"),
        (play, ["--checkpoint", final, "--episodes", "0"], "--episodes"),
    ]
    for module, argv, message in cases:
        code, err = main_of(module, argv, capsys)
        prog = module.PROG
        assert code == 2 and err.startswith(f"{prog}: error: ") and err.count("\n") == 1, (argv, err)
        assert message in err and "Traceback" not in err, (argv, err)
    code, err = main_of(play, ["--checkpoint", "/no/such.pt", "--debug"], capsys)
    assert code == 2 and "Traceback" in err and err.rstrip().endswith("no file at '/no/such.pt'")


def test_a_checkpoint_that_does_not_fit_names_the_override(tmp_path, capsys):
    final = quiet_train([*SMALL, "--log-dir", str(tmp_path / "run"), "policy.num_steps=2"])
    # --resume re-applies the run's own overrides; one the user changes now is checked against the checkpoint.
    code, err = main_of(train, [*SMALL, "--log-dir", str(tmp_path / "again"), "--resume", final, "policy.num_steps=5"],
                        capsys)
    assert code == 2 and "has a 2-step flow" in err and "Fix: add policy.num_steps=2 to load it" in err
    code, err = main_of(train, [*SMALL, "--log-dir", str(tmp_path / "mixed"), "--resume", final, "policy.mix=0.8"],
                        capsys)
    assert code == 2 and "Fix: add policy.mix=0.9 to load it" in err
    # The same mismatch outside genpo-train (IsaacLab's scripts) names IsaacLab's Hydra override.
    register()
    from genpo_rsl.envs import PointReachVecEnv
    from genpo_rsl.overrides import apply_overrides
    from genpo_rsl.runner import GenPORunner
    from genpo_rsl.scripts.common import load_run

    cfg = apply_overrides(load_run(final)["train_cfg"], ["policy.num_steps=5"])
    with contextlib.redirect_stdout(io.StringIO()):
        runner = GenPORunner(PointReachVecEnv(4, seed=0), cfg, log_dir=None, device="cpu")
    hint = "agent.policy.num_steps=2" if MAJOR == 3 else "agent.actor.num_steps=2"
    with pytest.raises(ValueError, match=f"Fix: add {hint} to load it"):
        runner.load(final)


def test_logged_action_std_is_the_spread_of_the_executed_actions(tmp_path):
    """Policy/mean_std (5.x) / Policy/mean_noise_std (3.x) is the std of the actions the env got in the rollout."""
    register()
    from genpo_rsl.envs import PointReachVecEnv
    from genpo_rsl.runner import GenPORunner
    from genpo_rsl.train_config import build_runner_cfg, task_settings

    class RecordingEnv(PointReachVecEnv):
        def step(self, actions):
            received.append(actions.detach().clone())
            return super().step(actions)

    received: list[torch.Tensor] = []
    settings = task_settings("toy/PointReach", {"num_envs": 16, "num_steps_per_env": 8, "hidden_dims": [16, 16],
                                                "flow": {"init_noise_scale": 0.3}})
    with contextlib.redirect_stdout(io.StringIO()):
        runner = GenPORunner(RecordingEnv(16, seed=0), build_runner_cfg("genpo", settings), log_dir=str(tmp_path),
                             device="cpu")  # rsl_rl 3.0.1's learn needs a log dir
        (runner.logger if MAJOR >= 4 else runner).git_status_repos = []
        runner.learn(2)
    policy = runner.alg.policy if MAJOR == 3 else runner.alg.get_policy()
    logged = policy.action_std if MAJOR == 3 else policy.output_std  # what the stock runner's log reads
    last_rollout = torch.stack(received[-8:]).reshape(-1, 2)
    torch.testing.assert_close(logged, last_rollout.std(0))
    assert logged.shape == (2,) and not torch.allclose(logged.mean(), policy.flow.noise_scale.mean())


def test_console_scripts_print_usage_and_reject_flags_with_exit_2():
    for module in ("genpo_rsl.scripts.train", "genpo_rsl.scripts.play", "genpo_rsl.scripts.export"):
        proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and "usage" in proc.stdout and "--debug" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "genpo_rsl.scripts.play", "--checkpoint", "/no/such.pt"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr == "genpo-play: error: --checkpoint: no file at '/no/such.pt'\n"


def test_play_and_export_a_mujoco_run_with_reward_normalisation(tmp_path, capsys):
    """A MuJoCo run trains with normalised rewards and saves the normaliser in its env state: play and export must
    rebuild the env with the same reward settings from run.json; play with no mode flag is deterministic."""
    final = quiet_train(["--task", "HalfCheetah-v5", "--num-envs", "2", "--max-iterations", "1",
                         "--log-dir", str(tmp_path / "cheetah"), "num_steps_per_env=8", "policy.hidden_dims=[16,16]",
                         "policy.time_embed_dim=8", "policy.time_hidden_dims=[8]"])
    assert json.loads((tmp_path / "cheetah" / "run.json").read_text())["settings"]["normalize_reward"]
    capsys.readouterr()
    default = play.run(["--checkpoint", final, "--episodes", "1"])
    assert "(deterministic)" in capsys.readouterr().out
    assert default["returns"] == play.run(["--checkpoint", final, "--episodes", "1", "--deterministic"])["returns"]
    with contextlib.redirect_stdout(io.StringIO()):
        report = export.run(["--checkpoint", final, "--format", "jit", "--output", str(tmp_path / "policy.pt")])
    assert os.path.isfile(tmp_path / "policy.pt") and report is not None


def test_help_is_kept_after_the_first_and_printed_without_importing_torch(tmp_path):
    """genpo-<cmd> --help: the first builds the parser (importing genpo_rsl) and keeps the text; the second prints
    the same text without importing torch; a changed source file of the package makes it build afresh."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), COLUMNS="100")
    probe = ("import sys, genpo_cli; sys.argv = ['genpo-train', '--help']; status = genpo_cli.train(); "
             "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', status)")

    def help_run():
        proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        text, _, marker = proc.stdout.rstrip("\n").rpartition("\n")
        return text, marker

    first, marker = help_run()
    assert marker == "TORCH 0" and first.startswith("usage: genpo-train") and "policy." in first
    kept = list((tmp_path / "cache" / "genpo_rsl" / "help").iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("train-")
    second, marker = help_run()
    assert marker == "NO-TORCH 0" and second == first
    # Another key (here: the terminal width, as a changed source file would) builds and keeps a new text.
    env["COLUMNS"] = "60"
    third, marker = help_run()
    assert marker == "TORCH 0" and third != first
    assert len(list((tmp_path / "cache" / "genpo_rsl" / "help").iterdir())) == 2
