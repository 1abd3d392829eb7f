"""The console scripts' entry points (genpo-train, genpo-play, ...), kept outside ``genpo_rsl`` on purpose.

Importing ``genpo_rsl`` imports torch and rsl_rl, which takes seconds; a Ctrl-C in those seconds used to end in a
traceback, because the one-line error handling of ``genpo_rsl.scripts.common.run_command`` was not in place yet.
Here the import itself is guarded: Ctrl-C during start-up prints one line and exits with status 130.

``genpo-<cmd> --help`` needs the parser, which is built from the field tables of ``genpo_rsl`` (so the help can
never disagree with what the command accepts), and that import costs seconds. The first ``--help`` builds it and
keeps the text in the user's cache folder; later ones print it without importing torch, as long as no source file
of the package, the Python executable, the installed rsl_rl and the terminal width have changed (they are the key).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import io
import os
import shutil
import sys

EXIT_INTERRUPTED = 130


HELP_FLAGS = (["-h"], ["--help"])


def _help_cache_path(name: str) -> str | None:
    """Where the help text of ``genpo-<name>`` is kept for this installation, or None (no package or cache folder).

    The key hashes what the text depends on: every source file of genpo_rsl (path, size, mtime), the interpreter,
    rsl_rl's place and version (the world decides some choices) and the terminal width (argparse wraps to it).
    """
    spec = importlib.util.find_spec("genpo_rsl")  # locates the package without executing it
    if spec is None or not spec.submodule_search_locations:
        return None
    digest = hashlib.sha256()
    for root in spec.submodule_search_locations:
        for folder, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            for file in sorted(files):
                if file.endswith(".py"):
                    stat = os.stat(os.path.join(folder, file))
                    digest.update(f"{folder}/{file}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    rsl_rl = importlib.util.find_spec("rsl_rl")  # where it is (a PYTHONPATH copy of another world counts) ...
    try:
        version = importlib.metadata.version("rsl-rl-lib")  # ... and which one is installed
    except importlib.metadata.PackageNotFoundError:
        version = "none"
    where = rsl_rl.origin if rsl_rl is not None else "none"
    digest.update(f"{sys.executable}|{where}|{version}|{shutil.get_terminal_size().columns}|{name}".encode())
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "genpo_rsl", "help", f"{name}-{digest.hexdigest()[:24]}.txt")


def _cached_help(path: str | None) -> int | None:
    """Print the help text kept at ``path`` and return 0; None when none is kept (then the command runs and
    :func:`_keep_help` keeps what it prints)."""
    try:
        if path is None or not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            sys.stdout.write(f.read())
    except OSError:
        return None
    return 0


def _keep_help(path: str | None, main) -> int:
    """Run ``main`` for a plain --help, print its text and keep it at ``path`` for the next --help (best effort)."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            status = main()
    except SystemExit as stop:  # argparse ends --help with SystemExit(0)
        status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    text = out.getvalue()
    sys.stdout.write(text)
    if status == 0 and text:
        with contextlib.suppress(OSError):
            if path is not None:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                partial = f"{path}.{os.getpid()}.tmp"
                with open(partial, "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(partial, path)  # atomic: a concurrent --help reads the old or the whole new text
    return status


def _run(name: str) -> int:
    plain_help = sys.argv[1:] in HELP_FLAGS
    help_path = None
    if plain_help:
        with contextlib.suppress(OSError):  # a file vanishing mid-walk: no kept help, the command still runs
            help_path = _help_cache_path(name)  # the package's files are walked once per --help
    status = _cached_help(help_path)
    if status is not None:
        return status
    try:
        module = importlib.import_module(f"genpo_rsl.scripts.{name}")
    except KeyboardInterrupt:
        print(f"genpo-{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if plain_help:
        return _keep_help(help_path, module.main)
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
