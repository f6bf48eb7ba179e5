"""Channel augmentation (PG338): where it acts on latency, and what each measured build had."""

import numpy as np
import pytest

from accel_models import Accelerator, BlockSpec, RooflineModel
from accel_models.reference import layer_profiles, profile_accelerator
from latency_tables import get_predictor, get_source

STEM = BlockSpec("stem", (3, 224, 224), 24, kernel=3, stride=2, activation="relu")
BLOCK = BlockSpec.from_key("expanded_conv-input:56x56x32-output:56x56x32-expand:96-kernel:3-stride:1-idskip:1"
                           "-se:0-hs:0")


def _with_augmentation(acc: Accelerator, on: bool) -> Accelerator:
    return acc.replace(options=acc.options.replace(channel_augmentation=on))


def test_augmentation_speeds_up_only_the_few_channel_dense_conv():
    model = RooflineModel()
    acc = Accelerator.from_dpu("B2304", clock_mhz=200.0)
    on, off = (model.unit_latency_ms([STEM.layers(), BLOCK.layers()], _with_augmentation(acc, flag))
               for flag in (True, False))
    assert on[0] < off[0]  # the stem's compute is a third
    assert on[1] == off[1]  # a block without a dense k x k conv on few channels is untouched


def test_ultra96_device_measures_its_own_build_and_models_the_augmented_stem():
    predictor = get_predictor("ultra96v2-b2304")
    built = predictor.accelerator
    assert built.options.channel_augmentation is False
    units = [STEM.layers(), BLOCK.layers()]
    assert STEM.key in predictor.table and BLOCK.key in predictor.table
    augmented = _with_augmentation(built, True)
    sources = predictor.unit_sources(units, [built, augmented])
    assert sources.tolist() == [["measured", "measured"], ["model", "measured"]]
    latency = predictor.unit_latency_ms(units, [built, augmented])
    assert latency[1, 0] < latency[0, 0]  # the augmented stem is modelled faster than the measured plain one
    assert latency[1, 1] == latency[0, 1]


def test_profiled_zcu102_builds_had_no_augmentation():
    # VGG16's first conv measured 18.7 % utilisation = 3/16 of the B4096 lanes: the model's ideal tiling
    # without augmentation uses exactly that share of the array; with it, 9/16
    acc = profile_accelerator()
    assert acc.options.channel_augmentation is False
    vgg = next(p for p in layer_profiles() if p.layer.name == "block1_conv1_convolution")
    ideal = RooflineModel().with_params(conv_efficiency=1.0, bw_efficiency=1.0, weight_bw_efficiency=1.0,
                                        layer_overhead_cycles=0.0, overlap=1.0)
    macs_per_cycle = acc.macs_per_cycle
    for flag, share in ((False, 3 / 16), (True, 9 / 16)):
        one = _with_augmentation(acc, flag).replace(ddr_bw_gbps=1e6)
        ms = float(ideal.layer_latency_ms([vgg.layer], one)[0])
        assert vgg.layer.macs / (ms * 1e-3 * acc.clock_mhz * 1e6 * macs_per_cycle) == pytest.approx(share, rel=1e-6)
    assert vgg.utilization_pct / 100 == pytest.approx(3 / 16, abs=0.001)


def test_every_shipped_dpu_source_records_its_build():
    augmentation = {name: get_source(name).accelerator.options.channel_augmentation
                    for name in ("ultra96v2-b2304", "zcu102-b4096-layer-profiles", "zcu102-b4096-mbv2")}
    assert augmentation == {"ultra96v2-b2304": False, "zcu102-b4096-layer-profiles": False,
                            "zcu102-b4096-mbv2": False}
    assert np.all([get_source(n).accelerator.options.ip_version == "3.2"
                   for n in ("zcu102-b4096-layer-profiles", "zcu102-b4096-mbv2")])


@pytest.mark.parametrize("cin, changed", [(3, True), (10, True), (16, False), (20, True), (32, False)])
def test_which_units_augmentation_changes(cin, changed):
    # ceil(cin*3/16) passes of 3 rows against ceil(cin/16) passes of 9: 1<9, 2<9, 3=9, 4<18, 6=18
    from accel_models import Layer
    from accel_models.tiling import augmentation_applies

    conv = Layer("c", "conv", (cin, 8, 8), (16, 8, 8), kernel=3)
    assert augmentation_applies([conv], Accelerator.from_dpu("B4096")) is changed
