"""What the command-line tools share: the error wrapper, KEY=VALUE overrides and loading a genpo-train run (the run
folder contract itself is :mod:`genpo_rsl.rundir`, env construction :mod:`genpo_rsl.envs`).

A command is ``def run(argv) -> result`` (raises on a mistake; tests call it) plus
``main = command("genpo-<name>", run)`` (the console script), so that every
mistake of the user prints one line ``genpo-<name>: error: <message>`` and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from genpo_rsl.rundir import RUN_FILE, load_run, run_env_kwargs

DEBUG_ENV = "GENPO_RSL_DEBUG"  # =1: user errors print their traceback too, as --debug does
EXIT_USAGE = 2  # argparse's status for a bad command line; the same for every other user mistake
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C'd command


class UsageError(Exception):
    """A mistake in what the user gave a command (flags, config values, files); printed as one line, exit 2."""


class CommandExit(Exception):
    """Leave the command with status ``code`` after printing ``message`` (if any) to stderr, without a traceback."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def user_error_types() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the user's input is wrong (their message says what and how to fix it)."""
    from genpo_rsl.checkpoint import CheckpointError
    from genpo_rsl.envs import MissingDependencyError
    from genpo_rsl.export import ExportError
    from genpo_rsl.overrides import OverrideError
    from genpo_rsl.rundir import RunFolderError

    types: list[type[BaseException]] = [UsageError, OverrideError, CheckpointError, ExportError, RunFolderError,
                                        MissingDependencyError, FileNotFoundError, IsADirectoryError,
                                        NotADirectoryError, PermissionError]
    with contextlib.suppress(ImportError):
        import gymnasium.error

        types.append(gymnasium.error.Error)  # unknown ids, missing optional dependencies of an env
    return tuple(types)


@contextlib.contextmanager
def as_usage_error() -> Iterator[None]:
    """Turn ValueError/TypeError raised inside (config validation: the models' and algorithm's own field checks,
    an env's arguments) into :class:`UsageError`. Only around code that checks the user's input, so that the same
    exception types elsewhere (a bug) keep their traceback."""
    try:
        yield
    except (ValueError, TypeError) as error:
        if isinstance(error, user_error_types()):
            raise
        raise UsageError(str(error)) from error


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, KeyError) or not text:
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text


def debug_requested(argv: list[str]) -> bool:
    flags = argv[:argv.index("--")] if "--" in argv else argv
    return "--debug" in flags or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true",
                        help=f"print the full traceback of an error (or set {DEBUG_ENV}=1)")


def run_command(prog: str, run: Callable[[list[str]], Any], argv: list[str] | None = None) -> int:
    """Call ``run(argv)`` as the console script ``prog``; return the exit status.

    A user error (:func:`user_error_types`, :class:`UsageError`) prints ``<prog>: error: <message>`` on one line to
    stderr and returns 2; with ``--debug`` in ``argv`` or ``GENPO_RSL_DEBUG=1`` its traceback comes first. A
    :class:`CommandExit` returns its code; Ctrl-C outside training returns 130 with one line. Any other exception is
    an internal error and propagates with its traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    try:
        run(argv)
    except CommandExit as stop:
        if stop.message:
            print(stop.message, file=sys.stderr)
        return stop.code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except user_error_types() as error:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def command(prog: str, run: Callable[[list[str]], Any]) -> Callable[[list[str] | None], int]:
    """The console script ``prog``: ``main(argv=None) -> exit status``, running ``run`` through :func:`run_command`.

    Args:
        prog: the command's name, as the messages print it (``genpo-train``).
        run: the command's work, given the arguments.
    """
    def main(argv: list[str] | None = None) -> int:
        return run_command(prog, run, argv)

    main.__doc__ = f"{prog}'s console script: run it with ``argv`` (default: sys.argv) and return the exit status."
    return main


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The module docstring as written, and every option's default in its help line (unless the help already says
    it, or there is none to say: a flag, or a default of None)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings
                or isinstance(action, argparse._HelpAction)):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def add_rollout_arguments(parser: argparse.ArgumentParser, deterministic_help: str, stochastic_help: str) -> None:
    """``--num-envs``, ``--deterministic`` | ``--stochastic`` (dest ``stochastic``), ``--seed``, ``--device``: how a
    command that rolls a checkpoint out (genpo-play, genpo-demos) runs it."""
    parser.add_argument("--num-envs", type=int, default=None, help="parallel envs (default: min(episodes, 8))")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--deterministic", dest="stochastic", action="store_false", help=deterministic_help)
    mode.add_argument("--stochastic", action="store_true", help=stochastic_help)
    parser.set_defaults(stochastic=False)  # both flags share the dest: without this the first one's default wins
    parser.add_argument("--seed", type=int, default=12345, help="seeds the env and the policy's noise")
    parser.add_argument("--device", default="cpu", help="torch device of the rollout")


# ---------------------------------------------------------------------------------------------- overrides
def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config FILE.yaml`` and positional ``KEY=VALUE ...`` (parse with ``parser.parse_intermixed_args``)."""
    parser.add_argument("--config", default=None, metavar="FILE.yaml",
                        help="YAML file of overrides, the same keys as KEY=VALUE (applied before them)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides, e.g. policy.num_steps=3 algorithm.learning_rate=5e-4 "
                             "num_steps_per_env=32 (an agent. prefix is accepted)")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """{key: value} of ``--config`` then the KEY=VALUE tokens (a later key wins)."""
    from genpo_rsl.overrides import load_config_file, parse_overrides

    overrides = load_config_file(args.config) if getattr(args, "config", None) else {}
    for key, value in parse_overrides(getattr(args, "overrides", None) or []).items():
        overrides.pop(key, None)
        overrides[key] = value
    return overrides


def load_runner(checkpoint: str, num_envs: int = 1, seed: int = 0, device: str = "cpu", quiet: bool = False,
                overrides: dict[str, Any] | None = None, **env_kwargs: Any):
    """A GenPORunner for a genpo-train run: the env (with the reward settings it trained with) and config from its
    run.json, ``checkpoint`` loaded; ``env_kwargs`` add to (or replace) the run's env arguments; ``overrides``
    (KEY=VALUE of the command line) change the model's config, e.g. the fix a checkpoint mismatch names.

    The saved config is in the world that trained it; it is rebuilt for the installed world, so that the
    checkpoint loader, not the config, reports a cross-version mismatch (naming the version that wrote it).
    Returns (runner, env, run).
    """
    from genpo_rsl.compat import register, rsl_rl_major
    from genpo_rsl.overrides import apply_overrides
    from genpo_rsl.train_config import build_runner_cfg

    run = load_run(checkpoint)
    missing = [key for key in ("task", "algo", "settings", "train_cfg") if key not in run]
    if missing:
        raise UsageError(f"--checkpoint: the {RUN_FILE} beside {checkpoint!r} lacks {', '.join(missing)}; it was not "
                         "written by genpo-train. Fix: copy the run.json of the run that wrote the checkpoint next "
                         "to it.")
    with as_usage_error():
        if run.get("rsl_rl_major") == rsl_rl_major():
            cfg = run["train_cfg"]
        else:  # the other world's schema: build this world's config from the settings, then the same overrides
            cfg = apply_overrides(build_runner_cfg(run["algo"], run["settings"],
                                                   experiment_name=run["train_cfg"].get("experiment_name", "genpo")),
                                  run.get("overrides", {}))
        if overrides:
            cfg = apply_overrides(cfg, overrides)
        from genpo_rsl.envs import make_task_env

        env = make_task_env(run["task"], num_envs, seed, device, **{**run_env_kwargs(run), **env_kwargs})
    register()
    from genpo_rsl.runner import GenPORunner

    try:
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext(), as_usage_error():
            runner = GenPORunner(env, cfg, log_dir=None, device=device)
        runner.load(checkpoint)
    except BaseException:
        env.close()
        raise
    return runner, env, run
