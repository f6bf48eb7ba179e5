"""Latency intervals: conformal bounds, sources, network combination, and a search at a confidence."""

from __future__ import annotations

import numpy as np
import pytest

from accel_models import Accelerator, RooflineModel, group_by_block
from latency_tables import get_predictor, list_tables, load_table
from latency_tables.uncertainty import (
    Residuals,
    UpperBoundPredictor,
    error_model,
    interval_predictor,
    repeat_residuals,
)
from ofa_hw import SubnetConfig, subnet_layers
from ofa_hw.search import CodesignResult, search_codesign

FAST = dict(budget=1200, population=40, progress=False, seed=0)


def test_conformal_bounds_by_hand():
    values = tuple(float(v) for v in range(1, 11))  # n = 10
    # 90 %: upper = ceil(11 * 0.95) = 11th -> the largest; lower = floor(11 * 0.05) = 0th -> the smallest
    assert Residuals("model", values, "").bounds(0.9) == (1.0, 10.0)
    # 50 %: upper = ceil(11 * 0.75) = 9th, lower = floor(11 * 0.25) = 2nd
    assert Residuals("model", values, "").bounds(0.5) == (2.0, 9.0)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        Residuals("model", values, "").bounds(1.0)
    with pytest.raises(ValueError, match="source must be one of"):
        Residuals("guess", values, "")


def test_measured_residuals_are_the_note10_repeats():
    counts: dict[str, int] = {}
    for name in list_tables("note10-r*"):
        for key in load_table(name).entries:
            counts[key] = counts.get(key, 0) + 1
    repeated = [n for n in counts.values() if n > 1]
    assert len(repeated) == 312 and len(repeat_residuals().values) == sum(repeated)
    assert abs(np.median(repeat_residuals().values)) < 0.01


def test_network_interval_adds_unit_bounds_and_names_sources():
    p = interval_predictor("ultra96v2-b2304")
    layers = subnet_layers(SubnetConfig.uniform(3, 4, 3, r=224))  # kernel 3: every block measured but the pool
    units = group_by_block(layers)
    own = p.predictor.accelerator
    sources, low, high = p.unit_factors(units, own)
    assert set(sources[0]) == {"measured", "model"}
    point = p.predictor.unit_latency_ms(units, own)
    interval = p.network_interval(layers)
    inv = p.predictor.invocation_ms
    assert float(interval.latency_ms) == pytest.approx(point.sum() + inv)
    assert float(interval.high_ms) == pytest.approx((point * high[0]).sum() + inv)  # fully correlated: bounds add
    assert float(interval.low_ms) < float(interval.latency_ms) < float(interval.high_ms)
    other = Accelerator.from_dpu("B4096", clock_mhz=300.0)
    assert set(p.unit_sources(units, other)[0]) == {"transferred"}
    wide = p.network_interval(layers, other)
    assert float(wide.high_ms / wide.latency_ms) > float(interval.high_ms / interval.latency_ms)
    summary = error_model("dpuczdx8g-joint").summary()
    assert summary["transferred"]["n"] == 92 and summary["model"]["mbconv"]["n"] == 62
    with pytest.raises(KeyError, match="no latency-interval model for device 'note10'"):
        error_model("note10")


def test_upper_bound_predictor_is_a_latency_predictor():
    from accel_models import LatencyPredictor

    p = interval_predictor()
    upper = UpperBoundPredictor(p)
    assert isinstance(upper, LatencyPredictor)
    layers = subnet_layers(SubnetConfig.largest(r=192))
    assert upper.network_latency_ms(layers) == pytest.approx(float(p.network_interval(layers).high_ms))
    assert upper.layer_latency_ms(layers).sum() + upper.invocation_ms == pytest.approx(upper.network_latency_ms(layers))


def test_search_at_a_confidence_meets_the_budget_at_the_upper_bound(tmp_path):
    plain = search_codesign(board="ultra96v2", latency_ms=10.0, **FAST)
    assert plain.best.latency_ms <= 10.0 and plain.best.latency_confidence == 0.9
    assert plain.best.latency_low_ms < plain.best.latency_ms < plain.best.latency_high_ms
    safe = search_codesign(board="ultra96v2", latency_ms=10.0, confidence=0.9, **FAST)
    assert safe.best.latency_high_ms <= 10.0 + 1e-9 and safe.best.latency_ms < safe.best.latency_high_ms
    assert safe.settings["confidence"] == 0.9 and safe.settings["latency_interval"]["searched_on"] == "upper bound"
    assert safe.best.accuracy_top1 <= plain.best.accuracy_top1 + 0.5  # a margin costs accuracy, never gains much
    # every design's interval is that of its own layers (the search sums it by a gather over its units)
    p = interval_predictor()
    for design in [*plain.pareto[::7], plain.best]:
        interval = p.network_interval(design.layers(), design.accelerator)
        point = float(interval.latency_ms)
        assert design.latency_ms - design.latency_low_ms == pytest.approx(point - float(interval.low_ms))
        assert design.latency_high_ms - design.latency_ms == pytest.approx(float(interval.high_ms) - point)
    for design in [*safe.pareto[::7], safe.best]:  # scored at the upper bound: the point is that minus the deviation
        interval = p.network_interval(design.layers(), design.accelerator)
        assert design.latency_ms == pytest.approx(float(interval.latency_ms))
        assert design.latency_high_ms == pytest.approx(float(interval.high_ms))
        assert design.latency_low_ms == pytest.approx(float(interval.low_ms))
    back = CodesignResult.from_json(safe.to_json(tmp_path / "r.json"))
    assert back.best == safe.best


def test_a_predictor_without_an_interval_model_says_so():
    result = search_codesign(board="ultra96v2", latency_ms=10.0, predictor=get_predictor("ultra96v2-b2304").calibrated,
                             **FAST)
    assert result.best.latency_confidence is None and "no interval model" in result.settings["latency_interval"]["note"]
    with pytest.raises(ValueError, match="confidence= needs a latency predictor with an interval model"):
        search_codesign(board="ultra96v2", latency_ms=10.0, predictor=RooflineModel(), confidence=0.9, **FAST)


def test_each_device_carries_its_own_transfer_error():
    joint, single = error_model("dpuczdx8g-joint").transferred, error_model("ultra96v2-b2304").transferred
    assert len(joint.values) == 92 and len(single.values) == 26
    # the single-table calibration transfers far worse (README: 53 % MAPE against 12.7 % for the joint fit)
    assert np.exp(single.bounds(0.9)[1]) > 2 * np.exp(joint.bounds(0.9)[1])


def test_posterior_residuals_weigh_the_prior_as_prior_shots_measurements():
    from latency_tables.uncertainty import PRIOR_CENTRE_SHOTS, posterior_residuals

    prior = Residuals("transferred", tuple(np.linspace(-0.5, 0.5, 101)), "prior")
    assert prior.bounds(0.9) == pytest.approx((-0.46, 0.46))  # the 5th and 97th of 101 (split-conformal)
    assert PRIOR_CENTRE_SHOTS == 2.0  # the hand computations below use it
    # 5 board residuals at 0.0 against a prior spread worth 5, by hand with Student-t table values:
    # prior spread 0.46 / (t(5) = 2.015048 x sqrt(1 + 1/2)); posterior variance 5 x that^2 / 10; t(10) = 1.812461
    posterior = posterior_residuals(prior, [0.0] * 5, prior_shots=5.0)
    prior_spread = 0.46 / (2.015048 * np.sqrt(1.5))
    half = 1.812461 * np.sqrt(5 * prior_spread ** 2 / 10 * (1 + 1 / 7))
    assert posterior.bounds(0.9) == pytest.approx((-half, half), rel=1e-5)
    assert posterior.source == "model" and "5 held-out residual(s)" in posterior.origin
    # one residual updates nothing: the prior's interval
    assert posterior_residuals(prior, [0.3], prior_shots=5.0).bounds(0.9) == pytest.approx((-0.46, 0.46))
    # residuals all on one side: the interval moves that way but still holds the prediction (0)
    assert posterior_residuals(prior, [0.5, 0.7] * 20, prior_shots=5.0).bounds(0.9)[0] == 0.0
    # many board residuals near 0: the interval narrows towards theirs; noisier ones widen it
    narrow = posterior_residuals(prior, [0.01, -0.01] * 50, prior_shots=5.0).bounds(0.9)
    assert -0.1 < narrow[0] < 0 < narrow[1] < 0.1
    wide = posterior_residuals(prior, [-1.0, 1.0] * 50, prior_shots=5.0).bounds(0.9)
    assert wide[0] < -0.95 and wide[1] > 0.95
    # a rare outlier moves the spread far less than a variance would: 1 in 20 at 1.5 (a per-layer profile's)
    typical = posterior_residuals(prior, [0.05, -0.05] * 10, prior_shots=5.0).bounds(0.9)
    outlier = posterior_residuals(prior, [0.05, -0.05] * 9 + [0.05, 1.5], prior_shots=5.0).bounds(0.9)
    assert np.diff(outlier)[0] < 1.6 * np.diff(typical)[0]
    with pytest.raises(ValueError, match="prior_shots must be a positive number"):
        posterior_residuals(prior, [0.0], prior_shots=0.0)


def test_the_posterior_interval_moves_one_measurement_at_a_time():
    """Smooth in k: adding one residual moves the width by a fraction of the board's spread, never a jump."""
    from latency_tables.uncertainty import posterior_residuals

    prior = Residuals("transferred", tuple(np.linspace(-0.2, 0.2, 41)), "prior")
    board = np.random.default_rng(0).standard_t(2, 30) * 0.3  # heavy tails: the case a mixture jumps on
    widths = [np.diff(posterior_residuals(prior, board[:k], prior_shots=10.0).bounds(0.9))[0] for k in range(2, 31)]
    steps = np.abs(np.diff(widths))
    assert np.all(steps < 0.25 * np.ptp(board))
    assert widths[-1] > 2 * np.diff(prior.bounds(0.9))[0]  # a noisier board than the prior: wider


def test_the_posterior_interval_moves_from_the_prior_to_the_boards_errors():
    """What bench_few_shot asks of the interval, on draws with a known distribution (board errors N(0, 0.1))."""
    from latency_tables.uncertainty import posterior_residuals

    rng = np.random.default_rng(0)
    fresh = rng.normal(0.0, 0.1, 20_000)  # the board's error on the rows not given

    priors = {sd: Residuals("transferred", tuple(rng.normal(0.0, sd, 200)), f"prior N(0, {sd})")
              for sd in (0.2, 0.1, 0.03)}

    def width_and_coverage(prior_sd, k):
        prior = priors[prior_sd]
        widths, covered = [], []
        for _ in range(200):
            low, high = posterior_residuals(prior, rng.normal(0.0, 0.1, k)).bounds(0.9)
            widths.append(high - low)
            covered.append(np.mean((fresh >= low) & (fresh <= high)))
        return np.mean(widths), np.mean(covered)

    shots = (0, 3, 5, 10, 20)
    wide = [width_and_coverage(0.2, k) for k in shots]  # a prior twice as wide as the board's errors
    widths = np.array([w for w, _ in wide])
    # narrower at every k; from 3 residuals to 5 within 5 % (the spread about the median of 3 sits a little low)
    assert np.all(widths[1:] < widths[0]) and np.all(widths[1:] < 1.05 * np.minimum.accumulate(widths)[:-1])
    assert widths[-1] < 0.6 * widths[0] and all(c > 0.85 for _, c in wide)
    honest = [width_and_coverage(0.1, k) for k in shots]  # as wide: it stays about where it is (its coverage
    # dips to about 82 % at 3 shots: an interval whose width varies with the draw covers less than its mean width)
    assert all(abs(w / honest[0][0] - 1) < 0.15 and 0.8 < c < 0.95 for w, c in honest)
    confident = [width_and_coverage(0.03, k) for k in shots]  # a third as wide: the coverage rises to 85 %
    assert confident[0][1] < 0.5 and np.all(np.diff([c for _, c in confident]) > 0) and confident[-1][1] > 0.85


def _fitted_on_ultra96(n_shots: int, prior="dpuczdx8g-joint"):
    """fit_device on the first ``n_shots`` measured Ultra96-V2 units (the joint prior's own board)."""
    import warnings

    from latency_tables import fit_device, get_source

    ultra96 = get_source("ultra96v2-b2304")
    shots = ultra96.table.subset(ultra96.table.keys()[:n_shots])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_device(shots, ultra96.accelerator, prior, units=ultra96.units)


def test_a_fitted_predictor_has_the_posterior_interval_on_its_board():
    from accel_models import Accelerator
    from latency_tables.uncertainty import error_model, fitted_error_model

    predictor = _fitted_on_ultra96(6)
    errors = fitted_error_model(predictor.few_shot)
    prior = error_model("dpuczdx8g-joint").transferred
    board = errors.residuals("model", "any key")
    assert board.values == predictor.few_shot.residuals and board.prior == prior
    assert errors.transferred.values == prior.values and errors.transferred.at_least == board
    p = interval_predictor(predictor)
    interval = p.network_interval(subnet_layers(SubnetConfig.largest()), Accelerator.from_dpu("B2304", 200.0))
    assert float(interval.low_ms) < float(interval.latency_ms) < float(interval.high_ms)
    with pytest.raises(TypeError, match="device name"):
        interval_predictor(3)


def test_a_search_on_a_fitted_board_carries_its_posterior_interval():
    predictor = _fitted_on_ultra96(8)
    safe = search_codesign(board="ultra96v2", latency_ms=12.0, predictor=predictor, confidence=0.9, **FAST)
    assert safe.best.latency_high_ms <= 12.0 + 1e-9 and safe.best.latency_low_ms < safe.best.latency_ms
    board = safe.settings["latency_interval"]["sources"]["model"]["*"]
    assert "posterior after 8 held-out residual(s)" in board["origin"]


def test_a_search_on_a_fitted_board_builds_its_interval_model_once(monkeypatch):
    import latency_tables.uncertainty as uncertainty

    predictor = _fitted_on_ultra96(5)
    built = []
    original = uncertainty.interval_predictor
    monkeypatch.setattr(uncertainty, "interval_predictor", lambda *a: built.append(a) or original(*a))
    result = search_codesign(board="ultra96v2", latency_ms=12.0, predictor=predictor, confidence=0.9, **FAST)
    assert result.best.latency_high_ms <= 12.0 + 1e-9
    assert [a[0] for a in built] == [predictor]  # the searched bound, the designs' intervals, the settings: one model
    search_codesign(board="ultra96v2", latency_ms=12.0, predictor=_fitted_on_ultra96(5), confidence=0.9, **FAST)
    assert len(built) == 2  # another fitted predictor (equal, not the same object) gets its own


def test_a_fit_on_an_unnamed_calibration_has_no_device_interval_model():
    from latency_tables.uncertainty import fitted_error_model

    predictor = _fitted_on_ultra96(4, get_predictor("dpuczdx8g-joint").calibrated)
    assert predictor.few_shot.prior == "a CalibratedModel fitted on ultra96v2-b2304"
    with pytest.raises(KeyError, match="no latency-interval model"):
        interval_predictor(predictor)
    given = Residuals("transferred", (-0.2, 0.0, 0.2), "given")  # the caller knows the prior's unseen-board error
    assert fitted_error_model(predictor.few_shot, given).transferred.values == given.values


def test_a_sibling_of_the_fitted_configuration_is_never_narrower_than_the_fitted_board():
    import dataclasses
    import warnings

    from latency_tables import fit_device, get_source
    from latency_tables.uncertainty import error_model

    zcu102 = get_source("zcu102-b4096-mbv2")  # a board the joint prior predicts poorly (x0.35-x4.3 after the fit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictor = fit_device(zcu102.table, zcu102.accelerator, units=zcu102.units)
    intervals = interval_predictor(predictor)
    measured_on = predictor.calibrated.accelerator
    sibling = dataclasses.replace(measured_on, options=measured_on.options.replace(
        ram_usage="high" if measured_on.options.ram_usage == "low" else "low"))  # what a search on the board may pick
    layers = subnet_layers(SubnetConfig.largest())
    own, other = (intervals.network_interval(layers, acc) for acc in (measured_on, sibling))
    assert float(own.high_ms / own.latency_ms) > 2.0  # the board's own evidence: the model is far off here
    assert float(other.low_ms / other.latency_ms) <= float(own.low_ms / own.latency_ms) + 1e-9
    assert float(other.high_ms / other.latency_ms) >= float(own.high_ms / own.latency_ms) - 1e-9
    prior_low, prior_high = np.exp(error_model("dpuczdx8g-joint").transferred.bounds(0.9))
    assert float(other.high_ms / other.latency_ms) > 1.5 * prior_high  # not the prior's x1.23 any more


def test_a_measured_entry_with_its_own_spread_gets_one_runs_interval_from_it():
    import dataclasses
    import warnings

    from scipy.stats import t as student_t

    from latency_tables import LatencyTable, fit_device, get_source
    from latency_tables.sources import table_units

    ultra96 = get_source("ultra96v2-b2304")
    keys = [k for k in ultra96.table.keys() if k.startswith("expanded_conv")][:6]
    entries = [ultra96.table.entries[k] for k in keys]
    spread = [dataclasses.replace(e, count=40, std_ms=0.08 * e.mean_ms) for e in entries[:3]]  # as the harness records
    table = LatencyTable.from_entries(ultra96.table.meta, spread + entries[3:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictor = fit_device(table, ultra96.accelerator)
    intervals = interval_predictor(predictor)
    units = [table_units(table)[k] for k in keys]
    sources, low, high = intervals.unit_factors(units, ultra96.accelerator)
    assert sources[0].tolist() == ["measured"] * 6
    s = np.sqrt(np.log(1 + 0.08 ** 2))  # by hand: a log-normal run of CV 8 %, 40 runs, one further run
    half = student_t.ppf(0.95, 39) * s * np.sqrt(1 + 1 / 40)
    np.testing.assert_allclose(low[0, :3], np.exp(-s * s / 2 - half), rtol=1e-9)
    np.testing.assert_allclose(high[0, :3], np.exp(-s * s / 2 + half), rtol=1e-9)
    repeat_low, repeat_high = np.exp(repeat_residuals().bounds(0.9))  # no std_ms: the Note10 repeat model
    np.testing.assert_allclose(low[0, 3:], repeat_low) and np.testing.assert_allclose(high[0, 3:], repeat_high)
    assert high[0, 0] > 1.1 > repeat_high  # wider than the +-0.5 % the repeat model claims


def test_the_shipped_tables_measured_entries_keep_the_repeat_model():
    p = interval_predictor("ultra96v2-b2304")
    units = group_by_block(subnet_layers(SubnetConfig.uniform(3, 4, 3, r=224)))
    sources, low, high = p.unit_factors(units, p.predictor.accelerator)
    measured = sources[0] == "measured"
    assert measured.any() and all(e.std_ms is None for e in p.predictor.table.entries.values())
    np.testing.assert_allclose(np.c_[low[0, measured], high[0, measured]],
                               np.broadcast_to(np.exp(repeat_residuals().bounds(0.9)), (measured.sum(), 2)))
