"""fit_device: a few measurements update the shipped prior; never silently worse than it."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from accel_models import Accelerator, BlockSpec, LatencyPredictor, RooflineModel, group_by_block
from latency_tables import (
    Entry,
    HybridPredictor,
    LatencyTable,
    NetworkMeasurement,
    fit_device,
    get_source,
)
from latency_tables.fitting import CalibrationProblem, FitSettings
from latency_tables.joint import JOINT_FIT_PARAMETERS
from latency_tables.metrics import ErrorReport
from latency_tables.predictor import calibrated_device
from ofa_hw import SubnetConfig, subnet_layers

B1600 = Accelerator.from_dpu("B1600", clock_mhz=300.0)
PRIOR = calibrated_device("dpuczdx8g-joint")


def _board_table(params, keys, accelerator, name="my-board"):
    """A synthetic board whose physics is ``params``: its 'measurements' are that model's predictions plus a launch."""
    units = [get_source("ultra96v2-b2304").units.get(k) or BlockSpec.from_key(k).layers() for k in keys]
    truth = RooflineModel(params).unit_latency_ms(units, accelerator) + 0.05
    meta = get_source("ultra96v2-b2304").table.meta
    meta = type(meta)(**{**meta.to_dict(), "name": name, "dpu_arch": f"DPUCZDX8G {accelerator.name}",
                         "clock_mhz": accelerator.clock_mhz, "board": "myboard"})
    return LatencyTable.from_entries(meta, [Entry(k, 100, float(ms)) for k, ms in zip(keys, truth, strict=True)])


KEYS = get_source("ultra96v2-b2304").table.keys()


def test_a_different_board_is_learned_from_twenty_units_and_predicts_the_rest_better_than_the_prior():
    truth = PRIOR.model.params.replace(conv_efficiency=0.45, pw_efficiency=0.5, bw_efficiency=0.15)
    table = _board_table(truth, KEYS, B1600)
    rng = np.random.default_rng(0)
    shots = list(rng.choice(KEYS, 20, replace=False))
    rest = [k for k in KEYS if k not in shots]
    predictor = fit_device(table.subset(shots), B1600)
    assert isinstance(predictor, HybridPredictor) and isinstance(predictor, LatencyPredictor)
    assert predictor.few_shot.chosen.startswith("fit") and predictor.few_shot.measurements == 20
    measured = table.mean_ms(rest)

    def held_out_mape(calibrated):
        units = [BlockSpec.from_key(k).layers() for k in rest]
        predicted = calibrated.model.unit_latency_ms(units, B1600) + calibrated.invocation_ms
        return float(np.mean(np.abs(predicted - measured) / measured) * 100)

    assert held_out_mape(predictor.calibrated) < 0.6 * held_out_mape(PRIOR.for_accelerator(B1600))
    # measured entries are served as measured, on the board's accelerator only
    layers = next(u for u in group_by_block(subnet_layers(SubnetConfig.uniform(3, 4, 3, r=224))) if u[0].block in shots)
    assert predictor.unit_sources([layers])[0] == "measured"
    assert predictor.unit_sources([layers], Accelerator.from_dpu("B4096"))[0] == "model"


def test_measurements_the_prior_already_predicts_keep_the_prior_and_say_so():
    table = _board_table(PRIOR.model.params, KEYS[:8], PRIOR.accelerator)
    with pytest.warns(UserWarning, match="so it is kept"):
        predictor = fit_device(table, PRIOR.accelerator)
    assert predictor.few_shot.chosen == "prior"
    assert predictor.calibrated.model.params == PRIOR.model.params
    assert set(predictor.few_shot.errors) == {"prior", "prior, launch cost fitted", "fit, prior weight 1",
                                              "fit, prior weight 0.3"}
    assert "kept" in predictor.calibrated.method["few_shot"]


def test_one_measurement_keeps_the_prior_physics_and_fits_only_the_launch_cost():
    table = _board_table(PRIOR.model.params.replace(conv_efficiency=0.5), KEYS[:1], B1600)
    with pytest.warns(UserWarning, match="too few to check a fit"):
        predictor = fit_device(table, B1600)
    assert predictor.calibrated.model.params == PRIOR.model.params
    assert predictor.few_shot.errors == {}


def test_the_pull_towards_the_prior_weakens_as_its_weight_falls():
    """Engine property behind 'in proportion to the evidence': a weaker pull lets the data move the parameters."""
    truth = PRIOR.model.params.replace(pw_efficiency=0.45)
    source = get_source("ultra96v2-b2304")
    table = _board_table(truth, KEYS[:12], source.accelerator)
    distance, error = [], []
    for weight in (100.0, 1.0, 0.3, 0.1):
        settings = FitSettings(JOINT_FIT_PARAMETERS, ("hswish_passes", "pipeline_chunk_fraction"), {},
                               prior_weight=weight, launch_prior_ms=0.05, tolerance=1e-6)
        problem = CalibrationProblem(PRIOR.model, [type(source)(table, source.accelerator)], settings)
        fit = problem.fit(problem.everything(), seed=0)
        distance.append(abs(fit.params.pw_efficiency - PRIOR.model.params.pw_efficiency))
        error.append(problem.report(0, problem.predict(0, fit.params, problem.launch_ms(0, fit))).mape_pct)
    assert distance[0] < 0.01 and all(a < b for a, b in zip(distance, distance[1:], strict=False))
    assert all(a > b for a, b in zip(error, error[1:], strict=False)) and error[-1] < 0.2 * error[0]


def test_whole_network_measurements_calibrate_the_model():
    truth = RooflineModel(PRIOR.model.params.replace(conv_efficiency=0.5, dw_efficiency=0.6))
    configs = [SubnetConfig.uniform(k, e, d, r=r) for k, e, d, r in
               [(3, 3, 2, 160), (5, 4, 3, 192), (7, 6, 4, 224), (3, 6, 3, 224), (5, 3, 4, 176), (7, 4, 2, 208),
                (3, 4, 4, 192), (5, 6, 2, 160)]]
    shots = [NetworkMeasurement(f"net{i}", cfg, float(truth.network_latency_ms(cfg.layers(), B1600)) + 0.05)
             for i, cfg in enumerate(configs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictor = fit_device(shots, B1600, name="my-zcu")
    assert predictor.name == "my-zcu" and len(predictor.table) == 8
    probe = SubnetConfig.uniform(5, 6, 3, r=192).layers()
    expected = float(truth.network_latency_ms(probe, B1600)) + 0.05
    prior_error = abs(PRIOR.for_accelerator(B1600).network_latency_ms(probe) - expected)
    assert abs(predictor.network_latency_ms(probe) - expected) < prior_error
    assert set(predictor.unit_sources(group_by_block(probe))) == {"model"}  # networks are no unit measurements


@pytest.mark.parametrize(("measurements", "message"), [
    ([], "non-empty sequence of NetworkMeasurement, got list"),
    (["net"], r"non-empty sequence of NetworkMeasurement, got \[.str.\]"),
])
def test_bad_measurements_are_refused(measurements, message):
    with pytest.raises(ValueError, match=message):
        fit_device(measurements, B1600)


def test_bad_network_measurements_and_arguments_are_refused():
    layers = subnet_layers(SubnetConfig.smallest(r=160))
    with pytest.raises(ValueError, match="latency_ms must be a positive number"):
        NetworkMeasurement("a", layers, 0.0)
    with pytest.raises(ValueError, match="layers must be a non-empty sequence"):
        NetworkMeasurement("a", (), 3.0)
    with pytest.raises(ValueError, match=r"must have distinct names, got \[.a., .a.\]"):
        fit_device([NetworkMeasurement("a", layers, 3.0), NetworkMeasurement("a", layers, 4.0)], B1600)
    with pytest.raises(ValueError, match="needs the Accelerator"):
        fit_device([NetworkMeasurement("a", layers, 3.0)], "B1600")
    with pytest.raises(TypeError, match="prior must be a device name"):
        fit_device([NetworkMeasurement("a", layers, 3.0)], B1600, prior=3)
    with pytest.raises(KeyError, match="unknown device"):
        fit_device([NetworkMeasurement("a", layers, 3.0)], B1600, prior="kv260")
    with pytest.raises(ValueError, match="'hls-engine' has no calibration of its own"):
        fit_device([NetworkMeasurement("a", layers, 3.0)], B1600, prior="hls-engine")
    with pytest.raises(ValueError, match="significance must be a p-value"):
        fit_device([NetworkMeasurement("a", layers, 3.0)], B1600, significance=0.0)
    with pytest.raises(ValueError, match="prior_weights must be positive"):
        fit_device([NetworkMeasurement("a", layers, 3.0)], B1600, prior_weights=(0.0,))


def test_a_fit_that_replaces_the_prior_carries_its_evidence_and_its_held_out_residuals():
    truth = PRIOR.model.params.replace(conv_efficiency=0.45, pw_efficiency=0.5, bw_efficiency=0.15)
    table = _board_table(truth, KEYS, B1600)
    shots = list(np.random.default_rng(0).choice(KEYS, 20, replace=False))
    predictor = fit_device(table.subset(shots), B1600)
    report = predictor.few_shot
    assert report.chosen.startswith("fit")
    # the sign test: p of beating the prior on at least as many of the 20 held-out shots, by chance alone
    assert report.evidence_p is not None and report.evidence_p <= 0.05 and "sign test p" in report.note
    assert len(report.residuals) == 20
    # the residuals are held out: each shot predicted by the fit on the others, so they are not the in-sample ones
    fitted = predictor.calibrated
    in_sample = np.log(table.mean_ms(shots) / (fitted.model.unit_latency_ms(
        [BlockSpec.from_key(k).layers() for k in shots], B1600) + fitted.invocation_ms))
    assert not np.allclose(report.residuals, in_sample)
    assert np.mean(np.abs(report.residuals)) < 0.5


def test_one_measurement_keeps_the_prior_and_its_residual_is_the_priors_error_on_it():
    truth = PRIOR.model.params.replace(conv_efficiency=0.45)
    table = _board_table(truth, KEYS[:1], B1600).subset(KEYS[:1])
    with pytest.warns(UserWarning, match="too few to check a fit"):
        predictor = fit_device(table, B1600)
    assert predictor.few_shot.chosen == "prior, launch cost fitted" and predictor.few_shot.evidence_p is None
    ultra96 = get_source("ultra96v2-b2304")
    unit = ultra96.units.get(KEYS[0]) or BlockSpec.from_key(KEYS[0]).layers()
    prior_ms = float(PRIOR.model.unit_latency_ms([unit], B1600)[0]) + PRIOR.invocation_ms
    assert predictor.few_shot.residuals == pytest.approx((np.log(table.mean_ms(KEYS[:1])[0] / prior_ms),))


def test_the_few_shot_report_survives_the_predictor_record():
    from latency_tables import predictor_record
    from latency_tables.records import predictor_from_record

    truth = PRIOR.model.params.replace(conv_efficiency=0.45, pw_efficiency=0.5, bw_efficiency=0.15)
    table = _board_table(truth, KEYS[:8], B1600).subset(KEYS[:8])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictor = fit_device(table, B1600)
    rebuilt = predictor_from_record(predictor_record(predictor))
    assert rebuilt.few_shot == predictor.few_shot


def test_a_fit_better_on_average_but_not_on_enough_measurements_keeps_the_prior_and_says_so():
    from scipy.stats import binomtest

    from latency_tables.few_shot import _choose

    measured = np.ones(10)
    prior = np.full(10, 1.3)  # 30 % off everywhere: 26 % MAPE
    fit = np.r_[np.full(6, 1.0), np.full(4, 1.4)]  # perfect on 6 of 10, worse on 4: 16 % MAPE
    errors = {"prior": ErrorReport(23.1, 23.1, 1.0, 10), "fit, prior weight 1": ErrorReport(11.4, 28.6, 1.0, 10)}
    predicted = {"prior": prior, "fit, prior weight 1": fit}
    choice = _choose(errors, predicted, measured, 0.05, "dpuczdx8g-joint")
    p = binomtest(6, 10, 0.5, alternative="greater").pvalue  # 6 wins of 10: 0.377
    assert choice.chosen == "prior" and choice.evidence_p is None
    assert f"sign test p = {p:.2g} > 0.05" in choice.why and "so the prior 'dpuczdx8g-joint' is kept" in choice.why
    taken = _choose(errors, predicted, measured, 1.0, "dpuczdx8g-joint")  # no evidence asked for
    assert taken.chosen == "fit, prior weight 1" and taken.evidence_p == pytest.approx(p)


def test_a_fit_that_wins_moves_half_way_from_the_prior_and_says_so():
    """Every parameter of the chosen predictor is the midpoint of the prior's and the same fit run on its own."""
    from latency_tables.few_shot import FEW_SHOT_SHRINKAGE, _settings
    from latency_tables.sources import CalibrationSource

    truth = PRIOR.model.params.replace(conv_efficiency=0.45, pw_efficiency=0.5, bw_efficiency=0.15)
    table = _board_table(truth, KEYS, B1600)
    shots = table.subset(list(np.random.default_rng(0).choice(KEYS, 20, replace=False)))
    predictor = fit_device(shots, B1600)
    report = predictor.few_shot
    assert FEW_SHOT_SHRINKAGE == 0.5 and report.shrinkage == 0.5 and "0.5 of the way" in report.note
    settings = _settings("fitted", PRIOR, report.prior_weight)
    problem = CalibrationProblem(RooflineModel(PRIOR.model.params), [CalibrationSource(shots, B1600)], settings)
    full = problem.fit(problem.everything(), seed=0).params.to_dict()
    prior, moved = PRIOR.model.params.to_dict(), predictor.calibrated.model.params.to_dict()
    assert moved == pytest.approx({k: (prior[k] + full[k]) / 2 for k in prior})
    assert moved["conv_efficiency"] != pytest.approx(prior["conv_efficiency"])  # it did move
    # the launch cost moves half way too: from the prior's to the fit's
    assert predictor.calibrated.invocation_ms == pytest.approx(
        (PRIOR.invocation_ms + problem.launch_ms(0, problem.fit(problem.everything(), seed=0))) / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = fit_device(_board_table(PRIOR.model.params, KEYS[:8], PRIOR.accelerator), PRIOR.accelerator)
    assert kept.few_shot.chosen == "prior" and kept.few_shot.shrinkage is None  # the prior moves nowhere


def test_cross_validation_predicts_each_fold_with_the_adjusted_fit_of_its_training_entries():
    """The fold loop fit_device shares with every calibration: ``adjust`` turns a fold's fit into the one used."""
    from latency_tables.few_shot import _settings
    from latency_tables.fitting import Fit
    from latency_tables.sources import CalibrationSource

    table = _board_table(PRIOR.model.params, KEYS[:9], B1600)
    problem = CalibrationProblem(RooflineModel(PRIOR.model.params), [CalibrationSource(table, B1600)],
                                 _settings("as is", PRIOR, 1.0))
    used = Fit(PRIOR.model.params.replace(conv_efficiency=0.3), {table.meta.name: 0.2}, {})
    trained = []

    def adjust(train, fit):
        trained.append(train[0])
        return used

    predicted = problem.cross_validate(3, 0, {table.meta.name: 0.0}, adjust=adjust)[0]
    np.testing.assert_array_equal(predicted, problem.predict(0, used.params, 0.2))
    held_out = [np.setdiff1d(np.arange(9), train) for train in trained]
    assert [len(part) for part in held_out] == [3, 3, 3]
    assert sorted(np.concatenate(held_out).tolist()) == list(range(9))  # each entry held out once
    unadjusted = problem.cross_validate(3, 0, {table.meta.name: 0.0})[0]
    assert not np.allclose(unadjusted, predicted)


def test_one_measurement_fits_the_prior_once(monkeypatch):
    """The prior's fit on the measurement is both where the launch-cost fit starts and the residual's prediction."""
    fits = []
    real_fit = CalibrationProblem.fit
    monkeypatch.setattr(CalibrationProblem, "fit", lambda self, *args: fits.append(self) or real_fit(self, *args))
    table = _board_table(PRIOR.model.params.replace(conv_efficiency=0.45), KEYS[:1], B1600)
    with pytest.warns(UserWarning, match="too few to check a fit"):
        fit_device(table, B1600)
    assert [problem.settings.fit_launch for problem in fits] == [False, True]  # the prior, then its launch cost


def test_a_dpu_table_is_not_fitted_on_a_phone_cpu_prior():
    shots = get_source("ultra96v2-b2304").table.subset(KEYS[:3])
    with pytest.raises(ValueError, match="prior 'note10' is not a DPU calibration .* 'dpuczdx8g-joint' \\(the default"):
        fit_device(shots, get_source("ultra96v2-b2304").accelerator, "note10")


def _header_on_ultra96(dpu_arch: str, clock_mhz: float) -> LatencyTable:
    """The shipped Ultra96-V2 entries under a header that names ``dpu_arch`` at ``clock_mhz`` on that board."""
    shipped = get_source("ultra96v2-b2304").table
    meta = dataclasses.replace(shipped.meta, name="my-ultra96", dpu_arch=f"DPUCZDX8G {dpu_arch}", clock_mhz=clock_mhz)
    return LatencyTable.from_entries(meta, [shipped.entries[k] for k in shipped.keys()[:8]])


def test_a_header_naming_a_dpu_the_board_cannot_hold_is_used_with_a_warning_that_says_what_fits():
    from latency_tables import BoardMismatchWarning, table_accelerator

    impossible = _header_on_ultra96("B4096", 300.0)  # 1,000+ DSP slices at least; the Ultra96-V2's ZU3EG has 360
    with pytest.warns(BoardMismatchWarning, match=r"B4096 @300 MHz x1 cannot be built on ultra96v2") as caught:
        accelerator = table_accelerator(impossible.meta)
    assert accelerator.name == "B4096"  # the measurement's header is kept, not refused
    assert "that fit ultra96v2: B512, B800, B1024, B1152, B1600, B2304" in str(caught[0].message)
    with warnings.catch_warnings(record=True) as fitted:  # an Accelerator given directly (and the fit's own note)
        warnings.simplefilter("always")
        fit_device(impossible, Accelerator.from_dpu("B4096", clock_mhz=300.0, ddr_bw_gbps=8.53))
    assert [w.category for w in fitted if "cannot be built on ultra96v2" in str(w.message)] == [BoardMismatchWarning]
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoardMismatchWarning)  # the B2304 the board was measured with: no word
        table_accelerator(_header_on_ultra96("B2304", 200.0).meta)


def test_an_accelerator_of_another_ddr_bandwidth_than_the_tables_board_is_fitted_with_a_warning():
    shots = get_source("ultra96v2-b2304").table.subset(KEYS[:3])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_device(shots, Accelerator.from_dpu("B2304", clock_mhz=200.0, ddr_bw_gbps=19.2))  # a ZCU102's DDR
        fit_device(shots, get_source("ultra96v2-b2304").accelerator)  # the board's own 8.53 GB/s: no word
    assert [str(w.message) for w in caught if "GB/s" in str(w.message)] == [
        "table 'ultra96v2-b2304' was measured on ultra96v2 (DDR 8.53 GB/s) but the accelerator given has 19.2 GB/s: "
        "the fit times memory at the wrong bandwidth, and a search on ultra96v2 will not use these measurements; "
        "pass table_accelerator(table.meta, arch=..., clock_mhz=...) or Accelerator.from_dpu(..., ddr_bw_gbps=8.53)"]
