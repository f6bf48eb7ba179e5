"""Measurement plans: unit models that compute what the unit computes, manifests, errors."""

from __future__ import annotations

import json

import pytest

from accel_models import BlockSpec, Layer
from latency_tables.harness import PLAN_FORMAT, Plan, PlanUnit, read_plan, unit_name, write_plan
from latency_tables.harness.plan import UNIT_FORMAT

KEYS = [
    "Conv-input:64x64x3-output:32x32x24",
    "expanded_conv-input:16x16x32-output:8x8x48-expand:128-kernel:5-stride:2-idskip:0-se:1-hs:0",
    "Logits-input:1x1x96-output:10",
]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def build_unit_model(torch):
    from ofa_hw.torch_model import build_unit_model

    return build_unit_model


@pytest.fixture(scope="module")
def written(tmp_path_factory, build_unit_model):
    out = tmp_path_factory.mktemp("plan")
    plan = Plan.from_keys(KEYS, space="ofa-mbv3-w1.2", resolutions=(64,), seed=3)
    return write_plan(plan, out, module_factory=build_unit_model, models=True, onnx=None, progress=False)


def test_default_plan_is_self_contained_compact_and_needs_no_torch(tmp_path):
    factory = "ofa_hw.torch_model:build_unit_model"
    plan = write_plan(Plan.from_keys(KEYS, seed=5), tmp_path / "p", module_factory=factory, progress=False)
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["module_factory"] == factory and (tmp_path / "p" / "quantize_units.py").is_file()
    for unit in plan.units:
        assert set(unit.files) == {"spec"}
        described = json.loads((tmp_path / "p" / unit.files["spec"]).read_text())
        # every layer of the unit as the bottom floor builds it from the key, independently of the plan
        assert described["format"] == UNIT_FORMAT and described["seed"] == 5 and described["key"] == unit.key
        assert tuple(Layer.from_dict(d) for d in described["layers"]) == BlockSpec.from_key(unit.key).layers()
        assert described["input_shape"] == list(BlockSpec.from_key(unit.key).in_shape)
    total = sum(path.stat().st_size for path in (tmp_path / "p").rglob("*") if path.is_file())
    assert total < 40_000  # three units: a few kB each, no weights
    assert read_plan(tmp_path / "p") == plan


def test_a_plan_without_factory_has_no_unusable_quantize_script(tmp_path):
    write_plan(Plan.from_keys(KEYS), tmp_path / "p", unit_files=False, progress=False)
    assert json.loads((tmp_path / "p" / "manifest.json").read_text())["module_factory"] == ""
    assert not (tmp_path / "p" / "quantize_units.py").exists()
    assert "no `quantize_units.py`" in (tmp_path / "p" / "README.md").read_text()
    with pytest.raises(ValueError, match="module_factory must be 'package.module:function'"):
        write_plan(Plan.from_keys(KEYS), tmp_path / "q", module_factory="not a factory", progress=False)


def test_models_without_torch_is_a_clear_error(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(ValueError, match="needs torch .* the plan without them is complete"):
        write_plan(Plan.from_keys(KEYS), tmp_path / "p", module_factory=len, models=True, progress=False)
    assert not (tmp_path / "p").exists()


def test_plan_files_and_manifest(written):
    out = written.directory
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == PLAN_FORMAT and manifest["module_factory"] == "ofa_hw.torch_model:build_unit_model"
    assert [u["key"] for u in manifest["units"]] == KEYS
    stem = BlockSpec.from_key(KEYS[0])
    assert manifest["units"][0]["macs"] == 24 * 3 * 9 * 32 * 32 and manifest["units"][0]["input_shape"] == [3, 64, 64]
    assert read_plan(out) == written
    readme = (out / "README.md").read_text()
    assert "vai_c_xir" in readme and "torch_quantizer" in readme and "ofa-hw lut measure" in readme
    compile((out / "quantize_units.py").read_text(), "quantize_units.py", "exec")  # valid Python
    assert stem.out_shape == (24, 32, 32)


def test_exported_units_match_the_factory(written, torch, build_unit_model):
    for unit in written.units:
        spec = unit.spec
        scripted = torch.export.load(str(written.directory / unit.files["torch_export"])).module()
        x = torch.randn(1, *spec.in_shape, generator=torch.Generator().manual_seed(0))  # exported for batch 1
        with torch.no_grad():
            expected = build_unit_model(unit.key, seed=written.seed)(x)
            got = scripted(x)
        assert torch.allclose(got, expected, atol=1e-5)
        assert tuple(expected.shape[1:]) in (spec.out_shape, spec.out_shape[:1])


def test_onnx_units_are_valid_and_shaped(written):
    onnx = pytest.importorskip("onnx")
    for unit in written.units:
        model = onnx.load(str(written.directory / unit.files["onnx"]))
        onnx.checker.check_model(model)
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        assert dims == [1, *unit.spec.in_shape]
    se_unit = onnx.load(str(written.directory / written.units[1].files["onnx"]))
    ops = [n.op_type for n in se_unit.graph.node]
    assert ops.count("Conv") == 5 and "GlobalAveragePool" in ops and "HardSigmoid" in ops  # expand, dw, 2 SE, project


def test_existing_plan_is_not_overwritten_silently(written):
    with pytest.raises(FileExistsError, match=r"already holds a plan \(manifest.json\); replace it with --force"):
        write_plan(Plan.from_keys(KEYS[:1]), written.directory, progress=False)


def test_manifest_only_plan_and_errors(tmp_path):
    plan = write_plan(Plan.from_keys(KEYS), tmp_path / "p", unit_files=False, progress=False)
    assert all(not unit.files for unit in plan.units) and not list((tmp_path / "p" / "units").iterdir())
    with pytest.raises(ValueError, match="needs a callable module_factory"):
        write_plan(Plan.from_keys(KEYS), tmp_path / "q", models=True)
    with pytest.raises(ValueError, match="pass models=True"):
        write_plan(Plan.from_keys(KEYS), tmp_path / "q", onnx=True)
    with pytest.raises(FileNotFoundError, match="manifest.json is missing"):
        read_plan(tmp_path / "nowhere")
    manifest = tmp_path / "p" / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "colour": 1}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \[.colour.\] in a plan;"):
        read_plan(tmp_path / "p")
    data["units"][0]["name"] = "renamed"
    manifest.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="name must be 'Conv_input_64x64x3_output_32x32x24'"):
        read_plan(tmp_path / "p")
    manifest.write_text("{oops")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_plan(tmp_path / "p")


def test_unit_names_are_distinct_and_file_safe():
    names = [unit_name(k) for k in KEYS]
    assert len(set(names)) == len(names) and all(n.replace("_", "").isalnum() for n in names)
    with pytest.raises(ValueError, match="unrecognised block key"):
        PlanUnit("x", "not-a-key")
    with pytest.raises(ValueError, match="twice"):
        Plan((PlanUnit(unit_name(KEYS[0]), KEYS[0]),) * 2)


def test_build_unit_model_computes_the_unit(torch, build_unit_model):
    # The unit module equals the corresponding block of a whole OFA sub-network built independently.
    from ofa_hw import SubnetConfig, build_torch_model
    from ofa_hw.layers import subnet_blocks

    cfg = SubnetConfig.uniform(5, 4, 2, r=128)
    net = build_torch_model(cfg, seed=0)
    spec = [s for s in subnet_blocks(cfg) if s.kind == "mbconv"][3]
    unit = build_unit_model(spec, seed=1)
    unit.load_state_dict(net.blocks[3].state_dict())
    x = torch.randn(1, *spec.in_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(unit(x), net.blocks[3](x))
