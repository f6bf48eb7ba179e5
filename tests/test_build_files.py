"""DPU build files (dpu_conf.vh, arch.json) checked field by field against public reference files."""

import csv
import json
from pathlib import Path

import pytest

from accel_models import Accelerator, DpuOptions
from accel_models.build_files import NotBuildableError, build_config, dpu_conf_vh, fingerprint, write_build_files

DATA = Path(__file__).parent / "data" / "dpu_build"


def defines(text: str) -> list[str]:
    """Every `define of a dpu_conf.vh in order, with its value (the def_* bank counts included)."""
    return [" ".join(line.split()[1:]) for line in text.splitlines() if line.strip().startswith("`define")]


# (reference file, the configuration it describes, as its file name and its source say)
CONF_REFERENCES = [
    ("dpu_pynq_Ultra96v2_dpu_conf.vh", "B1600", DpuOptions(ip_version="4.0")),
    ("dpu_pynq_kv260_som_dpu_conf.vh", "B4096", DpuOptions(ip_version="4.1", save_argmax=True, uram_per_core=14)),
    ("vitis_ai_trd_DPUCZDX8G_ISA0_B2304_MAX.vh", "B2304",
     DpuOptions(ip_version="3.4", ram_usage="high", elementwise_multiply=False)),
    ("vitis_ai_trd_DPUCZDX8G_ISA0_B4096_MAX_EM.vh", "B4096", DpuOptions(ip_version="3.4", ram_usage="high")),
    ("dpu_pynq_KV260_dpu_conf.vh", "B4096", DpuOptions(ip_version="3.4", elementwise_multiply=False, uram_per_core=14)),
]


@pytest.mark.parametrize(("reference", "arch", "options"), CONF_REFERENCES, ids=[r[0] for r in CONF_REFERENCES])
def test_dpu_conf_matches_the_reference_define_by_define(reference, arch, options):
    ours = defines(dpu_conf_vh(Accelerator.from_dpu(arch, options=options)))
    theirs = defines((DATA / reference).read_text())
    assert ours == theirs


def _target_rows():
    with open(DATA / "vitis_ai_target_factory_isa1.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("row", _target_rows(), ids=lambda r: r["name"])
def test_fingerprint_matches_the_vitis_ai_targets(row):
    """The registered targets of Vitis AI's target factory: type << 56 | ISA << 48 | feature code."""
    arch = row["name"].split("_")[-1]
    options = DpuOptions(ip_version="4.1" if row["save_argmax"] == "1" else "4.0",
                         channel_augmentation=row["channel_augmentation"] == "1",
                         conv_relu="relu_leakyrelu_relu6" if row["conv_leaky_relu"] == "1" else "relu_relu6",
                         alu_relu="relu_leakyrelu_relu6" if row["alu_leaky_relu"] == "1" else "relu_relu6",
                         ram_usage="low" if row["image_bank_groups"] == "2" else "high",
                         save_argmax=row["save_argmax"] == "1")
    acc = Accelerator.from_dpu(arch, options=options)
    assert (acc.pp, acc.icp, acc.dw_pp) == (int(row["pixel_parallel"]), int(row["input_channel_parallel"]),
                                           int(row["alu_pixel_parallel"]))
    expected = 1 << 56 | int(row["isa_version"], 16) << 48 | int(row["feature_code"], 16)
    assert fingerprint(acc).value == expected
    assert build_config(acc).arch_json == {"fingerprint": f"0x{expected:X}"}


@pytest.mark.parametrize(("reference", "arch"), [("dpu_pynq_arch_ultra96.json", "B1600"),
                                                 ("dpu_pynq_arch_zuboard.json", "B800")])
def test_arch_json_matches_dpu_pynq_host_files(reference, arch):
    theirs = json.loads((DATA / reference).read_text())
    ours = build_config(Accelerator.from_dpu(arch, options=DpuOptions(ip_version="4.0"))).arch_json
    assert {k: int(v, 16) for k, v in ours.items()} == {k: int(v, 16) for k, v in theirs.items()}


def test_an_unpinned_fingerprint_is_never_guessed(tmp_path):
    high = Accelerator.from_dpu("B2304", options=DpuOptions(ram_usage="high"))
    finger = fingerprint(high)
    assert finger.value is None and "no public reference file pins" in finger.note
    assert fingerprint(Accelerator.from_dpu("B1600", options=DpuOptions(ip_version="3.4"))).value is None
    write_build_files(Accelerator.from_dpu("B1600"), tmp_path)  # an earlier build of another design, arch.json pinned
    assert (tmp_path / "arch.json").exists()
    written = write_build_files(high, tmp_path)
    assert [p.name for p in written] == ["dpu_conf.vh", "BUILD.md"]
    assert not (tmp_path / "arch.json").exists()
    readme = (tmp_path / "BUILD.md").read_text()
    assert "arch.json is not written" in readme and "vai_c_xir --xmodel" in readme


def test_a_folder_of_the_users_is_never_replaced_by_build_files(tmp_path):
    (tmp_path / "arch.json").write_text('{"fingerprint": "0x1"}')  # the user's own, from their board build
    with pytest.raises(FileExistsError, match="holds no dpu_conf.vh, so it is not a DPU build folder"):
        write_build_files(Accelerator.from_dpu("B1600"), tmp_path)
    assert (tmp_path / "arch.json").read_text() == '{"fingerprint": "0x1"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arch.json"]


def test_a_custom_accelerator_has_no_vendor_build():
    with pytest.raises(NotBuildableError, match="custom accelerator, not a DPUCZDX8G configuration.*HLS export"):
        dpu_conf_vh(Accelerator(8, 16, 8, clock_mhz=300.0))
    with pytest.raises(NotBuildableError):
        fingerprint(Accelerator.from_dpu("B2304", dw_pp=3))  # not an ALU parallelism the vendor's IP builds


def test_alu_parallelism_is_a_stock_ip4_option_written_to_dpu_conf():
    # PG338 v4.1 "DepthwiseConv (ALU)": ALU parallel 1 .. PP; dpu_conf.vh's ALU_PARALLEL_1/2/4/8 (DEFAULT = PP/2)
    two = Accelerator.from_dpu("B4096", dw_pp=2)
    assert two.is_dpuczdx8g and "`define ALU_PARALLEL_2" in dpu_conf_vh(two)
    assert "`define ALU_PARALLEL_DEFAULT" in dpu_conf_vh(Accelerator.from_dpu("B4096"))
    assert not Accelerator.from_dpu("B4096", dw_pp=3).is_dpuczdx8g
    assert not Accelerator.from_dpu("B4096", dw_pp=2, options=DpuOptions(ip_version="3.4")).is_dpuczdx8g
