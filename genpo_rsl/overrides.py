"""KEY=VALUE overrides of a runner config, with IsaacLab's ``agent.*`` names, in either rsl_rl world.

``genpo-train --task T policy.num_steps=3 algorithm.learning_rate=5e-4 num_steps_per_env=32`` changes the runner
config that :func:`genpo_rsl.train_config.build_runner_cfg` built. Keys (an ``agent.`` prefix is accepted, so an
IsaacLab override can be pasted as it is):

* ``policy.<field>``, ``actor.<field>``, ``critic.<field>``: the models. Each world's names work in both worlds:
  rsl_rl 3.x's ``policy.actor_hidden_dims`` is 5.x's ``actor.hidden_dims`` and the other way round;
  ``policy.<flow field>`` is the GenPO actor's field in 5.x; 3.x's shared ``policy.activation`` sets both models'.
* ``algorithm.<field>``: PPO's fields and GenPO's.
* runner fields: ``num_steps_per_env``, ``max_iterations``, ``save_interval``, ...

Which fields exist is not written down here: it comes from the config itself, from ``genpo_rsl.config``'s
``FLOW_DEFAULTS`` / ``GENPO_ALGORITHM_DEFAULTS`` and from the signatures of rsl_rl's own classes, so a field added to
any of them is accepted without a change here. Values are YAML (``3``, ``0.95``, ``5e-4``, ``learned``, ``[64, 64]``,
``true``, ``null``); a value of the wrong type fails here, an out-of-range one when the runner builds the models,
with the field's message, before any training. Unknown keys name the closest spelling.

An entry point wraps its work in :func:`use_override_style`, so an error that names a setting as its fix
(:class:`genpo_rsl.hints.FixableError`) names it in the form that entry point takes.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import inspect
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .config import FLOW_DEFAULTS, GENPO_ALGORITHM_DEFAULTS
from .v3.world import V5_TO_V3_NAMES as _V5_TO_V3
from .hints import OVERRIDE_STYLES, FixableError, override_hint


class OverrideError(ValueError):
    """A KEY=VALUE override (or --config entry) that names no field or gives it a value of the wrong type."""


MODEL_SECTIONS = ("policy", "actor", "critic")
# Runner keys that belong to the command line, not the config: the flag to use instead.
COMMAND_LINE_KEYS = {"seed": "--seed", "num_envs": "--num-envs", "device": "--device", "resume": "--resume",
                     "logger": "--logger"}
# rsl_rl runner keys a config may add although build_runner_cfg does not write them (read with cfg.get by the
# runners of 3.x and/or 5.x).
OPTIONAL_RUNNER_KEYS = ("run_name", "check_for_nan", "empirical_normalization", "clip_actions", "torch_compile_mode")
# Constructor arguments the runner passes itself; never config fields.
_RUNNER_PASSED = {"self", "obs", "obs_groups", "obs_set", "output_dim", "num_actions", "policy", "actor", "critic",
                  "storage", "device", "multi_gpu_cfg", "args", "kwargs"}
# The same setting under each world's name: (3.x policy field) <-> (5.x model, field).
_V3_TO_V5 = {v3: v5 for v5, v3 in _V5_TO_V3.items()}


# ---------------------------------------------------------------------------------------------- values
def _yaml_loader():
    import yaml

    class Loader(yaml.SafeLoader):
        """YAML 1.1 as PyYAML reads it, plus YAML 1.2 floats without a dot (``5e-4``; PyYAML reads a string)."""

    Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                                 re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                                 list("-+0123456789"))
    return Loader


def parse_value(text: str) -> Any:
    """A value as YAML reads it: ``3`` -> 3, ``5e-4`` -> 0.0005, ``[64, 64]`` -> [64, 64], ``learned`` -> 'learned'."""
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 (SafeLoader subclass)
    except yaml.YAMLError as error:
        raise OverrideError(f"cannot read {text!r} as a YAML value: {str(error).splitlines()[0]}") from None


def parse_overrides(tokens: Iterable[str]) -> dict[str, Any]:
    """``["policy.num_steps=3", ...]`` -> ``{"policy.num_steps": 3, ...}`` (a later token wins)."""
    parsed: dict[str, Any] = {}
    for token in tokens:
        key, sep, text = token.partition("=")
        key = key.strip()
        if not sep or not key or any(c.isspace() for c in key):
            raise OverrideError(f"expected KEY=VALUE (e.g. policy.num_steps=3), got {token!r}")
        parsed.pop(key, None)  # keep the order of the last occurrence
        parsed[key] = parse_value(text)
    return parsed


def _flatten(mapping: Mapping, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise OverrideError(f"config file: keys must be strings, got {key!r}")
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML file of the same keys as the command line, nested or dotted: ``{"policy.num_steps": 3, ...}``.

    ``policy: {num_steps: 3}`` and ``policy.num_steps: 3`` mean the same; ``agent:`` may wrap everything.
    """
    import yaml

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--config: no file at {path!r}")
    with open(path, encoding="utf-8") as stream:
        try:
            loaded = yaml.load(stream, Loader=_yaml_loader())  # noqa: S506 (SafeLoader subclass)
        except yaml.YAMLError as error:
            raise OverrideError(f"--config {path!r} is not valid YAML: {' '.join(str(error).split())}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise OverrideError(f"--config {path!r} must hold a mapping of keys to values (policy: {{num_steps: 3}}), "
                            f"got a {type(loaded).__name__}")
    return _flatten(loaded)


# ---------------------------------------------------------------------------------------------- allowed fields
def _resolve_class(class_name: Any) -> type | None:
    """The class a config's class_name names ("pkg.mod:Cls", "pkg.mod.Cls", or 3.x's bare "PPO"/"ActorCritic")."""
    import importlib

    if not isinstance(class_name, str) or not class_name:
        return None
    module_name, _, attribute = class_name.rpartition(":") if ":" in class_name else class_name.rpartition(".")
    candidates = [module_name] if module_name else ["rsl_rl.algorithms", "rsl_rl.modules", "rsl_rl.models"]
    for candidate in candidates:
        try:
            found = getattr(importlib.import_module(candidate), attribute, None)
        except ImportError:
            continue
        if isinstance(found, type):
            return found
    return None


def _signature_fields(cls: type | None) -> dict[str, Any]:
    """Keyword fields of ``cls.__init__`` with their defaults (inspect.Parameter.empty where none)."""
    if cls is None:
        return {}
    try:
        parameters = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in parameters
            if p.name not in _RUNNER_PASSED and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _is_genpo(section: Mapping) -> bool:
    return "GenPO" in str(section.get("class_name", ""))


def _rsl_rl_base(section_name: str, section: Mapping) -> type | None:
    """The rsl_rl class whose signature lists a section's fields. GenPO's classes take rsl_rl's model/PPO fields
    (minus the Gaussian ones, which the config keys already show) plus genpo_rsl.config's."""
    if not _is_genpo(section):
        return _resolve_class(section.get("class_name"))
    if section_name == "algorithm":
        return _resolve_class("rsl_rl.algorithms.PPO")
    return None  # the GenPO models: their structural keys are in the built config, the flow's in FLOW_DEFAULTS


def allowed_fields(section_name: str, section: Mapping) -> dict[str, Any]:
    """{field: default or current value} a config section accepts: its keys, its class's, GenPO's if GenPO."""
    fields: dict[str, Any] = dict(_signature_fields(_rsl_rl_base(section_name, section)))
    if _is_genpo(section):
        fields.update(GENPO_ALGORITHM_DEFAULTS if section_name == "algorithm" else FLOW_DEFAULTS)
        if section_name != "algorithm":
            fields.pop("distribution_cfg", None)
    fields.update(section)
    return fields


def _runner_fields(cfg: Mapping) -> dict[str, Any]:
    fields = {key: None for key in OPTIONAL_RUNNER_KEYS}
    fields.update({key: value for key, value in cfg.items() if key not in ("algorithm", *MODEL_SECTIONS)})
    return fields


# ---------------------------------------------------------------------------------------------- key resolution
def _closest(word: str, options: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, sorted(set(options)), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _unknown(key: str, word: str, options: Iterable[str], where: str, prefix: str = "") -> OverrideError:
    options = sorted(set(options))
    hint = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    mean = f" Did you mean {prefix + hint[0]!r}?" if hint else ""
    return OverrideError(f"unknown key {key!r}: {where} has no field {word!r}.{mean} Allowed: {', '.join(options)}.")


def _targets(cfg: Mapping, key: str) -> list[tuple[str | None, list[str]]]:
    """Where ``key`` goes in ``cfg``: [(section or None for the runner, field path)], world names mapped."""
    parts = key.split(".")
    if parts[0] == "agent" and len(parts) > 1:
        parts = parts[1:]
    head, rest = parts[0], parts[1:]
    v3 = "policy" in cfg
    if head in MODEL_SECTIONS and rest:
        field = rest[0]
        if v3:
            if head == "policy":
                if field in ("hidden_dims", "obs_normalization"):  # 5.x's names for the policy's own
                    return [("policy", [_V5_TO_V3[("actor", field)], *rest[1:]])]
                return [("policy", rest)]
            if field == "activation":  # 3.x's actor and critic share one activation
                return [("policy", rest)]
            if field == "distribution_cfg" and rest[1:] == ["init_std"]:
                return [("policy", ["init_noise_std"])]
            if (head, field) in _V5_TO_V3:
                return [("policy", [_V5_TO_V3[(head, field)], *rest[1:]])]
            if head == "critic":
                raise OverrideError(
                    f"unknown key {key!r}: the rsl_rl 3.x config has one policy section; the critic's fields there "
                    f"are {', '.join(sorted(v3 for v3, (model, _) in _V3_TO_V5.items() if model == 'critic'))} "
                    "(and the shared activation)")
            return [("policy", rest)]
        if head == "policy":
            if field in _V3_TO_V5:
                return [(_V3_TO_V5[field][0], [_V3_TO_V5[field][1], *rest[1:]])]
            if field == "activation":
                return [("actor", rest), ("critic", rest)]
            if field == "init_noise_std" and isinstance(cfg.get("actor", {}).get("distribution_cfg"), Mapping):
                return [("actor", ["distribution_cfg", "init_std"])]
            return [("actor", rest)]
        return [(head, rest)]
    if head == "algorithm" and rest:
        return [("algorithm", rest)]
    if not rest:
        return [(None, parts)]
    sections = [name for name in ("algorithm", *MODEL_SECTIONS) if name in cfg or name == "policy"]
    raise OverrideError(f"unknown key {key!r}: {head!r} is not a config section{_closest(head, sections)}; "
                        f"sections: {', '.join(sections)}, or a runner field without a dot")


# ---------------------------------------------------------------------------------------------- values vs fields
def _check_type(key: str, value: Any, current: Any) -> Any:
    """``value`` converted to the kind of ``current`` (int -> float, number -> str); a wrong kind is an error."""
    if current is None or current is inspect.Parameter.empty:
        return value
    kind = None
    if isinstance(current, bool):
        if not isinstance(value, bool):
            kind = "true or false"
    elif isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            kind = "an integer"
    elif isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "a number"
        else:
            value = float(value)
    elif isinstance(current, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        elif not isinstance(value, str):
            kind = "a string"
    elif isinstance(current, (list, tuple)):
        if not isinstance(value, list):
            kind = "a list, e.g. [64, 64]"
    elif isinstance(current, Mapping) and not isinstance(value, Mapping):
        kind = "a mapping"
    if kind:
        raise OverrideError(f"{key}: expected {kind} (default {current!r}), got {value!r}")
    return value


def _user_prefix(key: str, path: list[str]) -> str:
    """The part of the user's key before the field path, so a suggestion keeps the user's spelling."""
    parts = key.split(".")
    return ".".join(parts[:len(parts) - len(path)]) + "." if len(parts) > len(path) else ""


def _set(section: dict, path: list[str], key: str, value: Any, where: str, fields: Mapping[str, Any],
         prefix: str) -> None:
    field = path[0]
    if field not in fields:
        raise _unknown(key, field, fields, where, prefix)
    if len(path) == 1:
        section[field] = _check_type(key, value, fields[field])
        return
    inner = section.get(field)
    if not isinstance(inner, dict):
        raise OverrideError(f"unknown key {key!r}: {where}.{field} is {inner!r}, not a section with fields")
    _set(inner, path[1:], key, value, f"{where}.{field}", inner, f"{prefix}{field}.")


def apply_overrides(cfg: Mapping[str, Any], overrides: Mapping[str, Any] | Iterable[str]) -> dict[str, Any]:
    """A copy of the runner config ``cfg`` with ``overrides`` applied (a {key: value} dict or KEY=VALUE strings).

    Works on a config of either world's schema (3.x ``policy``; 5.x ``actor``/``critic``), whichever ``cfg`` is,
    and accepts both worlds' names (see the module docstring). Raises :class:`OverrideError` for an unknown key
    (naming the closest spelling) or a value of the wrong type.
    """
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    result = copy.deepcopy(dict(cfg))
    for key, value in overrides.items():
        for section_name, path in _targets(result, key):
            if section_name is None:
                field = path[0]
                if field in COMMAND_LINE_KEYS:
                    raise OverrideError(f"{key!r} is set on the command line: use {COMMAND_LINE_KEYS[field]} "
                                        f"{value}")
                fields = _runner_fields(result)
                _set(result, path, key, value, "the runner config", fields, _user_prefix(key, path))
                continue
            section = result.get(section_name)
            if not isinstance(section, dict):
                present = [name for name in ("algorithm", *MODEL_SECTIONS) if isinstance(result.get(name), dict)]
                raise OverrideError(f"unknown key {key!r}: this config has no {section_name!r} section (it has "
                                    f"{', '.join(present)})")
            _set(section, path, key, copy.deepcopy(value), section_name, allowed_fields(section_name, section),
                 _user_prefix(key, path))
    return result


# ---------------------------------------------------------------------------------------------- naming a fix
@contextlib.contextmanager
def use_override_style(style: str) -> Iterator[None]:
    """Errors raised inside that name a setting as their fix (:class:`genpo_rsl.hints.FixableError`, e.g. a
    checkpoint trained with other flow settings) name it in ``style``'s form, the one the entry point takes.

    Args:
        style: "genpo" (genpo-train and its siblings), "isaaclab" or "mjlab".
    """
    if style not in OVERRIDE_STYLES:
        raise ValueError(f"override style: must be one of {list(OVERRIDE_STYLES)}, got {style!r}")
    try:
        yield
    except FixableError as error:
        error.respell(style)
        raise


__all__ = ["OVERRIDE_STYLES", "OverrideError", "allowed_fields", "apply_overrides", "load_config_file",
           "override_hint", "parse_overrides", "parse_value", "use_override_style"]
