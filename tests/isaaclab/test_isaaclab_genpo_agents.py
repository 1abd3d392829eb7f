"""``--agent genpo`` against the real IsaacLab 2.3.2 sources (CPU, stand-ins for Isaac Sim's runtime only).

What the stock ``train.py``/``play.py`` do with ``--agent genpo`` is ``hydra_task_config(task, "genpo")`` ->
``load_cfg_from_registry(task, "genpo")`` -> ``gym.spec(task).kwargs["genpo"]``; these tests drive exactly those
IsaacLab functions.
"""

from __future__ import annotations

import copy
import pickle

import pytest

from isaaclab_helpers import hydra_task_cfg, quiet

SOURCE_KEY = "rsl_rl_cfg_entry_point"
GAUSSIAN_POLICY_KEYS = ("init_noise_std", "noise_std_type", "state_dependent_std")
# Runner fields derive_genpo_cfg keeps from the task's own config.
KEPT_RUNNER_FIELDS = ("seed", "device", "num_steps_per_env", "max_iterations", "obs_groups", "clip_actions",
                      "save_interval", "run_name", "logger", "neptune_project", "wandb_project", "resume",
                      "load_run", "load_checkpoint", "class_name")


def _rsl_rl_task_ids():
    import gymnasium as gym

    return sorted(spec.id for spec in gym.registry.values() if SOURCE_KEY in spec.kwargs)


def _load(task_id, key):
    from isaaclab_tasks.utils.parse_cfg import load_cfg_from_registry

    return quiet(load_cfg_from_registry, task_id, key)


def test_every_rsl_rl_task_gets_a_genpo_agent(isaaclab_tasks):
    import gymnasium as gym

    from isaaclab_tasks_ext.registration import AGENT_KEYS, entry_point

    rsl_rl_ids = _rsl_rl_task_ids()
    assert rsl_rl_ids, "isaaclab_tasks registered no task with an rsl_rl agent"
    genpo_ids = sorted(spec.id for spec in gym.registry.values() if "genpo" in spec.kwargs)
    assert genpo_ids == rsl_rl_ids
    for task_id in rsl_rl_ids:
        kwargs = gym.spec(task_id).kwargs
        for key in AGENT_KEYS:
            if key == "genpo_with_symmetry_cfg_entry_point":  # only on IsaacLab's symmetry tasks
                assert (key in kwargs) == ("rsl_rl_with_symmetry_cfg_entry_point" in kwargs), task_id
                if key not in kwargs:
                    continue
            assert kwargs[key] == entry_point(task_id, key), (task_id, key)
    # ``--agent genpo`` is the key "genpo", ``--agent genpo_paper`` the paper's recipe; the *_cfg_entry_point-style
    # aliases name the same entries, and genpo_with_symmetry_cfg_entry_point sits beside IsaacLab's symmetry key.
    assert AGENT_KEYS == ("genpo", "genpo_cfg_entry_point", "genpo_paper", "genpo_paper_cfg_entry_point",
                          "genpo_with_symmetry_cfg_entry_point")
    symmetric = [t for t in rsl_rl_ids if "rsl_rl_with_symmetry_cfg_entry_point" in gym.spec(t).kwargs]
    assert len(symmetric) >= 13 and "Isaac-Velocity-Rough-Anymal-D-v0" in symmetric, symmetric
    assert entry_point("Isaac-X-v0", "genpo_paper_cfg_entry_point") == "isaaclab_tasks_ext.agents:Isaac-X-v0@paper"
    # Both the training ids and their -Play- variants (play.py is run with the -Play- id).
    assert any("-Play-" in task_id for task_id in genpo_ids)
    assert any("-Play-" not in task_id for task_id in genpo_ids)


def test_registration_is_idempotent(isaaclab_tasks):
    import gymnasium as gym

    from isaaclab_tasks_ext.registration import register_genpo_agents

    before = {tid: dict(spec.kwargs) for tid, spec in gym.registry.items()}
    assert register_genpo_agents() == []
    assert register_genpo_agents() == []
    assert {tid: dict(spec.kwargs) for tid, spec in gym.registry.items()} == before


def test_tasks_without_rsl_rl_get_nothing(isaaclab_tasks):
    import gymnasium as gym

    others = [spec for spec in gym.registry.values() if SOURCE_KEY not in spec.kwargs]
    assert others  # e.g. skrl-only tasks and gymnasium's own environments
    assert not any("genpo" in spec.kwargs or "genpo_cfg_entry_point" in spec.kwargs for spec in others)


def test_genpo_cfg_resolves_for_every_task(isaaclab_tasks):
    """load_cfg_from_registry(task, key) for both keys and every task: GenPO's classes and every GenPO field."""
    from genpo_rsl.config import FLOW_DEFAULTS, GENPO_ALGORITHM_DEFAULTS, recipe
    from isaaclab_rl.rsl_rl import RslRlOnPolicyRunnerCfg

    from isaaclab_tasks_ext.genpo_cfg import GENPO_ALGORITHM_CLASS, GENPO_POLICY_CLASS, PPO_FIELDS, GenPORunnerCfg
    from isaaclab_tasks_ext.registration import AGENT_VARIANTS, VARIANTS, agent_keys, task_recipe
    from isaaclab_tasks_ext.tuned import tuned_overrides

    failures = []
    task_ids = _rsl_rl_task_ids()
    for task_id in task_ids:
        try:
            base = _load(task_id, SOURCE_KEY)
            base_dict = base.to_dict()
            import gymnasium as gym

            for key in agent_keys(gym.spec(task_id).kwargs):
                recipe_name, source = VARIANTS[AGENT_VARIANTS[key]]
                recipe_name = recipe_name or task_recipe(task_id)
                if "-Velocity-" in task_id:  # locomotion: the robot recipe by default, the paper's one key away
                    assert recipe_name == ("paper" if "paper" in key else "robot")
                base = _load(task_id, source)
                base_dict = base.to_dict()
                # A symmetry agent that mirrors its samples keeps the task's epochs (TASK_VALUES_WITH_AUGMENTATION).
                augmentation = bool((base_dict["algorithm"].get("symmetry_cfg") or {}).get("use_data_augmentation"))
                augmentation = augmentation and "symmetry" in key
                chosen = recipe(recipe_name, augmentation) if recipe_name else {"policy": {}, "algorithm": {}}
                cfg = _load(task_id, key)
                assert isinstance(cfg, GenPORunnerCfg) and isinstance(cfg, RslRlOnPolicyRunnerCfg)
                d = cfg.to_dict()
                policy, algorithm = d["policy"], d["algorithm"]
                assert policy["class_name"] == GENPO_POLICY_CLASS
                assert algorithm["class_name"] == GENPO_ALGORITHM_CLASS
                assert set(FLOW_DEFAULTS) <= set(policy)
                assert set(GENPO_ALGORITHM_DEFAULTS) <= set(algorithm)
                assert not set(GAUSSIAN_POLICY_KEYS) & set(policy)
                assert isinstance(policy["actor_obs_normalization"], bool)
                assert isinstance(policy["critic_obs_normalization"], bool)
                assert algorithm["rnd_cfg"] == base_dict["algorithm"]["rnd_cfg"]  # kept: GenPO supports RND
                if "symmetry" in key:  # the task's symmetry agent keeps its mirror function and flags
                    assert algorithm["symmetry_cfg"] == base_dict["algorithm"]["symmetry_cfg"] is not None
                else:  # --agent genpo behaves as before: no symmetry unless asked for
                    assert algorithm["symmetry_cfg"] is None
                assert d["experiment_name"] == base_dict["experiment_name"] + "_genpo"
                assert d["empirical_normalization"] is None
                for field in KEPT_RUNNER_FIELDS:
                    assert d[field] == base_dict[field], field
                tuned = tuned_overrides(task_id) or {}
                for field in PPO_FIELDS:
                    want = tuned.get("algorithm", {}).get(field, base_dict["algorithm"][field])
                    assert algorithm[field] == chosen["algorithm"].get(field, want), field
                for field in ("actor_hidden_dims", "critic_hidden_dims", "activation"):
                    want = tuned.get("policy", {}).get(field, base_dict["policy"][field])
                    assert policy[field] == want, field
                for field, value in chosen["policy"].items():  # the recipe wins over the paper's table
                    assert policy[field] == value, field
                if not tuned:
                    for field, default in {**FLOW_DEFAULTS}.items():
                        assert policy[field] == chosen["policy"].get(field, default), field
                    for field, default in GENPO_ALGORITHM_DEFAULTS.items():
                        assert algorithm[field] == chosen["algorithm"].get(field, default), field
                # train.py dumps the agent cfg; configs must stay picklable and deep-copyable.
                assert pickle.loads(pickle.dumps(cfg)).to_dict() == d
                assert copy.deepcopy(cfg).to_dict() == d
        except Exception as exc:  # collect, so one run reports every broken task
            failures.append(f"{task_id}: {type(exc).__name__}: {exc}")
    assert not failures, f"{len(failures)}/{len(task_ids)} tasks failed:\n" + "\n".join(failures)


def test_default_agent_is_untouched(isaaclab_tasks):
    cfg = _load("Isaac-Velocity-Rough-Anymal-D-v0", SOURCE_KEY)
    d = cfg.to_dict()
    assert d["policy"]["class_name"] == "ActorCritic"
    assert d["algorithm"]["class_name"] == "PPO"
    assert d["experiment_name"] == "anymal_d_rough"


def test_runner_cfg_dict_shape(isaaclab_tasks):
    """The dict the stock scripts pass to rsl_rl's OnPolicyRunner: IsaacLab 2.3.2's runner keys, GenPO sections."""
    import math

    from genpo_rsl.config import RECIPES
    from isaaclab_tasks_ext.genpo_cfg import GENPO_POLICY_CLASS

    base = _load("Isaac-Velocity-Rough-Anymal-D-v0", SOURCE_KEY).to_dict()
    d = _load("Isaac-Velocity-Rough-Anymal-D-v0", "genpo").to_dict()
    assert list(d) == list(base)  # same top-level keys, same order
    assert d["policy"] == {
        "class_name": GENPO_POLICY_CLASS,
        "actor_obs_normalization": False,
        "critic_obs_normalization": False,
        "actor_hidden_dims": [512, 256, 128],
        "critic_hidden_dims": [512, 256, 128],
        "activation": "elu",
        "flow": "multistep",  # the robot recipe of a locomotion task
        "num_steps": RECIPES["robot"]["policy"].get("num_steps", 5),
        "mix": 0.9,
        "history_coef": 0.97,
        "velocity_coef": 1.0,
        "time_embed_dim": 32,
        "time_hidden_dims": [64, 64],
        "noise_scale": "state",
        "init_noise_scale": 1.0,
        "head_dims": RECIPES["robot"]["policy"]["head_dims"],
        "max_noise_scale": RECIPES["robot"]["policy"].get("max_noise_scale", math.exp(2.0)),
    }
    assert list(d["algorithm"])[: len(base["algorithm"])] == list(base["algorithm"])
    assert list(d["algorithm"])[len(base["algorithm"]):] == [
        "compression_coef", "compression_form", "compression_fraction", "entropy_term", "kl_estimator", "roundtrip_warn", "roundtrip_fail"]


def test_normalization_falls_back_to_empirical_normalization(isaaclab_tasks):
    """Tasks that leave the policy's flags unset and set the deprecated runner flag get it as policy flags."""
    base = _load("Isaac-Reach-OpenArm-v0", SOURCE_KEY)
    assert base.empirical_normalization is True
    assert base.to_dict()["policy"]["actor_obs_normalization"] == {}  # MISSING -> {} in IsaacLab's to_dict
    d = _load("Isaac-Reach-OpenArm-v0", "genpo").to_dict()
    assert d["policy"]["actor_obs_normalization"] is True
    assert d["policy"]["critic_obs_normalization"] is True


def test_extra_runner_attributes_are_kept(isaaclab_tasks):
    base = _load("Isaac-Velocity-Flat-Spot-v0", SOURCE_KEY).to_dict()
    assert base["store_code_state"] is False
    assert _load("Isaac-Velocity-Flat-Spot-v0", "genpo").to_dict()["store_code_state"] is False


def test_recurrent_task_gets_a_feedforward_genpo(isaaclab_tasks):
    import gymnasium as gym

    recurrent = [tid for tid in _rsl_rl_task_ids()
                 if _load(tid, SOURCE_KEY).to_dict()["policy"]["class_name"] == "ActorCriticRecurrent"]
    assert recurrent, "IsaacLab 2.3.2 has recurrent rsl_rl tasks (GearAssembly)"
    d = _load(recurrent[0], "genpo").to_dict()
    assert not {"rnn_type", "rnn_hidden_dim", "rnn_num_layers"} & set(d["policy"])
    assert gym.spec(recurrent[0]).kwargs["genpo"]


def test_paper_tasks_get_the_papers_settings(isaaclab_tasks):
    from isaaclab_tasks_ext.tuned import PAPER_TASKS, tuned_overrides

    from genpo_rsl.config import recipe
    from isaaclab_tasks_ext.registration import task_recipe

    registered = set(_rsl_rl_task_ids())
    assert len(PAPER_TASKS) == 8 and set(PAPER_TASKS) <= registered
    for task_id in PAPER_TASKS:
        d = _load(task_id, "genpo").to_dict()
        paper = _load(task_id, "genpo_paper").to_dict()
        # On the locomotion tasks --agent genpo has the robot recipe over the paper's table: the recipe's own
        # values (its desired KL, its flow steps) win there; --agent genpo_paper keeps the whole table.
        own = recipe(task_recipe(task_id)) if task_recipe(task_id) else {}
        for section, values in tuned_overrides(task_id).items():
            for field, value in values.items():
                assert paper[section][field] == value, (task_id, section, field)
                expected = own.get(section, {}).get(field, value)
                assert d[section][field] == expected, (task_id, section, field)
        play_id = task_id.replace("-v0", "-Play-v0")
        if play_id in registered:  # the Play variant shares the settings and the experiment folder
            assert _load(play_id, "genpo").to_dict() == d
    ant = _load("Isaac-Ant-v0", "genpo").to_dict()
    assert (ant["policy"]["activation"], ant["algorithm"]["learning_rate"], ant["algorithm"]["entropy_coef"]) == (
        "mish", 1e-3, 0.01)
    quad = _load("Isaac-Quadcopter-Direct-v0", "genpo").to_dict()
    assert (quad["policy"]["time_embed_dim"], quad["policy"]["time_hidden_dims"]) == (16, [128, 128])
    franka = _load("Isaac-Lift-Cube-Franka-v0", "genpo").to_dict()
    assert franka["algorithm"]["gamma"] == 0.98


def _hydra(tmp_path, task_id, agent, overrides):
    """Run IsaacLab's stock ``hydra_task_config(task, agent)`` the way train.py does; return (env_cfg, agent_cfg)."""
    return hydra_task_cfg(task_id, agent, overrides, tmp_path)


def test_hydra_overrides_through_stock_hydra_task_config(isaaclab_tasks, tmp_path):
    """``train.py --task ... --agent genpo agent.policy.num_steps=10 ...``: IsaacLab's own Hydra path, on CPU."""
    from isaaclab_tasks_ext.genpo_cfg import GenPORunnerCfg

    env_cfg, agent_cfg = _hydra(tmp_path, "Isaac-Velocity-Rough-Anymal-D-v0", "genpo", [
        "agent.policy.num_steps=10", "agent.policy.mix=0.95", "agent.policy.time_hidden_dims=[32,32,32]",
        "agent.policy.noise_scale=learned", "agent.algorithm.compression_coef=0.05",
        "agent.algorithm.kl_estimator=k1", "agent.algorithm.learning_rate=0.0003", "agent.max_iterations=7",
        "env.scene.num_envs=16"])
    assert isinstance(agent_cfg, GenPORunnerCfg)
    assert env_cfg.scene.num_envs == 16
    d = agent_cfg.to_dict()
    assert d["policy"]["num_steps"] == 10
    assert d["policy"]["mix"] == 0.95
    assert d["policy"]["time_hidden_dims"] == [32, 32, 32]
    assert d["policy"]["noise_scale"] == "learned"
    assert d["algorithm"]["compression_coef"] == 0.05
    assert d["algorithm"]["kl_estimator"] == "k1"
    assert d["algorithm"]["learning_rate"] == 0.0003
    assert d["max_iterations"] == 7
    # untouched fields keep the derived values
    assert d["policy"]["actor_hidden_dims"] == [512, 256, 128]
    assert d["experiment_name"] == "anymal_d_rough_genpo"


def test_hydra_type_checks_overrides(isaaclab_tasks, tmp_path, capsys):
    """IsaacLab checks override types against the current value: an int where a float is expected is refused
    (Hydra reports the ValueError and exits)."""
    with pytest.raises((SystemExit, ValueError)):
        _hydra(tmp_path, "Isaac-Quadcopter-Direct-v0", "genpo", ["agent.policy.mix=1"])
    assert "Incorrect type under namespace: /policy/mix" in capsys.readouterr().err


def test_hydra_paper_task_and_default_agent(isaaclab_tasks, tmp_path):
    _, agent_cfg = _hydra(tmp_path, "Isaac-Quadcopter-Direct-v0", "genpo",
                          ["agent.policy.time_embed_dim=8"])
    assert agent_cfg.policy.time_embed_dim == 8 and agent_cfg.policy.time_hidden_dims == [128, 128]
    _, ppo_cfg = _hydra(tmp_path, "Isaac-Quadcopter-Direct-v0", "rsl_rl_cfg_entry_point", [])
    assert ppo_cfg.policy.class_name == "ActorCritic"


def test_missing_agent_error_lists_genpo(isaaclab_tasks):
    """IsaacLab's error for an unknown --agent lists the *_cfg_entry_point keys, genpo's alias among them."""
    with pytest.raises(ValueError, match=r"genpo"):
        _load("Isaac-Velocity-Rough-Anymal-D-v0", "no_such_agent")


def test_agent_cfg_dumps_to_yaml(isaaclab_tasks, tmp_path):
    """train.py writes params/agent.yaml with IsaacLab's dump_yaml."""
    from isaaclab.utils.io import dump_yaml, load_yaml

    cfg = _load("Isaac-Velocity-Flat-Anymal-D-v0", "genpo")
    dump_yaml(str(tmp_path / "agent.yaml"), cfg)
    loaded = load_yaml(str(tmp_path / "agent.yaml"))
    assert loaded["policy"]["class_name"] == "rsl_rl.modules.GenPOActorCritic"
    assert loaded["algorithm"]["compression_coef"] == 0.01


def test_unknown_task_attribute_is_an_attribute_error(isaaclab_tasks):
    import isaaclab_tasks_ext.agents as agents

    with pytest.raises(AttributeError):
        agents.__getattr__("Isaac-No-Such-Task-v0")
    factory = agents.__getattr__("Isaac-Velocity-Flat-Anymal-D-v0")
    assert quiet(factory).experiment_name == "anymal_d_flat_genpo"


def test_policy_schema_settings_translate_to_the_actor_critic_schema(isaaclab_tasks):
    """IsaacLab 3.x's configs have ``actor``/``critic`` sections; the paper's settings are written for ``policy``."""
    from isaaclab_tasks_ext.genpo_cfg import to_model_schema

    sections = {"policy": {"actor_hidden_dims": [64], "critic_hidden_dims": [32], "activation": "mish",
                           "actor_obs_normalization": True, "critic_obs_normalization": False, "num_steps": 5,
                           "mix": 0.9},
                "algorithm": {"learning_rate": 1e-3}}
    assert to_model_schema(sections) == {
        "algorithm": {"learning_rate": 1e-3},
        "actor": {"hidden_dims": [64], "activation": "mish", "obs_normalization": True, "num_steps": 5, "mix": 0.9},
        "critic": {"hidden_dims": [32], "activation": "mish", "obs_normalization": False},
    }
    assert to_model_schema({"algorithm": {"gamma": 0.9}}) == {"algorithm": {"gamma": 0.9}}


def test_schema_follows_the_installed_isaaclab_and_rsl_rl(isaaclab_tasks):
    """IsaacLab 2.3.x configs keep the ``policy`` schema in every world; with rsl-rl-lib 5.x (a combination in which
    IsaacLab 2.3.x's train.py fails for every agent, its own PPO too) loading the GenPO config warns why."""
    import warnings

    from genpo_rsl.compat import rsl_rl_major
    from isaaclab_tasks_ext.genpo_cfg import GenPORunnerCfg, uses_model_schema

    assert not uses_model_schema()  # IsaacLab 2.3.2's RslRlOnPolicyRunnerCfg has no actor/critic sections
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = _load("Isaac-Velocity-Flat-Anymal-D-v0", "genpo")
    assert isinstance(cfg, GenPORunnerCfg)
    messages = [str(w.message) for w in caught if "genpo_rsl" in str(w.message)]
    if rsl_rl_major() == 3:
        assert messages == []
    else:
        assert len(messages) == 1 and "Install rsl-rl-lib 3.x" in messages[0] and "IsaacLab 3.x" in messages[0]
