"""The shipped tables: they load, match the space's keys, and equal a fresh conversion of the reference data."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from accel_models import BlockSpec
from latency_tables import list_tables, load_table
from latency_tables.format import format_table
from latency_tables.registry import DATA_DIR
from ofa_hw import get_space
from ofa_hw.layers import _position_specs

SHIPPED = {"ultra96v2-b2304": 66, "zcu102-b4096-mbv2": 107, **{f"note10-r{r}": 96 for r in range(160, 225, 4)}}
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "convert_tables.py"


def _convert_script():
    spec = importlib.util.spec_from_file_location("convert_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_registry_lists_the_shipped_tables():
    assert list_tables() == sorted(SHIPPED)
    assert list_tables("zcu*") == ["zcu102-b4096-mbv2"]
    assert (DATA_DIR / "PROVENANCE.md").is_file()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_table_loads_with_provenance(name):
    table = load_table(name)
    assert table.meta.name == name and len(table) == SHIPPED[name]
    assert "@" in table.meta.source  # repository@commit
    assert load_table(name) is table  # parsed once
    assert load_table(DATA_DIR / f"{name}.csv").entries == table.entries  # by path too


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(FileNotFoundError, match="shipped: note10-r160, .*, ultra96v2-b2304"):
        load_table("ultra96v2-b1600")


def test_ultra96_keys_are_the_spaces_units_at_224():
    # Every unit of OFA-MobileNetV3 w1.2 at 224 with k3/k5, built by ofa_hw, not by the conversion.
    space_keys = {s.key for p in _position_specs(get_space("ofa-mbv3-w1.2"), 224) for s in p
                  if s.kind != "mbconv" or s.kernel in (3, 5)}
    table = load_table("ultra96v2-b2304")
    assert set(table.keys()) - space_keys == {  # the k5 variant of the fixed first block was measured too
        "expanded_conv-input:112x112x24-output:112x112x24-expand:24-kernel:5-stride:1-idskip:1-se:0-hs:0"}
    assert space_keys - set(table.keys()) == {"AvgPool2D-input:7x7x1152-output:1x1x1152"}


def test_ultra96_rows_by_hand():
    table = load_table("ultra96v2-b2304")
    # ResidualBlock-in_48x28x28-out_96-k_3-e_6-s_2-act_h_swish-use_se_False: mid = 48 * 6 = 288
    entry = table.entries["expanded_conv-input:28x28x48-output:14x14x96-expand:288-kernel:3-stride:2"
                          "-idskip:0-se:0-hs:1"]
    assert (entry.count, entry.mean_ms, entry.min_ms, entry.max_ms) == (500, 1.151, 1.138, 1.576)
    assert dict(entry.extra) == {"workload_gop": 0.034, "dpu_gops": 6.844, "mem_io_mb": 1.612, "mem_bw_mbps": 1477.499}
    # ResidualBlock-in_136x14x14-out_192-k_5-e_4-s_2: mid = make_divisible(544) = 544
    assert table.entries["expanded_conv-input:14x14x136-output:7x7x192-expand:544-kernel:5-stride:2-idskip:0-se:1-hs:1"
                         ].mean_ms == 0.915
    assert table.entries["Logits-input:1x1x1536-output:1000"].mean_ms == 0.822


def test_note10_covers_every_unit_of_the_space_at_every_resolution():
    space = get_space("ofa-mbv3-w1.2")
    for r in range(160, 225, 4):
        assert {s.key for p in _position_specs(space, r) for s in p} == set(load_table(f"note10-r{r}").keys()), r


def test_zcu102_rows_by_hand():
    table = load_table("zcu102-b4096-mbv2")
    # Source row C 24 -> 24, expansion 3, k5, s1, labelled 28 px: a later block of the stage entered by
    # 16 -> 24 stride 2 at 28 px, so it runs at 14 px; mid 72, identity skip.
    entry = table.entries["expanded_conv-input:14x14x24-output:14x14x24-expand:72-kernel:5-stride:1-idskip:1-se:0-hs:0"]
    assert entry.mean_ms == 0.06147037999999982 and entry.extra["power_raw"] == 6289297.523809524
    # The stage-entering block keeps its label as input size.
    assert "expanded_conv-input:28x28x16-output:14x14x24-expand:48-kernel:3-stride:2-idskip:0-se:0-hs:0" in table
    # three agreeing records of 24 -> 24 e6 k7 (spatial size missing in the source) are pooled
    pooled = table.entries["expanded_conv-input:14x14x24-output:14x14x24-expand:144-kernel:7-stride:1"
                           "-idskip:1-se:0-hs:0"]
    assert pooled.count == 3 and pooled.extra["spatial_inferred"] == 1.0
    assert pooled.mean_ms == pytest.approx((0.15962655999999925 + 0.15953619999999924 + 0.1595977399999994) / 3)
    assert min(e.mean_ms for k, e in table.entries.items() if k.startswith("expanded_conv")) > 0.02
    assert table.entries["Conv-input:224x224x3-output:112x112x16"].mean_ms == 0.016659999999999984


def test_zcu102_blocks_chain_into_one_network():
    # Every block of width C runs on the feature map the block entering that width produces.
    specs = [BlockSpec.from_key(k) for k in load_table("zcu102-b4096-mbv2").keys()]
    produced = {s.out_channels: s.out_shape for s in specs if s.kind == "mbconv" and s.in_shape[0] != s.out_channels}
    later = [s for s in specs if s.kind == "mbconv" and s.in_shape[0] == s.out_channels]
    assert later and all(s.in_shape == produced[s.out_channels] for s in later)
    entering = {s.in_shape: s for s in specs if s.kind == "mbconv" and s.in_shape[0] != s.out_channels}
    stem = BlockSpec.from_key("Conv-input:224x224x3-output:112x112x16")
    block, sides = entering[stem.out_shape], []
    while block is not None:  # walk the stages: each starts on the feature map the previous one made
        sides.append(block.in_shape[1])
        block = entering.get(block.out_shape)
    assert sides == [112, 56, 28, 14, 14, 7] and len(sides) == len(entering)


def test_shipped_files_equal_a_fresh_conversion(shared_data):
    module = _convert_script()
    tables, dropped = module.convert_all(shared_data)
    assert sorted(tables) == sorted(SHIPPED)
    for name, table in tables.items():
        assert (DATA_DIR / f"{name}.csv").read_text() == format_table(table), name
    assert len(dropped) == 9
    assert module.main(["--shared-data", str(shared_data), "--out", str(DATA_DIR), "--check"]) == 0


def test_ultra96_conversion_keeps_every_source_row(shared_data):
    with open(shared_data / "dpu" / "ultra96v2_b2304_ofa_mbv3_w12_r224_blocks.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    table = load_table("ultra96v2-b2304")
    assert sorted(float(r["mean_ms"]) for r in rows) == sorted(e.mean_ms for e in table.entries.values())
