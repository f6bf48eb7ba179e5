"""Accelerator: PG338 configurations, derived defaults, validation, serialisation."""

import csv
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel_models import Accelerator, dpu_config, list_dpu_archs


def _pg338_rows(shared_data):
    with open(shared_data / "dpu" / "dpuczdx8g_configs.csv") as f:
        return {row["arch"]: row for row in csv.DictReader(f)}


def test_registry_lists_all_pg338_configurations(shared_data):
    assert set(list_dpu_archs()) == set(_pg338_rows(shared_data))
    assert list_dpu_archs("B3*") == ["B3136"]
    assert list_dpu_archs("X*") == []


@pytest.mark.parametrize("arch", list_dpu_archs())
def test_from_dpu_matches_pg338(arch, shared_data):
    row = _pg338_rows(shared_data)[arch]
    acc = Accelerator.from_dpu(arch, clock_mhz=300.0, cores=2)
    assert (acc.pp, acc.icp, acc.ocp) == (int(row["pixel_parallelism"]), int(row["input_channel_parallelism"]),
                                          int(row["output_channel_parallelism"]))
    assert acc.peak_ops_per_cycle == int(row["peak_ops_per_clock"]) == int(arch[1:])
    assert acc.peak_gops == pytest.approx(2 * int(arch[1:]) * 300e6 / 1e9)  # two cores
    assert acc.dw_pp == acc.pp // 2  # PG338: depthwise at half the pixel parallelism
    assert acc.name == arch


def test_default_buffers_follow_bank_organisation():
    acc = Accelerator.from_dpu("B2304")  # 8 x 12 x 12
    assert acc.act_buffer_kib == 8 * 12 * 2048 / 1024 == 192.0
    assert acc.weight_buffer_kib == 12 * 12 * 2048 / 1024 == 288.0
    custom = Accelerator(4, 8, 16, clock_mhz=100.0, act_buffer_kib=64.0, dw_pp=3)
    assert custom.act_buffer_kib == 64.0 and custom.dw_pp == 3 and custom.weight_buffer_kib == 256.0


def test_ridge_point_hand_computed():
    acc = Accelerator.from_dpu("B4096", clock_mhz=300.0, ddr_bw_gbps=19.2)
    assert acc.ridge_ops_per_byte == pytest.approx(4096 * 0.3 / 19.2)  # 64 ops/byte


@pytest.mark.parametrize("changes, message", [
    (dict(pp=0), "pp must be a positive integer"),
    (dict(icp=2.5), "icp must be a positive integer"),
    (dict(ocp=True), "ocp must be a positive integer"),
    (dict(clock_mhz=-1.0), "clock_mhz must be a positive finite"),
    (dict(clock_mhz=float("nan")), "clock_mhz must be a positive finite"),
    (dict(ddr_bw_gbps=0.0), "ddr_bw_gbps must be a positive finite"),
    (dict(cores=0), "cores must be a positive integer"),
    (dict(act_buffer_kib=0.0), "act_buffer_kib must be a positive finite"),
    (dict(dw_pp=0), "dw_pp must be a positive integer"),
    (dict(layer_overhead_us=-1.0), "layer_overhead_us must be a non-negative"),
    (dict(name=""), "name must be a non-empty"),
])
def test_bad_fields_are_named(changes, message):
    args = dict(pp=8, icp=12, ocp=12, clock_mhz=200.0)
    args.update(changes)
    with pytest.raises(ValueError, match=message):
        Accelerator(**args)


def test_unknown_names_and_fields():
    with pytest.raises(KeyError, match="unknown DPU architecture 'B9999'; known: B512"):
        Accelerator.from_dpu("B9999")
    with pytest.raises(KeyError, match="unknown DPU architecture"):
        dpu_config("b4096")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['bandwidth'\] in Accelerator.from_dpu's overrides"):
        Accelerator.from_dpu("B512", bandwidth=3.0)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['pe'\] in Accelerator; allowed"):
        Accelerator.from_dict({**Accelerator.from_dpu("B512").to_dict(), "pe": 3})


@settings(max_examples=60, deadline=None)
@given(pp=st.integers(1, 64), icp=st.integers(1, 64), ocp=st.integers(1, 64),
       clock=st.floats(1.0, 445.0), bw=st.floats(0.1, 100.0), cores=st.integers(1, 4),
       dw=st.one_of(st.none(), st.integers(1, 32)))
def test_json_round_trip(pp, icp, ocp, clock, bw, cores, dw):
    acc = Accelerator(pp, icp, ocp, clock_mhz=clock, ddr_bw_gbps=bw, cores=cores, dw_pp=dw)
    again = Accelerator.from_dict(json.loads(json.dumps(acc.to_dict())))
    assert again == acc
    assert again.peak_ops_per_cycle == 2 * pp * icp * ocp
    assert acc.replace(pp=pp + 1).pp == pp + 1
