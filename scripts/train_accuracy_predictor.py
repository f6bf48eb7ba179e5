"""Train the project's OFA-MobileNetV3 w1.0 accuracy predictor on the shipped measured top-1 data.

Usage: ``python scripts/train_accuracy_predictor.py [--seed 0] [--folds 5] [--out NPZ]``
(default output: ``ofa_hw/accuracy/data/trained_mbv3_w10_krr.npz``, the file
``get_predictor("ofa-mbv3-w1.0")`` loads).  The same seed writes identical arrays.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ofa_hw.accuracy.registry import DATA_DIR
from ofa_hw.accuracy.training import DEFAULT_GRID, train_w10_predictor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the cross-validation folds (default 0)")
    parser.add_argument("--folds", type=int, default=5, help="k of the k-fold hyperparameter selection (default 5)")
    parser.add_argument("--out", type=Path, default=DATA_DIR / "trained_mbv3_w10_krr.npz", help="output .npz")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model = train_w10_predictor(seed=args.seed, grid=DEFAULT_GRID, k=args.folds)
    path = model.save(args.out)
    print(f"lam={model.lam} gamma={model.gamma} on {model.meta['n_networks']} networks "
          f"in {time.perf_counter() - started:.1f} s")
    print("k-fold figures at the selected hyperparameters (nested CV: python -m benchmarks accuracy_predictor):")
    print(json.dumps(model.meta["cv_metrics_selected"], indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
