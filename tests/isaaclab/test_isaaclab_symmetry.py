"""IsaacLab's symmetry agents with GenPO: ``--agent genpo_with_symmetry_cfg_entry_point`` on a task that ships
``rsl_rl_with_symmetry_cfg_entry_point`` keeps the task's symmetry config and trains through train.py's path (the
stock config resolution and rsl_rl's stock OnPolicyRunner, Isaac Sim stood in) with IsaacLab's own Anymal mirror
function, which sees A-dim actions only; ``--agent genpo`` on the same task has no symmetry unless asked for.

IsaacLab 2.3.x builds rsl-rl-lib 3.x runners, so the training test runs in the 3.x worlds (as
test_isaaclab_train_genpo.py); the config checks run in every world.
"""

from __future__ import annotations

import pytest
import torch

from isaaclab_helpers import apply_cli, hydra_task_cfg, make_env, quiet

from genpo_rsl.compat import rsl_rl_major
from genpo_rsl.config import RECIPES

TASK = "Isaac-Velocity-Flat-Anymal-D-v0"
SYMMETRY_AGENT = "genpo_with_symmetry_cfg_entry_point"
OVERRIDES = ("agent.device=cpu", "agent.num_steps_per_env=4", "agent.algorithm.num_learning_epochs=1",
             "agent.algorithm.num_mini_batches=2", "agent.policy.num_steps=2", "env.scene.num_envs=6")


def test_the_symmetry_agent_keeps_the_tasks_symmetry_config(isaaclab_tasks):
    from isaaclab_tasks.utils.parse_cfg import load_cfg_from_registry

    stock = quiet(load_cfg_from_registry, TASK, "rsl_rl_with_symmetry_cfg_entry_point").to_dict()
    genpo = quiet(load_cfg_from_registry, TASK, SYMMETRY_AGENT).to_dict()
    plain = quiet(load_cfg_from_registry, TASK, "genpo").to_dict()
    assert stock["algorithm"]["symmetry_cfg"]["use_data_augmentation"]
    assert genpo["algorithm"]["symmetry_cfg"] == stock["algorithm"]["symmetry_cfg"]
    assert plain["algorithm"]["symmetry_cfg"] is None  # --agent genpo: as before, no symmetry
    assert genpo["algorithm"]["class_name"] == plain["algorithm"]["class_name"]
    section = genpo.get("actor", genpo.get("policy"))
    assert section["flow"] == "multistep"  # a locomotion task: the robot recipe, as --agent genpo
    # ... but with augmentation the task's learning epochs (genpo_rsl.config.TASK_VALUES_WITH_AUGMENTATION).
    assert genpo["algorithm"]["num_learning_epochs"] == stock["algorithm"]["num_learning_epochs"] == 5
    assert plain["algorithm"]["num_learning_epochs"] == RECIPES["robot"]["algorithm"]["num_learning_epochs"] == 3


@pytest.mark.skipif(rsl_rl_major() != 3, reason="IsaacLab 2.3.x's train.py builds rsl-rl-lib 3.x runners")
def test_the_symmetry_agent_trains_through_train_py_with_isaaclabs_mirror_function(isaaclab_tasks, tmp_path):
    from rsl_rl.runners import OnPolicyRunner

    torch.set_num_threads(1)
    env_cfg, agent_cfg = hydra_task_cfg(TASK, SYMMETRY_AGENT, list(OVERRIDES), tmp_path)
    apply_cli(env_cfg, agent_cfg, seed=1, max_iterations=1)
    env = make_env(TASK, env_cfg, agent_cfg)
    runner = quiet(OnPolicyRunner, env, agent_cfg.to_dict(), log_dir=str(tmp_path / "run"), device="cpu")
    symmetry = runner.alg.doubled_symmetry
    assert symmetry is not None and symmetry.use_data_augmentation
    assert symmetry.func.__module__.endswith("mdp.symmetry.anymal")  # IsaacLab's own function, unchanged
    seen = []
    original = symmetry.func

    def recording(env=None, obs=None, actions=None):
        if actions is not None:
            seen.append(tuple(actions.shape))
        return original(env=env, obs=obs, actions=actions)

    symmetry.func = recording
    quiet(runner.learn, num_learning_iterations=1, init_at_random_ep_len=True)
    assert seen and {shape[1] for shape in seen} == {12}  # Anymal's 12 joints, never the doubled 24
    assert (tmp_path / "run" / "model_0.pt").is_file()
