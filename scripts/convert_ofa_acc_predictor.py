"""Convert OFA's released accuracy-predictor checkpoint to the ``.npz`` the package evaluates in numpy.

Usage: ``python scripts/convert_ofa_acc_predictor.py [PTH] [NPZ]`` (defaults: the
package's ``ofa_hw/accuracy/data/ofa_tutorial_acc_predictor.pth`` ->
``ofa_hw/accuracy/data/ofa_mbv3_w12_mlp.npz``).  The test suite checks that the
shipped npz holds exactly the checkpoint's arrays.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ofa_hw.accuracy.ofa_mlp import convert_pth_to_npz
from ofa_hw.accuracy.registry import DATA_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pth", nargs="?", type=Path, default=DATA_DIR / "ofa_tutorial_acc_predictor.pth")
    parser.add_argument("npz", nargs="?", type=Path, default=DATA_DIR / "ofa_mbv3_w12_mlp.npz")
    args = parser.parse_args(argv)
    print(f"wrote {convert_pth_to_npz(args.pth, args.npz)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
