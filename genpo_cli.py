"""The console scripts' entry points (genpo-train, genpo-play, ...), kept outside ``genpo_rsl`` on purpose.

Importing ``genpo_rsl`` imports torch and rsl_rl, which takes seconds; a Ctrl-C in those seconds used to end in a
traceback, because the one-line error handling of ``genpo_rsl.scripts.common.run_command`` was not in place yet.
Here the import itself is guarded: Ctrl-C during start-up prints one line and exits with status 130.
"""

from __future__ import annotations

import importlib
import sys

EXIT_INTERRUPTED = 130


def _run(name: str) -> int:
    try:
        module = importlib.import_module(f"genpo_rsl.scripts.{name}")
    except KeyboardInterrupt:
        print(f"genpo-{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return module.main()


def train() -> int:
    return _run("train")


def play() -> int:
    return _run("play")


def export() -> int:
    return _run("export")


def pretrain() -> int:
    return _run("pretrain")


def demos() -> int:
    return _run("demos")
