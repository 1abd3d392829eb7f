"""Reading and checking rsl_rl training checkpoints before their weights reach a model.

rsl_rl's own loaders index the checkpoint dict and hand the tensors to ``load_state_dict``; a checkpoint from the
other rsl_rl major, from a Gaussian PPO run, or from a task with other observation/action sizes then fails with a
``KeyError`` or a page of shape mismatches. This module reads a checkpoint, works out what wrote it and what it
holds, and compares that with the model it is about to be loaded into, so that the error names the cause and the fix.

Layouts (what ``OnPolicyRunner.save`` writes):

* rsl_rl 3.x: ``{"model_state_dict": ActorCritic.state_dict(), "optimizer_state_dict", "iter", "infos"}``;
* rsl_rl 4.x/5.x: ``{"actor_state_dict", "critic_state_dict", "optimizer_state_dict", "iter", "infos"}``.

``genpo_rsl.runner.GenPORunner.save`` also stamps ``infos["genpo_rsl"]`` with the exact versions that wrote it.

Entry points: :func:`load_checkpoint` (read + validate, for runners), :func:`describe_checkpoint` (what a file
is), :func:`check_state_dict` (3.x ``GenPOActorCritic.load_state_dict``) and :func:`check_loaded_dict` (any
algorithm's ``load``, e.g. the 5.x ``GenPO.load``). :func:`write_checkpoint` writes one atomically.
"""

from __future__ import annotations

import os
import pickle
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from .flow import flow_kind_of_state_dict
from .hints import FixableError
from .world import rsl_rl_major, rsl_rl_version

GENPO = "genpo"
GAUSSIAN = "gaussian"
RECURRENT = "recurrent"
UNKNOWN = "unknown"

_KIND_WORDS = {
    GENPO: "a GenPO coupled-flow policy",
    GAUSSIAN: "a Gaussian PPO policy (rsl_rl's MLP actor with a learned std)",
    RECURRENT: "a recurrent Gaussian PPO policy (rsl_rl's ActorCriticRecurrent)",
    UNKNOWN: "a policy of a type genpo_rsl does not recognise",
}
_LAYOUT_WORDS = {
    3: "rsl_rl 3.x (its dict has 'model_state_dict')",
    5: "rsl_rl 4.x/5.x (its dict has 'actor_state_dict'/'critic_state_dict')",
}
_PIN = {3: "rsl-rl-lib==3.1.2 (IsaacLab 2.3's pin; 3.0.1 reads it too)", 5: "rsl-rl-lib==5.5.*"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded into this model; the message names the cause and the fix."""


class CheckpointSettingsError(FixableError, CheckpointError):
    """A checkpoint trained with other policy settings; ``fixes`` are the settings that load it."""


@dataclass
class CheckpointInfo:
    """What a checkpoint holds. ``str(info)`` is a human-readable summary."""

    path: str | None
    layout: int | None  # 3 (model_state_dict) or 5 (actor/critic_state_dict), None if neither
    policy: str  # GENPO | GAUSSIAN | RECURRENT | UNKNOWN
    obs_dim: int | None = None
    action_dim: int | None = None
    critic_obs_dim: int | None = None
    flow_steps: int | None = None
    iteration: int | None = None
    written_by: dict = field(default_factory=dict)  # infos["genpo_rsl"] when GenPORunner saved it
    keys: list[str] = field(default_factory=list)

    @property
    def writer(self) -> str:
        text = _LAYOUT_WORDS.get(self.layout, "an unknown writer")
        if self.written_by.get("rsl_rl_version"):
            text += (f"; saved by rsl-rl-lib {self.written_by['rsl_rl_version']} with genpo_rsl "
                     f"{self.written_by.get('genpo_rsl_version', '?')}")
        return text

    def __str__(self) -> str:
        lines = [f"checkpoint: {self.path or '<in memory>'}",
                 f"  written by: {self.writer}",
                 f"  policy: {_KIND_WORDS[self.policy]}"]
        if self.obs_dim is not None or self.action_dim is not None:
            lines.append(f"  policy observations: {self.obs_dim}, actions: {self.action_dim}")
        if self.critic_obs_dim is not None:
            lines.append(f"  critic observations: {self.critic_obs_dim}")
        if self.flow_steps is not None:
            lines.append(f"  flow steps: {self.flow_steps}")
        if self.iteration is not None:
            lines.append(f"  iteration: {self.iteration}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- reading
def read_checkpoint(path: str | os.PathLike, map_location: Any = None) -> dict:
    """``torch.load`` a training checkpoint; unreadable, truncated or non-checkpoint files raise CheckpointError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist. Fix: pass the path of a model_<iteration>.pt "
                                "file from the run's log directory.")
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path!r} is a directory. Fix: pass one model_<iteration>.pt file in it.")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"checkpoint {path!r} is empty (0 bytes): the save was interrupted. Fix: use an "
                              "earlier model_<iteration>.pt of the same run.")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("constants.pkl") or "/code/" in name for name in archive.namelist()):
                raise CheckpointError(
                    f"{path!r} is an exported TorchScript policy (e.g. policy.pt from export), not a training "
                    "checkpoint: it holds a compiled graph, not the runner's state. Fix: load it with "
                    "torch.jit.load for deployment, or pass a model_<iteration>.pt from the run's log directory.")
    try:
        loaded = torch.load(path, weights_only=False, map_location=map_location)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError,
            AttributeError, ImportError, IndexError, KeyError) as error:
        raise CheckpointError(
            f"cannot read checkpoint {path!r}: {type(error).__name__}: {str(error).strip().splitlines()[0]}. The file "
            "is truncated (an interrupted or still-running save, an incomplete copy), was not written by "
            "torch.save, or refers to code that is not installed. Fix: use another model_<iteration>.pt of the run (e.g. the previous one) or copy the file "
            "again.") from error
    if not isinstance(loaded, dict):
        raise CheckpointError(
            f"{path!r} holds a {type(loaded).__name__}, not an rsl_rl training checkpoint (a dict written by "
            "OnPolicyRunner.save). Fix: pass a model_<iteration>.pt from the run's log directory.")
    return loaded


# ---------------------------------------------------------------------------------------------- classifying
def _shape(sd: dict, key: str, dim: int) -> int | None:
    value = sd.get(key)
    return int(value.shape[dim]) if isinstance(value, torch.Tensor) and value.dim() > dim else None


def _last_linear_out(sd: dict, prefix: str) -> int | None:
    indexed = [(int(k[len(prefix):].split(".")[0]), k) for k in sd
               if k.startswith(prefix) and k.endswith(".weight") and k[len(prefix):].split(".")[0].isdigit()]
    return _shape(sd, max(indexed)[1], 0) if indexed else None


def _classify_actor(sd: dict, layout: int) -> tuple[str, int | None, int | None, int | None]:
    """(kind, obs_dim, action_dim, flow_steps) of the actor part of a 3.x model_state_dict or a 5.x actor_state_dict."""
    flow = "actor.flow." if layout == 3 else "flow."
    if flow + "velocity.in_context.weight" in sd:
        obs = _shape(sd, flow + "encoder.0.weight", 1) or _shape(sd, flow + "velocity.in_context.weight", 1)
        return (GENPO, obs,
                _shape(sd, flow + "velocity.in_half.weight", 1), _shape(sd, flow + "times", 0))
    rnn = "memory_a." if layout == 3 else "rnn."
    if any(k.startswith(rnn) for k in sd):
        return RECURRENT, _shape(sd, rnn + "rnn.weight_ih_l0", 1), None, None
    # 3.x ActorCritic: actor.<i>.weight + std | log_std;  5.x MLPModel: mlp.<i>.weight + distribution.<std>
    mlp, std_keys = (("actor.", ("std", "log_std")) if layout == 3
                     else ("mlp.", ("distribution.std_param", "distribution.log_std_param")))
    if mlp + "0.weight" in sd:
        action = next((_shape(sd, k, 0) for k in std_keys if k in sd), None)
        if action is None:  # state-dependent std: the last layer outputs mean and std
            out = _last_linear_out(sd, mlp)
            action = out // 2 if out else None
        return GAUSSIAN, _shape(sd, mlp + "0.weight", 1), action, None
    return UNKNOWN, None, None, None


def _critic_obs_dim(sd: dict, layout: int) -> int | None:
    return _shape(sd, "critic.0.weight" if layout == 3 else "mlp.0.weight", 1)


def inspect_checkpoint(loaded: dict, path: str | None = None) -> CheckpointInfo:
    """Work out the layout, the policy type and the observation/action sizes of a loaded checkpoint dict."""
    infos = loaded.get("infos")
    written_by = dict(infos.get("genpo_rsl", {})) if isinstance(infos, dict) else {}
    iteration = loaded.get("iter") if isinstance(loaded.get("iter"), int) else None
    if isinstance(loaded.get("model_state_dict"), dict):
        sd = loaded["model_state_dict"]
        kind, obs, act, steps = _classify_actor(sd, 3)
        return CheckpointInfo(path, 3, kind, obs, act, _critic_obs_dim(sd, 3), steps, iteration, written_by,
                              sorted(loaded))
    if isinstance(loaded.get("actor_state_dict"), dict):
        kind, obs, act, steps = _classify_actor(loaded["actor_state_dict"], 5)
        critic = loaded.get("critic_state_dict")
        critic_obs = _critic_obs_dim(critic, 5) if isinstance(critic, dict) else None
        return CheckpointInfo(path, 5, kind, obs, act, critic_obs, steps, iteration, written_by, sorted(loaded))
    return CheckpointInfo(path, None, UNKNOWN, iteration=iteration, written_by=written_by, keys=sorted(loaded))


def describe_checkpoint(path: str | os.PathLike) -> CheckpointInfo:
    """Read ``path`` (on the CPU) and say what it is; ``print(describe_checkpoint(p))`` gives a summary."""
    return inspect_checkpoint(read_checkpoint(path, map_location="cpu"), os.fspath(path))


# ---------------------------------------------------------------------------------------------- checking
def _where(info: CheckpointInfo) -> str:
    return f"checkpoint {info.path!r}" if info.path else "the checkpoint"


def check_layout(info: CheckpointInfo) -> None:
    """The checkpoint must be in the installed rsl_rl major's layout."""
    installed = rsl_rl_major()
    if info.layout is None:
        shown = ", ".join(repr(k) for k in info.keys[:8])
        raise CheckpointError(
            f"{_where(info)} is a dict but not an rsl_rl training checkpoint: it has neither 'model_state_dict' "
            f"(rsl_rl 3.x) nor 'actor_state_dict' (rsl_rl 4.x/5.x); its keys are {shown}. Fix: pass a "
            "model_<iteration>.pt written by OnPolicyRunner.save (a bare state_dict must be loaded into the "
            "module directly with load_state_dict).")
    if info.layout != installed:
        raise CheckpointError(
            f"{_where(info)} was written by {info.writer}, but the installed rsl-rl-lib is {rsl_rl_version()} "
            f"({_LAYOUT_WORDS[installed].split(' (')[0]}). The two majors store the model differently and cannot "
            f"load each other's checkpoints. Fix: load it in an environment with {_PIN[info.layout]}, or retrain "
            f"with rsl-rl-lib {rsl_rl_version()}.")


def _check_kind(info: CheckpointInfo, expected: CheckpointInfo) -> None:
    if info.policy == expected.policy or UNKNOWN in (info.policy, expected.policy):
        return
    if expected.policy == GENPO:
        fix = ("point to a checkpoint of a GenPO run; to use this Gaussian one, genpo-train --algo ppo (in your "
               "own config: rsl_rl's classes, policy/actor class_name 'ActorCritic'/'MLPModel' and algorithm "
               "class_name 'PPO')")
    else:
        fix = ("load it into a GenPO model (algorithm class_name 'rsl_rl.algorithms.GenPO' with the GenPO policy "
               "class, after `import genpo_rsl`), e.g. through genpo_rsl.runner.GenPORunner")
    raise CheckpointError(
        f"{_where(info)} holds {_KIND_WORDS[info.policy]}, but the model being loaded is "
        f"{_KIND_WORDS[expected.policy]}; the weights of one cannot initialise the other. Fix: {fix}.")


def _check_sizes(info: CheckpointInfo, expected: CheckpointInfo) -> None:
    pairs = [("policy observation", info.obs_dim, expected.obs_dim), ("action", info.action_dim, expected.action_dim),
             ("critic observation", info.critic_obs_dim, expected.critic_obs_dim)]
    bad = [(name, found, want) for name, found, want in pairs if None not in (found, want) and found != want]
    if bad:
        detail = "; ".join(f"{name} size {found} in the checkpoint vs {want} here" for name, found, want in bad)
        raise CheckpointError(
            f"{_where(info)} does not fit this environment: {detail}. The checkpoint was trained on a task with "
            "other observations or actions. Fix: load it with the task (and the obs_groups) it was trained on, "
            "or train a new policy for this task.")
    if None not in (info.flow_steps, expected.flow_steps) and info.flow_steps != expected.flow_steps:
        raise CheckpointSettingsError(
            f"{_where(info)} has a {info.flow_steps}-step flow, but the policy config asks for num_steps="
            f"{expected.flow_steps}. Fix: add <fix> to load it.", [("num_steps", info.flow_steps)])


def _check_flow_config(info: CheckpointInfo, flow: nn.Module | None) -> None:
    """The flow settings that are not in the state dict (mix, noise_scale mode) must match the stamped ones.

    ``mix`` is a plain attribute and a learned or fixed noise scale has the same key and shape, so a config change
    would load without complaint and silently give another policy (other actions, another likelihood).
    """
    stamped = info.written_by.get("flow")
    if flow is None or not isinstance(stamped, dict):
        return
    live = flow_config(flow)
    bad = {key: value for key, value in stamped.items() if key in live and live[key] != value}
    if bad:
        detail = ", ".join(f"{key}={value!r} in the checkpoint vs {live[key]!r} in the config"
                           for key, value in bad.items())
        raise CheckpointSettingsError(
            f"{_where(info)} was trained with other flow settings: {detail}. These are not weights, so loading would "
            "silently change the policy's actions and likelihood. Fix: add <fix> to load it.", list(bad.items()))


def _check_flow_kind(found: dict, expected: dict, info: CheckpointInfo) -> None:
    """Coupled vs multistep flow, read from the weights (a multistep flow's state dict has ``multistep_coefs``), so
    an unstamped checkpoint (a stock OnPolicyRunner.save, e.g. IsaacLab's) is caught as well as a stamped one."""
    found_kind, expected_kind = flow_kind_of_state_dict(found), flow_kind_of_state_dict(expected)
    if None not in (found_kind, expected_kind) and found_kind != expected_kind:
        raise CheckpointSettingsError(
            f"{_where(info)} holds a {found_kind} flow, but the policy config asks for flow={expected_kind!r}; the "
            "weights of one flow do not give the other's policy. Fix: add <fix> to load it.", [("flow", found_kind)])


def head_dims_of_state_dict(state_dict: dict) -> list[int] | None:
    """A flow's ``head_dims`` read from its weights ([] for the paper's network); None when it holds no flow."""
    suffix = "velocity.in_half.weight"
    prefixes = [key[: -len(suffix)] for key in state_dict if key.endswith(suffix)]
    if len(prefixes) != 1:
        return None
    prefix = prefixes[0]
    if prefix + "encoder.0.weight" not in state_dict:
        return []
    trunk = sorted((int(k[len(prefix + "velocity.trunk."):].split(".")[0]), k) for k in state_dict
                   if k.startswith(prefix + "velocity.trunk.") and k.endswith(".weight"))
    return [_shape(state_dict, prefix + suffix, 0)] + [_shape(state_dict, k, 0) for _, k in trunk[:-1]]


def _check_head(found: dict, expected: dict, info: CheckpointInfo) -> None:
    """Encode-once head vs the paper's network (``head_dims``), read from the weights, named as an override."""
    found_head, expected_head = head_dims_of_state_dict(found), head_dims_of_state_dict(expected)
    if None not in (found_head, expected_head) and bool(found_head) != bool(expected_head):
        raise CheckpointSettingsError(
            f"{_where(info)} holds a flow " + (f"with an observation encoder and a velocity head of {found_head}"
                                               if found_head else "without an observation encoder (head_dims=[])")
            + ", but the policy config asks for " + (f"head_dims={expected_head}" if expected_head
                                                     else "none (head_dims=[])")
            + "; the weights of one network do not give the other's policy. Fix: add <fix> to load it.",
            [("head_dims", found_head)])


def _check_shapes(found: dict, expected: dict, section: str, info: CheckpointInfo) -> None:
    mismatched = [f"{k}: {tuple(found[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
                  if k in found and isinstance(found[k], torch.Tensor) and isinstance(v, torch.Tensor)
                  and found[k].shape != v.shape]
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if not (mismatched or missing or unexpected):
        return
    parts = []
    if mismatched:
        parts.append("shape (checkpoint vs model) " + ", ".join(mismatched[:4]) + (" ..." if len(mismatched) > 4 else ""))
    if missing:
        parts.append("missing " + ", ".join(missing[:4]) + (" ..." if len(missing) > 4 else ""))
    if unexpected:
        parts.append("unexpected " + ", ".join(unexpected[:4]) + (" ..." if len(unexpected) > 4 else ""))
    raise CheckpointError(
        f"{_where(info)} ({section}) was saved from a model with a different configuration: {'; '.join(parts)}. "
        "The hidden sizes, flow/time-embedding sizes, noise_scale mode or observation normalisation differ from "
        "the config used now. Fix: use the policy config of the run that wrote it: genpo-train's run.json beside "
        "the checkpoint (genpo-play and genpo-export read it, --resume takes it), or params/agent.yaml in the log "
        "directory of an IsaacLab or mjlab run.")



def check_state_dict(state_dict: dict, model: nn.Module, *, path: str | None = None) -> None:
    """Check a 3.x ``model_state_dict`` against the ActorCritic-like ``model`` it is about to be loaded into."""
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"expected a state dict, got {type(state_dict).__name__}")
    if "actor_state_dict" in state_dict or "model_state_dict" in state_dict:
        check_layout(inspect_checkpoint(state_dict, path))  # a whole checkpoint passed by mistake
        raise CheckpointError("load_state_dict got a whole checkpoint; pass checkpoint['model_state_dict'].")
    info = inspect_checkpoint({"model_state_dict": state_dict}, path)
    expected_sd = model.state_dict()
    expected = inspect_checkpoint({"model_state_dict": expected_sd})
    _check_kind(info, expected)
    _check_flow_kind(state_dict, expected_sd, info)
    _check_head(state_dict, expected_sd, info)
    _check_sizes(info, expected)
    _check_shapes(state_dict, expected_sd, "model_state_dict", info)


def check_loaded_dict(loaded: dict, *, policy: nn.Module | None = None, actor: nn.Module | None = None,
                      critic: nn.Module | None = None, path: str | None = None, strict: bool = True) -> CheckpointInfo:
    """Check a whole checkpoint dict against the live model(s) before any weight is copied.

    Pass ``policy`` (3.x ActorCritic-like) or ``actor`` and ``critic`` (4.x/5.x models). The layout must be the
    installed major's; the policy type (GenPO vs Gaussian) and the observation/action sizes must match; with
    ``strict`` the key sets and shapes must match too. Returns the checkpoint's :class:`CheckpointInfo`.
    """
    info = inspect_checkpoint(loaded, path)
    check_layout(info)
    if policy is not None:
        expected_dicts = {"model_state_dict": policy.state_dict()}
    else:
        expected_dicts = {}
        if actor is not None:
            expected_dicts["actor_state_dict"] = actor.state_dict()
        if critic is not None:
            expected_dicts["critic_state_dict"] = critic.state_dict()
    if not expected_dicts:
        return info
    expected = inspect_checkpoint(expected_dicts)
    _check_kind(info, expected)
    for section in ("model_state_dict", "actor_state_dict"):
        if isinstance(loaded.get(section), dict) and section in expected_dicts:
            _check_flow_kind(loaded[section], expected_dicts[section], info)
            _check_head(loaded[section], expected_dicts[section], info)
    _check_sizes(info, expected)
    _check_flow_config(info, getattr(policy if policy is not None else actor, "flow", None))
    if strict:
        for section, expected_sd in expected_dicts.items():
            found = loaded.get(section)
            if not isinstance(found, dict):
                raise CheckpointError(f"{_where(info)} has no {section!r}; it is incomplete. Fix: use another "
                                      "model_<iteration>.pt of the run.")
            _check_shapes(found, expected_sd, section, info)
    return info


def load_checkpoint(path: str | os.PathLike, map_location: Any = None, *, policy: nn.Module | None = None,
                    actor: nn.Module | None = None, critic: nn.Module | None = None, strict: bool = True) -> dict:
    """Read a training checkpoint and validate it; return the loaded dict.

    Always checks that the file is a readable checkpoint in the installed rsl_rl major's layout; with the live
    model(s) given (see :func:`check_loaded_dict`) also the policy type, the sizes and (``strict``) the keys.
    """
    loaded = read_checkpoint(path, map_location)
    check_loaded_dict(loaded, policy=policy, actor=actor, critic=critic, path=os.fspath(path), strict=strict)
    return loaded


def flow_config(flow: nn.Module) -> dict:
    """The flow settings a state dict does not carry (the flow's own :meth:`~genpo_rsl.flow.ExactFlow.settings`)."""
    return flow.settings()


def genpo_stamp(flow: nn.Module | None = None) -> dict:
    """What ``GenPORunner.save`` records in ``infos['genpo_rsl']``: versions, and the flow's settings if given."""
    from . import __version__

    stamp = {"genpo_rsl_version": __version__, "rsl_rl_version": rsl_rl_version(), "rsl_rl_major": rsl_rl_major()}
    if flow is not None:
        stamp["flow"] = flow_config(flow)
    return stamp


# ---------------------------------------------------------------------------------------------- writing
def write_checkpoint(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` atomically: the file at ``path`` is either the old one or the complete new one.

    The data goes to a hidden temporary file in the same directory (so the rename cannot cross file systems, and
    IsaacLab's ``model_.*.pt`` checkpoint pattern never matches it), is flushed to disk with fsync, and replaces
    ``path`` with ``os.replace`` (atomic on POSIX and Windows). An error or a kill before the rename leaves ``path``
    untouched; the directory is fsynced afterwards so the rename survives a power loss too.
    """
    path = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save checkpoint {path!r}: the directory {directory!r} does not exist.")
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        # O_EXCL: never write through an existing file or link; 0o666 minus the umask, like torch.save's own open().
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as stream:
            torch.save(obj, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # POSIX: persist the rename itself
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
