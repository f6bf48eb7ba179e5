"""Options shared by the commands that take one sub-network."""

from __future__ import annotations

import argparse
from pathlib import Path

from accel_models.validation import read_json
from ofa_hw.space import SubnetConfig

from .file_kinds import SUBNET, refuse_other_kind

__all__ = ["add_subnet_options", "subnet_from_args"]


def add_subnet_options(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """Add SUBNET.json / --subnet / --preset, --width-mult and -r to ``parser``."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("subnet", nargs="?", type=Path, metavar="SUBNET.json",
                       help="sub-network as JSON: {'ks','e','d','r'} dict, OFA net.config or specialized-net entry")
    group.add_argument("--subnet", dest="subnet_option", type=Path, metavar="SUBNET.json",
                       help="same as the positional SUBNET.json")
    group.add_argument("--preset", choices=("max", "min"), help="the largest or smallest network of the space")
    parser.add_argument("--width-mult", type=float, default=None, choices=(1.0, 1.2),
                        help="width of the OFA-MobileNetV3 space (default: from the file, else 1.2)")
    parser.add_argument("-r", "--resolution", type=int, default=None,
                        help="input resolution (required for a net.config; default for presets: 224 max, 160 min)")


def subnet_from_args(args: argparse.Namespace) -> SubnetConfig:
    """The sub-network the options name (a file is read with every problem named)."""
    path = args.subnet or args.subnet_option
    width = args.width_mult
    if args.preset:
        r = (224 if args.preset == "max" else 160) if args.resolution is None else args.resolution  # -r 0 is refused
        build = SubnetConfig.largest if args.preset == "max" else SubnetConfig.smallest
        return build(r=r, width_mult=1.2 if width is None else width)
    if path is None:
        raise ValueError("give a sub-network: SUBNET.json or --preset max|min")
    document = read_json(path, what="sub-network file")
    try:
        return SubnetConfig.from_dict(document, width_mult=width, r=args.resolution)
    except ValueError:
        refuse_other_kind(path, document, SUBNET)  # a result.json given here: say so, not its unknown keys
        raise

