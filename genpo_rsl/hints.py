"""How an entry point spells an override, so a message's fix can be typed where the message was printed.

"genpo" (genpo-train: ``policy.num_steps=3``), "isaaclab" (Hydra: ``agent.policy.num_steps=3`` with rsl-rl-lib 3.x,
``agent.actor.num_steps=3`` with 5.x) and "mjlab" (tyro: ``--agent.actor.num-steps 3``). There is no process-wide
style: an error that can name its fix (:class:`FixableError`) is spelled in IsaacLab's form, whose scripts import
nothing of ours, and an entry point re-spells it in its own form as it passes through
(``genpo_rsl.overrides.use_override_style``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .config import FLOW_DEFAULTS
from .world import adapter

OVERRIDE_STYLES = ("genpo", "isaaclab", "mjlab")
DEFAULT_STYLE = "isaaclab"


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_format_value(v) for v in value) + "]"
    return str(value)


def override_hint(field: str, value: Any, model: str = "actor", style: str = DEFAULT_STYLE,
                  major: int | None = None) -> str:
    """The override that sets the policy (``model="actor"``) or critic ``field`` (5.x name) to ``value``.

    Args:
        field: the field's rsl_rl 5.x name (``num_steps``, ``hidden_dims``, ...).
        value: the value the override sets.
        model: "actor" or "critic".
        style: the entry point's spelling, one of :data:`OVERRIDE_STYLES`.
        major: the rsl_rl world whose config names to use (default: the installed one).

    E.g. ``override_hint("num_steps", 3, style="genpo")`` is ``policy.num_steps=3``.
    """
    if style not in OVERRIDE_STYLES:
        raise ValueError(f"override style: must be one of {list(OVERRIDE_STYLES)}, got {style!r}")
    path = adapter(major).override_path(model, field, style, FLOW_DEFAULTS)
    text = _format_value(value)
    if style == "genpo":
        return f"{path}={text}"
    if style == "mjlab":
        return f"--agent.{path.replace('_', '-')} {text}"
    return f"agent.{path}={text}"


class FixableError(ValueError):
    """An error whose fix is a setting: ``fixes`` holds (field, value) pairs, spelled into the message's ``<fix>``.

    Args:
        template: the message, with ``<fix>`` where the overrides go.
        fixes: the (policy field, value) pairs that fix it, in rsl_rl 5.x names.
    """

    def __init__(self, template: str, fixes: list[tuple[str, Any]]):
        self.template, self.fixes = template, list(fixes)
        super().__init__(self._spelled(lambda field, value: override_hint(field, value)))

    def _spelled(self, hint: Callable[[str, Any], str]) -> str:
        return self.template.replace("<fix>", " ".join(hint(field, value) for field, value in self.fixes))

    def respell(self, style: str) -> None:
        """Name the fix in ``style``'s form (an entry point calls this on errors passing through it)."""
        self.args = (self._spelled(lambda field, value: override_hint(field, value, style=style)),)


__all__ = ["DEFAULT_STYLE", "FixableError", "OVERRIDE_STYLES", "override_hint"]
