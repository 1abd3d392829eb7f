"""IsaacLab 3.x's ``isaaclab train|play --rl_library rsl_rl --agent genpo`` for the GenPO paper's tasks, on CPU.

IsaacLab 3.0's own code (its rsl_rl backends' argument parsing, ``resolve_task_config`` with Hydra overrides,
``handle_deprecated_rsl_rl_cfg``, ``create_rsl_rl_runner``, checkpoint lookup) with rsl-rl-lib 5.x's stock
``OnPolicyRunner``, on a stand-in VecEnv of each task's sizes; ``--agent genpo`` comes from this package's
``isaaclab.tasks`` entry point, which IsaacLab 3.x's CLI loads. It runs in a separate interpreter
(``isaaclab3_driver.py``): the other tests of this folder import IsaacLab 2.3.2, and one interpreter holds one
IsaacLab. IsaacLab 3.x requires rsl-rl-lib >= 5.0.1, so these tests run in the 5.x world only; the 3.x worlds run
IsaacLab 2.3.x's counterpart, ``test_isaaclab_train_genpo.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import standins
from isaaclab_helpers import HERE, require_sources

from genpo_rsl.compat import rsl_rl_major
from genpo_rsl.config import recipe
from isaaclab_tasks_ext.registration import task_recipe
from isaaclab_tasks_ext.tuned import ISAACLAB3_TASK_IDS, PAPER_TASK_DIMS, paper_task_id, tuned_overrides

pytestmark = pytest.mark.skipif(
    rsl_rl_major() != 5,
    reason="IsaacLab 3.x requires rsl-rl-lib >= 5.0.1; the 3.x worlds run IsaacLab 2.3.x's "
           "test_isaaclab_train_genpo.py",
)

TASKS = sorted(task for task in ISAACLAB3_TASK_IDS.values() if task is not None)


@pytest.fixture(scope="module")
def isaaclab3(tmp_path_factory):
    """The driver's findings for every task (one interpreter, ~20-40 s)."""
    require_sources(standins.ISAACLAB3_VERSION)
    workdir = tmp_path_factory.mktemp("isaaclab3")
    env = {**os.environ, "GENPO_RSL_DISABLE_HOOK": "1", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, str(HERE / "isaaclab3_driver.py"), str(workdir), *TASKS],
                          capture_output=True, text=True, env=env, cwd=str(workdir), timeout=900)
    assert proc.returncode == 0, f"driver failed:\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-8000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_entry_point_adds_genpo_to_every_rsl_rl_task(isaaclab3):
    """Not the .pth hook (off at interpreter start): IsaacLab 3.x's ``load_external_tasks`` loading our entry point.
    Every task's GenPO config loads, those whose rsl_rl config is a preset included."""
    assert not isaaclab3["hook_at_start"]
    assert len(isaaclab3["rsl_rl_tasks"]) > 0 and isaaclab3["genpo_everywhere"]
    assert isaaclab3["cfg_failures"] == {}


def test_preset_task_gets_a_preset_of_genpo_configs(isaaclab3):
    """``Isaac-Reorient-Cube-Shadow``'s rsl_rl config is a preset (``default``, ``asymmetric``): ``--agent genpo``
    follows IsaacLab's preset selection, and Hydra overrides reach the selected GenPO config."""
    default, asymmetric = isaaclab3["preset"]["default"], isaaclab3["preset"]["asymmetric"]
    assert default["type"] == asymmetric["type"] == "GenPOModelRunnerCfg"
    assert default["num_steps"] == 3 and asymmetric["num_steps"] == 5
    assert asymmetric["obs_groups"] == {"actor": ["policy"], "critic": ["critic"]}
    assert default["experiment_name"] == asymmetric["experiment_name"] == "shadow_hand_genpo"


def test_paper_tasks_exist_under_their_isaaclab3_ids(isaaclab3):
    assert set(TASKS) <= set(isaaclab3["rsl_rl_tasks"]) and len(TASKS) == 7
    assert ISAACLAB3_TASK_IDS["Isaac-Quadcopter-Direct-v0"] is None  # IsaacLab 3.0.0 has no quadcopter task
    assert not any("Quadcopter" in task for task in isaaclab3["rsl_rl_tasks"])


@pytest.mark.parametrize("task_id", TASKS)
def test_train_save_and_play(isaaclab3, task_id):
    run = isaaclab3["tasks"][task_id]
    assert "error" not in run, run.get("error")
    paper_task = paper_task_id(task_id)
    num_obs, num_actions = PAPER_TASK_DIMS[paper_task]

    # The actor/critic schema, GenPO's classes, the CLI flags and the Hydra overrides (agent.actor.num_steps=2).
    assert run["agent_cfg_type"] == "GenPOModelRunnerCfg"
    assert run["algorithm"] == "genpo_rsl.v5.algorithm.GenPO" and run["actor"] == "genpo_rsl.v5.actor.GenPOActor"
    assert run["critic"] == "MLPModel"
    assert (run["actor_obs_dim"], run["action_dim"], run["flow_steps"]) == (num_obs, num_actions, 2)
    assert run["experiment_name"].endswith("_genpo") and run["seed"] == 3 and run["num_envs"] == 6
    assert run["algorithm_cfg"]["num_learning_epochs"] == 1 and run["algorithm_cfg"]["num_mini_batches"] == 2
    # IsaacLab's handle_deprecated_rsl_rl_cfg removed the legacy field; GenPO's actor never saw it.
    assert "stochastic" not in run["actor_cfg"] and run["actor_cfg"]["distribution_cfg"] is None

    # The paper's settings, translated to the actor/critic schema (num_steps is the override above).
    tuned = tuned_overrides(task_id)
    assert tuned == tuned_overrides(paper_task)
    policy = tuned["policy"]
    assert run["actor_cfg"]["hidden_dims"] == policy["actor_hidden_dims"]
    assert run["critic_cfg"]["hidden_dims"] == policy["critic_hidden_dims"]
    assert run["actor_cfg"]["mix"] == policy["mix"] and run["actor_cfg"]["time_embed_dim"] == policy["time_embed_dim"]
    if "activation" in policy:
        assert run["actor_cfg"]["activation"] == run["critic_cfg"]["activation"] == policy["activation"]
    # The robot recipe (the locomotion tasks' --agent genpo) sets its own desired KL over the paper's table.
    own = recipe(task_recipe(task_id))["algorithm"] if task_recipe(task_id) else {}
    for field, value in tuned["algorithm"].items():
        assert run["algorithm_cfg"][field] == own.get(field, value), field

    # One iteration: a checkpoint and a tensorboard log; play finds the checkpoint and reproduces the actions.
    assert run["iteration"] == 0 and run["checkpoints"] == ["model_0.pt"] and run["event_files"] == 1
    assert run["finite"]
    play = run["play"]
    assert play["checkpoint"] == f"logs/rsl_rl/{run['experiment_name']}/2025-01-01_00-00-00/model_0.pt"
    assert play["actions"] == run["actions"] and play["repeatable"]
    assert play["unloaded_actions"] != run["actions"]  # the loaded weights are what acts


def test_multistep_flow_through_hydra_override(isaaclab3):
    """``isaaclab train ... --agent genpo agent.actor.flow=multistep agent.actor.history_coef=0.95`` then play with
    the same overrides: GenPOActor builds the multistep flow, the checkpoint reloads and reproduces the actions."""
    run = isaaclab3["multistep"]
    assert "error" not in run, run.get("error")
    assert run["flow"] == "MultistepFlow" and run["actor_cfg"]["flow"] == "multistep"
    assert run["actor_cfg"]["history_coef"] == 0.95 and run["flow_steps"] == 2
    assert run["checkpoints"] == ["model_0.pt"] and run["finite"]
    assert run["play"]["actions"] == run["actions"] and run["play"]["repeatable"]
