"""Run folders are never shared or overwritten, resume honours what the user changes, and the mistakes of issue 30
that used to crash or pass silently end in one line and exit status 2 (in whichever rsl_rl world is installed)."""

from __future__ import annotations

import contextlib
import importlib.util
import hashlib
import io
import json
import os

import pytest

from genpo_rsl import rundir
from genpo_rsl.compat import rsl_rl_major
from genpo_rsl.scripts import train

MAJOR = rsl_rl_major()
SMALL = ["--task", "toy/PointReach", "--num-envs", "4", "--max-iterations", "1", "policy.hidden_dims=[16,16]",
         "policy.time_embed_dim=8", "policy.time_hidden_dims=[8]", "num_steps_per_env=8"]


def quiet_train(argv) -> str:
    with contextlib.redirect_stdout(io.StringIO()):
        return train.run(argv)


def main_of(argv, capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of genpo-train's console entry point."""
    code = train.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def digest(folder) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path):
    folders = {rundir.default_run_dir("toy/PointReach", "genpo", 0, root=str(tmp_path)) for _ in range(3)}
    assert len(folders) == 3 and all(os.path.isdir(f) and not os.listdir(f) for f in folders)


def test_a_new_run_into_a_folder_holding_a_run_is_refused_and_leaves_it_unchanged(tmp_path, capsys):
    first = tmp_path / "run"
    quiet_train([*SMALL, "--log-dir", str(first)])
    before = digest(first)
    code, _, err = main_of([*SMALL, "--log-dir", str(first)], capsys)
    assert code == 2 and err.count("\n") == 1 and "already holds a run" in err and "--resume" in err
    assert digest(first) == before


def test_a_folder_in_use_by_a_live_process_is_refused(tmp_path, capsys):
    folder = tmp_path / "busy"
    with rundir.locked(str(folder)):  # what a run holds while it trains
        code, _, err = main_of([*SMALL, "--log-dir", str(folder)], capsys)
    assert code == 2 and "in use by another running process" in err and err.count("\n") == 1
    assert not rundir.holds_run(str(folder))
    quiet_train([*SMALL, "--log-dir", str(folder)])  # free again once the lock is released
    assert rundir.holds_run(str(folder))


def test_resume_applies_a_new_learning_rate_and_appends_to_run_json(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    final = quiet_train([*SMALL, "--log-dir", str(folder), "algorithm.schedule=fixed"])
    original = json.loads((folder / "run.json").read_text())
    seen = {}
    load = train.apply_optimizer_overrides

    def spy(runner, overrides):
        load(runner, overrides)
        seen["lr"] = [group["lr"] for group in runner.alg.optimizer.param_groups]
        seen["alg"] = runner.alg.learning_rate

    monkeypatch.setattr(train, "apply_optimizer_overrides", spy)
    quiet_train(["--resume", final, "algorithm.learning_rate=0.0123", "--max-iterations", "1"])  # no --task
    assert seen["alg"] == 0.0123 and set(seen["lr"]) == {0.0123}
    run = json.loads((folder / "run.json").read_text())
    assert run["task"] == "toy/PointReach" and run["settings"] == original["settings"]  # first segment kept
    assert [r["overrides"].get("algorithm.learning_rate") for r in run["resumes"]] == [0.0123]


def test_resume_into_another_runs_folder_is_refused(tmp_path, capsys):
    final = quiet_train([*SMALL, "--log-dir", str(tmp_path / "a")])
    quiet_train([*SMALL, "--log-dir", str(tmp_path / "b")])
    before = digest(tmp_path / "b")
    code, _, err = main_of(["--resume", final, "--log-dir", str(tmp_path / "b")], capsys)
    assert code == 2 and "already holds a run" in err and digest(tmp_path / "b") == before


def test_resume_refuses_another_seed_and_another_task(tmp_path, capsys):
    final = quiet_train([*SMALL, "--log-dir", str(tmp_path / "run"), "--seed", "3"])
    code, _, err = main_of(["--resume", final, "--seed", "4"], capsys)
    assert code == 2 and "--seed 4" in err and "--init" in err and err.count("\n") == 1
    code, _, err = main_of(["--resume", final, "--task", "Hopper-v5"], capsys)
    assert code == 2 and "toy/PointReach" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv,match", [
    (["--num-envs", "1", "num_steps_per_env=2"], "algorithm.num_mini_batches=4"),  # fewer samples than minibatches
    (["algorithm.schedule=adaptiv"], "algorithm.schedule: must be one of ['adaptive', 'fixed']"),
    (["algorithm.learning_rate=.inf"], "algorithm.learning_rate: must be a finite number"),
    (["policy.init_noise_scale=.inf"], "init_noise_scale: must be a finite number > 0"),
    (["policy.num_steps=1e8"], "policy.num_steps: expected an integer"),
    (["policy.num_steps=100000000"], "num_steps: must be an integer in [1, 1000]"),  # fails fast, not out of memory
    (["--device", "banana"], "--device 'banana': not a torch device"),
    (["--seed", "-1"], "--seed: must be an integer >= 0"),
    (["check_for_nan=maybe"], "check_for_nan: must be true or false"),
    (["clip_actions=abc"], "clip_actions='abc': IsaacLab's env wrapper applies it"),
    (["--device", "cuda"] if not __import__("torch").cuda.is_available() else ["--device", "nope"], "--device"),
])
def test_bad_values_fail_in_one_line_before_any_run_folder(tmp_path, capsys, argv, match):
    folder = tmp_path / "run"
    code, _, err = main_of([*SMALL, "--log-dir", str(folder), *argv], capsys)
    assert code == 2 and match in err and err.count("\n") == 1, err
    assert not rundir.holds_run(str(folder))


def test_wandb_logger_without_wandb_is_one_line(tmp_path, capsys):
    pytest.importorskip("importlib.util")
    import importlib.util

    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here")
    code, _, err = main_of([*SMALL, "--log-dir", str(tmp_path / "run"), "--logger", "wandb"], capsys)
    assert code == 2 and "pip install wandb" in err and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "run")  # no empty run folder left behind


def test_the_end_of_a_run_says_what_happened_and_what_to_do_next(tmp_path, capsys):
    code, out, _ = main_of([*SMALL, "--log-dir", str(tmp_path / "run"), "num_steps_per_env=60"], capsys)
    assert code == 0
    done = [line for line in out.splitlines() if line.startswith("genpo-train: done:")]
    assert done and "1 iterations" in done[0] and "mean return of the last" in done[0]  # 50-step episodes ended
    assert "genpo-play --checkpoint" in out and "genpo-export --checkpoint" in out


def test_an_explicit_max_iterations_beats_the_config_file(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("max_iterations: 7\n")
    quiet_train([*SMALL, "--log-dir", str(tmp_path / "run"), "--config", str(config)])  # SMALL says 1
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["train_cfg"]["max_iterations"] == 1


def test_the_documented_tensorboard_tag_of_the_raw_return_is_the_one_written(tmp_path):
    """docs/studies.md names the raw return's tag; a run's event file has exactly that tag."""
    import pathlib

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = tmp_path / "tags"
    quiet_train([*SMALL, "--max-iterations", "3", "num_steps_per_env=60", "--log-dir", str(folder)])
    events = EventAccumulator(str(folder))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert "/episode_return" in tags, sorted(tags)
    docs = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "studies.md").read_text()
    assert "tensorboard tag, `/episode_return`" in docs


def test_play_is_one_result_line_and_video_on_a_toy_task_is_a_usage_error(tmp_path, capsys):
    from genpo_rsl.scripts import play

    final = quiet_train([*SMALL, "--log-dir", str(tmp_path / "p")])
    assert play.main(["--checkpoint", final, "--episodes", "2", "--num-envs", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("genpo-play: ") and "Actor" not in out  # no model dump
    assert play.main(["--checkpoint", final, "--video", str(tmp_path / "v.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--video: toy/PointReach has no renderer" in err


def test_export_refuses_a_file_name_of_the_other_format(tmp_path, capsys):
    from genpo_rsl.scripts import export

    final = quiet_train([*SMALL, "--log-dir", str(tmp_path / "e")])
    assert export.main(["--checkpoint", final, "--format", "jit", "--output", str(tmp_path / "p.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Fix: --output" in err and "p.pt" in err
    assert not (tmp_path / "p.onnx").exists()


def test_a_mujoco_task_prints_each_mujoco_warning_once(capfd):
    from genpo_rsl.envs import make_env

    make_env("HalfCheetah-v5", num_envs=4).close()
    captured = capfd.readouterr()
    assert (captured.out + captured.err).count("settotalmass") == 1  # HalfCheetah's model: once, not per env


def test_a_bare_toy_or_genesis_name_suggests_the_packages_own_id(capsys):
    code = train.main(["--task", "PointReach", "--max-iterations", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "'toy/PointReach'" in err


@pytest.mark.parametrize("command", ["play", "export"])
def test_the_fix_a_checkpoint_mismatch_prints_is_typeable_in_the_command_that_printed_it(tmp_path, capsys, command):
    import shlex

    from genpo_rsl.scripts import export, play

    folder = tmp_path / "m"
    final = quiet_train([*SMALL, "policy.num_steps=2", "--log-dir", str(folder)])
    run = json.loads((folder / "run.json").read_text())
    section = next(s for s in run["train_cfg"].values() if isinstance(s, dict) and "num_steps" in s)
    section["num_steps"] = 3  # a run.json that no longer matches its checkpoint
    (folder / "run.json").write_text(json.dumps(run))
    main = {"play": play.main, "export": export.main}[command]
    base = ["--checkpoint", final] + (["--episodes", "1", "--num-envs", "1"] if command == "play" else
                                      ["--output", str(tmp_path / "p.onnx")])
    assert main(base) == 2
    err = capsys.readouterr().err
    fix = err.split("Fix: add ")[1].split(" to load it")[0]
    assert fix == "policy.num_steps=2"
    assert main([*base, *shlex.split(fix)]) == 0  # the printed fix, typed as printed


def test_a_missing_task_module_is_one_line(tmp_path, capsys):
    code = train.main(["--task", "no_such_module_here:Foo-v0", "--log-dir", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot import 'no_such_module_here'" in err
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def _genesis_installed() -> bool:
    spec = importlib.util.find_spec("genesis")  # tests/genesis is a namespace package: only a real one counts
    return spec is not None and spec.origin is not None


@pytest.mark.skipif(_genesis_installed(), reason="Genesis is installed in this venv (tests/genesis runs there)")
def test_a_genesis_task_without_genesis_is_one_line_naming_the_install(tmp_path, capsys):
    code = train.main(["--task", "genesis/Go2-Velocity-Flat", "--log-dir", str(tmp_path / "g")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "pip install 'genpo-rsl[genesis]'" in err


def test_a_designed_stop_is_one_message_naming_the_surviving_checkpoint_and_the_resume_command(tmp_path, capsys):
    folder = tmp_path / "halt"
    quiet_train([*SMALL, "--max-iterations", "2", "save_interval=1", "--log-dir", str(folder)])
    survivor = max(folder.glob("model_[0-9]*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    # An inexact inverse stops training on purpose (round-trip error above roundtrip_fail) at the next update.
    code = train.main(["--resume", str(survivor), "--max-iterations", "3", "algorithm.roundtrip_warn=1e-13",
                       "algorithm.roundtrip_fail=1e-12"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "round-trip error" in err and f"the last checkpoint is {survivor}" in err and "--resume" in err
    # Before the first save: it says so instead of naming a checkpoint.
    code = train.main([*SMALL, "--log-dir", str(tmp_path / "early"), "algorithm.roundtrip_warn=1e-13",
                       "algorithm.roundtrip_fail=1e-12"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "no checkpoint was written" in err


@pytest.mark.parametrize("command, expected", [("train", "(default: tensorboard)"), ("play", "(default: 10)"),
                                               ("export", "(default: onnx)")])
def test_help_shows_the_defaults(capsys, command, expected):
    from genpo_rsl.scripts import export, play

    main = {"train": train.main, "play": play.main, "export": export.main}[command]
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0 and expected in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("field, value", [("task", ["x"]), ("settings", "garbage"), ("seed", "1"),
                                          ("train_cfg", {"algorithm": 5})])
def test_a_damaged_run_json_is_one_line_naming_the_field(tmp_path, capsys, field, value):
    from genpo_rsl.scripts import play

    folder = tmp_path / "d"
    final = quiet_train([*SMALL, "--log-dir", str(folder)])
    run = json.loads((folder / "run.json").read_text())
    run[field] = value
    (folder / "run.json").write_text(json.dumps(run))
    for main, argv in ((play.main, ["--checkpoint", final]), (train.main, ["--resume", final])):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"field '{field}" in err and "edited or damaged" in err


def test_genpos_diagnostics_are_logged_as_diagnostics_not_losses(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = tmp_path / "diag"
    with contextlib.redirect_stdout(io.StringIO()) as out:
        train.run([*SMALL, "--max-iterations", "2", "--log-dir", str(folder)])
    console = out.getvalue()
    assert "GenPO diagnostics: kl " in console and "Mean kl loss" not in console and "kl loss" not in console
    events = EventAccumulator(str(folder))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"Diagnostics/kl", "Diagnostics/clip_fraction", "Diagnostics/noise_scale"} <= tags
    assert not {"Loss/kl", "Loss/clip_fraction"} & tags
    assert any(tag.startswith("Loss/") for tag in tags)  # rsl_rl's own losses keep their keys


def test_a_full_disk_during_a_save_is_one_message_naming_the_surviving_checkpoint(tmp_path, capsys, monkeypatch):
    import errno

    import genpo_rsl.checkpoint as checkpoint

    folder = tmp_path / "full"
    real_save, calls = checkpoint.torch.save, []

    def save_until_full(obj, stream, *args, **kwargs):
        calls.append(1)
        if len(calls) > 2:  # model_0 and model_1 fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, stream, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save_until_full)
    code = train.main([*SMALL, "--max-iterations", "4", "save_interval=1", "--log-dir", str(folder)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "No space left on device" in err
    assert "the last checkpoint is" in err and "model_1.pt" in err and "--resume" in err
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # no partial file
