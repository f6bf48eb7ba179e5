"""Shipped devices state what they were checked on, and outside it they warn; a withdrawn device says why."""

from __future__ import annotations

import warnings

import pytest

from accel_models import Accelerator, BlockSpec
from latency_tables import get_predictor, list_devices
from latency_tables.validity import ValidityWarning, device_validity, warn_outside
from ofa_hw.search import search_codesign

K7 = "expanded_conv-input:14x14x96-output:14x14x96-expand:288-kernel:7-stride:1-idskip:1-se:0-hs:1"
K3 = "expanded_conv-input:14x14x96-output:14x14x96-expand:288-kernel:3-stride:1-idskip:1-se:0-hs:1"


def test_the_single_table_zcu102_device_is_withdrawn_with_the_alternative():
    assert "zcu102-b4096" not in list_devices()
    with pytest.raises(KeyError, match=r"withdrawn.*525% MAPE.*'dpuczdx8g-joint'.*B4096"):
        get_predictor("zcu102-b4096")
    with pytest.raises(KeyError, match="withdrawn"):
        device_validity("zcu102-b4096")


@pytest.mark.parametrize("device", list_devices())
def test_every_shipped_device_states_its_error_and_validity(device):
    validity = device_validity(device)
    assert validity.held_out_error and validity.accelerators and validity.ops
    assert validity.channels[0] <= validity.channels[1] and validity.spatial[0] <= validity.spatial[1]
    assert set(validity.to_dict()) >= {"held_out_error", "ops", "accelerators", "ranges"}


def test_ultra96_validity_is_what_its_table_measured():
    validity = device_validity("ultra96v2-b2304")
    assert validity.ops["dwconv"] == (3, 5)  # k3 and k5 blocks only
    assert validity.pp == (8.0, 8.0) and validity.icp == (12.0, 12.0) and validity.clock_mhz == (200.0, 200.0)
    assert validity.outside(BlockSpec.from_key(K3).layers(), [Accelerator.from_dpu("B2304", clock_mhz=200.0)]) == []
    reasons = validity.outside(BlockSpec.from_key(K7).layers(), [Accelerator.from_dpu("B4096", clock_mhz=300.0)])
    assert any("dwconv k7" in r for r in reasons) and any("1 of 1 accelerators" in r for r in reasons)
    with pytest.warns(ValidityWarning, match="not checked on: kernel sizes never measured: dwconv k7"):
        warn_outside("ultra96v2-b2304", BlockSpec.from_key(K7).layers())


def test_a_search_outside_the_measurements_warns_once_and_records_it():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = search_codesign(board="ultra96v2", latency_ms=10.0, budget=1200, population=40, progress=False)
    validity = [w for w in caught if issubclass(w.category, ValidityWarning)]
    assert len(validity) == 1 and "dwconv k7" in str(validity[0].message)
    assert validity[0].filename == __file__  # points at the caller
    assert any("dwconv k7" in r for r in result.settings["latency_validity_warnings"])
