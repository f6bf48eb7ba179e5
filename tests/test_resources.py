"""Resource model: fitted to PG338, vectorised, extrapolation flagged, board fit."""

import warnings

import numpy as np
import pytest

from accel_models import (
    Accelerator,
    DpuOptions,
    dpu_config,
    estimate_resources,
    fits,
    get_board,
    list_dpu_archs,
    resource_fit_report,
)


def _option_free(arch: str, **changes) -> Accelerator:
    """``arch`` as PG338's table rows list it: IP 3.x, no depthwise engine (an option), no channel augmentation."""
    options = DpuOptions(ip_version="3.4", depthwise=False, channel_augmentation=False).replace(**changes)
    return Accelerator.from_dpu(arch, options=options)


@pytest.mark.parametrize("arch", list_dpu_archs())
def test_dsp_is_exact_and_others_close(arch):
    config = dpu_config(arch)
    acc = Accelerator.from_dpu(arch)
    low = estimate_resources(_option_free(arch, dsp_usage="low"))
    high = estimate_resources(_option_free(arch))
    # By hand from the table: 4 int8 MACs per DSP per cycle + 2; "high" adds one DSP per PP*ICP lane.
    assert low.dsp == pytest.approx(config.dsp_low) == pytest.approx(acc.macs_per_cycle / 4 + 2)
    assert high.dsp == pytest.approx(config.dsp_high) == pytest.approx(acc.macs_per_cycle / 4 + acc.pp * acc.icp + 2)
    assert high.lut == pytest.approx(config.lut, rel=0.15)
    assert high.ff == pytest.approx(config.ff, rel=0.10)
    assert high.bram36 == pytest.approx(config.bram36, rel=0.06)
    with_dw = estimate_resources(acc)
    assert with_dw.dsp - high.dsp == pytest.approx(config.depthwise_extra_dsp)
    assert not with_dw.extrapolated


def test_fit_report_residuals_and_cross_validation():
    report = resource_fit_report()
    assert set(report) >= {"dsp_high", "dsp_low", "lut", "ff", "bram36"}
    assert report["dsp_low"]["max_abs_residual_pct"] < 1e-6
    for name in ("lut", "ff", "bram36"):
        assert report[name]["loo_max_abs_pct"] < 25, name
        assert report[name]["loo_mean_abs_pct"] < 10, name
    # a BRAM36 holds 4.5 KiB: the weight buffer's coefficient should be close to 1/4.5 per KiB
    assert report["bram36"]["coefficients"]["weight_kib"] == pytest.approx(1 / 4.5, rel=0.15)


def test_vectorised_matches_scalar_and_scales_with_cores():
    accs = [Accelerator.from_dpu(a, cores=c) for a in ("B512", "B2304", "B4096") for c in (1, 3)]
    many = estimate_resources(accs)
    for i, acc in enumerate(accs):
        one = estimate_resources(acc)
        assert many.dsp[i] == pytest.approx(one.dsp) and many.bram36[i] == pytest.approx(one.bram36)
    assert np.allclose(many.lut[1::2], 3 * many.lut[0::2])


def test_extrapolation_warns_and_flags():
    with pytest.warns(UserWarning, match="extrapolates beyond the PG338"):
        r = estimate_resources(Accelerator(32, 32, 32, clock_mhz=300.0, name="huge"))
    assert r.extrapolated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not estimate_resources(Accelerator(6, 10, 14, clock_mhz=300.0)).extrapolated


def test_larger_buffers_cost_bram():
    base = Accelerator.from_dpu("B1024")
    bigger = base.replace(act_buffer_kib=base.act_buffer_kib + 90.0)
    assert estimate_resources(bigger).bram36 > estimate_resources(base).bram36 + 10


def test_uram_option_places_buffers_in_ultraram():
    from accel_models.resources import BRAM36_PER_URAM, uram_to_fit

    acc = Accelerator.from_dpu("B4096")
    kv260 = get_board("kv260")
    strict = fits(acc, kv260)  # no UltraRAM option: every buffer in BRAM, 250+ of 144 BRAM36
    assert not strict.ok and strict.binding_resource == "bram36" and strict.placed.uram == 0
    uram = uram_to_fit(acc, kv260)
    placed = fits(acc.replace(options=acc.options.replace(uram_per_core=uram)), kv260)
    assert placed.ok and placed.placed.uram == uram and placed.utilization["bram36"] <= 1.0
    # each UltraRAM block takes 8 BRAM36 of buffers, as placed (the estimate itself is unchanged)
    assert strict.placed.bram36 - placed.placed.bram36 == pytest.approx(BRAM36_PER_URAM * uram)
    assert fits(acc.replace(options=acc.options.replace(uram_per_core=uram - 1)), kv260).utilization["bram36"] > 1
    assert uram_to_fit(acc, get_board("zcu102")) == 0  # no UltraRAM on the ZU9EG: nothing to place


def test_bad_arguments():
    with pytest.raises(ValueError, match="dsp_usage must be 'low' or 'high'"):
        Accelerator.from_dpu("B512", options=DpuOptions(dsp_usage="medium"))
    with pytest.raises(ValueError, match="max_utilization must lie in"):
        fits(Accelerator.from_dpu("B512"), get_board("zcu102"), max_utilization=1.5)
    with pytest.raises(ValueError, match="non-empty sequence"):
        estimate_resources([])


# ------------------------------------------------------- PG338 option tables
@pytest.mark.parametrize("arch, extra_lut", [("B512", 3121), ("B1600", 2476), ("B2304", 1710), ("B4096", 1701)])
def test_channel_augmentation_costs_pg338s_extra_luts(arch, extra_lut):
    # PG338 v4.1 "Channel Augmentation" Table 1, read off the published table
    plain, augmented = (estimate_resources(_option_free(arch, channel_augmentation=on)) for on in (False, True))
    assert augmented.lut - plain.lut == pytest.approx(extra_lut)
    assert (augmented.dsp, augmented.ff, augmented.bram36) == (plain.dsp, plain.ff, plain.bram36)


@pytest.mark.parametrize("arch, low_lut, low_ff", [("B1600", 33130, 60739), ("B4096", 44583, 99791)])
def test_low_dsp_usage_costs_pg338s_luts_and_registers(arch, low_lut, low_ff):
    # PG338 v1.2 Table 9: low DSP usage's LUT / register counts against high's (the config table's lut / ff)
    config = dpu_config(arch)
    high, low = (estimate_resources(_option_free(arch, dsp_usage=usage)) for usage in ("high", "low"))
    assert low.lut - high.lut == pytest.approx(low_lut - config.lut)
    assert low.ff - high.ff == pytest.approx(low_ff - config.ff)


def test_softmax_is_counted_once_per_ip_not_per_core():
    # PG338 v4.1 "Softmax" Table 1: 9580 LUT, 8019 FF, 4 BRAM, 14 DSP
    for cores in (1, 3):
        base = Accelerator.from_dpu("B4096", cores=cores)
        with_softmax = base.replace(options=base.options.replace(softmax=True))
        plain, extra = estimate_resources(base), estimate_resources(with_softmax)
        assert (extra.lut - plain.lut, extra.ff - plain.ff, extra.bram36 - plain.bram36, extra.dsp - plain.dsp) \
            == pytest.approx((9580, 8019, 4, 14))


def test_alu_parallelism_follows_pg338s_b4096_table():
    # PG338 v4.1 "DepthwiseConv (ALU)" Table 1: B4096 DSPs 662 / 678 / 710 / 774 at ALU parallel 1 / 2 / 4 / 8,
    # 16 DSP per lane; 4 (= PP/2) is the default the base fit describes
    default = estimate_resources(Accelerator.from_dpu("B4096"))
    for lanes, dsp in ((1, 662), (2, 678), (8, 774)):
        other = estimate_resources(Accelerator.from_dpu("B4096", dw_pp=lanes))
        assert other.dsp - default.dsp == pytest.approx(dsp - 710)


def test_fit_notes_name_the_tables_and_the_options_without_figures():
    notes = fits(Accelerator.from_dpu("B2304", options=DpuOptions(softmax=True)), get_board("zcu104")).notes
    assert "Softmax" in notes[0] and "Channel Augmentation" in notes[0]
    assert notes[-1].startswith("no PG338 resource figure for average pooling, element-wise multiply, hard-sigmoid")
    plain = fits(_option_free("B2304", avg_pool=False, elementwise_multiply=False, conv_relu="relu_relu6"),
                 get_board("zcu104")).notes
    assert plain[-1].startswith("no PG338 resource figure for ReLU6:")
