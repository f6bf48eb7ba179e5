"""A user's own table wherever a device name goes, recorded in result.json so reports rebuild it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import warnings
from html import escape as html_escape

import numpy as np
import pytest

from accel_models import Accelerator, BlockSpec, RooflineModel, group_by_block
from latency_tables import (
    LatencyTable,
    as_predictor,
    get_predictor,
    get_source,
    load_table,
    predictor_from_record,
    predictor_record,
    write_table,
)
from ofa_hw import SubnetConfig, search_codesign, subnet_layers
from ofa_hw.cli import main
from ofa_hw.search import CodesignResult

UNITS = group_by_block(subnet_layers(SubnetConfig.uniform(5, 4, 3, r=224)))


def _small_search(predictor, accelerator: Accelerator, budget: int) -> CodesignResult:
    """A quick Ultra96-V2 search at 12 ms on ``predictor`` and one accelerator (its warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return search_codesign(board="ultra96v2", latency_ms=12.0, predictor=predictor, budget=budget,
                               population=budget // 10, seed=0, accelerators=[accelerator], progress=False)


@pytest.fixture(scope="module")
def my_table(tmp_path_factory):
    """Twelve Ultra96 entries under the metadata of a board of one's own."""
    shipped = get_source("ultra96v2-b2304").table
    meta = dataclasses.replace(shipped.meta, name="my-board", board="myboard", source="measured by me")
    table = LatencyTable.from_entries(meta, [shipped.entries[k] for k in shipped.keys()[::5]])
    return write_table(table, tmp_path_factory.mktemp("board") / "my_board.csv")


def _fitted(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # whether the fit or the prior wins is fit_device's business
        return as_predictor(path)


def test_a_table_file_is_a_predictor_fitted_on_the_prior_and_recorded_with_its_file(my_table):
    predictor = _fitted(my_table)
    assert predictor.name == "my-board" and predictor.few_shot.prior == "dpuczdx8g-joint"
    record = json.loads(json.dumps(predictor_record(predictor)))
    assert record["kind"] == "table" and record["path"] == str(my_table.resolve())
    assert record["sha256"] == hashlib.sha256(my_table.read_bytes()).hexdigest()
    fitted = record["calibration"]["parameters"]["conv_efficiency"]["value"]
    assert fitted == predictor.calibrated.model.params.conv_efficiency
    again = predictor_from_record(record)
    np.testing.assert_array_equal(again.unit_latency_ms(UNITS), predictor.unit_latency_ms(UNITS))
    assert list(again.unit_sources(UNITS)) == list(predictor.unit_sources(UNITS))
    assert again.table.keys() == load_table(my_table).keys()


def test_records_of_devices_models_and_foreign_objects():
    assert predictor_record(get_predictor("note10")) == {"format": "ofa-hw-latency-predictor/1", "kind": "device",
                                                         "device": "note10"}
    assert predictor_from_record(predictor_record(get_predictor("dpuczdx8g-joint"))) is get_predictor("dpuczdx8g-joint")
    model = RooflineModel().with_params(overlap=0.5)
    assert predictor_from_record(predictor_record(model)) == model
    calibrated = get_predictor("ultra96v2-b2304").calibrated
    rebuilt = predictor_from_record(json.loads(json.dumps(predictor_record(calibrated))))
    np.testing.assert_array_equal(rebuilt.unit_latency_ms(UNITS), calibrated.unit_latency_ms(UNITS))
    with pytest.raises(ValueError, match="not a latency predictor record"):
        predictor_from_record({"kind": "device", "device": "note10"})


def test_a_changed_table_file_is_reported_and_the_recorded_copy_used(my_table, tmp_path):
    copy = tmp_path / "copy.csv"
    copy.write_bytes(my_table.read_bytes())
    record = predictor_record(_fitted(copy))
    copy.write_text(copy.read_text().replace("measured by me", "measured again"))
    with pytest.warns(UserWarning, match="changed since this predictor was recorded"):
        again = predictor_from_record(record)
    assert again.table.meta.source == "measured by me"


def test_unknown_names_say_what_is_accepted(tmp_path):
    with pytest.raises(KeyError, match="unknown device 'kv260'.*measured table file"):
        as_predictor("kv260")
    with pytest.raises(KeyError, match="is not a file"):
        as_predictor(str(tmp_path / "missing.csv"))


def test_a_search_on_ones_own_table_reports_from_result_json_alone(my_table, tmp_path):
    result = _small_search(str(my_table), get_source("ultra96v2-b2304").accelerator, budget=400)
    assert result.settings["latency_predictor"] == str(my_table)
    assert result.settings["latency_predictor_record"]["kind"] == "table"
    loaded = CodesignResult.from_json(result.to_json(tmp_path / "result.json"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the per-unit latencies add up to the result's
        path = loaded.report(tmp_path / "report", cross_validate=False)
    summary = json.loads((path.parent / "summary.json").read_text())
    assert summary["assumptions"]["latency"]["table"]["name"] == "my-board"
    assert summary["best"]["latency"]["total_ms"] == pytest.approx(loaded.best.latency_ms, rel=1e-9)


def test_cli_fit_then_search_and_report_with_the_record(my_table, tmp_path, capsys):
    record = tmp_path / "fit.json"
    assert main(["lut", "fit", str(my_table), "--out", str(record)]) == 0
    out = capsys.readouterr().out
    assert "cross-validated MAPE" in out and f"use it as --predictor {record}" in out
    factors = re.search(r"90% interval of a unit on this board: x([\d.]+) to x([\d.]+) of its prediction "
                        r"\(the prior's on an unseen board: x([\d.]+) to x([\d.]+)", out)
    assert factors, out
    low, high, prior_low, prior_high = map(float, factors.groups())
    assert low < 1 < high and prior_low < 1 < prior_high
    assert json.loads(record.read_text())["kind"] == "table"
    assert json.loads(record.read_text())["few_shot"]["residuals"]  # the interval's update is recorded
    run = tmp_path / "run"
    assert main(["search", "--predictor", str(record), "--latency-ms", "12", "--budget", "400", "--population",
                 "40", "--accelerators", "B2304@200x1", "--no-progress", "--no-report", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["report", str(run / "result.json"), "--no-cv"]) == 0
    assert "report:" in capsys.readouterr().out
    assert main(["search", "--predictor", "nope.csv", "--latency-ms", "12", "--no-progress"]) == 2
    assert "is not a file" in capsys.readouterr().err


def test_a_moved_table_file_is_reported_and_the_recorded_copy_used(my_table, tmp_path):
    copy = tmp_path / "copy.csv"
    copy.write_bytes(my_table.read_bytes())
    record = predictor_record(_fitted(copy))
    copy.rename(tmp_path / "elsewhere.csv")
    with pytest.warns(UserWarning, match="copy.csv, the table this predictor was fitted on, is no longer there"):
        again = predictor_from_record(record)
    assert again.table.meta.source == "measured by me"


def test_a_predictor_fitted_on_whole_networks_rebuilds_from_its_record_and_reports(tmp_path, capsys):
    from latency_tables import NetworkMeasurement, fit_device

    b2304 = get_source("ultra96v2-b2304").accelerator
    joint = get_predictor("dpuczdx8g-joint")
    configs = [SubnetConfig.uniform(k, e, d, r=r) for k, e, d, r in [(3, 3, 2, 160), (5, 4, 3, 192), (7, 6, 4, 224)]]
    shots = [NetworkMeasurement(f"net{i}", cfg, 1.2 * float(joint.network_latency_ms(cfg.layers(), b2304)))
             for i, cfg in enumerate(configs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictor = fit_device(shots, b2304, name="my-networks")
    record = json.loads(json.dumps(predictor_record(predictor)))
    again = predictor_from_record(record)  # the table's keys are network names, not unit keys
    assert again.table.keys() == ["net0", "net1", "net2"]
    assert again.table.entries["net1"] == predictor.table.entries["net1"]
    np.testing.assert_array_equal(again.unit_latency_ms(UNITS, b2304), predictor.unit_latency_ms(UNITS, b2304))
    result = _small_search(predictor, b2304, budget=400)
    path = result.to_json(tmp_path / "result.json")
    assert main(["report", str(path), "--no-cv", "--out", str(tmp_path / "report")]) == 0
    assert "report:" in capsys.readouterr().out


def test_cli_fit_with_dpu_and_clock_keeps_the_tables_board_so_a_search_there_uses_the_measurements(tmp_path, capsys):
    from accel_models import get_board
    from accel_models.resources import buildable_on

    zcu102 = get_board("zcu102")
    shipped = get_source("ultra96v2-b2304").table  # six blocks under a ZCU102 header naming no DPU
    meta = dataclasses.replace(shipped.meta, name="my-zcu102", board="zcu102", dpu_arch="DPU", clock_mhz=None)
    table = write_table(LatencyTable.from_entries(meta, [shipped.entries[k] for k in shipped.keys()[:6]]),
                        tmp_path / "my_zcu102.csv")
    assert main(["lut", "fit", str(table), "--dpu", "B4096", "--clock-mhz", "300", "--out",
                 str(tmp_path / "fit.json")]) == 0
    capsys.readouterr()
    predictor = _fitted(tmp_path / "fit.json")
    assert predictor.calibrated.accelerator.ddr_bw_gbps == zcu102.ddr_bw_gbps  # not the default's 8.53 GB/s
    searched = buildable_on(Accelerator.from_dpu("B4096", clock_mhz=300, ddr_bw_gbps=zcu102.ddr_bw_gbps), zcu102)
    units = [BlockSpec.from_key(k).layers() for k in shipped.keys()[:6]]  # as the CLI's fit derives them
    assert set(predictor.unit_sources(units, searched)) == {"measured"}


def test_fit_device_warns_when_the_accelerator_is_not_on_the_tables_board():
    from latency_tables import fit_device

    shipped = get_source("ultra96v2-b2304").table
    meta = dataclasses.replace(shipped.meta, board="zcu102")
    table = LatencyTable.from_entries(meta, [shipped.entries[k] for k in shipped.keys()[:2]])
    with pytest.warns(UserWarning, match=r"measured on zcu102 \(DDR 19.2 GB/s\) but the accelerator given has 8.53"):
        fit_device(table, Accelerator.from_dpu("B2304", clock_mhz=200))


def test_cli_fit_on_one_row_says_the_interval_was_not_updated(tmp_path, capsys):
    shipped = get_source("ultra96v2-b2304").table
    meta = dataclasses.replace(shipped.meta, name="one-row", board="myboard")
    table = write_table(LatencyTable.from_entries(meta, [shipped.entries[shipped.keys()[3]]]), tmp_path / "one.csv")
    assert main(["lut", "fit", str(table)]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "interval of a unit" in line)
    low, high, prior_low, prior_high = map(float, re.findall(r"x([\d.]+)", line))
    assert (low, high) == (prior_low, prior_high)  # the posterior needs two residuals
    assert "not updated: 1 measurement moves no interval" in line and "updated by 1" not in line


def test_cli_fit_takes_either_flag_in_place_of_the_header_and_refuses_a_shipped_name(my_table, tmp_path, capsys):
    assert main(["lut", "fit", str(my_table), "--clock-mhz", "300", "--out", str(tmp_path / "a.json")]) == 0
    assert "on B2304 @300 MHz" in capsys.readouterr().out  # the table's DPU at the clock given (help: default)
    assert main(["lut", "fit", str(my_table), "--dpu", "B1600", "--out", str(tmp_path / "b.json")]) == 0
    assert "on B1600 @200 MHz" in capsys.readouterr().out  # the DPU given at the table's clock
    assert main(["lut", "fit", "zcu102-b4096-mbv2"]) == 2
    err = capsys.readouterr().err
    assert "is the name of a shipped table, not a file" in err and "not a shipped table" not in err


def test_a_search_on_a_host_timed_table_labels_its_latency_host_wall_time(my_table, tmp_path, capsys):
    from latency_tables.harness import NumpyRunner, describe_method

    shipped = load_table(my_table)
    host_timed = dataclasses.replace(shipped.meta, method=describe_method(NumpyRunner(), "host"))
    hosted = write_table(LatencyTable.from_entries(host_timed, shipped.entries.values()), tmp_path / "hosted.csv")
    search = ["search", "--latency-ms", "12", "--budget", "200", "--population", "20", "--accelerators",
              "B2304@200x1", "--no-progress", "--no-report"]
    for table, label in ((hosted, "(host wall time, as the predictor's table was timed, "), (my_table, "(DPU time, ")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main([*search, "--predictor", str(table), "--out", str(tmp_path / table.stem)]) == 0
        latency = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("  latency "))
        assert label in latency, latency


def test_the_fps_of_a_search_without_a_deployment_model_says_what_the_table_timed(my_table, tmp_path):
    from latency_tables.harness import NumpyRunner, describe_method
    from ofa_hw.cli.search import _deployed_line

    shipped = load_table(my_table)
    host_timed = dataclasses.replace(shipped.meta, method=describe_method(NumpyRunner(), "host"))
    hosted = write_table(LatencyTable.from_entries(host_timed, shipped.entries.values()), tmp_path / "hosted.csv")
    for table, fps in ((hosted, "(host wall time, as the predictor's table was timed)"), (my_table, "(DPU time only)")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # board=None: the table's own accelerator, no ARM deployment model
            result = search_codesign(board=None, latency_ms=12.0, predictor=_fitted(table), budget=200,
                                     population=20, seed=0, progress=False)
            html = result.report(tmp_path / table.stem, cross_validate=False).read_text()
        assert result.best is not None and result.best.deployed is None
        assert html_escape(f"images/s on its core {fps}") in html  # the report's fps card
        assert _deployed_line(result.settings, result.best).endswith(f"core(s) busy {fps}")  # the CLI's line


def _networks_file(path, scale=1.15):
    """Eight networks 'timed' on a ZCU102 B4096: the joint prior's prediction there times ``scale``."""
    from latency_tables.sources import dpu_on_board

    b4096 = dpu_on_board("B4096", 300.0, "zcu102")
    joint = get_predictor("dpuczdx8g-joint")
    configs = [SubnetConfig.uniform(k, e, d, r=r) for k, e, d, r in
               [(3, 3, 2, 160), (5, 4, 3, 192), (7, 6, 4, 224), (3, 6, 3, 224), (5, 3, 4, 176), (7, 4, 2, 208),
                (3, 4, 4, 192), (5, 6, 2, 160)]]
    rows = [{"name": f"net{i}", "subnet": cfg.to_dict(), "latency_ms": scale * float(joint.network_latency_ms(
        cfg.layers(), b4096))} for i, cfg in enumerate(configs)]
    path.write_text(json.dumps(rows))
    return path, b4096, configs


def test_cli_fits_whole_networks_from_a_file_and_the_record_searches_and_reports(tmp_path, capsys):
    networks, b4096, configs = _networks_file(tmp_path / "nets.json")
    record = tmp_path / "fit.json"
    assert main(["lut", "fit", "--networks", str(networks), "--dpu", "B4096", "--clock-mhz", "300", "--board",
                 "zcu102", "--out", str(record)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{networks}: 8 networks on B4096 @300 MHz") and "cross-validated MAPE" in out
    predictor = _fitted(record)
    assert predictor.calibrated.accelerator.ddr_bw_gbps == 19.2
    assert json.loads(record.read_text())["sha256"] == hashlib.sha256(networks.read_bytes()).hexdigest()
    probe = SubnetConfig.uniform(5, 6, 3, r=192).layers()  # not among the eight: the fit moved towards 1.15x
    prior_ms = float(get_predictor("dpuczdx8g-joint").network_latency_ms(probe, b4096))
    assert prior_ms < float(predictor.network_latency_ms(probe, b4096)) <= 1.15 * prior_ms
    run = tmp_path / "run"
    assert main(["search", "--board", "zcu102", "--predictor", str(record), "--latency-ms", "12", "--budget", "200",
                 "--population", "20", "--accelerators", "B4096@300x1", "--no-progress", "--no-report",
                 "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["report", str(run / "result.json"), "--no-cv"]) == 0


@pytest.mark.parametrize(("content", "message"), [
    ({}, "expected a non-empty JSON list .* got a JSON dict"),
    ([], "got an empty list"),
    ([{"name": "a", "subnet": {"ks": [3]}, "ms": 3}], r"network 0: unknown key\(s\) \['ms'\]"),
    ([{"name": "a", "latency_ms": 3}], "network 0: missing subnet"),
    ([{"name": "a", "subnet": {"ks": [3]}, "latency_ms": 3}], r"network 0: a sub-network dict lacks key\(s\)"),
    ([{"name": "a", "subnet": SubnetConfig.largest().to_dict(), "latency_ms": -2}], "latency_ms must be a positive"),
])
def test_a_bad_networks_file_is_refused_naming_the_network(tmp_path, capsys, content, message):
    path = tmp_path / "nets.json"
    path.write_text(json.dumps(content))
    assert main(["lut", "fit", "--networks", str(path), "--dpu", "B4096", "--clock-mhz", "300"]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1, err


def test_cli_fit_flags_that_do_not_go_together(my_table, tmp_path, capsys):
    from latency_tables.registry import DATA_DIR

    networks = tmp_path / "nets.json"
    networks.write_text("[]")
    for argv, message in ((["lut", "fit"], "one of the two"),
                          (["lut", "fit", str(my_table), "--networks", str(networks)], "one of the two"),
                          (["lut", "fit", "--networks", str(networks)], "--networks needs --dpu and --clock-mhz"),
                          (["lut", "fit", str(DATA_DIR / "ultra96v2-b2304.csv"), "--board", "zcu102"],
                           "--board goes with --networks, or with a table whose header names no known board; "),
                          (["lut", "fit", "--networks", str(networks), "--dpu", "B4096", "--clock-mhz", "300",
                            "--board", "zcu103"], "unknown board 'zcu103'; known: kv260, ultra96v2, zcu102")):
        assert main(argv) == 2
        assert message in capsys.readouterr().err


def test_a_report_with_another_predictor_shows_the_difference_it_warns_about(my_table, tmp_path):
    result = _small_search(str(my_table), get_source("ultra96v2-b2304").accelerator, budget=200)
    with pytest.warns(UserWarning, match="the report's latency predictor is not the one the search used") as caught:
        result.report(tmp_path / "report", predictor="dpuczdx8g-joint", cross_validate=False)
    message = next(str(w.message) for w in caught if "add up to" in str(w.message))
    total, said, difference = re.search(r"add up to (\S+) ms but the result says (\S+) ms \((\S+) ms\)",
                                        message).groups()
    assert total != said and float(difference) == pytest.approx(float(total) - float(said), rel=0.05, abs=1e-9)


def test_a_table_naming_no_clock_says_which_lut_fit_flag_to_add_on_that_file(my_table, tmp_path, capsys):
    meta = dataclasses.replace(load_table(my_table).meta, clock_mhz=None)
    table = write_table(LatencyTable.from_entries(meta, load_table(my_table).entries.values()), tmp_path / "t.csv")
    assert main(["search", "--predictor", str(table), "--latency-ms", "12", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "metadata has no clock_mhz" in err and f"'ofa-hw lut fit {table} --clock-mhz 300 --out FIT.json'" in err
    assert "--dpu" not in err.split("then --predictor")[0]  # the header names the DPU: only the clock is missing
    assert err.count("\n") == 1


def test_a_search_on_another_boards_table_warns_that_none_of_its_entries_apply(my_table, tmp_path):
    shipped = load_table(my_table)
    on_ultra96 = write_table(LatencyTable.from_entries(dataclasses.replace(shipped.meta, board="ultra96v2"),
                                                       shipped.entries.values()), tmp_path / "u96.csv")
    search = ["search", "--latency-ms", "12", "--budget", "200", "--population", "20", "--no-progress", "--no-report",
              "--predictor", str(on_ultra96)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*search, "--board", "zcu102", "--out", str(tmp_path / "a")]) == 0
        assert main([*search, "--board", "ultra96v2", "--out", str(tmp_path / "b")]) == 0
    elsewhere = [str(w.message) for w in caught if "was measured on" in str(w.message)]
    assert elsewhere == ["the predictor's table was measured on ultra96v2, this search is on zcu102: none of its "
                         "entries apply here (DDR 8.53 GB/s there, 19.2 here), every latency is its fitted model "
                         "transferred; measure on zcu102, or search --board ultra96v2"]  # the Ultra96 search: silent


def _b4096_on_ultra96(path):
    """Eight Ultra96-V2 entries under a header naming a B4096 @ 300 MHz, which that board cannot hold."""
    shipped = get_source("ultra96v2-b2304").table
    meta = dataclasses.replace(shipped.meta, name="b4096-on-ultra96", dpu_arch="DPUCZDX8G B4096", clock_mhz=300.0)
    return write_table(LatencyTable.from_entries(meta, [shipped.entries[k] for k in shipped.keys()[:8]]), path)


def test_cli_fit_on_a_header_naming_a_dpu_the_board_cannot_hold_warns_once_and_fits(tmp_path, capsys):
    table = _b4096_on_ultra96(tmp_path / "b4096.csv")
    assert main(["lut", "fit", str(table)]) == 0
    warned = [line for line in capsys.readouterr().out.splitlines() if "cannot be built on ultra96v2" in line]
    assert len(warned) == 1 and warned[0].startswith("  warning: B4096 @300 MHz x1") and "B2304" in warned[0], warned


def _python_fit(how):
    from latency_tables import fit_device, table_accelerator
    from latency_tables.records import fit_networks_file, fit_table_file
    from latency_tables.sources import dpu_on_board

    def run(table, networks):
        if how == "fit_device, an Accelerator":
            return fit_device(load_table(table), Accelerator.from_dpu("B4096", clock_mhz=300.0, ddr_bw_gbps=8.53))
        if how == "fit_device, table_accelerator":
            measured = load_table(table)
            return fit_device(measured, table_accelerator(measured.meta))
        if how == "fit_table_file":
            return fit_table_file(table)
        return fit_networks_file(networks, dpu_on_board("B4096", 300.0, "ultra96v2"))
    return run


def _cli(*args):
    def run(table, networks):
        assert main([arg.format(table=table, networks=networks) for arg in args]) == 0
    return run


_UNBUILDABLE_PATHS = {
    **{how: _python_fit(how) for how in ("fit_device, an Accelerator", "fit_device, table_accelerator",
                                         "fit_table_file", "fit_networks_file, dpu_on_board")},
    "lut fit": _cli("lut", "fit", "{table}"),
    "lut fit --dpu": _cli("lut", "fit", "{table}", "--dpu", "B4096"),
    "lut fit --networks --board": _cli("lut", "fit", "--networks", "{networks}", "--dpu", "B4096", "--clock-mhz", "300",
                                       "--board", "ultra96v2"),
    "search --predictor": _cli("search", "--latency-ms", "12", "--budget", "200", "--population", "20", "--no-progress",
                               "--no-report", "--predictor", "{table}", "--out", "{table}.out"),
}


@pytest.mark.parametrize("path", _UNBUILDABLE_PATHS)
def test_a_dpu_the_board_cannot_hold_is_told_exactly_once_on_every_path(path, tmp_path, capsys):
    from latency_tables import BoardMismatchWarning

    table = _b4096_on_ultra96(tmp_path / "b4096.csv")
    networks, _, _ = _networks_file(tmp_path / "nets.json")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _UNBUILDABLE_PATHS[path](table, networks)
    raised = [w for w in caught if issubclass(w.category, BoardMismatchWarning)]
    printed = [line for line in "".join(capsys.readouterr()).splitlines() if "cannot be built on ultra96v2" in line]
    assert len(raised) + len(printed) == 1, (raised, printed)  # the CLI's lut fit prints what it caught
    assert all("B4096 @300 MHz x1 cannot be built on ultra96v2" in str(w.message) for w in raised)
