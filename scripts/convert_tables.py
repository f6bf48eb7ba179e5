"""Convert the measured reference data into the shipped latency tables.

Re-runnable: ``python scripts/convert_tables.py [--shared-data DIR] [--out DIR] [--check]``.
Reads ``../shared/data`` (see its README) and writes ``latency_tables/data/<name>.csv``;
``--check`` writes nothing and fails if a shipped file differs from a fresh conversion.

Conversion rules (also in ``latency_tables/data/PROVENANCE.md``):

* Ultra96-V2 B2304: block names become OFA canonical keys (``ResidualBlock-in_CxHxW-out_C'-k_K-e_E-s_S-
  act_A-use_se_B`` -> ``expanded_conv-...`` with ``mid = make_divisible(C * E)``; the stem, final
  expand, feature-mix and classifier rows become ``Conv``, ``Conv_1``, ``Conv_2``, ``Logits``).
  min/mean/max and the profiler's workload, GOP/s and memory columns are kept; no std was published.
* ZCU102 B4096 MobileNetV2 blocks: keys with ``se:0 hs:0`` and ``mid = C_in * expansion``.  The
  source (aw_nas ``rollout_to_primitives``) labels every block of a stage with the stage's input size;
  the block entering the stage does see that size, the others see it divided by the stage's stride,
  which is what their keys say.  Rows without a spatial size (flagged ``spatial_inferred = 1``) follow
  the same rule.  Records of one block that agree within 5% are pooled; where one
  record is more than 2x another, the small one (all of them sit at 0.0175-0.0187 ms whatever the
  block's workload, a profiler floor rather than the block) is dropped and listed by this script.
* Note10: each of the 17 per-resolution OFA tables becomes its own table ``note10-r<R>``, entries as
  they are (no pooling across resolutions: a key measured at several resolutions keeps each
  resolution's own mean, so a network's sum equals OFA's per-resolution lookup).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

from accel_models import BlockSpec
from accel_models.blocks import make_divisible
from latency_tables import Entry, LatencyTable, TableMeta
from latency_tables.format import format_table, parse_ofa_yaml, write_table
from latency_tables.table import pool_entries

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "latency_tables" / "data"

ULTRA96_FILE = "dpu/ultra96v2_b2304_ofa_mbv3_w12_r224_blocks.csv"
ZCU102_FILE = "dpu/zcu102_b4096_mbv2_blocks.csv"
NOTE10_DIR = "note10"

ULTRA96_META = TableMeta(
    name="ultra96v2-b2304",
    board="ultra96v2",
    dpu_arch="DPUCZDX8G B2304",
    clock_mhz=200.0,
    cores=1,
    toolchain="Vitis AI 3.0",
    method="int8; each block compiled as its own xmodel; 500 timed runs per block with the Vitis AI profiler "
           "(DPU time only, no host time)",
    date="2021-11-19 (xrt.run_summary timestamp in the source repository)",
    source="Pilot-Khadka/Latency-dataset-for-Once-For-All-network@4866e16, "
           "All Mobilenetv3 blocks(FPGA)/cleaned_latency_summary.csv",
    license="no license file; figures only, attribute the source",
    per_entry_invocation=True,
    space="ofa-mbv3-w1.2",
)
ZCU102_META = TableMeta(
    name="zcu102-b4096-mbv2",
    board="zcu102",
    dpu_arch="DPUCZDX8G B4096 v1.4.0",
    clock_mhz=300.0,
    cores=1,
    toolchain="DNNDK (Vitis AI 1.x era)",
    method="int8; OFA MobileNetV2-style blocks; latency = sum of the per-layer DPU times of the DNNDK "
           "profiler on one core of 3xB4096; count = number of source records (runs per record not published)",
    date="2020-12",
    source="zzzDavid/DPU-Profiling@66b135c, profiled_blocks.yaml",
    license="not stated; figures only, attribute the source",
    per_entry_invocation=False,
    space="ofa-mbv2-blocks",
)
#: The resolutions of OFA's Note10 tables.
NOTE10_RESOLUTIONS = tuple(range(160, 225, 4))


def note10_meta(r: int) -> TableMeta:
    """Metadata of the Note10 table at resolution ``r``."""
    return TableMeta(
        name=f"note10-r{r}",
        board="Samsung Galaxy Note10 (CPU)",
        dpu_arch="none (mobile CPU)",
        clock_mhz=None,
        cores=1,
        toolchain="not stated in the source (OFA tutorial lookup tables)",
        method=f"OFA's per-block lookup table for networks at input resolution {r}, entries as published; "
               "CPU cores used not stated",
        date="2020 (OFA tutorial checkpoints)",
        source=f"mit-han-lab/once-for-all@698a5c1, tutorial/checkpoints/latency_table@note10/{r}_lookup_table.yaml",
        license="Apache-2.0",
        per_entry_invocation=False,
        space="ofa-mbv3-w1.2",
    )


_RESIDUAL = re.compile(
    r"ResidualBlock-in_(?P<c>\d+)x(?P<h>\d+)x(?P<w>\d+)-out_(?P<co>\d+)-k_(?P<k>\d+)-e_(?P<e>\d+)-s_(?P<s>\d+)"
    r"-act_(?P<act>relu|h_swish)-use_se_(?P<se>True|False)")
_CONV = re.compile(r"Conv_in-(?P<c>\d+)x(?P<h>\d+)x(?P<w>\d+)_out-(?P<co>\d+)_k-(?P<k>\d+)_act-[a-z_]+")
_LINEAR = re.compile(r"Linear_in-(?P<c>\d+)_out-(?P<co>\d+)")
#: How far apart two records of one block may be and still be pooled, and when one is a floor artefact.
AGREE_REL, ARTEFACT_RATIO = 0.05, 2.0


def ultra96_key(name: str) -> str:
    """Canonical key of an Ultra96 block name.

    >>> ultra96_key("ResidualBlock-in_136x14x14-out_136-k_3-e_3-s_1-act_h_swish-use_se_True")
    'expanded_conv-input:14x14x136-output:14x14x136-expand:408-kernel:3-stride:1-idskip:1-se:1-hs:1'
    >>> ultra96_key("Conv_in-192x7x7_out-1152_k-1_act-h_swish_shape")
    'Conv_1-input:7x7x192-output:7x7x1152'
    """
    if m := _RESIDUAL.fullmatch(name):
        c, h, w = int(m["c"]), int(m["h"]), int(m["w"])
        spec = BlockSpec("mbconv", (c, h, w), int(m["co"]), kernel=int(m["k"]), stride=int(m["s"]),
                         mid=make_divisible(c * int(m["e"])), se=m["se"] == "True", activation=m["act"])
        return spec.key
    if m := _CONV.match(name):
        c, h, w, co, k = (int(m[g]) for g in ("c", "h", "w", "co", "k"))
        if k == 3 and c == 3:
            return BlockSpec("stem", (c, h, w), co, kernel=3, stride=2, activation="h_swish").key
        if k == 1 and h > 1:
            return BlockSpec("final_expand", (c, h, w), co, activation="h_swish").key
        if k == 1 and h == 1:
            return BlockSpec("feature_mix", (c, h, w), co, activation="h_swish").key
    if m := _LINEAR.fullmatch(name):
        return BlockSpec("classifier", (int(m["c"]), 1, 1), int(m["co"])).key
    raise ValueError(f"{ULTRA96_FILE}: cannot convert block name {name!r} to a canonical key")


def convert_ultra96(shared: Path) -> LatencyTable:
    entries = []
    with open(shared / ULTRA96_FILE, newline="") as handle:
        for row in csv.DictReader(handle):
            extra = {name: float(row[name]) for name in ("workload_gop", "dpu_gops", "mem_io_mb", "mem_bw_mbps")}
            entries.append(Entry(ultra96_key(row["block"]), int(row["runs"]), float(row["mean_ms"]),
                                 min_ms=float(row["min_ms"]), max_ms=float(row["max_ms"]), extra=extra))
    return LatencyTable.from_entries(ULTRA96_META, entries)


def _stage_entries(rows: list[dict]) -> dict[str, tuple[int, int]]:
    """Width -> (input size, stride) of the block that enters the stage of that width."""
    entries: dict[str, set] = defaultdict(set)
    for row in rows:
        if row["prim_type"] == "mobilenet_v2_block" and row["C_in"] != row["C_out"]:
            entries[row["C_out"]].add((int(row["spatial_size_in"]), int(row["stride"])))
    ambiguous = {c: v for c, v in entries.items() if len(v) != 1}
    if ambiguous:
        raise ValueError(f"{ZCU102_FILE}: stages entered at several sizes or strides: {ambiguous}")
    return {c: next(iter(v)) for c, v in entries.items()}


def _zcu102_records(shared: Path) -> list[dict]:
    with open(shared / ZCU102_FILE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    stages = _stage_entries(rows)
    records = []
    for row in rows:
        c, co, stride = int(row["C_in"]), int(row["C_out"]), int(row["stride"])
        label = row["spatial_size_in"]
        extra = {"spatial_inferred": float(not label)}
        if row["prim_type"] == "conv_3x3":
            size = int(label)
            spec = BlockSpec("stem", (c, size, size), co, kernel=3, stride=stride, activation="h_swish")
        elif row["prim_type"] == "mobilenet_v2_block":
            if c != co:  # the block entering a stage: its label is its own input size
                size = int(label)
            else:
                # aw_nas labels every block of a stage with the stage's input size; the blocks after the
                # first one see the stage's output, i.e. that size divided by the stage's stride.
                entry_size, entry_stride = stages[row["C_out"]]
                if stride != 1 or (label and int(label) != entry_size):
                    raise ValueError(f"{ZCU102_FILE}: {row} does not follow the stage labelling convention")
                size = entry_size // entry_stride
            spec = BlockSpec("mbconv", (c, size, size), co, kernel=int(row["kernel_size"]), stride=stride,
                             mid=c * int(row["expansion"]), activation="relu")
        else:
            raise ValueError(f"{ZCU102_FILE}: unknown prim_type {row['prim_type']!r}")
        if row["power_raw"]:
            extra["power_raw"] = float(row["power_raw"])
        records.append(dict(key=spec.key, latency_ms=float(row["latency_ms"]), extra=extra))
    return records


def convert_zcu102(shared: Path) -> tuple[LatencyTable, list[str]]:
    """The ZCU102 table and a description of every record dropped as a profiler-floor artefact."""
    by_key: dict[str, list[dict]] = defaultdict(list)
    for record in _zcu102_records(shared):
        by_key[record["key"]].append(record)
    entries, dropped = [], []
    for key, records in by_key.items():
        top = max(r["latency_ms"] for r in records)
        kept = [r for r in records if r["latency_ms"] * ARTEFACT_RATIO >= top]
        dropped += [f"{key}: {r['latency_ms']:.5f} ms dropped, kept {top:.5f} ms" for r in records if r not in kept]
        low = min(r["latency_ms"] for r in kept)
        if top > low * (1 + AGREE_REL):
            raise ValueError(f"{ZCU102_FILE}: records of {key} disagree ({low} vs {top} ms) by more than "
                             f"{AGREE_REL:.0%} but less than {ARTEFACT_RATIO}x; decide by hand")
        entries.append(pool_entries([Entry(key, 1, r["latency_ms"], extra=r["extra"]) for r in kept]))
    return LatencyTable.from_entries(ZCU102_META, entries), dropped


def convert_note10(shared: Path) -> list[LatencyTable]:
    """One table per resolution, ``note10-r160`` ... ``note10-r224``."""
    tables = []
    for r in NOTE10_RESOLUTIONS:
        path = shared / NOTE10_DIR / f"{r}_lookup_table.yaml"
        if not path.is_file():
            raise ValueError(f"expected OFA's Note10 table for r={r} at {path}")
        tables.append(parse_ofa_yaml(path.read_text(), note10_meta(r), source=path))
    return tables


def convert_all(shared: Path) -> tuple[dict[str, LatencyTable], list[str]]:
    """Every shipped table by name, and the notes on dropped records."""
    zcu102, dropped = convert_zcu102(shared)
    tables = [convert_ultra96(shared), zcu102, *convert_note10(shared)]
    return {t.meta.name: t for t in tables}, dropped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", type=Path, default=DEFAULT_SHARED, help="the reference data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the shipped tables go")
    parser.add_argument("--check", action="store_true", help="compare with the shipped files, write nothing")
    args = parser.parse_args(argv)
    tables, dropped = convert_all(args.shared_data)
    stale = []
    for name, table in tables.items():
        path = args.out / f"{name}.csv"
        if args.check:
            if not path.is_file() or path.read_text() != format_table(table):
                stale.append(str(path))
        else:
            write_table(table, path)
            print(f"{path}: {len(table)} entries")
    for note in dropped:
        print(f"zcu102: {note}")
    if stale:
        print(f"differ from a fresh conversion: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
