"""Fitted parameters of every shipped device and calibration source, pinned before the calibration refactor.

These are regression pins, not accuracy claims: the values were recorded with the calibration code of
commit 878586b (two engines, ``calibration._Problem`` and ``joint._JointProblem``) before both were
merged into one.  The held-out accuracy of these fits is what ``benchmarks/bench_calibration.py`` and
``bench_transfer.py`` measure against the shipped measurements.  A fit that moves by more than a
thousandth of a parameter's range (or 0.1 % relative) has changed behaviour and must be explained,
not re-pinned.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from accel_models import RooflineModel
from accel_models.roofline import PARAMETER_INFO
from latency_tables import calibrate, calibrate_joint, get_predictor, get_source, list_devices

SHIPPED_SOURCES = ("ultra96v2-b2304", "zcu102-b4096-layer-profiles", "zcu102-b4096-mbv2")

GOLDEN: dict[str, Any] = {'devices': {'dpuczdx8g-joint': {'params': {'conv_efficiency': 0.9624119118,
                                            'pw_efficiency': 0.9999797979,
                                            'dw_efficiency': 0.9999999997,
                                            'misc_efficiency': 0.2101709616,
                                            'hswish_passes': 3.0,
                                            'bw_efficiency': 0.2719583635,
                                            'weight_bw_efficiency': 0.2719583635,
                                            'layer_overhead_cycles': 3715.887448,
                                            'overlap': 0.1360169933,
                                            'buffer_fraction': 0.9490559896,
                                            'pipeline_chunk_fraction': 1.190789113},
                                 'invocation_ms': 0.05900313902,
                                 'mape_pct': 13.91158319,
                                 'max_abs_pct_error': 47.83742033},
             'note10': {'params': {'conv_efficiency': 0.7741521363,
                                   'pw_efficiency': 0.5109762978,
                                   'dw_efficiency': 0.5847734732,
                                   'misc_efficiency': 0.7583923929,
                                   'hswish_passes': 4.934265719,
                                   'bw_efficiency': 0.1488893661,
                                   'weight_bw_efficiency': 0.3613515392,
                                   'layer_overhead_cycles': 5.996757207e-11,
                                   'overlap': 1.623339981e-18,
                                   'buffer_fraction': 1.0,
                                   'pipeline_chunk_fraction': 10000.0},
                        'invocation_ms': 0.0,
                        'mape_pct': 4.802151623,
                        'max_abs_pct_error': 214.7794156},
             'ultra96v2-b2304': {'params': {'conv_efficiency': 0.8257865245,
                                            'pw_efficiency': 0.8078781426,
                                            'dw_efficiency': 1.0,
                                            'misc_efficiency': 0.1720631241,
                                            'hswish_passes': 3.383884555,
                                            'bw_efficiency': 0.4355010992,
                                            'weight_bw_efficiency': 0.1579505045,
                                            'layer_overhead_cycles': 3.435546108e-10,
                                            'overlap': 4.080984221e-17,
                                            'buffer_fraction': 0.9490559896,
                                            'pipeline_chunk_fraction': 10000.0},
                                 'invocation_ms': 0.05900313902,
                                 'mape_pct': 7.651275073,
                                 'max_abs_pct_error': 54.40902546}},
 'single': {'ultra96v2-b2304': {'params': {'conv_efficiency': 0.8257865245,
                                           'pw_efficiency': 0.8078781426,
                                           'dw_efficiency': 1.0,
                                           'misc_efficiency': 0.1720631241,
                                           'hswish_passes': 3.383884555,
                                           'bw_efficiency': 0.4355010992,
                                           'weight_bw_efficiency': 0.1579505045,
                                           'layer_overhead_cycles': 3.435546108e-10,
                                           'overlap': 4.080984221e-17,
                                           'buffer_fraction': 0.9490559896,
                                           'pipeline_chunk_fraction': 10000.0},
                                'invocation_ms': 0.05900313902,
                                'mape_pct': 7.651275073,
                                'max_abs_pct_error': 54.40902546},
            'zcu102-b4096-layer-profiles': {'params': {'conv_efficiency': 0.9551866538,
                                                       'pw_efficiency': 1.0,
                                                       'dw_efficiency': 1.0,
                                                       'misc_efficiency': 0.15,
                                                       'hswish_passes': 3.0,
                                                       'bw_efficiency': 0.2776597996,
                                                       'weight_bw_efficiency': 0.2795526361,
                                                       'layer_overhead_cycles': 4653.504542,
                                                       'overlap': 0.875822373,
                                                       'buffer_fraction': 1.0,
                                                       'pipeline_chunk_fraction': 10000.0},
                                            'invocation_ms': 0.0,
                                            'mape_pct': 4.192214657,
                                            'max_abs_pct_error': 34.62429905},
            'zcu102-b4096-mbv2': {'params': {'conv_efficiency': 1.0,
                                             'pw_efficiency': 0.9999999457,
                                             'dw_efficiency': 1.0,
                                             'misc_efficiency': 0.3428588547,
                                             'hswish_passes': 3.33545272e-15,
                                             'bw_efficiency': 0.9999999702,
                                             'weight_bw_efficiency': 0.01189174782,
                                             'layer_overhead_cycles': 2638.043915,
                                             'overlap': 0.9999983351,
                                             'buffer_fraction': 1.0,
                                             'pipeline_chunk_fraction': 10000.0},
                                  'invocation_ms': 0.0,
                                  'mape_pct': 39.73048937,
                                  'max_abs_pct_error': 266.8170112}},
 'joint': {'params': {'conv_efficiency': 0.9624119118,
                      'pw_efficiency': 0.9999797979,
                      'dw_efficiency': 0.9999999997,
                      'misc_efficiency': 0.2101709616,
                      'hswish_passes': 3.0,
                      'bw_efficiency': 0.2719583635,
                      'weight_bw_efficiency': 0.2719583635,
                      'layer_overhead_cycles': 3715.887448,
                      'overlap': 0.1360169933,
                      'buffer_fraction': 0.9490559896,
                      'pipeline_chunk_fraction': 1.190789113},
           'invocation_ms': {'ultra96v2-b2304': 0.05900313902,
                             'zcu102-b4096-layer-profiles': 0.0,
                             'zcu102-b4096-mbv2': 0.0},
           'mape_pct': {'ultra96v2-b2304': 13.91158319,
                        'zcu102-b4096-layer-profiles': 4.323546323,
                        'zcu102-b4096-mbv2': 61.73264197},
           'max_abs_pct_error': {'ultra96v2-b2304': 47.83742033,
                                 'zcu102-b4096-layer-profiles': 18.39469901,
                                 'zcu102-b4096-mbv2': 1025.571044}},
 'ultra96_cv5': {'mape_pct': 9.00413183, 'max_abs_pct_error': 67.61566528}}


def _check_params(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for name, value in expected.items():
        span = PARAMETER_INFO[name]["high"] - PARAMETER_INFO[name]["low"]
        assert got[name] == pytest.approx(value, rel=1e-3, abs=1e-3 * span), name


def _check_fit(calibrated, expected: dict) -> None:
    _check_params(calibrated.model.params.to_dict(), expected["params"])
    assert calibrated.invocation_ms == pytest.approx(expected["invocation_ms"], rel=1e-3, abs=1e-6)
    assert calibrated.in_sample.mape_pct == pytest.approx(expected["mape_pct"], rel=1e-3, abs=0.01)
    assert calibrated.in_sample.max_abs_pct_error == pytest.approx(expected["max_abs_pct_error"], rel=1e-3, abs=0.01)


def test_every_device_and_source_is_pinned():
    # zcu102-b4096 (single-table fit on the MobileNetV2 blocks) was withdrawn (latency_tables.validity)
    from latency_tables.predictor import BUILD_DEVICES

    # hls-engine / by-build are not calibrated (the engine's cycle model; a dispatch onto dpuczdx8g-joint)
    assert sorted(GOLDEN["devices"]) == sorted(set(list_devices()) - set(BUILD_DEVICES))
    assert sorted(GOLDEN["single"]) == sorted(SHIPPED_SOURCES)


@pytest.mark.parametrize("device", sorted(GOLDEN["devices"]))
def test_shipped_device_calibration(device):
    _check_fit(get_predictor(device).calibrated, GOLDEN["devices"][device])


@pytest.mark.parametrize("name", SHIPPED_SOURCES)
def test_single_source_calibration(name):
    source = get_source(name)
    calibrated = calibrate(RooflineModel(), source.table, source.accelerator, units=source.units, folds=0)
    _check_fit(calibrated, GOLDEN["single"][name])


def test_joint_calibration_of_every_shipped_source():
    ultra96, profiles, mbv2 = (get_source(name) for name in SHIPPED_SOURCES)
    joint = calibrate_joint(RooflineModel(), [ultra96, profiles, dataclasses.replace(mbv2, weight=0.0)], folds=0)
    expected = GOLDEN["joint"]
    _check_params(joint.model.params.to_dict(), expected["params"])
    assert dict(joint.invocation_ms) == pytest.approx(expected["invocation_ms"], rel=1e-3, abs=1e-6)
    for name in SHIPPED_SOURCES:
        assert joint.in_sample[name].mape_pct == pytest.approx(expected["mape_pct"][name], rel=1e-3, abs=0.01)
        assert joint.in_sample[name].max_abs_pct_error == pytest.approx(expected["max_abs_pct_error"][name],
                                                                        rel=1e-3, abs=0.01)


def test_ultra96_cross_validation():
    source = get_source("ultra96v2-b2304")
    calibrated = calibrate(RooflineModel(), source.table, source.accelerator, units=source.units, folds=5)
    expected = GOLDEN["ultra96_cv5"]
    assert calibrated.cross_validated.mape_pct == pytest.approx(expected["mape_pct"], rel=1e-3, abs=0.01)
    assert calibrated.cross_validated.max_abs_pct_error == pytest.approx(expected["max_abs_pct_error"],
                                                                         rel=1e-3, abs=0.01)
