"""The ``ofa-hw`` command line.

Each sub-command is a module of this package offering ``add_parser(subparsers)``
and ``run(args) -> int``; heavy imports happen inside ``run``.

:func:`main` is the one error boundary: every failure ends as a one-line
message on stderr, never a traceback, with the exit code saying whose it was
(:data:`EXIT_BAD_INPUT` for the user's input, :data:`EXIT_FAILED` for a run
that could not finish).  ``OFA_HW_TRACEBACK=1`` prints the traceback as well.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import traceback
import warnings
import zipfile
from contextlib import contextmanager

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "build_parser", "exit_code", "main"]

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("info", "search", "build_config", "report", "roofline", "export", "lut")

EXIT_OK = 0
#: The run could not finish: disk full, output in use by another process, a missing optional package, a bug.
EXIT_FAILED = 1
#: The input was wrong (a file, an option, a value): the message says what and what is allowed.
EXIT_BAD_INPUT = 2

#: Exceptions that are the user's input (ValueError covers the parsers' own errors, JSON and UTF-8 decoding).
BAD_INPUT = (ValueError, KeyError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
             PermissionError, RecursionError, zipfile.BadZipFile)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as the one line every other failure is (the options are in ``--help``)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} ('{self.prog} --help' lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``ofa-hw`` argument parser with every sub-command."""
    from ofa_hw._version import __version__

    parser = _Parser(
        prog="ofa-hw",
        description="Co-design quantized Once-for-All sub-networks and DPU-like FPGA accelerators.",
    )
    parser.add_argument("--version", action="version", version=f"ofa-hw {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(subparsers)
    return parser


def exit_code(exc: BaseException) -> int:
    """The exit code of a run that raised ``exc`` (2: bad input, 1: the run failed)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS):
        return EXIT_FAILED
    return EXIT_BAD_INPUT if isinstance(exc, BAD_INPUT) else EXIT_FAILED


#: The option of each library keyword a message may name (:class:`accel_models.wording.WordedError`).
OPTION_OF_KEYWORD = {"latency_ms": "--latency-ms", "fps": "--fps", "min_accuracy": "--min-top1",
                     "budget": "--budget", "population": "--population", "restarts": "--restarts",
                     "predictor": "--predictor"}


def option_spelling(keyword: str, text: str) -> str:
    """``--option text``: a library keyword as the command line writes it (``latency_ms`` -> ``--latency-ms``).

    A keyword with no option here keeps its Python spelling: the message is still said, never a KeyError
    raised while reporting the error.
    """
    from accel_models.wording import python_spelling

    option = OPTION_OF_KEYWORD.get(keyword)
    return python_spelling(keyword, text) if option is None else f"{option} {text}"


def describe(exc: BaseException) -> str:
    """One line saying what went wrong (a library message in the command line's words where it has them)."""
    from accel_models.wording import COMMAND_LINE, WordedError

    if isinstance(exc, WordedError):
        return exc.worded(COMMAND_LINE, option_spelling)
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, RecursionError):
        return "input nested too deeply to read (a JSON file nested hundreds of levels deep?)"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return (f"this command needs the Python package {exc.name!r}, which is not installed here "
                f"(pip install {exc.name}){'' if str(exc).startswith('No module') else f': {exc}'}")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"disk full while writing {exc.filename or 'an output'}; nothing half-written was left in place"
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, zipfile.BadZipFile):
        return f"corrupt or truncated archive: {exc}"
    text = str(exc) or type(exc).__name__
    known = BAD_INPUT + (OSError, ImportError, RuntimeError)
    return text if isinstance(exc, known) else f"internal error {type(exc).__name__}: {text} (please report this)"


@contextmanager
def _terminate_as_exit():
    """Turn SIGTERM into ``SystemExit`` so cleanup (temporary files, locks) runs on ``kill`` as on Ctrl-C."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _warnings_as_notes(command: str):
    """Print each warning as one line naming the command, not Python's file:line and source line.

    Only the text is changed (``warnings.formatwarning``): filters, and callers
    that record warnings (``warnings.catch_warnings(record=True)``), see them as before.
    """
    original = warnings.formatwarning

    def one_line(message, category, filename, lineno, line=None) -> str:
        return f"ofa-hw {command}: warning: {message}\n"

    warnings.formatwarning = one_line
    try:
        yield
    finally:
        warnings.formatwarning = original


def _quiet_broken_pipe() -> None:
    # The reader (e.g. `| head`) has gone: stop writing, and let interpreter shutdown flush into /dev/null.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (argparse's usage errors included)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    command = " ".join(filter(None, (args.command, getattr(args, "lut_command", None))))  # "lut plan", not "lut"
    try:
        with _terminate_as_exit(), _warnings_as_notes(command):
            code = int(args.run(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _quiet_broken_pipe()
        return EXIT_OK
    except KeyboardInterrupt:
        note = getattr(args, "interrupted_note", None)  # what a sub-command kept, and how to go on
        print(f"ofa-hw {command}: interrupted; "
              f"{note(args) if note else 'finished outputs are kept, nothing half-written'}", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("OFA_HW_TRACEBACK"):
            traceback.print_exc()
        print(f"ofa-hw {command}: error: {describe(exc)}", file=sys.stderr)
        return exit_code(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
