"""The ``ofa-hw`` command line.

Each sub-command is a module of this package offering ``add_parser(subparsers)``
and ``run(args) -> int``; heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["build_parser", "main"]

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("info", "search", "build_config", "report", "roofline", "export", "lut")

#: Exceptions that are the user's input, reported in one line instead of a traceback.
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, FileExistsError)


def build_parser() -> argparse.ArgumentParser:
    from ofa_hw._version import __version__

    parser = argparse.ArgumentParser(
        prog="ofa-hw",
        description="Co-design quantized Once-for-All sub-networks and DPU-like FPGA accelerators.",
    )
    parser.add_argument("--version", action="version", version=f"ofa-hw {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"ofa-hw {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
