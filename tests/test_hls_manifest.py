"""The manifest schema, version parsing, C identifiers, targets, and what importing hls costs."""

import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hls
from accel_models import Layer
from hls.graph import c_identifier, plan
from hls.manifest import parse_version
from hls.targets import DPU, TargetLimits, check_layers


def test_schema_is_a_valid_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(hls.manifest_schema())


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_version_round_trip(major, minor):
    assert parse_version(f"{major}.{minor}") == (major, minor)


@pytest.mark.parametrize("bad", ["1", "1.0.0", "v1.0", "", "1.x"])
def test_bad_versions_are_refused(bad):
    with pytest.raises(hls.ManifestError, match="schema_version"):
        parse_version(bad)


@given(st.text(min_size=1, max_size=40))
def test_c_identifiers_are_valid_c(name):
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", c_identifier(name))


def test_validate_rejects_wrong_types():
    with pytest.raises(hls.ManifestError, match="JSON object"):
        hls.validate_manifest([])
    with pytest.raises(hls.ManifestError, match="format"):
        hls.validate_manifest({"format": "x"})


def test_plan_resolves_edges_and_lifetimes():
    a = Layer("a", "pwconv", (4, 2, 2), (4, 2, 2))
    b = Layer("b", "pwconv", (4, 2, 2), (4, 2, 2))
    c = Layer("c", "add", (4, 2, 2), (4, 2, 2), inputs=("a", "b"))
    steps = plan([a, b, c])
    assert [s.inputs for s in steps] == [("input",), ("a",), ("a", "b")]
    assert [s.release for s in steps] == [("input",), (), ("a", "b")]
    with pytest.raises(ValueError, match="reads 'z'"):
        plan([Layer("a", "add", (4, 2, 2), (4, 2, 2), inputs=("input", "z"))])
    with pytest.raises(ValueError, match="needs 2 input"):
        plan([Layer("a", "add", (4, 2, 2), (4, 2, 2))])
    with pytest.raises(ValueError, match="duplicate layer name 'a'"):
        plan([a, a])


@pytest.mark.parametrize("layer, problem", [
    (Layer("g", "conv", (8, 8, 8), (8, 8, 8), kernel=3, groups=2), "grouped convolution"),
    (Layer("p", "pool", (8, 8, 8), (8, 4, 4), kernel=2, stride=2), "only global average pooling"),
    (Layer("b", "pwconv", (8, 8, 8), (8, 8, 8), act_bits=16), "act_bits 16"),
    (Layer("a", "act", (8, 8, 8), (8, 8, 8), activation="relu"), "op 'act' is not supported"),
])
def test_target_problems_name_the_layer_and_the_limit(layer, problem):
    problems = check_layers([layer], DPU)
    assert problems and problems[0][0] == layer.name and problem in problems[0][1]


def test_target_limits_validate():
    with pytest.raises(ValueError, match="kernel range"):
        TargetLimits("t", ("conv",), kernel=(3, 1), stride=(1, 1))


def test_importing_hls_does_not_import_torch():
    code = "import sys, hls; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
