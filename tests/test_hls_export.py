"""Export, load and g++ C-simulation of whole OFA sub-networks (bit-exact), and every refusal."""

import hashlib
import importlib
import json
import math
import os
import re
import shutil
import types
import warnings

import numpy as np
import pytest

import hls
from accel_models import Accelerator, DpuOptions
from hls.bn import randomize_batchnorm
from ofa_hw import SubnetConfig, build_torch_model, count_macs, subnet_layers

pytest.importorskip("torch")
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
# the generated engine has no channel augmentation (a DPUCZDX8G option)
B2304 = Accelerator.from_dpu("B2304", clock_mhz=200.0, options=DpuOptions(channel_augmentation=False))


def ofa_source(cfg: SubnetConfig, seed: int) -> hls.TorchNetwork:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # r < 128: outside OFA's trained range, fine for int8 checks
        layers = subnet_layers(cfg)
        model = randomize_batchnorm(build_torch_model(cfg, seed=seed), seed=seed + 1)
    return hls.TorchNetwork(model, layers, cfg.to_dict())


@pytest.fixture(scope="module")
def configs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return {"min": SubnetConfig.smallest(r=32), "max": SubnetConfig.largest(r=32)}


@pytest.fixture(scope="module")
def min_export(tmp_path_factory, configs):
    out = tmp_path_factory.mktemp("min") / "export"
    return hls.export(ofa_source(configs["min"], seed=0), out, accelerator=B2304, board="zcu102")


@pytest.fixture(scope="module")
def max_export(tmp_path_factory, configs):
    out = tmp_path_factory.mktemp("max") / "export"
    return hls.export(ofa_source(configs["max"], seed=1), out, scheme="per_channel", method="mse")


@pytest.fixture(scope="module")
def min_csim(min_export):
    return hls.csim(min_export.path)


def _ops(project):
    layers = project.manifest["layers"]
    return {entry["op"] for entry in layers} | {entry["activation"]["name"] for entry in layers}


# ------------------------------------------------------------------ bit-exact
@needs_gxx
def test_min_network_is_bit_exact_through_the_synthesis_top(min_export, min_csim):
    assert {"se_fc", "scale", "add", "dwconv", "h_swish", "h_sigmoid"} <= _ops(min_export)
    assert min_csim.passed and min_csim.mismatches == 0
    assert min_csim.compiler_warnings == 0, min_csim.compiler_output  # clean under -Wall -Wextra, C++11
    assert [c.name for c in min_csim.layers] == [e["name"] for e in min_export.manifest["layers"]]
    values = sum(math.prod(e["out_shape"]) for e in min_export.manifest["layers"])
    assert sum(c.elements for c in min_csim.layers) == values
    assert min_csim.compile_s > 0 and min_csim.kernel_us >= 0 and "PASS" in min_csim.summary()
    assert "ofa_engine(act.data(), wgt.data(), prog.data())" in (min_export.path / "tb.cpp").read_text()


@needs_gxx
def test_csim_cycle_counter_is_the_manifests_cycle_count(min_export, min_csim):
    by_name = {e["name"]: e for e in min_export.manifest["layers"]}
    for c in min_csim.cycles:
        entry = by_name[c.name]
        assert (c.cycles, c.compute_cycles, c.transfer_cycles, c.ddr_bytes) == (
            entry["cycles"]["engine"], entry["cycles"]["compute"], entry["cycles"]["transfer"], entry["ddr_bytes"])
    totals = min_export.manifest["totals"]
    assert min_csim.total_cycles == totals["engine_cycles"]
    assert totals["latency_ms"] == pytest.approx(totals["engine_cycles"] / (B2304.clock_mhz * 1e3))


@needs_gxx
def test_max_network_per_channel_is_bit_exact(max_export):
    assert max_export.manifest["quantization"]["scheme"] == "per_channel"
    assert max_export.manifest["accelerator"]["name"] == importlib.import_module("hls.export").DEFAULT_ACCELERATOR
    assert {"se_fc", "scale", "h_swish"} <= _ops(max_export)
    report = hls.csim(max_export.path)
    assert report.passed and report.mismatches == 0 and len(report.layers) == 131


def test_csim_reports_a_layer_that_differs(min_export, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(min_export.path, copy, ignore=shutil.ignore_patterns("build"))
    name = "blocks.3.conv.depth_conv.se.fc.expand"
    rel = min_export.manifest["testbench"]["golden"][name]
    data = bytearray((copy / rel).read_bytes())
    data[5] = (data[5] + 1) % 256
    (copy / rel).write_bytes(bytes(data))
    manifest = json.loads((copy / "manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["path"] == rel)
    entry["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest))
    report = hls.csim(copy)
    assert not report.passed
    assert [(c.name, c.mismatches, c.max_abs_diff, c.first_mismatch) for c in report.failed_layers] == [(name, 1, 1, 5)]


# ------------------------------------------------------------------ manifest
def test_manifest_describes_the_network_and_its_engine(min_export, configs):
    m = min_export.manifest
    hls.validate_manifest(m)
    assert m["schema_version"] == hls.SCHEMA_VERSION and m["model"]["description"]["r"] == 32
    assert m["totals"]["macs"] == count_macs(configs["min"])
    assert m["accelerator"]["name"] == "B2304" and m["accelerator"]["config"] == B2304.to_dict()
    first = min_export.layer("first_conv")
    assert (first["kernel_function"], first["kernel"], first["stride"], first["padding"]) == ("conv2d", 3, 2, 1)
    assert first["weight"]["shape"] == [24, 3, 3, 3] and first["weight"]["layout"] == "OIHW"
    assert first["requant"]["activation"] == "h_swish" and "post_shift" in first["requant"]
    # B2304: PP 8, ICP 12, OCP 12. first_conv 3 -> 24 channels, 3x3, 16x16 outputs: ceil(3/12) * ceil(24/12)
    # * ceil(16/8) * 16 rows * 9 taps on the array (the h-swish is fused into the requantization)
    assert first["parallelism"] == {"unit": "conv", "pixels": 8, "in_lanes": 12, "out_lanes": 12}
    assert first["cycles"]["ideal"] == 1 * 2 * 2 * 16 * 9
    dw = min_export.layer("blocks.1.conv.depth_conv")  # 72 channels, 3x3 stride 2, 8x8 outputs, dw_pp = 4
    assert dw["parallelism"] == {"unit": "dw", "pixels": 4, "in_lanes": 12, "out_lanes": 12}
    assert dw["cycles"]["ideal"] == 6 * 2 * 8 * 9
    # the engine's own count: every tile loop pass plus its DDR transfers, never below the ideal count
    assert all(e["cycles"]["compute"] >= e["cycles"]["ideal"] for e in m["layers"])
    assert all(e["requant_files"] is None for e in m["layers"])  # pow2: one shift per tensor
    add = min_export.layer("blocks.0.add")
    assert add["requant"]["input_shifts"] == [max(add["fix"]["inputs"]) - f for f in add["fix"]["inputs"]]
    assert add["engine"]["descriptor"]["sa"] == add["requant"]["input_shifts"][0]


def test_per_channel_manifest_ships_multipliers(max_export):
    entry = max_export.layer("blocks.5.conv.inverted_bottleneck")
    assert entry["requant"]["mult"] == "per_channel" and entry["fix"]["weight"] is None
    mult = max_export.read(entry["requant_files"]["mult"])
    assert mult.shape == (entry["out_shape"][0],) and np.all((mult >= 2**14) & (mult < 2**15))
    assert entry["engine"]["descriptor"]["per_channel"] == 1 and entry["engine"]["param_words"] == 3 * mult.size


def test_loaded_network_reproduces_every_golden_tensor(min_export):
    qnet = min_export.quantized_network()
    tensors = qnet.run(min_export.golden("input")[None], keep_all=True)
    for entry in min_export.manifest["layers"]:
        assert np.array_equal(tensors[entry["name"]][0], min_export.golden(entry["name"])), entry["name"]


# ------------------------------------------------------------------ refusals
@pytest.fixture
def copy_of(min_export, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(min_export.path, copy, ignore=shutil.ignore_patterns("build"))
    return copy


def test_tampered_weight_file_is_refused(copy_of, min_export):
    rel = min_export.layer("first_conv")["weight"]["file"]
    data = bytearray((copy_of / rel).read_bytes())
    data[0] ^= 1
    (copy_of / rel).write_bytes(bytes(data))
    with pytest.raises(hls.IntegrityError, match=re.escape(rel) + ".*sha256"):
        hls.load(copy_of)
    with pytest.raises(hls.IntegrityError):
        hls.csim(copy_of)  # verified before anything compiles


@pytest.mark.parametrize("damage, message", [("truncate", "truncated"), ("extend", "records"), ("delete", "missing")])
def test_truncated_or_missing_files_are_refused(copy_of, min_export, damage, message):
    path = copy_of / min_export.layer("classifier")["bias"]["file"]
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-4])
    elif damage == "extend":
        path.write_bytes(path.read_bytes() + b"\0")
    else:
        path.unlink()
    with pytest.raises(hls.IntegrityError, match=message):
        hls.load(copy_of)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(schema_version="1.0"), "not supported"),
    (lambda m: m.update(format="something-else"), "not an ofa-hw HLS manifest"),
    (lambda m: m["layers"][0].pop("requant"), "layers/0"),
    (lambda m: m["layers"][1]["weight"].update(shape=[1, 2]), "needs 2 bytes"),
    (lambda m: m["files"][0].update(path="../escape"), "files/0/path"),
])
def test_inconsistent_manifests_are_refused(copy_of, edit, message):
    manifest = json.loads((copy_of / "manifest.json").read_text())
    edit(manifest)
    (copy_of / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(hls.ManifestError, match=message):
        hls.load(copy_of)


def test_unreadable_or_absent_manifest(copy_of, tmp_path):
    (copy_of / "manifest.json").write_text("{not json")
    with pytest.raises(hls.ManifestError, match="not valid JSON"):
        hls.load(copy_of)
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        hls.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hls.load(tmp_path / "nowhere")


def test_missing_compiler_is_a_clear_error(min_export, monkeypatch):
    with pytest.raises(hls.CompilerNotFoundError, match="/nonexistent/g\\+\\+.*not found"):
        hls.csim(min_export.path, compiler="/nonexistent/g++")
    monkeypatch.setenv("OFA_HW_CXX", "no-such-compiler-xyz")
    with pytest.raises(FileNotFoundError, match="no-such-compiler-xyz"):
        hls.csim(min_export.path)


def _leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if p.name.endswith(".tmp") or ".old-" in p.name)


def test_existing_directory_is_not_overwritten_unless_asked(min_export, tmp_path):
    qnet = min_export.quantized_network()
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        hls.export(qnet, out)
    assert (out / "keep.txt").read_text() == "mine"
    with pytest.raises(FileExistsError, match="not an hls.export directory"):  # a user's folder is never replaced
        hls.export(qnet, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    first = hls.export(qnet, tmp_path / "export")
    (first.path / "stale.txt").write_text("from the previous export")
    project = hls.export(qnet, first.path, overwrite=True)  # an export of ours is replaced as a unit
    assert not (first.path / "stale.txt").exists() and project.manifest["model"]["n_layers"] == 67
    assert _leftovers(tmp_path) == []


def test_a_failed_export_leaves_nothing_behind(min_export, tmp_path, monkeypatch):
    export_module = importlib.import_module("hls.export")  # the module, not the function hls.export

    def broken(manifest):
        raise hls.ManifestError("simulated failure while writing")

    monkeypatch.setattr(export_module, "validate_manifest", broken)
    with pytest.raises(hls.ManifestError, match="simulated"):
        hls.export(min_export.quantized_network(), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_unsupported_layers_are_all_reported_before_writing(tmp_path):
    torch = pytest.importorskip("torch")
    from accel_models import Layer

    model = torch.nn.Sequential()
    model.add_module("big", torch.nn.Conv2d(3, 4, 17))
    model.add_module("far", torch.nn.Conv2d(4, 4, 1, stride=9))
    layers = [Layer("big", "conv", (3, 40, 40), (4, 24, 24), kernel=17, padding=0, bias=True),
              Layer("far", "conv", (4, 24, 24), (4, 3, 3), kernel=1, stride=9, bias=True),
              Layer("mp", "maxpool", (4, 3, 3), (4, 1, 1), kernel=3)]
    with pytest.raises(hls.UnsupportedLayerError) as info:
        hls.export((model, layers), tmp_path / "out")
    assert info.value.problems == (("big", "kernel 17 outside the supported 1..16"),
                                   ("far", "stride 9 outside the supported 1..8"),
                                   ("mp", "op 'maxpool' is not supported; supported: conv, pwconv, dwconv, fc, "
                                          "se_fc, pool, scale, add"))
    assert "3 layer(s) cannot run on target 'dpuczdx8g'" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_design_brings_its_accelerator(min_export, configs, tmp_path):
    design = types.SimpleNamespace(subnet=ofa_source(configs["min"], seed=0), accelerator=Accelerator.from_dpu("B512"))
    project = hls.export(design, tmp_path / "d", n_calibration=2)
    acc = project.manifest["accelerator"]
    assert (acc["pp"], acc["icp"], acc["ocp"], acc["name"]) == (4, 8, 8, "B512")
    config = (project.path / "engine_config.h").read_text()
    assert all(f"const int {name} = {value};" in config for name, value in (("PP", 4), ("ICP", 8), ("OCP", 8)))
    with pytest.raises(ValueError, match="lacks attribute"):
        hls.export(min_export.quantized_network(), tmp_path / "e", accelerator=types.SimpleNamespace(pp=1))
    assert not (tmp_path / "e").exists()


def test_export_input_checks(min_export, tmp_path):
    with pytest.raises(ValueError, match=r"test_input must have shape \(1, 3, 32, 32\)"):
        hls.export(min_export.quantized_network(), tmp_path / "x", test_input=np.zeros((2, 3, 32, 32)))
    with pytest.raises(TypeError, match="cannot export a int"):
        hls.export(3, tmp_path / "y")
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.slow  # ~25 s: export and C-simulation of 15 M output values
@needs_gxx
def test_max_network_at_224_is_bit_exact_through_the_top(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cfg = SubnetConfig.largest(r=224)
    project = hls.export(ofa_source(cfg, seed=2), tmp_path / "max224", accelerator=B2304, board="zcu104")
    report = hls.csim(project.path)
    assert report.passed and len(report.layers) == 131
    assert report.total_cycles == project.manifest["totals"]["engine_cycles"]


@pytest.mark.slow  # a short joint search, then export and C-simulation of its best design at full resolution
@needs_gxx
def test_the_best_design_of_a_search_is_bit_exact(tmp_path):
    from ofa_hw import search_codesign

    best = search_codesign(board="ultra96v2", latency_ms=10.0, budget=2000, seed=0, progress=False,
                           accelerators="dpu-like").best  # a custom accelerator: the export is its only build
    assert not best.accelerator.is_dpuczdx8g
    project = hls.export(types.SimpleNamespace(subnet=ofa_source(best.subnet, seed=3), accelerator=best.accelerator),
                         tmp_path / "best", board="ultra96v2")
    assert project.manifest["accelerator"]["config"] == best.accelerator.to_dict()
    report = hls.csim(project.path)
    assert report.passed and report.total_cycles == project.manifest["totals"]["engine_cycles"]
