"""One declaration per GenPO setting: its name, default, allowed values and help text.

Every place a setting shows up derives from these declarations: the defaults (``genpo_rsl.config.FLOW_DEFAULTS``,
``GENPO_ALGORITHM_DEFAULTS``), the validators, the command line's allowed overrides, mjlab's typed dataclasses and
their ``--help``, IsaacLab's configclasses and README's configuration tables. A flow declares its own fields on
its class (:attr:`genpo_rsl.flow.base.ExactFlow.fields`), so a new flow field is written once, beside the code that
uses it. This module knows nothing of rsl_rl.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Field:
    """One setting.

    Args:
        name: the config key (``policy.<name>`` / ``actor.<name>`` / ``algorithm.<name>``).
        default: the package default; its type is the field's type (a list: a list of positive integers).
        help: one or two sentences for ``--help``, IsaacLab's and mjlab's configs and README's table.
        choices: the allowed strings of a string field.
        low, high: the allowed range of a number (None: unbounded on that side); ``low_open`` / ``high_open``
            exclude the end. Every number must be finite.
        even: an integer field that must be even (the sinusoidal embedding's size).
    """

    name: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    even: bool = False

    @property
    def kind(self) -> str:
        """"choice", "int", "float", "int_list" or "bool"."""
        if self.choices is not None:
            return "choice"
        if isinstance(self.default, bool):
            return "bool"
        if isinstance(self.default, int):
            return "int"
        if isinstance(self.default, float):
            return "float"
        if isinstance(self.default, (list, tuple)):
            return "int_list"
        raise TypeError(f"field {self.name!r}: unsupported default {self.default!r}")

    def type_hint(self) -> Any:
        """The Python type of the field, a ``Literal`` of the choices for a string field (configs and ``--help``)."""
        return {"choice": Literal[self.choices] if self.choices else str, "bool": bool, "int": int, "float": float,
                "int_list": list[int]}[self.kind]

    def range_text(self) -> str:
        """The allowed values in words, e.g. ``(0, 1]`` or ``one of ['l2', 'squared']``."""
        if self.kind == "choice":
            return f"one of {list(self.choices)}"
        if self.kind == "int_list":
            return "a list of positive integers"
        noun = "an even integer" if self.even else "an integer" if self.kind == "int" else "a number"
        if self.high is None and self.low is not None:  # e.g. "an integer >= 1", "a finite number > 0"
            noun = "a finite number" if noun == "a number" else noun
            return f"{noun} {'>' if self.low_open else '>='} {self.low:g}"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"{noun} in " + ("(" if self.low_open or self.low is None else "[") + f"{lo}, {hi}" + \
            (")" if self.high_open or self.high is None else "]")

    def check(self, value: Any, section: str = "") -> None:
        """Raise a ValueError naming ``section.name`` and the allowed values when ``value`` is not one of them."""
        label = f"{section}.{self.name}" if section else self.name
        kind = self.kind
        if kind == "choice":
            ok = isinstance(value, str) and value in self.choices
        elif kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "int_list":
            ok = isinstance(value, (list, tuple)) and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
        else:
            numeric = isinstance(value, int) if kind == "int" else isinstance(value, (int, float))
            ok = numeric and not isinstance(value, bool) and math.isfinite(value) and self._in_range(value)
            ok = ok and not (self.even and value % 2)
        if not ok:
            raise ValueError(f"{label}: must be {self.range_text()}, got {value!r}")

    def _in_range(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)


def defaults(fields: tuple[Field, ...]) -> dict[str, Any]:
    """{name: default} (lists copied, so a caller can change its dict freely)."""
    return {f.name: list(f.default) if isinstance(f.default, (list, tuple)) else f.default for f in fields}


def markdown_rows(fields: tuple[Field, ...], owner: dict[str, str] | None = None) -> list[str]:
    """README's table rows: field, default, meaning (prefixed with the owning flow where one owns it)."""
    rows = []
    for f in fields:
        default = f"`{f.default}`" if isinstance(f.default, str) else f"{f.default}"
        who = f"{owner[f.name]} flow only: " if owner and f.name in owner else ""
        rows.append(f"| `{f.name}` | {default} | {who}{f.help} Allowed: {f.range_text()}. |")
    return rows
