"""Speed and accuracy benchmarks: ``python -m benchmarks [NAME ...] [--quick]``.

Each ``bench_<name>.py`` module defines ``run(quick: bool) -> dict`` that
measures, prints a human-readable table and returns the figures, which the
runner writes to ``benchmark-results/<name>.json``.
"""
