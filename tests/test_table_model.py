"""LatencyTable's in-memory validation."""

import math

import numpy as np
import pytest

from latency_tables import Entry, LatencyTable, TableMeta

META = dict(name="t", board="ultra96v2", dpu_arch="B2304", clock_mhz=200.0, cores=1, toolchain="Vitis AI 3.0",
            method="profiler", date="2024", source="somewhere", license="figures only",
            per_entry_invocation=True)


def test_lookup_and_columns():
    table = LatencyTable.from_entries(TableMeta(**META), [
        Entry("a", 500, 1.0, 0.1, 0.9, 1.5, {"mem_io_mb": 2.0}), Entry("b", 10, 2.0)])
    assert len(table) == 2 and "a" in table and "c" not in table
    assert np.allclose(table.mean_ms(["b", "a"]), [2.0, 1.0])
    assert math.isnan(table.mean_ms(["c"])[0])
    assert table.column("mem_io_mb").tolist()[0] == 2.0 and math.isnan(table.column("mem_io_mb")[1])


@pytest.mark.parametrize("entry, message", [
    (dict(mean_ms=-1.0), "mean_ms must be a finite non-negative"),
    (dict(mean_ms=float("nan")), "mean_ms must be a finite non-negative"),
    (dict(mean_ms=0.0), "mean_ms must be positive"),
    (dict(count=0), "count must be a positive integer"),
    (dict(min_ms=2.0), "min_ms 2.0 exceeds mean_ms"),
    (dict(max_ms=0.5), "max_ms 0.5 is below mean_ms"),
    (dict(extra={"mem_io_mb": float("inf")}), "mem_io_mb must be a finite"),
])
def test_bad_entries(entry, message):
    args = dict(key="k", count=5, mean_ms=1.0)
    args.update(entry)
    with pytest.raises(ValueError, match=message):
        Entry(**args)


def test_duplicate_keys_and_missing_metadata():
    meta = TableMeta(**META)
    assert len(LatencyTable.from_entries(meta, [Entry("a", 1, 1.0), Entry("a", 1, 1.0)])) == 1
    with pytest.raises(ValueError, match="appears twice with different values"):
        LatencyTable.from_entries(meta, [Entry("a", 1, 1.0), Entry("a", 1, 1.1)])
    with pytest.raises(ValueError, match="'toolchain' is missing"):
        TableMeta(**{**META, "toolchain": " "})
