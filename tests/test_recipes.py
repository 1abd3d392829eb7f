"""GenPO's named recipes (genpo_rsl.config.RECIPES): the robot recipe is the Genesis tasks' default, the paper's
GenPO is one flag away in genpo-train, and a run keeps its recipe through play and resume (in whichever rsl_rl world
is installed). The IsaacLab and mjlab sides are tested with their clients (tests/isaaclab, tests/mjlab)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch

from genpo_rsl.config import FLOW_DEFAULTS, RECIPES, recipe
from genpo_rsl.scripts import play, train
from genpo_rsl.train_config import build_runner_cfg, task_settings

SMALL = ["--task", "toy/PointReach", "--num-envs", "4", "--max-iterations", "1", "policy.hidden_dims=[16,16]",
         "policy.time_embed_dim=8", "policy.time_hidden_dims=[8]", "num_steps_per_env=8"]


def quiet(command, argv):
    with contextlib.redirect_stdout(io.StringIO()):
        return command.run(argv)


def test_recipes_are_valid_settings_and_a_bad_name_is_named():
    for name in RECIPES:
        sections = recipe(name)
        assert set(sections["policy"]) <= set(FLOW_DEFAULTS)
        sections["policy"]["head_dims"] = ["changed"]  # a copy: the table is not changed through it
        assert recipe(name)["policy"].get("head_dims") != ["changed"]
    with pytest.raises(ValueError, match=r"recipe: must be one of \['paper', 'robot'\], got 'papr'"):
        recipe("papr")


@pytest.mark.parametrize("task", ["genesis/Go2-Velocity-Flat", "genesis/Go2-Velocity-Flat-Omni"])
def test_the_robot_recipe_is_the_genesis_tasks_default_and_only_genpo_reads_it(task):
    settings = task_settings(task)
    assert settings["flow"] == RECIPES["robot"]["policy"]
    genpo = build_runner_cfg("genpo", settings)
    ppo = build_runner_cfg("ppo", settings)
    section = genpo.get("actor", genpo.get("policy"))
    for field, value in RECIPES["robot"]["policy"].items():
        assert section[field] == value, field
    for field, value in RECIPES["robot"]["algorithm"].items():  # GenPO-only values leave Gaussian PPO's alone
        assert genpo["algorithm"][field] == value
        assert ppo["algorithm"].get(field) != value or task_settings(task)["ppo"].get(field) == value


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_genpo_train_recipe_flag_builds_it_records_it_and_play_and_resume_keep_it(tmp_path, name):
    folder = tmp_path / name
    final = quiet(train, [*SMALL, "--recipe", name, "--log-dir", str(folder)])
    run = json.loads((folder / "run.json").read_text())
    assert run["recipe"] == name
    section = run["train_cfg"].get("actor", run["train_cfg"].get("policy"))
    for field, value in recipe(name)["policy"].items():
        assert section[field] == value, field
    assert len(quiet(play, ["--checkpoint", final, "--episodes", "1", "--num-envs", "1"])["returns"]) == 1
    # --resume without --recipe takes the run's; another recipe on resume is refused.
    resumed = quiet(train, ["--resume", final, "--max-iterations", "1"])
    assert torch.load(resumed, map_location="cpu", weights_only=False)["iter"] > 0
    assert json.loads((folder / "run.json").read_text())["resumes"]
    other = "paper" if name == "robot" else "robot"
    code = train.main(["--resume", final, "--recipe", other, "--max-iterations", "1"])
    assert code == 2


def test_a_recipe_for_gaussian_ppo_is_refused_in_one_line(capsys):
    code = train.main(["--task", "toy/PointReach", "--algo", "ppo", "--recipe", "paper"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--recipe paper" in err and "--algo ppo" in err


def test_symmetry_augmentation_keeps_the_tasks_learning_epochs():
    """With augmentation (each minibatch mirrored, twice the samples) GenPO runs the task's epochs, not the robot
    recipe's; the mirror loss alone and an explicit override keep theirs."""
    assert "num_learning_epochs" not in recipe("robot", augmentation=True)["algorithm"]
    assert recipe("robot", augmentation=True)["policy"] == RECIPES["robot"]["policy"]
    assert recipe("paper", augmentation=True) == recipe("paper")
    task = "genesis/Go2-Velocity-Flat-Omni"
    ppo_epochs = task_settings(task)["ppo"]["num_learning_epochs"]
    assert ppo_epochs != RECIPES["robot"]["algorithm"]["num_learning_epochs"]

    def epochs(*flags):
        return train.resolve_config(train.parse_args(["--task", task, *flags]))[1]["algorithm"]["num_learning_epochs"]

    assert epochs() == RECIPES["robot"]["algorithm"]["num_learning_epochs"]
    assert epochs("--symmetry", "augmentation") == epochs("--symmetry", "both") == ppo_epochs
    assert epochs("--symmetry", "mirror_loss") == RECIPES["robot"]["algorithm"]["num_learning_epochs"]
    assert epochs("--symmetry", "augmentation", "algorithm.num_learning_epochs=2") == 2
    assert epochs("--symmetry", "augmentation", "--algo", "ppo") == ppo_epochs
