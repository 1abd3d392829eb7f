"""Exportable policies: observation normalisation + the N-step flow unrolled into one graph, and their writer.

The modules here are what TorchScript and ONNX see. They take the concatenated actor observation and return the
A-dim executed action (coupled flow: (x + y) / 2; multistep flow: x_N), never the 2A dummy action:

* :class:`FoldedFlowPolicy`: ``obs (B, O) -> actions (B, A)`` at zero base noise (evaluation, deployment), the flow
  in its deployment form (``ExactFlow.folded()``: the same map with its constants folded into the weights, about
  half the graph nodes; :class:`DeterministicFlowPolicy` is the unfolded form rsl_rl 3.x's actor uses);
* :class:`StochasticFlowPolicy`: ``(obs (B, O), noise (B, 2A)) -> actions (B, A)``; ``noise`` is standard normal and
  the learned noise scale, if any, is applied inside, so the deployment side owns its random numbers and the
  actions have the training-time distribution.

:func:`export_module` picks the module for any rsl_rl policy (GenPO or rsl_rl's own Gaussian ones, both worlds);
:func:`write_policy` writes it as TorchScript or ONNX (opset 18, dynamic batch axis, weights inside the one .onnx
file), checks the written file against the module, and only then moves it into place.
"""

from __future__ import annotations

import copy
import logging
import os
import uuid
import warnings
from dataclasses import dataclass

import torch
import torch.nn as nn

from .flow import ExactFlow

EXPORT_FORMATS = ("jit", "onnx")
ONNX_OPSET = 18
# Largest |exported - torch| accepted when write_policy checks a written file (float32 rounding is ~1e-6).
VERIFY_TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """An export that could not be written or does not reproduce the policy; nothing was left at the target path."""


# ---------------------------------------------------------------------------------------------- modules
class ExportablePolicy(nn.Module):
    """What rsl_rl's and IsaacLab's exporters ask of a policy module besides forward(obs); subclasses set obs_dim."""

    is_recurrent: bool = False
    # Properties TorchScript must not compile (IsaacLab's exporter scripts this module as a submodule).
    __jit_unused_properties__ = ["input_names", "output_names"]

    @torch.jit.export
    def reset(self) -> None:
        """No recurrent state; present because rsl_rl's and IsaacLab's exported policies expose reset()."""
        pass

    # ONNX export contract of rsl_rl 5.x (OnPolicyRunner.export_policy_to_onnx), also used by write_policy.
    def get_dummy_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(1, self.obs_dim),)

    @property
    def input_names(self) -> list[str]:
        return ["obs"]

    @property
    def output_names(self) -> list[str]:
        return ["actions"]

    def _take_sizes(self, flow: ExactFlow) -> None:
        self.obs_dim = flow.context_dim
        self.input_size = self.obs_dim  # what rsl_rl's exportable models call it (mjlab's tracking exporter reads it)
        self.action_dim = flow.action_dim

    def _check_obs(self, obs: torch.Tensor) -> None:
        # Static shapes under export, so this adds nothing to an ONNX graph; eager and TorchScript get the message.
        if obs.dim() != 2 or obs.shape[1] != self.obs_dim:
            raise ValueError(f"obs: expected shape (batch, {self.obs_dim}), got {list(obs.shape)}; pass the "
                             f"concatenated policy observation groups ({self.obs_dim} values per env)")


class DeterministicFlowPolicy(ExportablePolicy):
    """obs (B, O) -> action (B, A) at zero base noise, through the flow itself (its training form).

    rsl_rl 3.x's ``policy.actor`` (``FlowActor``) is this module around the live flow, so IsaacLab's exporters,
    which copy and script ``policy.actor``, see a TorchScript-able module. :func:`flow_policy` exports the folded
    form instead (:class:`FoldedFlowPolicy`), the same map in fewer graph nodes.
    """

    def __init__(self, obs_normalizer: nn.Module, flow: ExactFlow) -> None:
        super().__init__()
        self.obs_normalizer = obs_normalizer
        self.flow = flow
        self._take_sizes(flow)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self._check_obs(obs)
        noise = torch.zeros(obs.shape[0], 2 * self.action_dim, dtype=obs.dtype, device=obs.device)
        return self.flow.executed_action(self.flow(self.obs_normalizer(obs), noise))


class FoldedFlowPolicy(ExportablePolicy):
    """obs (B, O) -> action (B, A) at zero base noise, with the flow in its deployment form (``flow.folded()``:
    the same map, its constants folded into the weights; :mod:`genpo_rsl.flow.folded`)."""

    def __init__(self, obs_normalizer: nn.Module, flow: ExactFlow) -> None:
        super().__init__()
        self.flow = flow.folded()
        affine = normalizer_affine(obs_normalizer)
        if affine is not None and hasattr(self.flow, "fold_input"):
            self.flow.fold_input(*affine)  # the normaliser's two ops live in the first layer's weights now
            obs_normalizer = nn.Identity()
        self.obs_normalizer = obs_normalizer
        self._take_sizes(flow)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self._check_obs(obs)
        return self.flow(self.obs_normalizer(obs), None)


def normalizer_affine(normalizer: nn.Module, probe_stds: float = 10.0) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(scale, shift) with normalizer(x) = scale * x + shift, for rsl_rl's empirical normaliser ((x - mean) /
    (std + eps)); None for anything else, or when the module does not follow that formula on a probe batch up to
    ``probe_stds`` standard deviations from the mean (a clipping normaliser, say), so it stays in the graph."""
    mean, std, eps = (getattr(normalizer, name, None) for name in ("_mean", "_std", "eps"))
    if not (isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor) and isinstance(eps, (int, float))):
        return None
    with torch.no_grad():
        mean, std = mean.detach().reshape(-1), std.detach().reshape(-1)
        scale = 1.0 / (std + eps)
        shift = -mean * scale
        probe = mean + probe_stds * (std + eps) * torch.linspace(-1.0, 1.0, 9, dtype=mean.dtype,
                                                                device=mean.device).unsqueeze(-1)
        try:  # on a copy in eval mode: some normalisers update their statistics when called in training mode
            expected = copy.deepcopy(normalizer).eval()(probe)
        except Exception:  # noqa: BLE001 - a normaliser we cannot probe is kept as it is
            return None
        if expected.shape != probe.shape or not torch.allclose(expected, probe * scale + shift, rtol=1e-5, atol=1e-5):
            return None
    return scale, shift


class StochasticFlowPolicy(FoldedFlowPolicy):
    """(obs (B, O), noise (B, 2A) ~ N(0, I)) -> action (B, A); the learned noise scale, if any, is applied inside."""

    def forward(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        self._check_obs(obs)
        if noise.dim() != 2 or noise.shape[1] != 2 * self.action_dim or noise.shape[0] != obs.shape[0]:
            raise ValueError(f"noise: expected shape ({obs.shape[0]}, {2 * self.action_dim}) (batch, 2 x action_dim) "
                             f"of standard-normal samples, got {list(noise.shape)}")
        return self.flow(self.obs_normalizer(obs), noise)

    def get_dummy_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(1, self.obs_dim), torch.zeros(1, 2 * self.action_dim))

    @property
    def input_names(self) -> list[str]:
        return ["obs", "noise"]


class GaussianMeanPolicy(ExportablePolicy):
    """rsl_rl 3.x ``ActorCritic``'s deterministic policy (normaliser + actor MLP), for export."""

    def __init__(self, normalizer: nn.Module, actor: nn.Sequential) -> None:
        super().__init__()
        self.normalizer = normalizer
        self.actor = actor
        self.obs_dim = int(actor[0].in_features)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(self.normalizer(obs))


def flow_policy(obs_normalizer: nn.Module, flow: ExactFlow, stochastic: bool = False) -> FoldedFlowPolicy:
    """An exportable copy (CPU, eval mode) of a normaliser + flow, the flow folded; the live modules are not
    touched."""
    cls = StochasticFlowPolicy if stochastic else FoldedFlowPolicy
    return cls(copy.deepcopy(obs_normalizer), flow).to("cpu").eval()


def export_module(policy: nn.Module, format: str = "onnx", stochastic: bool = False) -> nn.Module:
    """The module to export for an rsl_rl policy, a copy on the CPU in eval mode.

    ``policy``: a 3.x ``ActorCritic`` (``GenPOActorCritic`` or rsl_rl's feed-forward ``ActorCritic``) or a 4.x/5.x
    actor model (``GenPOActor`` or rsl_rl's ``MLPModel``). GenPO gives :class:`FoldedFlowPolicy` or, with
    ``stochastic``, :class:`StochasticFlowPolicy`; a Gaussian policy gives its mean (deterministic only).
    """
    _check_format(format)
    flow = getattr(policy, "flow", None)
    if isinstance(flow, ExactFlow):
        normalizer = getattr(policy, "actor_obs_normalizer", None)  # 3.x keeps it beside the actor
        if normalizer is None:
            normalizer = getattr(policy, "obs_normalizer", nn.Identity())
        return flow_policy(normalizer, flow, stochastic)
    if stochastic:
        raise ValueError(f"stochastic export: only GenPO policies have one (noise input -> sampled action); "
                         f"{type(policy).__name__} is exported as its deterministic mean. Drop --stochastic.")
    if hasattr(policy, "as_jit"):  # rsl_rl 4.x/5.x model
        module = policy.as_onnx(verbose=False) if format == "onnx" else policy.as_jit()
    elif isinstance(getattr(policy, "actor", None), nn.Sequential) and not getattr(policy, "is_recurrent", False) \
            and not getattr(policy, "state_dependent_std", False):  # rsl_rl 3.x ActorCritic
        module = GaussianMeanPolicy(copy.deepcopy(policy.actor_obs_normalizer), copy.deepcopy(policy.actor))
    else:
        raise NotImplementedError(f"export: {type(policy).__name__} (recurrent, state-dependent std or unknown) is not "
                                  "supported here; use isaaclab_rl.rsl_rl.export_policy_as_jit/onnx.")
    return module.to("cpu").eval()


# ---------------------------------------------------------------------------------------------- writing
@dataclass
class ExportReport:
    """What :func:`write_policy` wrote: inputs and outputs as (name, shape), "batch" marking the dynamic axis."""

    path: str
    format: str
    inputs: list[tuple[str, tuple]]
    outputs: list[tuple[str, tuple]]
    max_abs_error: float | None  # |file - torch module| on random inputs; None: not checked

    def __str__(self) -> str:
        def signature(items: list[tuple[str, tuple]]) -> str:
            return ", ".join(f"{name} ({', '.join(str(d) for d in shape)})" for name, shape in items)

        check = ("not checked against torch" if self.max_abs_error is None
                 else f"max |file - torch| = {self.max_abs_error:.1e}")
        return f"{self.path} [{self.format}]: {signature(self.inputs)} -> {signature(self.outputs)}; {check}"


def write_policy(module: nn.Module, path: str | os.PathLike, format: str, verify: bool = True) -> ExportReport:
    """Write ``module`` to ``path`` as TorchScript ("jit") or ONNX ("onnx"); return what was written.

    ONNX: opset 18, input/output names from the module (the rsl_rl 5.x contract: ``get_dummy_inputs``,
    ``input_names``, ``output_names``), a dynamic batch axis shared by every input, and the weights stored inside
    the .onnx file (no .onnx.data side file: policies are far below protobuf's 2 GB limit). Needs ``onnxscript``.
    The file is written under a temporary name in the target folder, checked against ``module`` on random inputs
    (``verify``; for ONNX only when ``onnxruntime`` is installed), and moved into place with ``os.replace``. On any
    failure the temporary files are removed and a file already at ``path`` is left as it was.
    """
    _check_format(format)
    path = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    module = module.to("cpu").eval()
    dummy = tuple(module.get_dummy_inputs()) if hasattr(module, "get_dummy_inputs") else None
    if format == "onnx" and dummy is None:
        raise ExportError(f"ONNX export of {type(module).__name__}: the module has no get_dummy_inputs(); pass the "
                          "module rsl_rl's as_onnx() returns or one from genpo_rsl.export.export_module()")
    # A fresh name beside the target (same file system, so os.replace is atomic); the writers create it.
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        if format == "jit":
            torch.jit.script(module).save(tmp)
        else:
            _export_onnx(module, dummy, tmp)
        error = _max_abs_error(tmp, format, module, dummy) if verify and dummy is not None else None
        if error is not None and not error <= VERIFY_TOLERANCE:  # also catches NaN
            raise ExportError(f"export check failed: the written {format} file differs from the torch policy by "
                              f"{error:.3g} (> {VERIFY_TOLERANCE}) on random inputs; nothing was written to {path}")
        os.replace(tmp, path)
    except BaseException:
        for leftover in (tmp, tmp + ".data"):  # .data: the ONNX exporter's external-weights side file
            if os.path.exists(leftover):
                os.remove(leftover)
        raise
    names = list(getattr(module, "input_names", ["obs"]))
    out_name = list(getattr(module, "output_names", ["actions"]))[0]
    if dummy is None:
        return ExportReport(path, format, [(names[0], ("batch", "?"))], [(out_name, ("batch", "?"))], error)
    with torch.no_grad():
        out_shape = tuple(module(*dummy).shape[1:])
    inputs = [(name, ("batch", *x.shape[1:])) for name, x in zip(names, dummy)]
    return ExportReport(path, format, inputs, [(out_name, ("batch", *out_shape))], error)


def _export_onnx(module: nn.Module, dummy: tuple[torch.Tensor, ...], file: str) -> None:
    # Traced with a batch of 2: torch.export may specialise a size-1 dimension to a constant.
    example = tuple(x.new_zeros(2, *x.shape[1:]) for x in dummy)
    batch = torch.export.Dim("batch")
    # Silenced, as none concerns the policy: torch.export's internal deprecation notices, the note that the inputs
    # share one batch axis, and the exporter's log lines about torchvision's detection ops being unavailable.
    registry_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry_log.level
    registry_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*will not be used, since it shares the same shape constraints")
            torch.onnx.export(module, example, file, input_names=list(module.input_names),
                              output_names=list(module.output_names), opset_version=ONNX_OPSET, dynamo=True,
                              dynamic_shapes=tuple({0: batch} for _ in example), external_data=False, verbose=False)
    finally:
        registry_log.setLevel(level)


def _max_abs_error(file: str, format: str, module: nn.Module, dummy: tuple[torch.Tensor, ...]) -> float | None:
    """Largest |file - module| on standard-normal inputs of batch 1 and 5; None when onnxruntime is missing."""
    if format == "jit":
        loaded = torch.jit.load(file)

        def run(inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return loaded(*inputs)
    else:
        try:
            import onnxruntime
        except ImportError:
            return None
        session = onnxruntime.InferenceSession(file, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]

        def run(inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return torch.from_numpy(session.run(None, {n: x.numpy() for n, x in zip(names, inputs)})[0])

    generator = torch.Generator().manual_seed(0)
    errors = []
    with torch.no_grad():
        for n in (1, 5):
            inputs = tuple(torch.randn(n, *x.shape[1:], generator=generator) for x in dummy)
            errors.append((run(inputs) - module(*inputs)).abs().max())
    return float(torch.stack(errors).max())  # NaN propagates


def _check_format(format: str) -> None:
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format: must be one of {list(EXPORT_FORMATS)}, got {format!r}")
