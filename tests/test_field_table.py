"""One declaration per field; flows own their identity; a third flow is one class plus one registry entry.

* Every consumer of GenPO's settings derives from the declarations: the defaults, the validators (a bad value of
  any declared field fails naming it), IsaacLab's configclasses and README's configuration tables.
* A test-only flow, declared here and registered with ``register_flow``, goes through config validation, training
  with rsl_rl's stock runner (either world), checkpoint save/load and kind recognition, ONNX/TorchScript export
  with parity, and the demonstration likelihood, without any other edit of the package.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os

import pytest
import torch

from genpo_rsl.compat import register, rsl_rl_major
from genpo_rsl.config import (ALGORITHM_FIELDS, FLOW_DEFAULTS, GENPO_ALGORITHM_DEFAULTS, configuration_tables,
                              validate_flow_cfg, validate_genpo_algorithm)
from genpo_rsl.flow import (COMMON_FIELDS, FLOWS, ExactFlow, Field, field_owners, flow_kind_of_state_dict, make_flow,
                            policy_fields, register_flow, unregister_flow)

register()
MAJOR = rsl_rl_major()
SECTION = "actor" if MAJOR >= 4 else "policy"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------------------------- the table
def test_defaults_come_from_the_declarations():
    assert dict(FLOW_DEFAULTS) == {f.name: f.default for f in policy_fields()}
    assert GENPO_ALGORITHM_DEFAULTS == {f.name: f.default for f in ALGORITHM_FIELDS}
    assert field_owners() == {"mix": "coupled", "history_coef": "multistep", "velocity_coef": "multistep"}


def _bad_value(field: Field):
    if field.kind == "choice":
        return field.choices[0] + "x"
    if field.kind == "int_list":
        return [0]
    if field.kind == "int":
        return 1.5
    return math.inf  # every declared number must be finite


@pytest.mark.parametrize("field", [f for f in policy_fields()], ids=lambda f: f.name)
def test_every_policy_field_is_checked_by_its_declaration(field):
    cfg = {field.name: _bad_value(field)}
    owner = field_owners().get(field.name)
    if owner is not None:
        cfg["flow"] = owner
    with pytest.raises(ValueError, match=rf"^{SECTION}\.{field.name}: must be"):
        validate_flow_cfg(SECTION, cfg)
    validate_flow_cfg(SECTION, {field.name: field.default, **({"flow": owner} if owner else {})})
    # ... and so are the flows built without a config (each flow that takes the field)
    for kind in [owner] if owner else list(FLOWS):
        with pytest.raises(ValueError, match=rf"^{field.name}: must be"):
            make_flow(2, 3, **{"flow": kind, field.name: _bad_value(field)})


@pytest.mark.parametrize("field", ALGORITHM_FIELDS, ids=lambda f: f.name)
def test_every_algorithm_field_is_checked_by_its_declaration(field):
    with pytest.raises(ValueError, match=rf"^algorithm\.{field.name}: must be"):
        validate_genpo_algorithm({field.name: _bad_value(field)})


def test_ppo_fields_rsl_rl_leaves_unchecked_are_checked():
    with pytest.raises(ValueError, match=r"algorithm\.schedule: must be one of \['adaptive', 'fixed'\]"):
        validate_genpo_algorithm({"schedule": "adaptiv"})
    with pytest.raises(ValueError, match=r"algorithm\.learning_rate: must be a finite number"):
        validate_genpo_algorithm({"learning_rate": math.inf})


def test_the_configuration_reference_tables_are_the_generated_ones():
    with open(os.path.join(ROOT, "docs", "configuration.md"), encoding="utf-8") as f:
        reference = f.read()
    assert configuration_tables() in reference, "docs/configuration.md is stale: run python tools/readme_tables.py"
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        assert "docs/configuration.md" in f.read()  # the front page links the reference


# ---------------------------------------------------------------------------------------------- a third flow
SHIFT = Field("shift_coef", 0.8, "a, the decay of the latent half in every step (test flow).", low=0.0, low_open=True,
              high=1.0)


class ShiftFlow(ExactFlow):
    """A test-only exact flow over (x, y): x += dt v(y); y = a y + dt v(x); |det J| = a^(A N); the env gets x."""

    kind = "shift"
    own_fields = (SHIFT,)
    summary = "a test flow"
    marker_key = "shift_coefs"
    needs_compression = False
    latent_centred_at_action = False

    def __init__(self, action_dim, context_dim, shift_coef=0.8, **common):
        SHIFT.check(shift_coef)
        super().__init__(action_dim, context_dim, **common)
        self.shift_coef = float(shift_coef)
        self.register_buffer("shift_coefs", torch.tensor([self.shift_coef]))

    @property
    def log_abs_det_jacobian(self) -> float:
        return self.num_steps * self.action_dim * math.log(self.shift_coef)

    def forward(self, context, noise):
        conditions = self.step_conditions(context)
        x, y = noise[..., : self.action_dim], noise[..., self.action_dim:]
        for i in range(self.num_steps):
            x = x + self.dt * self.velocity(y, conditions[i])
            y = self.shift_coef * y + self.dt * self.velocity(x, conditions[i])
        return torch.cat([x, y], dim=-1)

    def inverse(self, context, dummy):
        conditions = self.step_conditions(context)
        x, y = dummy[..., : self.action_dim], dummy[..., self.action_dim:]
        for i in range(self.num_steps - 1, -1, -1):
            y = (y - self.dt * self.velocity(x, conditions[i])) / self.shift_coef
            x = x - self.dt * self.velocity(y, conditions[i])
        return torch.cat([x, y], dim=-1)

    def executed_action(self, dummy):
        return dummy[..., : dummy.shape[-1] // 2].clone()

    def split_dummy(self, dummy):
        half = dummy.shape[-1] // 2
        return dummy[..., :half], dummy[..., half:]

    def join_dummy(self, action, latent):
        return torch.cat([action, latent], dim=-1)


@pytest.fixture
def shift_flow():
    register_flow(ShiftFlow)
    yield ShiftFlow
    unregister_flow("shift")


def test_a_registered_flow_joins_the_table_and_validation(shift_flow):
    assert FLOW_DEFAULTS["shift_coef"] == 0.8 and field_owners()["shift_coef"] == "shift"
    validate_flow_cfg(SECTION, {"flow": "shift", "shift_coef": 0.5})
    with pytest.raises(ValueError, match=rf"{SECTION}\.shift_coef: must be a number in \(0, 1\]"):
        validate_flow_cfg(SECTION, {"flow": "shift", "shift_coef": 1.5})
    with pytest.raises(ValueError, match=rf"{SECTION}\.shift_coef: 0.5 is a setting of flow='shift'"):
        validate_flow_cfg(SECTION, {"flow": "coupled", "shift_coef": 0.5})
    flow = make_flow(2, 3, **{**FLOW_DEFAULTS, "flow": "shift", "hidden_dims": [8], "activation": "elu"})
    assert isinstance(flow, ShiftFlow) and flow.settings()["shift_coef"] == 0.8
    assert flow_kind_of_state_dict(flow.state_dict()) == "shift"
    assert flow_kind_of_state_dict(make_flow(2, 3, hidden_dims=[8], activation="elu").state_dict()) == "coupled"
    # exact: round trip and the closed-form density against an autograd Jacobian, in float64
    flow = flow.double()
    context, noise = torch.randn(1, 3, dtype=torch.float64), torch.randn(1, 4, dtype=torch.float64)
    assert torch.allclose(flow.inverse(context, flow(context, noise)), noise, atol=1e-10)
    jac = torch.autograd.functional.jacobian(lambda e: flow(context, e.unsqueeze(0))[0], noise[0])
    assert math.isclose(float(torch.linalg.slogdet(jac)[1]), flow.log_abs_det_jacobian, abs_tol=1e-8)
    assert not COMMON_FIELDS[0].name == "shift_coef"


def test_a_registered_flow_trains_saves_loads_exports_and_scores_demos(shift_flow, tmp_path):
    from genpo_rsl.demos import LatentProposal, estimate_log_likelihood
    from genpo_rsl.envs import PointReachVecEnv
    from genpo_rsl.export import write_policy
    from genpo_rsl.runner import GenPORunner, exportable_policy, inference_policy
    from genpo_rsl.train_config import build_runner_cfg, task_settings

    settings = task_settings("toy/PointReach", {
        "num_envs": 8, "num_steps_per_env": 8, "hidden_dims": [16, 16], "save_interval": 100,
        "ppo": {"num_learning_epochs": 2, "num_mini_batches": 2},
        "flow": {"flow": "shift", "shift_coef": 0.7, "num_steps": 3, "time_embed_dim": 8, "time_hidden_dims": [8]}})
    cfg = build_runner_cfg("genpo", settings, experiment_name="shift")
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):
        runner = GenPORunner(PointReachVecEnv(8, seed=0), copy.deepcopy(cfg), log_dir=str(tmp_path), device="cpu")
        (runner.logger if MAJOR >= 4 else runner).git_status_repos = []
        runner.learn(num_learning_iterations=2)
    policy = runner.alg.policy if MAJOR == 3 else runner.alg.get_policy()
    assert isinstance(policy.flow, ShiftFlow) and policy.flow.shift_coef == 0.7
    path = str(tmp_path / "model_2.pt")
    runner.save(path)

    with contextlib.redirect_stdout(io.StringIO()):
        reloaded = GenPORunner(PointReachVecEnv(8, seed=0), copy.deepcopy(cfg), log_dir=None, device="cpu")
        reloaded.load(path)
    again = reloaded.alg.policy if MAJOR == 3 else reloaded.alg.get_policy()
    assert all(torch.equal(v, again.flow.state_dict()[k]) for k, v in policy.flow.state_dict().items())
    other = build_runner_cfg("genpo", task_settings("toy/PointReach", {**settings, "flow": {
        **settings["flow"], "shift_coef": 0.5}}), experiment_name="shift")
    with contextlib.redirect_stdout(io.StringIO()):
        mismatched = GenPORunner(PointReachVecEnv(8, seed=0), other, log_dir=None, device="cpu")
    with pytest.raises(Exception, match="shift_coef"):
        mismatched.load(path)

    from tensordict import TensorDict

    obs = torch.randn(5, policy.flow.context_dim)
    expected = inference_policy(reloaded, deterministic=True)(TensorDict({"policy": obs}, batch_size=[5]))
    for fmt in ("onnx", "jit"):
        module = exportable_policy(reloaded, fmt)
        report = write_policy(module, str(tmp_path / f"policy.{fmt}"), fmt)
        assert report.max_abs_error is not None and report.max_abs_error < 1e-5
        with torch.no_grad():
            assert torch.allclose(module(obs), expected, atol=1e-6)

    flow = policy.flow
    proposal = LatentProposal.for_flow(flow)
    assert proposal.centre_at_action is False
    context, action = torch.randn(4, flow.context_dim), torch.randn(4, flow.action_dim)
    assert torch.isfinite(estimate_log_likelihood(flow, proposal, context, action, num_samples=16)).all()
    assert torch.equal(flow.join_dummy(*flow.split_dummy(torch.cat([action, action], -1))), torch.cat([action, action], -1))
