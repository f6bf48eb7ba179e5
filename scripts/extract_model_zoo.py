"""Copy the model-zoo rows the whole-network validation uses into ``benchmarks/data``.

Re-runnable: ``python scripts/extract_model_zoo.py [--shared-data DIR] [--check]``.  Keeps every
row (all boards, versions, single- and multi-thread) of the models that
``benchmarks.networks.NETWORKS`` can build, unchanged, in the source's column order.
``--check`` writes nothing and fails if the shipped file differs from a fresh extraction.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accel_models.atomic import atomic_write_text  # noqa: E402
from benchmarks.networks import NETWORKS, ZOO_CSV  # noqa: E402


def extract(source: Path) -> str:
    wanted = {model for _, models in NETWORKS.values() for model in models}
    with open(source, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row["model"] in wanted]
        fields = reader.fieldnames
    missing = wanted - {row["model"] for row in rows}
    if missing:
        raise SystemExit(f"models not in {source}: {sorted(missing)}")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--check", action="store_true", help="compare with the shipped file, write nothing")
    args = parser.parse_args(argv)
    text = extract(args.shared_data / "dpu" / "vitis_ai_model_zoo_e2e.csv")
    if args.check:
        if ZOO_CSV.read_text() != text:
            print(f"{ZOO_CSV} differs from a fresh extraction", file=sys.stderr)
            return 1
        return 0
    atomic_write_text(ZOO_CSV, text)
    print(f"wrote {ZOO_CSV}: {text.count(chr(10)) - 1} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
