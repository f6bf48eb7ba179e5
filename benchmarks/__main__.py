"""Run the benchmarks and write their figures as JSON.

Usage: ``python -m benchmarks [NAME ...] [--quick] [--out DIR]``; with no
NAME every ``bench_*.py`` module runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path


def available() -> list[str]:
    return sorted(p.stem[len("bench_"):] for p in Path(__file__).parent.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available())})")
    parser.add_argument("--quick", action="store_true", help="smaller problem sizes, for a smoke run")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"), help="directory for the JSON files")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available()}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        figures = importlib.import_module(f"benchmarks.bench_{name}").run(quick=args.quick)
        record = {
            "benchmark": name,
            "quick": args.quick,
            "wall_s": round(time.perf_counter() - started, 3),
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "figures": figures,
        }
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(record, indent=1, default=float))
        print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
