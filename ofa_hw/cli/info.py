"""``ofa-hw info``: the layer table of one sub-network."""

from __future__ import annotations

import argparse
import json

from .subnet_args import add_subnet_options, subnet_from_args


def add_parser(subparsers) -> None:
    """Register ``ofa-hw info`` with its options."""
    parser = subparsers.add_parser(
        "info", help="print the layers of a sub-network (shapes, MACs, params, arithmetic intensity)",
        description="Print every layer of a sub-network with its shapes, MACs, parameters and arithmetic intensity.",
    )
    add_subnet_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ofa-hw info``; the exit code (errors are raised to the boundary in :func:`ofa_hw.cli.main`)."""
    from ofa_hw.layers import count_macs, count_params, subnet_layers

    cfg = subnet_from_args(args)
    layers = subnet_layers(cfg)
    if args.json:
        print(json.dumps({"subnet": cfg.to_dict(), "macs": count_macs(cfg), "params": count_params(cfg),
                          "layers": [layer.to_dict() for layer in layers]}, indent=1))
        return 0
    print(f"{cfg.space.title} r={cfg.r} d={list(cfg.d)}")
    header = (f"{'layer':<44} {'op':<7} {'input':>13} {'output':>13} {'k':>2} {'s':>2} {'MACs':>12} {'params':>9} "
              f"{'AI':>7}")
    print(header)
    print("-" * len(header))
    for layer in layers:
        shape_in = "x".join(map(str, layer.in_shape))
        shape_out = "x".join(map(str, layer.out_shape))
        print(f"{layer.name:<44} {layer.op:<7} {shape_in:>13} {shape_out:>13} {layer.kernel:>2} {layer.stride:>2} "
              f"{layer.macs:>12,} {layer.params:>9,} {layer.arithmetic_intensity:>7.2f}")
    print("-" * len(header))
    print(f"{len(layers)} layers, {count_macs(cfg):,} MACs, {count_params(cfg):,} parameters (OFA convention)")
    return 0
