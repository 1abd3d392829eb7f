"""IsaacLab's GenPO configclasses carry every declared GenPO field, with its default, choices and help text."""

from __future__ import annotations

from isaaclab_helpers import hydra_task_cfg

from genpo_rsl.config import ALGORITHM_FIELDS
from genpo_rsl.flow import policy_fields


def test_isaaclab_configclasses_carry_every_declared_field(isaaclab_tasks):
    import dataclasses
    import typing

    from isaaclab_tasks_ext.genpo_cfg import GenPOAlgorithmCfg, GenPOFlowCfg

    for cls, fields in ((GenPOFlowCfg, policy_fields()), (GenPOAlgorithmCfg, ALGORITHM_FIELDS)):
        by_name = {f.name: f for f in dataclasses.fields(cls)}
        instance = cls()
        for field in fields:
            assert getattr(instance, field.name) == field.default
            hint = cls.__annotations__[field.name]  # own annotations: the PPO base class has unresolvable ones
            if field.kind == "choice":
                assert typing.get_args(hint) == field.choices  # e.g. noise_scale takes "state"
            assert field.name in by_name and field.help in cls.__doc__


def test_state_noise_scale_is_a_hydra_override(isaaclab_tasks, tmp_path):
    """The hand-written configclass typed noise_scale without "state"; generated from the declaration it takes it."""
    _, agent_cfg = hydra_task_cfg("Isaac-Cartpole-v0", "genpo", ["agent.policy.noise_scale=state"], tmp_path)
    assert agent_cfg.policy.noise_scale == "state"
