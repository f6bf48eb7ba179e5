"""A hostile pass over the command line: each test is one thing a new user typed and what they must see.

Every case runs ``ofa_hw.cli.main`` in-process and checks the exit code and
the one-line message (what was wrong, what is allowed), and that nothing was
written where the input was refused.  The wider bad-input corpus is
``tests/test_bad_input.py``; these are the cases found since.
"""

from __future__ import annotations

import re

import pytest

from ofa_hw.cli import EXIT_BAD_INPUT, main


def refused(argv: list[str], capsys, pattern: str) -> str:
    """Run ``argv``; assert exit 2 with one ``error:`` line matching ``pattern`` and no traceback; the line."""
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def fit_record(tmp_path_factory):
    """The predictor record 'ofa-hw lut fit' writes for the shipped Ultra96-V2 table, made once."""
    from latency_tables.registry import DATA_DIR

    record = tmp_path_factory.mktemp("fit") / "fit.json"
    assert main(["lut", "fit", str(DATA_DIR / "ultra96v2-b2304.csv"), "--out", str(record)]) == 0
    return record


# ---- -r 0 was read as "not given" -------------------------------------------------
@pytest.mark.parametrize("command", [["info"], ["roofline", "--board", "zcu102", "--out", "OUT"]])
def test_resolution_zero_with_a_preset_is_refused_not_replaced_by_the_default(command, tmp_path, capsys):
    argv = [str(tmp_path / "rf") if a == "OUT" else a for a in command]
    refused([*argv, "--preset", "min", "-r", "0"], capsys, r"resolution 0 is not allowed")
    assert not (tmp_path / "rf").exists()


# ---- --seed -1 ended in numpy's "expected non-negative integer", or wrote a plan that later failed -------------
@pytest.mark.parametrize("command", [
    ["search", "--latency-ms", "8", "--budget", "100", "--out", "OUT"],
    ["lut", "plan", "--manifest-only", "--out", "OUT"],
    ["lut", "compile-numpy", "--plan", "OUT", "--out", "OUT"],
    ["export", "--preset", "min", "--out", "OUT"],
])
def test_a_negative_seed_is_a_usage_error_naming_the_option(command, tmp_path, capsys):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    refused([*argv, "--seed", "-1"], capsys, r"argument --seed: expected a non-negative integer, got -1")
    assert not (tmp_path / "out").exists()


# ---- lut measure on the DPU took any board / DPU name, timed every unit, and the table was unusable --------------
@pytest.mark.parametrize(("board", "dpu_arch", "pattern"), [
    ("ultra96", "DPUCZDX8G B2304", r"unknown board 'ultra96'; known: kv260, ultra96v2, zcu102, zcu104"),
    ("ultra96v2", "b2304", r"--dpu-arch 'b2304' names no DPUCZDX8G configuration.*B512, B800"),
    ("ultra96v2", "DPUCZDX8G B4097", r"--dpu-arch 'DPUCZDX8G B4097' names no DPUCZDX8G configuration"),
    ("ultra96v2", "numpy-int8", r"--dpu-arch 'numpy-int8' names no DPUCZDX8G configuration"),
])
def test_measure_on_the_dpu_refuses_a_board_or_dpu_the_fit_cannot_read(board, dpu_arch, pattern, tmp_path, capsys):
    argv = ["lut", "measure", "--plan", str(tmp_path / "no-plan"), "--xmodels", str(tmp_path), "--toolchain",
            "Vitis AI 3.0", "--out", str(tmp_path / "t.csv"), "--board", board, "--dpu-arch", dpu_arch]
    refused(argv, capsys, pattern)  # before the plan is read or pynq looked for
    assert not (tmp_path / "t.csv").exists()


def test_measure_with_the_numpy_stand_in_still_takes_a_host_name(tmp_path, capsys):
    from latency_tables.harness import Plan, compile_numpy_units, write_plan

    plan = Plan.from_keys(["Logits-input:1x1x16-output:10"], space="tiny")
    write_plan(plan, tmp_path / "plan", progress=False)
    compile_numpy_units(plan, tmp_path / "units")
    assert main(["lut", "measure", "--plan", str(tmp_path / "plan"), "--xmodels", str(tmp_path / "units"),
                 "--runner", "numpy", "--board", "host", "--dpu-arch", "numpy-int8", "--toolchain", "numpy",
                 "--out", str(tmp_path / "t.csv"), "--quiet", "--warmup", "0", "--runs", "1"]) == 0
    assert "# board: host" in (tmp_path / "t.csv").read_text()


# ---- export --weights / --calibration: numpy's and torch's own words, an internal error, a crash in conv2d ---------
def _export(tmp_path, *options) -> list[str]:
    return ["export", "--preset", "min", "-r", "32", "--out", str(tmp_path / "exp"), *options]


@pytest.mark.parametrize(("content", "pattern"), [
    (b"a user's plain text", r"--weights .*w.pth is not a PyTorch state_dict file"),
    ([1, 2], r"--weights .*w.pth holds a list, not a state_dict"),
    ({"state_dict": [1]}, r"holds a list, not a state_dict"),
    ({"conv.weight": 1.0}, r"holds a dict, not a state_dict"),
])
def test_export_names_a_weights_file_that_is_no_state_dict(content, pattern, tmp_path, capsys):
    import torch

    path = tmp_path / "w.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    refused(_export(tmp_path, "--weights", str(path)), capsys, pattern)
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize(("images", "pattern"), [
    ("text", r"cal.npy is not a numpy array file"),
    ("object", r"cal.npy is not a numpy array file"),
    ((2, 3), r"has shape \(2, 3\); expected \(N, 3, 32, 32\)"),
    ((2, 1, 32, 32), r"has shape \(2, 1, 32, 32\)"),
    ((0, 3, 32, 32), r"has shape \(0, 3, 32, 32\).*N >= 1"),
    ((2, 3, 64, 64), r"expected \(N, 3, 32, 32\) images at the sub-network's resolution"),
    ("int", r"has dtype int64; expected finite float images"),
    ("nan", r"has non-finite values"),
])
def test_export_names_what_is_wrong_with_the_calibration_images(images, pattern, tmp_path, capsys):
    import numpy as np

    path = tmp_path / "cal.npy"
    if images == "text":
        path.write_text("not an array")
    elif images == "object":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif images == "int":
        np.save(path, np.zeros((2, 3, 32, 32), dtype=np.int64))
    elif images == "nan":
        np.save(path, np.full((2, 3, 32, 32), np.nan))
    else:
        np.save(path, np.zeros(images))
    refused(_export(tmp_path, "--calibration", str(path)), capsys, pattern)
    assert not (tmp_path / "exp").exists()


def test_export_takes_float32_calibration_images_at_the_resolution(tmp_path):
    import numpy as np

    path = tmp_path / "cal.npy"
    np.save(path, np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32))
    assert main(_export(tmp_path, "--calibration", str(path))) == 0
    assert (tmp_path / "exp" / "manifest.json").is_file()


# ---- search --checkpoint FILE said only "FILE: File exists", after the board's warnings ----------------------------
def test_search_checkpoint_onto_a_file_names_the_option(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("a user's file")
    refused(["search", "--latency-ms", "8", "--budget", "100", "--no-progress", "--out", str(tmp_path / "s"),
             "--checkpoint", str(tmp_path / "notes.txt")], capsys, r"--checkpoint .*notes.txt is a file; it names a")
    assert (tmp_path / "notes.txt").read_text() == "a user's file" and not (tmp_path / "s").exists()


# ---- search --accelerators: a trailing comma said "unknown DPU architecture ''", an unknown size named no item ------
@pytest.mark.parametrize(("text", "pattern"), [
    ("B1600@200x1,", r"--accelerators 'B1600@200x1,' has an empty item \(a doubled or trailing comma\?\)"),
    ("", r"--accelerators '' has an empty item"),
    ("B1600,,B512", r"has an empty item"),
    ("B1600,b4096", r"--accelerators item 'b4096': unknown DPU architecture 'b4096'; known: B512, .*B4096"),
    ("B4097@300", r"--accelerators item 'B4097@300': unknown DPU architecture 'B4097'"),
])
def test_search_accelerator_list_errors_name_the_item(text, pattern, tmp_path, capsys):
    refused(["search", "--latency-ms", "8", "--budget", "100", "--no-progress", "--out", str(tmp_path / "s"),
             "--accelerators", text], capsys, pattern)
    assert not (tmp_path / "s").exists()


# ---- build-config --net-name 'a b/c' wrote a vai_c_xir command that the shell splits ---------------------------
@pytest.mark.parametrize("name", ["a b/c", "", "-x", "net;rm"])
def test_build_config_refuses_a_net_name_the_compile_command_cannot_carry(name, tmp_path, capsys):
    refused(["build-config", str(tmp_path / "result.json"), f"--net-name={name}"], capsys,
            r"argument --net-name: .* is not a network name: letters, digits")


# ---- --help: options without a word, defaults and units left unsaid ---------------------------------------------
def _options():
    """(command, action) for every option of every sub-command, ``lut`` actions included."""
    import argparse

    from ofa_hw.cli import build_parser

    def walk(parser, name):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, subparser in action.choices.items():
                    yield from walk(subparser, f"{name} {sub}".strip())
            elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
                yield name, action

    return list(walk(build_parser(), ""))


UNITS = {"_ms": "ms", "_mhz": "MHz", "_gbps": "GB/s"}


@pytest.mark.parametrize(("command", "action"), _options(), ids=lambda v: getattr(v, "dest", v))
def test_every_option_says_what_it_is_its_default_and_its_unit(command, action):
    import argparse

    flag = action.option_strings[-1] if action.option_strings else action.metavar or action.dest
    assert action.help, f"{command} {flag} has no help"
    help_text = action.help % {"default": action.default} if "%(" in action.help else action.help
    takes_value = action.nargs != 0 and not isinstance(action, argparse._StoreConstAction)
    if takes_value and action.default is not None and action.required is False and action.option_strings:
        assert "default" in help_text, f"{command} {flag}: the default ({action.default}) is not said"
    for suffix, unit in UNITS.items():
        if action.dest.endswith(suffix):
            assert unit in help_text, f"{command} {flag}: the unit ({unit}) is not said"


# ---- search: combinations refused in Python's words (latency_ms=, algorithm='nsga2', ofa_hw.zoo.list_networks) ------
@pytest.mark.parametrize(("options", "pattern"), [
    (["--algorithm", "evolution"], r"--algorithm evolution needs --latency-ms or --fps; .*--algorithm nsga2"),
    (["--algorithm", "evolution", "--min-top1", "70"], r"--algorithm evolution needs --latency-ms or --fps"),
    (["--latency-ms", "8", "--confidence", "0.9", "--latency-mode", "e2e"],
     r"--confidence bounds the DPU time .*--latency-mode dpu"),
    (["--latency-ms", "8", "--accelerators", "dpu-like", "--dpu-ip", "3.2"],
     r"--dpu-ip 3.2 is a DPUCZDX8G IP version; the 'dpu-like' accelerators are custom engines"),
    (["--latency-ms", "8", "--confidence", "0.9", "--predictor", "note10"],
     r"--confidence needs a latency predictor with an interval model: --predictor dpuczdx8g-joint, .*; note10 has"),
    (["--latency-ms", "8", "--space", "ofa-proxyless-w1.3"],
     r"argument --space: invalid choice: 'ofa-proxyless-w1.3' \(choose from 'ofa-mbv3-w1.0', 'ofa-mbv3-w1.2'\)"),
])
def test_search_refuses_option_combinations_in_command_line_terms(options, pattern, tmp_path, capsys):
    line = refused(["search", "--budget", "100", "--no-progress", "--out", str(tmp_path / "s"), *options], capsys,
                   pattern)
    assert not re.search(r"\w=|ofa_hw\.", line)  # no keyword argument, no Python function named
    assert not (tmp_path / "s").exists()


# ---- a bad number named the Python parameter (latency_ms, min_accuracy for --min-top1, "or None") ---------------
@pytest.mark.parametrize(("command", "option", "value", "expected"), [
    (["search"], "--latency-ms", "-1", "a positive number, got '-1'"),
    (["search"], "--latency-ms", "0", "a positive number"),
    (["search"], "--latency-ms", "nan", "a positive number, got 'nan'"),
    (["search"], "--latency-ms", "inf", "a positive number"),
    (["search"], "--latency-ms", "8ms", "a positive number, got '8ms'"),
    (["search"], "--fps", "-3", "a positive number"),
    (["search"], "--min-top1", "150", "a top-1 percentage strictly between 0 and 100"),
    (["search"], "--min-top1", "0.75", "a top-1 percentage strictly between 0 and 100, e.g. 75, got '0.75', a "
                                        "fraction? (top-1 in percent: 75 for 75%)"),
    (["search"], "--min-top1", "75.5", None),
    (["search"], "--confidence", "0", "a number strictly between 0 and 1"),
    (["search"], "--confidence", "1", "a number strictly between 0 and 1"),
    (["search"], "--confidence", "1.5", "a number strictly between 0 and 1"),
    (["search"], "--confidence", "90%", "a number strictly between 0 and 1, e.g. 0.9, got '90%'"),
    (["search"], "--threads", "0", "a positive integer, got 0"),
    (["search"], "--budget", "-5", "a positive integer, got -5"),
    (["search"], "--budget", "1e3", "a positive integer, got '1e3'"),
    (["search"], "--population", "0", "a positive integer"),
    (["search"], "--restarts", "-1", "a positive integer"),
    (["roofline", "--board", "zcu102", "--preset", "min"], "--clock-mhz", "-100", "a positive number"),
    (["roofline", "--board", "zcu102", "--preset", "min"], "--cores", "0", "a positive integer"),
    (["export", "--preset", "min", "--accelerator", "B512"], "--clock-mhz", "nan", "a positive number"),
    (["lut", "fit", "t.csv"], "--clock-mhz", "0", "a positive number"),
    (["lut", "measure", "--plan", "p", "--xmodels", "x", "--board", "b", "--dpu-arch", "a", "--toolchain", "t"],
     "--cores", "0", "a positive integer"),
])
def test_a_bad_number_names_the_option_and_what_it_takes(command, option, value, expected, tmp_path, capsys):
    argv = [*command, "--out", str(tmp_path / "out"), f"{option}={value}"]
    if expected is None:
        from ofa_hw.cli import build_parser

        assert build_parser().parse_args(argv) is not None
        return
    refused(argv, capsys, rf"argument {option}: expected {re.escape(expected)}")
    assert not (tmp_path / "out").exists()


# ---- search --out /proc/x said "in use by pid None on another host (?) since ?; delete /proc/.x.lock" ------------
@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self"), reason="needs Linux /proc")
def test_an_output_where_no_file_can_be_made_is_not_reported_as_in_use(capsys):
    line = refused(["search", "--latency-ms", "8", "--budget", "100", "--no-progress", "--out", "/proc/ofa-hw-qa"],
                   capsys, r"cannot create files in /proc .*choose another location")
    assert "in use" not in line and "pid None" not in line


# ---- lut fit --out replaced any existing file, a user's own JSON included ---------------------------------------
@pytest.mark.parametrize("content", ['{"my": "thesis data"}', "plain notes", "[1, 2]", ""])
def test_fit_out_keeps_a_file_that_is_no_predictor_record(content, tmp_path, capsys):
    from latency_tables.registry import DATA_DIR

    mine = tmp_path / "mine.json"
    mine.write_text(content)
    refused(["lut", "fit", str(DATA_DIR / "ultra96v2-b2304.csv"), "--out", str(mine)], capsys,
            r"--out .*mine.json exists and is not a predictor record \(format ofa-hw-latency-predictor/1\)")
    assert mine.read_text() == content


def test_fit_out_replaces_its_own_earlier_record(fit_record, tmp_path):
    import json

    from latency_tables.registry import DATA_DIR

    record = tmp_path / "fit.json"
    record.write_text(json.dumps({**json.loads(fit_record.read_text()), "name": "an earlier fit"}))
    assert main(["lut", "fit", str(DATA_DIR / "ultra96v2-b2304.csv"), "--out", str(record)]) == 0
    assert record.read_text() == fit_record.read_text()


# ---- a result edited to a design its board cannot hold ----------------------------------------------------------
@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A small real search result (B-something on the Ultra96-V2), written once."""
    from ofa_hw import search_codesign

    path = tmp_path_factory.mktemp("searched") / "result.json"
    search_codesign(board="ultra96v2", latency_ms=10.0, budget=200, population=20, seed=0, progress=False).to_json(path)
    return path


def test_build_config_refuses_a_design_its_board_cannot_hold(searched, tmp_path, capsys):
    import json

    from accel_models import Accelerator

    document = json.loads(searched.read_text())
    document["best"]["accelerator"] = Accelerator.from_dpu("B4096", clock_mhz=300, cores=4, ddr_bw_gbps=8.53).to_dict()
    edited = tmp_path / "result.json"
    edited.write_text(json.dumps(document))
    refused(["build-config", str(edited), "--out", str(tmp_path / "build")], capsys,
            r"its design B4096 @300 MHz x4 does not fit ultra96v2 \(dsp \d+% of the board\), so no bitstream")
    assert not (tmp_path / "build").exists()
    assert main(["build-config", str(searched), "--out", str(tmp_path / "ok")]) == 0  # the search's own design
    assert (tmp_path / "ok" / "dpu_conf.vh").is_file()


# ---- export --result -r R printed the search's latency (at the searched r) beside the engine's at R ------------
def test_export_at_another_resolution_sets_no_search_figure_beside_the_engines(searched, tmp_path, capsys):
    from ofa_hw.search import CodesignResult

    searched_r = CodesignResult.from_json(searched).best.subnet.r
    r = 128 if searched_r != 128 else 132
    # zcu102: the HLS engine of the searched B-size array is too big for the Ultra96-V2 it was searched on
    argv = ["export", "--result", str(searched), "-r", str(r), "--board", "zcu102", "--out", str(tmp_path / "exp")]
    with pytest.warns(UserWarning, match=f"the search's latency is for r={searched_r}, so none is set beside the"):
        assert main(argv) == 0
    captured = capsys.readouterr()
    assert "latency: HLS engine" in captured.out and "search prediction" not in captured.out
    assert "search prediction" not in (tmp_path / "exp" / "manifest.json").read_text()
    # nor does the report of the result put the search's latency (at r=searched) beside this export's
    report = ["report", str(searched), "--export", str(tmp_path / "exp"), "--no-cv", "--out", str(tmp_path / "rep")]
    assert main(report) == 0
    summary = (tmp_path / "rep" / "summary.json").read_text()
    assert "HLS engine" in summary and "search prediction" not in summary


# ---- a lut action's error said "ofa-hw lut: error:", not which action ---------------------------------------
@pytest.mark.parametrize("action", [["show", "no-such-table"], ["fit", "no-such.csv"], ["compile-numpy", "--plan", "x",
                                                                                       "--out", "y"]])
def test_a_lut_error_names_the_action(action, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(["lut", *action], capsys, rf"^ofa-hw lut {action[0]}: error: ")


# ---- --predictor FIT.json edited or cut short: "error: table_csv", no file named ---------------------------------
@pytest.mark.parametrize(("edit", "pattern"), [
    (lambda d: d.pop("table_csv"), r"field 'table_csv' is missing"),
    (lambda d: d.pop("calibration"), r"field 'calibration' is missing"),
    (lambda d: d["calibration"].update(junk=1), r"unknown keys \['junk'\]"),
])
def test_an_edited_predictor_record_is_refused_naming_the_file(edit, pattern, fit_record, tmp_path, capsys):
    import json

    document = json.loads(fit_record.read_text())
    edit(document)
    record = tmp_path / "fit.json"
    record.write_text(json.dumps(document))
    line = refused(["search", "--latency-ms", "8", "--budget", "100", "--no-progress", "--out", str(tmp_path / "s"),
                    "--predictor", str(record)], capsys, pattern)
    assert f"{record}: " in line and "written whole by 'ofa-hw lut fit" in line
    assert not (tmp_path / "s").exists()


# ---- lut measure --xmodels EMPTY_OR_WRONG_FOLDER: every unit "skipped", an empty table written, exit 1 -------------
def test_measure_refuses_a_units_folder_without_any_of_the_plans_units(tmp_path, capsys):
    from latency_tables.harness import Plan, compile_numpy_units, write_plan

    plan = Plan.from_keys(["Logits-input:1x1x16-output:10"], space="tiny")
    write_plan(plan, tmp_path / "plan", progress=False)
    (tmp_path / "empty").mkdir()
    argv = ["lut", "measure", "--plan", str(tmp_path / "plan"), "--runner", "numpy", "--board", "host", "--dpu-arch",
            "numpy-int8", "--toolchain", "numpy", "--out", str(tmp_path / "t.csv"), "--quiet"]
    refused([*argv, "--xmodels", str(tmp_path / "empty")], capsys,
            r"--xmodels .*empty holds none of the plan's 1 compiled units \(e.g. .*\.npz\); compile the plan first")
    assert not (tmp_path / "t.csv").exists()
    compile_numpy_units(plan, tmp_path / "units")
    assert main([*argv, "--xmodels", str(tmp_path / "units"), "--runs", "1", "--warmup", "0"]) == 0


@pytest.mark.parametrize(("option", "what"), [("--weights", "weights file"), ("--calibration", "calibration file")])
def test_export_says_a_folder_given_as_a_file_is_a_folder(option, what, tmp_path, capsys):
    refused(_export(tmp_path, option, str(tmp_path)), capsys, rf"{what} .* is a folder; give the \.(pth|npy) file")


# ---- Ctrl-C said "finished outputs are kept" whatever was kept, and not how to go on --------------------------
@pytest.mark.parametrize(("checkpoint", "note"), [
    (False, r"interrupted; nothing of this search was kept \(.*out is as it was\); with --checkpoint DIR"),
    (True, r"interrupted; the restarts finished so far are kept in .*ckpt \(each is saved as it ends\); the same "
           r"command resumes from them"),
])
def test_an_interrupted_search_says_what_was_kept_and_how_to_resume(checkpoint, note, tmp_path, capsys, monkeypatch):
    import ofa_hw.search

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ofa_hw.search, "search_codesign", interrupted)
    argv = ["search", "--latency-ms", "8", "--no-progress", "--out", str(tmp_path / "out")]
    assert main([*argv, *(["--checkpoint", str(tmp_path / "ckpt")] if checkpoint else [])]) == 130
    assert re.search(note, capsys.readouterr().err)


def test_an_interrupted_measurement_says_the_same_command_resumes(tmp_path, capsys, monkeypatch):
    from latency_tables import harness

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(harness, "measure", interrupted)
    from latency_tables.harness import Plan, compile_numpy_units, write_plan

    plan = Plan.from_keys(["Logits-input:1x1x16-output:10"], space="tiny")
    write_plan(plan, tmp_path / "plan", progress=False)
    compile_numpy_units(plan, tmp_path / "units")
    assert main(["lut", "measure", "--plan", str(tmp_path / "plan"), "--xmodels", str(tmp_path / "units"),
                 "--runner", "numpy", "--board", "host", "--dpu-arch", "numpy-int8", "--toolchain", "numpy",
                 "--out", str(tmp_path / "t.csv")]) == 130
    assert re.search(r"^ofa-hw lut measure: interrupted; the units timed so far are kept in .*t.csv; the same "
                     r"command measures the rest$", capsys.readouterr().err.strip())


# ---- --out "" / --out . : a whole search ran, then "error: .: Device or resource busy" (exit 1) ------------------
FOLDER_OUTPUTS = [
    ["search", "--latency-ms", "8", "--budget", "100", "--no-progress"],
    ["roofline", "--board", "zcu102", "--preset", "min"],
    ["export", "--preset", "min", "-r", "32"],
    ["build-config", "result.json"],
    ["report", "result.json"],
    ["lut", "plan"],
    ["lut", "compile-numpy", "--plan", "plan"],
]


@pytest.mark.parametrize("command", FOLDER_OUTPUTS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize(("out", "pattern"), [("", "expected a folder, got an empty path"),
                                              (".", "'.' is the current folder: the output folder is replaced as a"),
                                              ("..", "'..' is above the current folder")])
def test_a_folder_output_is_never_the_current_folder(command, out, pattern, tmp_path, capsys, monkeypatch):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    refused([*command, f"--out={out}"], capsys, rf"argument --out: {re.escape(pattern)}")
    assert list((tmp_path / "here").iterdir()) == []


# ---- a usage error printed argparse's whole usage block; every other failure is one line ------------------------
@pytest.mark.parametrize("argv", [["search", "--budget", "1e3"], ["lut", "plan", "--resolutions", "a,b", "--out", "p"],
                                  ["serach"], ["info", "--preset", "huge"], ["lut"]])
def test_a_usage_error_is_one_line_pointing_at_help(argv, capsys):
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ofa-hw") and ": error: " in err
    assert re.search(r"\('ofa-hw( [a-z-]+)* --help' lists the options\)$", err.strip())


# ---- export --result R.json --width-mult 1.0: the option was dropped without a word -----------------------------
def test_export_result_refuses_a_width_it_would_ignore(searched, tmp_path, capsys):
    refused(["export", "--result", str(searched), "--width-mult", "1.0", "--out", str(tmp_path / "exp")], capsys,
            r"--width-mult goes with a sub-network \(SUBNET.json / --preset\); --result exports its best design")
    assert not (tmp_path / "exp").exists()


# ---- options that did nothing in that company, dropped without a word ------------------------------------------
@pytest.mark.parametrize(("argv", "pattern"), [
    (["export", "--preset", "min", "--compiler", "clang++", "--out", "OUT"], r"--compiler is the C\+\+ compiler of "
                                                                             r"--csim; add --csim"),
    (["lut", "plan", "--no-onnx", "--out", "OUT"], r"--no-onnx goes with --models"),
    (["lut", "measure", "--plan", "p", "--xmodels", "x", "--runner", "numpy", "--bitstream", "my.bit", "--board",
      "host", "--dpu-arch", "numpy-int8", "--toolchain", "numpy", "--out", "OUT.csv"],
     r"--bitstream my.bit is the DPU overlay of --runner pynq; the numpy runner loads no overlay"),
])
def test_an_option_that_would_do_nothing_is_refused(argv, pattern, tmp_path, capsys):
    refused([str(tmp_path / a) if a.startswith("OUT") else a for a in argv], capsys, pattern)
    assert list(tmp_path.iterdir()) == []


# ---- export --csim --compiler X: a failing X was reported as "g++ failed" ---------------------------------------
def test_a_failing_compiler_is_named_as_given(tmp_path, capsys):
    import shutil

    false = shutil.which("false")
    if false is None:
        pytest.skip("no 'false' program")
    assert main(_export(tmp_path, "--csim", "--compiler", false)) == 1
    err = capsys.readouterr().err
    assert f"ofa-hw export: error: {false} failed on " in err and "g++" not in err


# ---- --out LINK (a symbolic link) said "it is not a folder" for a link to a folder -------------------------------
def test_an_output_that_is_a_symbolic_link_is_refused_as_one(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("three years of work")
    (tmp_path / "link").symlink_to(tmp_path / "mine")
    refused(["roofline", "--board", "zcu102", "--preset", "min", "--out", str(tmp_path / "link")], capsys,
            r"link was not replaced: it is a symbolic link \(to .*mine\), not a folder")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "mine" / "thesis.tex").read_text() == "three years of work"


# ---- a result.json given as a sub-network, a fit record as a result: a list of "unknown keys" ---------------------
def test_a_file_in_the_wrong_place_is_named_as_what_it_is(searched, fit_record, tmp_path, capsys):
    result, record = str(searched), str(fit_record)
    cases = [
        (["info", result], "is a search result (result.json from 'ofa-hw search'), not a sub-network file"),
        (["roofline", "--board", "zcu102", result, "--out", str(tmp_path / "r")], "is a search result"),
        (["report", record, "--no-cv", "--out", str(tmp_path / "rep")],
         "is a latency predictor record (from 'ofa-hw lut fit'), not a search result"),
        (["export", "--result", record, "--out", str(tmp_path / "e")], "is a latency predictor record"),
        (["build-config", record, "--out", str(tmp_path / "b")], "is a latency predictor record"),
        (["search", "--latency-ms", "8", "--budget", "100", "--no-progress", "--out", str(tmp_path / "s"),
          "--predictor", result], "result.json is not a latency predictor record (format ofa-hw-latency-predictor/1"),
    ]
    for argv, text in cases:
        line = refused(argv, capsys, re.escape(text))
        assert "unknown key" not in line and "edited or cut short" not in line
    assert list(tmp_path.iterdir()) == []


# ---- lut plan into an earlier plan: "replace it with --force (Python: overwrite=True)" --------------------------
def test_plan_over_an_earlier_plan_names_force_only(tmp_path, capsys):
    assert main(["lut", "plan", "--manifest-only", "--quiet", "--out", str(tmp_path / "plan")]) == 0
    before = (tmp_path / "plan" / "manifest.json").read_bytes()
    line = refused(["lut", "plan", "--manifest-only", "--quiet", "--out", str(tmp_path / "plan")], capsys,
                   r"plan already holds a plan \(manifest.json\); add --force to replace it$")
    assert "Python" not in line and (tmp_path / "plan" / "manifest.json").read_bytes() == before
    assert main(["lut", "plan", "--manifest-only", "--quiet", "--force", "--out", str(tmp_path / "plan")]) == 0


# ---- search --predictor note10 on a board: DPU designs priced by a phone-CPU curve fit, labelled "DPU time" -------
def test_search_on_a_board_refuses_a_phone_cpu_predictor(tmp_path, capsys):
    refused(["search", "--predictor", "note10", "--latency-ms", "20", "--budget", "100", "--no-progress",
             "--out", str(tmp_path / "s")], capsys,
            r"--predictor note10 times Samsung Note10 CPU .*not a DPU: .*drop --predictor")
    assert not (tmp_path / "s").exists()


# ---- library refusals reached the command line in Python's terms ("latency_ms=1 is below ...") ---------------------
@pytest.mark.parametrize("options, pattern", [
    (["--latency-ms", "1"], r"error: --latency-ms 1 is below the fastest design reachable on ultra96v2"),
    (["--fps", "100000"], r"error: --fps 100000 is above the highest throughput reachable"),
    (["--min-top1", "99", "--budget", "200"], r"error: no design reached --min-top1 99% top-1; the most accurate"),
    (["--latency-ms", "20", "--population", "1000000000"],
     r"error: --budget 300000 is fewer evaluations per restart than --population 1000000000: .*raise the budget"),
    (["--latency-ms", "20", "--budget", "100", "--restarts", "2", "--population", "60"],
     r"error: --budget 100 split over --restarts 2 is fewer evaluations per restart than --population 60"),
])
def test_search_refusals_name_the_options(options, pattern, tmp_path, capsys):
    line = refused(["search", *options, "--no-progress", "--out", str(tmp_path / "s")], capsys, pattern)
    assert not re.search(r"\b(latency_ms|min_accuracy|budget|population|fps)=", line), line
    assert not (tmp_path / "s").exists()


def test_lut_fit_of_a_table_naming_no_dpu_says_the_command_line_fix_only(tmp_path, capsys):
    # before: "... (command line: 'ofa-hw lut fit TABLE.csv --dpu B1600 ...' ...; Python: table_accelerator(...))"
    from latency_tables.registry import DATA_DIR

    line = refused(["lut", "fit", str(DATA_DIR / "note10-r224.csv"), "--out", str(tmp_path / "fit.json")], capsys,
                   r"names no DPUCZDX8G configuration .*name the DPU measured: 'ofa-hw lut fit \S*note10-r224.csv "
                   r"--dpu B1600 --clock-mhz 300 --out FIT.json', then --predictor FIT.json; or give")
    assert "Python" not in line and "table_accelerator" not in line and not (tmp_path / "fit.json").exists()


def test_report_of_a_result_without_its_predictor_names_the_option(searched, tmp_path, capsys):
    # before: "... give it again (Python: predictor=...; command line: --predictor DEVICE or TABLE.csv)"
    import json

    result = json.loads(searched.read_text())
    result["settings"]["latency_predictor_record"] = {"format": "ofa-hw-latency-predictor/1", "kind": "object",
                                                      "type": "Mine"}
    edited = tmp_path / "result.json"
    edited.write_text(json.dumps(result))
    line = refused(["report", str(edited), "--out", str(tmp_path / "r")], capsys,
                   r"'Mine' latency predictor is not recorded .*give it again \(--predictor DEVICE or TABLE.csv\)$")
    assert "Python" not in line and not (tmp_path / "r").exists()


# ---- lut fit of a table whose header names no known board ('host') took the default DDR bandwidth silently ------
@pytest.fixture(scope="module")
def host_table(tmp_path_factory):
    """Twelve Ultra96 entries under the header the numpy runner writes (board 'host')."""
    import dataclasses

    from latency_tables import LatencyTable, get_source, write_table

    shipped = get_source("ultra96v2-b2304").table
    meta = dataclasses.replace(shipped.meta, name="on-host", board="host")
    table = LatencyTable.from_entries(meta, [shipped.entries[k] for k in shipped.keys()[::5]])
    return write_table(table, tmp_path_factory.mktemp("host") / "host.csv")


def test_lut_fit_of_a_table_on_an_unknown_board_names_the_bandwidth_it_assumed(host_table, tmp_path, capsys):
    from accel_models import Accelerator
    from latency_tables import as_predictor

    default_gbps = Accelerator.from_dpu("B2304", clock_mhz=200.0).ddr_bw_gbps  # no board: the model's default
    assert main(["lut", "fit", str(host_table), "--out", str(tmp_path / "fit.json")]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"warning: \S*host.csv's header names board 'host', not one of kv260, .*: the fit assumed "
                     rf"the default DDR bandwidth {default_gbps:g} GB/s; give --board BOARD", out), out
    assert as_predictor(tmp_path / "fit.json").calibrated.accelerator.ddr_bw_gbps == default_gbps


def test_lut_fit_board_sets_the_bandwidth_of_a_table_on_an_unknown_board(host_table, tmp_path, capsys):
    from accel_models import get_board
    from latency_tables import as_predictor

    assert main(["lut", "fit", str(host_table), "--board", "zcu102", "--out", str(tmp_path / "fit.json")]) == 0
    assert "header names board" not in capsys.readouterr().out
    accelerator = as_predictor(tmp_path / "fit.json").calibrated.accelerator
    assert (accelerator.name, accelerator.ddr_bw_gbps) == ("B2304", get_board("zcu102").ddr_bw_gbps)


def test_a_worded_keyword_without_an_option_keeps_its_python_spelling():
    from accel_models.wording import WordedError
    from ofa_hw.cli import describe

    exc = WordedError("{latency_ms:g} and {threshold:g} are too low", arguments={"latency_ms": 1.0, "threshold": 0.5})
    assert describe(exc) == "--latency-ms 1 and threshold=0.5 are too low"
