"""The bad-input and fault corpus: every case is refused with a message naming the problem, or handled.

Each case runs the command line in-process (``ofa_hw.cli.main``) or calls the
Python API on a fresh workspace and asserts the exact outcome class:

* ``REFUSED``: exit code 2 (bad input) or the named exception, a one-line
  message matching the case's pattern, no traceback;
* ``FAILED``: exit code 1 (the run could not finish: disk full, output in use),
  with a message;
* ``HANDLED``: exit code 0 / a return value;
* ``INTERRUPTED``: Ctrl-C, exit code 130, with a message.

And in every case nothing is lost: the workspace's files are compared before
and after (a refused or failed case changes nothing; a handled one only adds
or replaces what it declares).  Each case runs under a time limit, so a hang
is a failure, not a stuck suite.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from accel_models import Accelerator
from latency_tables import TableMeta, load_table
from latency_tables.format import write_table
from latency_tables.harness import Plan, compile_numpy_units, write_plan
from latency_tables.registry import DATA_DIR
from latency_tables.table import Entry, LatencyTable
from ofa_hw.cli import main
from ofa_hw.search.result import CodesignResult, Design
from ofa_hw.space import SubnetConfig

REFUSED, FAILED, HANDLED, INTERRUPTED = "refused", "failed", "handled", "interrupted"
#: Seconds any one case may take (the slowest, a small real search, takes about two).
CASE_SECONDS = 30

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    """Expensive valid inputs, made once: a search result, an export, a small plan with numpy units."""
    from ofa_hw import search_codesign

    root = tmp_path_factory.mktemp("artefacts")
    result = search_codesign(board="ultra96v2", latency_ms=10.0, budget=400, population=20, seed=0, progress=False)
    result.to_json(root / "result.json")
    assert main(["export", "--preset", "min", "-r", "32", "--out", str(root / "export")]) == 0
    keys = ["Conv-input:32x32x3-output:16x16x8", "Logits-input:1x1x16-output:10"]
    plan = Plan.from_keys(keys, space="tiny")
    write_plan(plan, root / "plan", progress=False)
    compile_numpy_units(plan, root / "units")
    return root


@pytest.fixture()
def ws(tmp_path, artefacts):
    """A fresh workspace holding copies of the valid inputs."""
    shutil.copy(artefacts / "result.json", tmp_path / "result.json")
    shutil.copy(DATA_DIR / "ultra96v2-b2304.csv", tmp_path / "table.csv")
    for name in ("plan", "units"):
        shutil.copytree(artefacts / name, tmp_path / name)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("three years of work")
    (tmp_path / "notes.txt").write_text("a user's plain file")
    return tmp_path


@pytest.fixture()
def bounded():
    """Fail a case that runs longer than CASE_SECONDS instead of hanging the suite."""
    def expired(signum, frame):
        raise TimeoutError(f"case ran longer than {CASE_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(CASE_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (content) and folder (None) under ``root``."""
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


# -------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """``make(ws)`` returns a CLI argv (list) or a callable; ``outcome`` and ``pattern`` are what must happen."""

    id: str
    make: Callable
    outcome: str
    pattern: str = ""
    creates: tuple[str, ...] = ()  # paths (relative to ws) a handled case may add or replace
    error: type[BaseException] = ValueError  # the exception an API case raises when refused
    root_only_ok: bool = True  # False: the fault cannot be staged as root (permissions do not bind root)
    setup: Callable | None = None  # staging that is part of the input, done before the snapshot
    marks: tuple = field(default=())


CASES: list[Case] = []


def case(*args, **kwargs) -> None:
    CASES.append(Case(*args, **kwargs))


def write(ws: Path, name: str, text: str | bytes) -> Path:
    path = ws / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ---- sub-network files (ofa-hw info) ----------------------------------------
GOOD_SUBNET = SubnetConfig.largest(r=224).to_dict()


def subnet_case(id: str, content, outcome: str = REFUSED, pattern: str = "", extra: tuple = ()):
    def make(ws):
        text = content if isinstance(content, str | bytes) else json.dumps(content)
        return ["info", str(write(ws, "subnet.json", text)), *extra]

    case(f"subnet-{id}", make, outcome, pattern)


subnet_case("ks-null", {**GOOD_SUBNET, "ks": None}, pattern=r"ks: expected a list")
subnet_case("d-int", {**GOOD_SUBNET, "d": 3}, pattern=r"d: expected a list")
subnet_case("e-string", {**GOOD_SUBNET, "e": "346"}, pattern=r"e: expected a list")
subnet_case("ks-dict", {**GOOD_SUBNET, "ks": {"a": 3}}, pattern=r"ks: expected a list")
subnet_case("ks-short", {**GOOD_SUBNET, "ks": [3] * 19}, pattern=r"ks: expected 20")
subnet_case("ks-long", {**GOOD_SUBNET, "ks": [3] * 21}, pattern=r"ks: expected 20")
subnet_case("ks-9", {**GOOD_SUBNET, "ks": [9] * 20}, pattern=r"ks")
subnet_case("ks-bool", {**GOOD_SUBNET, "ks": [True] * 20}, pattern=r"ks: values must be integers")
subnet_case("ks-float", {**GOOD_SUBNET, "ks": [3.5] * 20}, pattern=r"ks: values must be integers")
subnet_case("ks-strings", {**GOOD_SUBNET, "ks": ["3"] * 20}, pattern=r"ks")
subnet_case("ks-nested", {**GOOD_SUBNET, "ks": [[3]] * 20}, pattern=r"ks")
subnet_case("e-5", {**GOOD_SUBNET, "e": [5] * 20}, pattern=r"\be\b")
subnet_case("d-5", {**GOOD_SUBNET, "d": [5] * 5}, pattern=r"\bd\b")
subnet_case("d-short", {**GOOD_SUBNET, "d": [2] * 4}, pattern=r"d: expected 5")
subnet_case("r-100000", {**GOOD_SUBNET, "r": 100000}, pattern=r"above the maximum 448.*199,29\dx")
subnet_case("r-1024", {**GOOD_SUBNET, "r": 1024}, pattern=r"1024 is above the maximum 448")
subnet_case("r-0", {**GOOD_SUBNET, "r": 0}, pattern=r"resolution 0 is not allowed")
subnet_case("r-negative", {**GOOD_SUBNET, "r": -224}, pattern=r"-224 is not allowed")
subnet_case("r-not-multiple-of-4", {**GOOD_SUBNET, "r": 225}, pattern=r"225 is not allowed.*multiple of 4")
subnet_case("r-float", {**GOOD_SUBNET, "r": 224.5}, pattern=r"r: expected one integer")
subnet_case("r-bool", {**GOOD_SUBNET, "r": True}, pattern=r"r: expected one integer")
subnet_case("r-string", {**GOOD_SUBNET, "r": "224"}, pattern=r"r: expected one integer")
subnet_case("r-two", {**GOOD_SUBNET, "r": [160, 224]}, pattern=r"r: expected one resolution")
subnet_case("r-null", {**GOOD_SUBNET, "r": None}, pattern=r"gives no resolution")
subnet_case("r-missing", {k: v for k, v in GOOD_SUBNET.items() if k != "r"}, pattern=r"gives no resolution")
subnet_case("ks-missing", {k: v for k, v in GOOD_SUBNET.items() if k != "ks"}, pattern=r"lacks key\(s\) \['ks'\]")
subnet_case("unknown-key", {**GOOD_SUBNET, "depth": 3}, pattern=r"unknown key\(s\) \['depth'\]")
subnet_case("wid", {**GOOD_SUBNET, "wid": 1}, pattern=r"wid")
subnet_case("conflicting-r", {**GOOD_SUBNET, "image_size": 160}, pattern=r"conflicting values for r")
subnet_case("list", "[1, 2, 3]", pattern=r"expected a dict")
subnet_case("number", "42", pattern=r"expected a dict")
subnet_case("null", "null", pattern=r"expected a dict")
subnet_case("empty-file", "", pattern=r"subnet.json:1: not valid JSON")
subnet_case("truncated", json.dumps(GOOD_SUBNET)[:-7], pattern=r"subnet.json:1: not valid JSON")
subnet_case("nested-deep", "[" * 100_000 + "]" * 100_000, pattern=r"nested 100000 levels deep")
subnet_case("latin-1", json.dumps({**GOOD_SUBNET, "note": "caf\u00e9"}, ensure_ascii=False).encode("latin-1"),
            pattern=r"not UTF-8 text")
subnet_case("binary", bytes(range(256)), pattern=r"not UTF-8 text")
subnet_case("bom", "\ufeff" + json.dumps(GOOD_SUBNET), HANDLED)
subnet_case("nan-literal", json.dumps(GOOD_SUBNET).replace("224", "NaN"), pattern=r"r: expected one integer")
subnet_case("width-mismatch", {**GOOD_SUBNET, "width_mult": 1.0}, extra=("--width-mult", "1.2"),
            pattern=r"conflicting values for width_mult")
subnet_case("width-unknown", {**GOOD_SUBNET, "width_mult": 1.1}, pattern=r"width")
subnet_case("net-config-without-r", {"name": "MobileNetV3", "bn": {}, "first_conv": {"out_channels": 24},
                                      "blocks": []}, pattern=r"carries no input resolution")
subnet_case("specialized-foreign-supernet", {**GOOD_SUBNET, "supernet": "ofa_resnet50"}, pattern=r"supernet")
subnet_case("valid", GOOD_SUBNET, HANDLED)
subnet_case("valid-list-r", {**GOOD_SUBNET, "r": [224]}, HANDLED)
case("subnet-directory", lambda ws: ["info", str(ws / "mine")], REFUSED, r"mine is a folder; give a .json file")
case("subnet-missing-file", lambda ws: ["info", str(ws / "nope.json")], REFUSED, r"nope.json does not exist")
case("subnet-none-given", lambda ws: ["info"], REFUSED, r"give a sub-network")
case("subnet-json-output", lambda ws: ["info", "--preset", "min", "--json"], HANDLED)
case("cli-no-command", lambda ws: [], REFUSED)
case("cli-unknown-command", lambda ws: ["frobnicate"], REFUSED)
case("cli-help", lambda ws: ["--help"], HANDLED)


# ---- latency tables (ofa-hw lut show PATH) ---------------------------------
GOOD_TABLE = (DATA_DIR / "ultra96v2-b2304.csv").read_text(encoding="utf-8")
HEADER = GOOD_TABLE.split("key,count,mean_ms", 1)[0]
#: File line of the first entry (the header and the column line come before it).
FIRST = HEADER.count("\n") + 2
FIRST_KEY = GOOD_TABLE.split("\n")[FIRST - 1].split(",")[0]


def edit_rows(transform: Callable[[list[str]], list[str]], text: str = GOOD_TABLE) -> str:
    lines = text.split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("key,")) + 1
    return "\n".join(lines[:first] + transform(lines[first:-1]) + [""])


def scale(factor: float) -> Callable[[list[str]], list[str]]:
    def transform(rows):
        out = []
        for row in rows:
            cells = row.split(",")
            cells[2:6] = [repr(float(v) * factor) if v else "" for v in cells[2:6]]
            out.append(",".join(cells))
        return out

    return transform


def set_cell(column: int, value: str) -> Callable[[list[str]], list[str]]:
    def transform(rows):
        cells = rows[0].split(",")
        cells[column] = value
        return [",".join(cells), *rows[1:]]

    return transform


def table_case(id: str, text: str | bytes, outcome: str = REFUSED, pattern: str = "", name: str = "t.csv"):
    pattern = pattern.replace("{FIRST}", str(FIRST)).replace("{SECOND}", str(FIRST + 1))
    case(f"table-{id}", lambda ws: ["lut", "show", str(write(ws, name, text))], outcome, pattern)


def header(field_name: str, value: str) -> str:
    lines = GOOD_TABLE.split("\n")
    return "\n".join(f"# {field_name}: {value}" if line.startswith(f"# {field_name}:") else line for line in lines)


table_case("valid", GOOD_TABLE, HANDLED)
table_case("bom", "\ufeff" + GOOD_TABLE, HANDLED)
table_case("crlf", GOOD_TABLE.replace("\n", "\r\n"), HANDLED)
table_case("seconds", edit_rows(scale(1e-3)), pattern=r"t.csv:\d+: entry .*the calibrated DPU prior.*seconds\?")
table_case("microseconds", edit_rows(scale(1e3)), pattern=r"t.csv:\d+: entry .*microseconds\?")
table_case("microseconds-declared", edit_rows(scale(1e3)).replace("# entries:", "# unit: us\n# entries:"), HANDLED)
table_case("unit-unknown", GOOD_TABLE.replace("# entries:", "# unit: ns\n# entries:"),
           pattern=r"unit must be one of ms, us, s")
table_case("one-row-1000x", edit_rows(lambda rows: [*scale(1e4)(rows[:1]), *rows[1:]]),
           pattern=rf"t.csv:{{FIRST}}: entry '{FIRST_KEY}'")
table_case("empty", "", pattern=r"file is empty")
table_case("no-final-newline", GOOD_TABLE[:-1], pattern=r"truncated: the last line has no line end")
table_case("cut-at-row", GOOD_TABLE[: GOOD_TABLE.rindex("\n", 0, -1) + 1], pattern=r"truncated or padded")
table_case("header-only", HEADER, pattern=r"no column line")
table_case("wrong-format", GOOD_TABLE.replace("ofa-hw-latency-table/1", "other/9"), pattern=r"format")
table_case("latin-1", GOOD_TABLE.replace("# license:", "# license: \u00a9").encode("latin-1"),
           pattern=r"t.csv:\d+: not UTF-8 text")
table_case("binary", bytes(range(256)) * 4, pattern=r"not UTF-8 text")
table_case("unknown-header", GOOD_TABLE.replace("# entries:", "# colour: red\n# entries:"),
           pattern=r"unknown header field 'colour'")
table_case("duplicate-header", GOOD_TABLE.replace("# entries:", "# board: zcu102\n# entries:"),
           pattern=r"'board' given twice")
table_case("missing-header", "\n".join(line for line in GOOD_TABLE.split("\n") if not line.startswith("# toolchain")),
           pattern=r"metadata missing.*toolchain")
table_case("clock-text", header("clock_mhz", "fast"), pattern=r"clock_mhz.*'fast' is not a number")
table_case("clock-huge", header("clock_mhz", "5e9"), pattern=r"clock_mhz must be a number in \(0, 10000\]")
table_case("cores-zero", header("cores", "0"), pattern=r"cores must be a positive integer")
table_case("cores-text", header("cores", "two"), pattern=r"cores must be an integer")
table_case("invocation-yes", header("per_entry_invocation", "yes"), pattern=r"per_entry_invocation must be")
table_case("entries-text", header("entries", "many"), pattern=r"entries must be an integer")
table_case("negative-mean", edit_rows(set_cell(2, "-0.3")), pattern=r"t.csv:{FIRST}: .*mean_ms must be")
table_case("zero-mean", edit_rows(set_cell(2, "0")), pattern=r"t.csv:{FIRST}: .*mean_ms must be positive")
table_case("nan-mean", edit_rows(set_cell(2, "nan")), pattern=r"t.csv:{FIRST}: .*not a finite number")
table_case("inf-mean", edit_rows(set_cell(2, "inf")), pattern=r"t.csv:{FIRST}: .*not a finite number")
table_case("bool-mean", edit_rows(set_cell(2, "True")), pattern=r"t.csv:{FIRST}: .*'True' is not a number")
table_case("empty-mean", edit_rows(set_cell(2, "")), pattern=r"t.csv:{FIRST}: count and mean_ms are required")
table_case("count-zero", edit_rows(set_cell(1, "0")), pattern=r"t.csv:{FIRST}: .*count must be a positive integer")
table_case("count-fraction", edit_rows(set_cell(1, "1.5")), pattern=r"t.csv:{FIRST}: .*'1.5' is not an integer")
table_case("min-above-mean", edit_rows(set_cell(4, "9.0")), pattern=r"t.csv:{FIRST}: .*min_ms 9.0 exceeds mean_ms")
table_case("max-below-mean", edit_rows(set_cell(5, "0.001")), pattern=r"t.csv:{FIRST}: .*max_ms 0.001 is below")
table_case("bad-key", edit_rows(set_cell(0, "Conv-input:banana")), pattern=r"t.csv:{FIRST}: ")
table_case("empty-key", edit_rows(set_cell(0, "")), pattern=r"t.csv:{FIRST}: empty key")
table_case("short-row", edit_rows(lambda rows: [",".join(rows[0].split(",")[:4]), *rows[1:]]),
           pattern=r"t.csv:{FIRST}: expected 10 cells")
table_case("repeated-key-differs", edit_rows(lambda rows: [rows[0], rows[0].replace(",500,", ",499,"), *rows[2:]]),
           pattern=r"t.csv:{SECOND}: key .* repeats line {FIRST} with different values")
table_case("bad-extra-column", GOOD_TABLE.replace(",mem_io_mb", ",Mem-IO"), pattern=r"bad extra column name")
table_case("bad-suffix", GOOD_TABLE, pattern=r"unknown table file type '.txt'", name="t.txt")
table_case("yaml-no-sidecar", "Logits-input:1x1x8-output:4:\n  count: 3\n  mean: 0.5\n",
           pattern=r"needs meta=TableMeta\(...\) or a sidecar", name="t.yaml")
SIDECAR = "\n".join(f"{k}: {v}" for k, v in dict(name="t", board="phone", dpu_arch="cpu", clock_mhz=None, cores=1,
                                                  toolchain="tc", method="m", date="d", source="s", license="l",
                                                  per_entry_invocation=False).items()).replace("None", "null")


def _yaml_case(id: str, text: str, outcome: str, pattern: str = ""):
    def make(ws):
        write(ws, "t.meta.yaml", SIDECAR + "\n")
        return ["lut", "show", str(write(ws, "t.yaml", text))]

    case(f"table-yaml-{id}", make, outcome, pattern)


_yaml_case("broken", "a: [\n", REFUSED, r"t.yaml:\d+: not valid YAML")
_yaml_case("unknown-field", "Logits-input:1x1x8-output:4:\n  count: 3\n  mean: 0.5\n  median: 1\n", REFUSED,
           r"t.yaml:4: .*unknown field 'median'")
_yaml_case("nan", "Logits-input:1x1x8-output:4:\n  count: 3\n  mean: .nan\n", REFUSED, r"not a finite number")
_yaml_case("valid", "Logits-input:1x1x8-output:4:\n  count: 3\n  mean: 0.5\n  std: 0.1\n", HANDLED)
case("table-directory", lambda ws: ["lut", "show", str(ws / "mine")], REFUSED, r"mine' is a folder")
case("table-missing", lambda ws: ["lut", "show", str(ws / "nope.csv")], REFUSED, r"no latency table")
case("table-show-shipped", lambda ws: ["lut", "show"], HANDLED)
case("table-show-json", lambda ws: ["lut", "show", "ultra96v2-b2304", "--json", "--match", "Conv"], HANDLED)


# ---- result files (ofa-hw report / export --result) --------------------------
def result_case(id: str, edit: Callable[[dict], None] | str | bytes, pattern: str, command: str = "report"):
    def make(ws):
        path = ws / "result.json"
        if isinstance(edit, str | bytes):
            write(ws, "result.json", edit)
        else:
            data = json.loads(path.read_text())
            edit(data)
            path.write_text(json.dumps(data))
        if command == "report":
            return ["report", str(path), "--no-cv", "--out", str(ws / "report")]
        return ["export", "--result", str(path), "--out", str(ws / "export")]

    case(f"result-{id}-{command}", make, REFUSED, pattern)


def best(field_name, value):
    def edit(data):
        data["best"][field_name] = value
    return edit


def nested(part, field_name, value):
    def edit(data):
        data["best"][part][field_name] = value
    return edit


def placed(field_name, value):
    """Edit the best design's resources as placed (the typed fit check of a design)."""
    def edit(data):
        data["best"]["resources"]["placed"][field_name] = value
    return edit


def binding_utilization(value):
    def edit(data):
        resources = data["best"]["resources"]
        resources["utilization"][resources["binding_resource"]] = value
    return edit


for command in ("report", "export"):
    result_case("accuracy-150", best("accuracy_top1", 150.0), r"best.accuracy_top1: 150.0 is outside", command)
    result_case("latency-negative", best("latency_ms", -5.0), r"best.latency_ms: -5.0 is outside", command)
    result_case("cores-9", nested("accelerator", "cores", 9), r"best.accelerator: .*cores 9", command)
    result_case("dsp-99999", placed("dsp", 99999), r"best.resources.placed.dsp: 99999 exceeds board", command)
result_case("latency-zero", best("latency_ms", 0.0), r"best.latency_ms: 0.0 is outside")
result_case("array-huge", nested("accelerator", "pp", 4096), r"best.accelerator: .*MACs per cycle is beyond")
result_case("pp-400-digits", nested("accelerator", "pp", 10**400), r"best.accelerator: .*pp must be a positive integer")
result_case("latency-nan", best("latency_ms", math.nan), r"best.latency_ms: expected a finite number")
result_case("latency-bool", best("latency_ms", True), r"best.latency_ms: expected a finite number")
result_case("accuracy-string", best("accuracy_top1", "80%"), r"best.accuracy_top1: expected a finite number")
result_case("accuracy-negative", best("accuracy_float_top1", -1.0), r"best.accuracy_float_top1: -1.0 is outside")
result_case("fps-impossible", best("fps", 1e6), r"best.fps: .* more than 1 core\(s\)")
result_case("measured-fraction-2", best("measured_fraction", 2.0), r"best.measured_fraction: 2.0 is outside")
result_case("latency-source", best("latency_source", "guess"), r"best.latency_source: 'guess'")
result_case("clock-5ghz", nested("accelerator", "clock_mhz", 5000.0), r"best.accelerator: DPU clock_mhz 5000")
result_case("clock-zero", nested("accelerator", "clock_mhz", 0.0), r"best.accelerator")
result_case("pp-text", nested("accelerator", "pp", "eight"), r"best.accelerator")
result_case("subnet-bad", nested("subnet", "ks", None), r"best.subnet: ks: expected a list")
result_case("resources-list", best("resources", [1, 2]), r"best.resources: expected an object")
result_case("lut-negative", placed("lut", -1.0), r"best.resources.placed.lut: -1.0 is outside")
result_case("utilization-3", binding_utilization(3.0), r"binding_utilization: 3.0")
result_case("unknown-design-key", best("colour", "red"), r"unknown key\(s\) \['colour'\] in best")
result_case("missing-design-key", lambda d: d["best"].pop("fps"), r"best: field\(s\) \['fps'\] missing")
result_case("pareto-design-bad", lambda d: d["pareto"][2].update(latency_ms=-1.0), r"pareto\[2\].latency_ms")
result_case("pareto-not-list", lambda d: d.update(pareto={"a": 1}), r"pareto: expected a list")
result_case("breaks-constraint", lambda d: d["settings"]["constraint"].update(latency_ms=1.0),
            r"breaks the result's own constraint latency <= 1 ms")
result_case("board-unknown", lambda d: d["settings"].update(board="zcu999"), r"settings.board: unknown board")
result_case("format-version", lambda d: d.update(format_version=3), r"format_version 3 is not supported")
result_case("unknown-top-key", lambda d: d.update(extra=1), r"unknown key\(s\) \['extra'\] in CodesignResult")
result_case("missing-pareto", lambda d: d.pop("pareto"), r"result field 'pareto' missing")
result_case("history-bad", lambda d: d.update(history=[{"x": 1}]), r"history: ")
result_case("not-json", "{ this is not json", r"result.json:1: not valid JSON")
result_case("array", "[]", r"a result is a JSON object")
result_case("empty", "", r"result.json:1: not valid JSON")
result_case("deep", "[" * 50_000 + "]" * 50_000, r"nested 50000 levels deep")
result_case("latin-1", '{"note": "caf\u00e9"}'.encode("latin-1"), r"not UTF-8 text")
case("result-missing", lambda ws: ["report", str(ws / "nope.json")], REFUSED, r"nope.json not found")
case("result-directory", lambda ws: ["export", "--result", str(ws / "mine"), "--out", str(ws / "x")], REFUSED,
     r"result file .*mine is a folder")
case("result-report-into-user-folder", lambda ws: ["report", str(ws / "result.json"), "--no-cv", "--out",
                                                   str(ws / "mine")], REFUSED,
     r"not part of an ofa-hw report.*thesis.tex")
case("result-report-onto-file", lambda ws: ["report", str(ws / "result.json"), "--no-cv", "--out",
                                            str(ws / "notes.txt")], REFUSED,
     r"notes.txt was not replaced: it is not a folder")
case("result-report-valid", lambda ws: ["report", str(ws / "result.json"), "--no-cv", "--out", str(ws / "rep")],
     HANDLED, creates=("rep",))


def _report_twice(ws):
    assert main(["report", str(ws / "result.json"), "--no-cv", "--out", str(ws / "rep")]) == 0
    return ["report", str(ws / "result.json"), "--no-cv", "--out", str(ws / "rep")]


case("result-report-replaces-own-report", _report_twice, HANDLED, creates=("rep",))


# ---- search options (ofa-hw search) ------------------------------------------
def search(*options):
    return lambda ws: ["search", "--no-progress", "--no-report", "--out", str(ws / "out"), *options]


case("search-clock-5ghz", search("--latency-ms", "10", "--accelerators", "B2304@5000x1"), REFUSED,
     r"B2304@5000x1.*clock_mhz 5000.0 is beyond what the hardware supports")
case("search-cores-9", search("--latency-ms", "10", "--accelerators", "B2304@200x9"), REFUSED, r"cores 9")
case("search-cores-0", search("--latency-ms", "10", "--accelerators", "B2304@200x0"), REFUSED, r"cores")
case("search-arch-unknown", search("--latency-ms", "10", "--accelerators", "B9999"), REFUSED,
     r"unknown DPU architecture 'B9999'")
case("search-clock-text", search("--latency-ms", "10", "--accelerators", "B2304@fast"), REFUSED,
     r"expected ARCH\[@MHZ\]\[xCORES\]")
case("search-accelerator-misfit", search("--latency-ms", "10", "--accelerators", "B1600@200x1,B4096@300x4"),
     REFUSED, r"1 of the 2 listed accelerator\(s\) do not fit ultra96v2.*B4096 .*@300 MHz x4 needs")
case("search-latency-negative", search("--latency-ms", "-1"), REFUSED, r"--latency-ms: expected a positive number")
case("search-latency-nan", search("--latency-ms", "nan"), REFUSED, r"--latency-ms: expected a positive number")
case("search-latency-unreachable", search("--latency-ms", "0.01"), REFUSED, r"below the fastest design reachable")
case("search-fps-unreachable", search("--fps", "1e9"), REFUSED, r"above the highest throughput reachable")
case("search-budget-zero", search("--latency-ms", "10", "--budget", "0"), REFUSED, r"--budget: expected a positive")
case("search-budget-huge", search("--latency-ms", "10", "--budget", str(10**12)), REFUSED,
     r"above the maximum 10,000,000: it would run for about 3,086.4 hours")
case("search-budget-text", search("--latency-ms", "10", "--budget", "lots"), REFUSED)
case("search-population-tiny", search("--latency-ms", "10", "--population", "2"), REFUSED, r"population")
case("search-restarts-zero", search("--latency-ms", "10", "--restarts", "0"), REFUSED, r"restarts")
case("search-board-unknown", search("--board", "zcu999", "--latency-ms", "10"), REFUSED, r"zcu999")
case("search-space-unknown", search("--space", "resnet", "--latency-ms", "10"), REFUSED, r"resnet")
case("search-predictor-unknown", search("--latency-ms", "10", "--predictor", "nope"), REFUSED, r"nope")
case("search-out-is-file", lambda ws: ["search", "--latency-ms", "10", "--out", str(ws / "notes.txt" / "sub")],
     REFUSED, r"notes.txt is a file, not a folder")


def _locked_out(ws):
    from accel_models import atomic

    (ws / ".out.lock").write_text(json.dumps({"pid": os.getppid(), "host": atomic._HOST, "started": 0}))
    return search("--latency-ms", "10", "--budget", "400", "--population", "20")(ws)


case("search-out-in-use", _locked_out, FAILED, r"out is in use by pid \d+")
case("search-valid-small", search("--latency-ms", "10", "--budget", "400", "--population", "20"), HANDLED,
     creates=("out",))


def _stale_lock(ws):
    from accel_models import atomic

    (ws / ".out.lock").write_text(json.dumps({"pid": 2**22 + 12345, "host": atomic._HOST, "started": 0}))
    return search("--latency-ms", "10", "--budget", "400", "--population", "20")(ws)


case("search-stale-lock-taken-over", _stale_lock, HANDLED, creates=("out", ".out.lock"))


# ---- export ------------------------------------------------------------------
case("export-overwrite-user-folder", lambda ws: ["export", "--preset", "min", "-r", "32", "--out", str(ws / "mine"),
                                                 "--overwrite"], REFUSED,
     r"mine was not replaced: it holds no manifest")
case("export-overwrite-plain-file", lambda ws: ["export", "--preset", "min", "-r", "32", "--out",
                                                str(ws / "notes.txt"), "--overwrite"], REFUSED,
     r"notes.txt was not replaced: it is not a folder")
case("export-exists", lambda ws: ["export", "--preset", "min", "-r", "32", "--out", str(ws / "mine")], REFUSED,
     r"mine exists; pass --overwrite")
case("export-r-1024", lambda ws: ["export", "--preset", "min", "-r", "1024", "--out", str(ws / "e")], REFUSED,
     r"1024 is above the maximum 448")
case("export-r-100000", lambda ws: ["export", "--preset", "max", "-r", "100000", "--out", str(ws / "e")], REFUSED,
     r"100000 is above the maximum 448")
case("export-weights-missing", lambda ws: ["export", "--preset", "min", "-r", "32", "--out", str(ws / "e"),
                                           "--weights", str(ws / "w.pth")], REFUSED, r"weights file .*w.pth not found")
case("export-calibration-missing", lambda ws: ["export", "--preset", "min", "-r", "32", "--out", str(ws / "e"),
                                               "--calibration", str(ws / "c.npy")], REFUSED, r"c.npy not found")
case("export-result-and-preset", lambda ws: ["export", "--result", str(ws / "result.json"), "--preset", "min",
                                             "--out", str(ws / "e")], REFUSED, r"either --result or a sub-network")
case("export-clock-without-accelerator", lambda ws: ["export", "--preset", "min", "-r", "32", "--clock-mhz", "200",
                                                     "--out", str(ws / "e")], REFUSED,
     r"--clock-mhz needs --accelerator")
case("export-accelerator-unknown", lambda ws: ["export", "--preset", "min", "-r", "32", "--accelerator", "B9999",
                                               "--out", str(ws / "e")], REFUSED, r"B9999")
case("export-clock-5ghz", lambda ws: ["export", "--preset", "min", "-r", "32", "--accelerator", "B1600",
                                      "--clock-mhz", "5000", "--out", str(ws / "e")], REFUSED, r"clock_mhz 5000")
case("export-scheme-unknown", lambda ws: ["export", "--preset", "min", "--scheme", "fp4", "--out", str(ws / "e")],
     REFUSED)


def _overwrite_own_export(ws):
    shutil.copytree(_ARTEFACTS[0] / "export", ws / "exp")
    (ws / "exp" / "stale.txt").write_text("left by the previous export")
    return ["export", "--preset", "min", "-r", "32", "--out", str(ws / "exp"), "--overwrite"]


_ARTEFACTS: list[Path] = []
case("export-overwrite-own-export", _overwrite_own_export, HANDLED, creates=("exp",))


# ---- lut measure / plan --------------------------------------------------------
def measure(*options, out="m.csv"):
    def make(ws):
        return ["lut", "measure", "--plan", str(ws / "plan"), "--xmodels", str(ws / "units"), "--out",
                str(ws / out), "--runner", "numpy", "--board", "host", "--dpu-arch", "numpy", "--toolchain", "numpy",
                "--quiet", *options]
    return make


case("measure-valid", measure("--runs", "2", "--warmup", "0"), HANDLED, creates=("m.csv",))
case("measure-runs-zero", measure("--runs", "0"), REFUSED, r"1 <= runs")
case("measure-runs-huge", measure("--runs", str(10**9)), REFUSED, r"runs <= 1,000,000")
case("measure-warmup-negative", measure("--warmup", "-1"), REFUSED, r"warmup >= 0")
case("measure-not-csv", measure(out="m.txt"), REFUSED, r"written as a .csv file")
case("measure-dpu-time-numpy", measure("--dpu-time", "xdputil"), REFUSED, r"--dpu-time needs --runner pynq")
case("measure-timing-dpu-numpy", measure("--timing", "dpu", "--runs", "1", "--warmup", "0"), REFUSED,
     r"--timing dpu .* needs --dpu-time xdputil")
case("measure-missing-flags", lambda ws: ["lut", "measure", "--plan", str(ws / "plan"), "--xmodels",
                                          str(ws / "units"), "--out", str(ws / "m.csv")], REFUSED)
case("measure-plan-missing", lambda ws: ["lut", "measure", "--plan", str(ws / "noplan"), "--xmodels",
                                         str(ws / "units"), "--out", str(ws / "m.csv"), "--runner", "numpy",
                                         "--board", "b", "--dpu-arch", "a", "--toolchain", "t"], REFUSED, r"noplan")
case("measure-units-missing", lambda ws: ["lut", "measure", "--plan", str(ws / "plan"), "--xmodels",
                                          str(ws / "nounits"), "--out", str(ws / "m.csv"), "--runner", "numpy",
                                          "--board", "b", "--dpu-arch", "a", "--toolchain", "t"], REFUSED,
     r"nounits' does not exist")


def _resume_other_board(ws):
    assert main(measure("--runs", "1", "--warmup", "0")(ws)) == 0
    return [arg if arg != "host" else "zcu104" for arg in measure()(ws)]


case("measure-resume-other-setup", _resume_other_board, REFUSED, r"measured on another setup.*board",
     creates=("m.csv",))


def _resume_into_shipped_table(ws):
    return ["lut", "measure", "--plan", str(ws / "plan"), "--xmodels", str(ws / "units"), "--out",
            str(ws / "table.csv"), "--runner", "numpy", "--board", "ultra96v2", "--dpu-arch", "DPUCZDX8G B2304",
            "--clock-mhz", "200", "--toolchain", "Vitis AI 3.0", "--quiet"]


case("measure-resume-foreign-table", _resume_into_shipped_table, REFUSED, r"measured on another setup")
case("plan-resolutions-text", lambda ws: ["lut", "plan", "--resolutions", "a,b", "--out", str(ws / "p")], REFUSED)
case("plan-resolution-huge", lambda ws: ["lut", "plan", "--resolutions", "100000", "--manifest-only", "--out",
                                         str(ws / "p")], REFUSED, r"100000 is above the maximum 448")
case("plan-into-user-folder", lambda ws: ["lut", "plan", "--manifest-only", "--out", str(ws / "mine")], REFUSED,
     r"mine holds files but no plan")


# ---- Python API ------------------------------------------------------------------
def api(id: str, call: Callable, outcome: str = REFUSED, pattern: str = "", error: type = ValueError):
    case(f"api-{id}", lambda ws: (lambda: call(ws)), outcome, pattern, error=error)


def _search(**kwargs):
    from ofa_hw import search_codesign

    return lambda ws: search_codesign(progress=False, **{"latency_ms": 10.0, **kwargs})


api("search-board-none", _search(board=None), pattern=r"board must be a board name")
api("search-budget-nan", _search(budget=float("nan")), pattern=r"budget must be an integer, got float nan")
api("search-budget-float", _search(budget=2000.0), pattern=r"budget must be an integer")
api("search-budget-1e12", _search(budget=10**12), pattern=r"about 3,086.4 hours")
api("search-seed-text", _search(seed="abc"), pattern=r"seed must be an integer, got str 'abc'")
api("search-seed-bool", _search(seed=True), pattern=r"seed must be an integer")
api("search-population-bool", _search(population=True), pattern=r"population must be an integer")
api("search-resolutions-empty", _search(resolutions=[]), pattern=r"resolutions must be a non-empty list")
api("search-resolutions-text", _search(resolutions="224"), pattern=r"resolutions must be a non-empty list")
api("search-resolutions-unscorable", _search(resolutions=[128]), pattern=r"cannot be scored")
api("search-latency-bool", _search(latency_ms=True), pattern=r"latency_ms must be a positive number")
api("search-fps-inf", _search(latency_ms=None, fps=float("inf")), pattern=r"fps must be a positive number")
api("search-accelerators-text", _search(accelerators="all"),
    pattern=r"unknown accelerator space 'all'; known: dpu, dpu-like")
api("search-accelerators-empty", _search(accelerators=[]), pattern=r"non-empty list")
api("search-accelerators-duplicates", _search(accelerators=[Accelerator.from_dpu("B1600")] * 2),
    pattern=r"duplicates")
api("search-algorithm", _search(algorithm="annealing"), pattern=r"algorithm must be one of")
api("search-unconstrained-evolution", _search(latency_ms=None, algorithm="evolution"), pattern=r"needs a constraint")
api("entry-bool-latency", lambda ws: Entry("Logits-input:1x1x8-output:4", 3, True),
    pattern=r"mean_ms must be a finite non-negative number, got True")
api("entry-bool-count", lambda ws: Entry("Logits-input:1x1x8-output:4", True, 0.5), pattern=r"count must be")
api("entry-nan-std", lambda ws: Entry("Logits-input:1x1x8-output:4", 3, 0.5, math.nan), pattern=r"std_ms")
api("meta-clock-bool", lambda ws: TableMeta("t", "b", "B512", True, 1, "tc", "m", "d", "s", "l", False),
    pattern=r"clock_mhz must be a number")
api("meta-cores-bool", lambda ws: TableMeta("t", "b", "B512", 200.0, True, "tc", "m", "d", "s", "l", False),
    pattern=r"cores must be a positive integer")
api("accelerator-clock-5ghz", lambda ws: Accelerator.from_dpu("B2304", clock_mhz=5000.0),
    pattern=r"clock_mhz 5000.0 is beyond what the hardware supports")
api("accelerator-cores-9", lambda ws: Accelerator.from_dpu("B2304", cores=9), pattern=r"1 to 4 cores")
api("accelerator-pp-bool", lambda ws: Accelerator(True, 8, 8, clock_mhz=200.0), pattern=r"pp must be a positive")
api("accelerator-array-huge", lambda ws: Accelerator(4096, 16, 16, clock_mhz=200.0),
    pattern=r"pp x icp x ocp = 1,048,576 MACs per cycle is beyond what the hardware supports: at most 262,144")
api("accelerator-pp-400-digits", lambda ws: Accelerator(10**400, 8, 8, clock_mhz=200.0),
    pattern=r"pp must be a positive integer")
api("accelerator-unknown-arch", lambda ws: Accelerator.from_dpu("B9999"), pattern=r"B9999", error=KeyError)
api("subnet-r-huge", lambda ws: SubnetConfig.largest(r=100000), pattern=r"above the maximum 448")
def _seconds_table(ws):
    path = write(ws, "s.csv", edit_rows(scale(1e-3)))
    return lambda: load_table(path)


case("api-load-table-seconds", _seconds_table, REFUSED, r"s.csv:\d+: entry")
api("load-table-directory", lambda ws: load_table(ws / "mine"), pattern=r"is a folder", error=IsADirectoryError)
api("hls-load-file", lambda ws: __import__("hls").load(ws / "notes.txt"), pattern=r"is a file; hls.load takes",
    error=NotADirectoryError)
api("hls-load-missing", lambda ws: __import__("hls").load(ws / "nope"), pattern=r"does not exist",
    error=FileNotFoundError)
api("hls-load-user-folder", lambda ws: __import__("hls").load(ws / "mine"), pattern=r"no manifest.json",
    error=FileNotFoundError)
api("result-from-dict-list", lambda ws: CodesignResult.from_dict([]), pattern=r"a result is a JSON object")
api("design-from-dict-none", lambda ws: Design.from_dict(None), pattern=r"design: expected an object")
api("write-table-txt", lambda ws: write_table(load_table("ultra96v2-b2304"), ws / "t.txt"), pattern=r".csv files")


def _edited_manifest(field_path):
    def make(ws):
        import hls

        shutil.copytree(_ARTEFACTS[0] / "export", ws / "exp")
        manifest = json.loads((ws / "exp" / "manifest.json").read_text())
        layer = manifest["layers"][5]
        if field_path == "out_shape":
            layer["out_shape"][1] += 1
        elif field_path == "out_shape-both":
            layer["out_shape"][1] += 1
            layer["layer"]["out_shape"][1] += 1
        else:
            layer["requant"]["shift"] += 1
        (ws / "exp" / "manifest.json").write_text(json.dumps(manifest))
        return lambda: hls.load(ws / "exp")
    return make


from hls.errors import ManifestError  # noqa: E402

case("api-manifest-out-shape", _edited_manifest("out_shape"), REFUSED, r"out_shape .* contradicts its layer record",
     error=ManifestError)
case("api-manifest-out-shape-both", _edited_manifest("out_shape-both"), REFUSED, r"does not match its golden tensor",
     error=ManifestError)
case("api-manifest-shift", _edited_manifest("shift"), REFUSED, r"requant shift .* compiled into program.bin",
     error=ManifestError)


def _checkpoint(corrupt: bytes | None):
    def call(ws):
        from ofa_hw import search_codesign

        kwargs = dict(board="ultra96v2", latency_ms=10.0, budget=400, population=20, seed=0, progress=False,
                      checkpoint=ws / "ckpt")
        search_codesign(**kwargs)
        (saved,) = (ws / "ckpt").glob("restart-*.npz")
        if corrupt is not None:
            data = saved.read_bytes()
            if corrupt == b"cut":
                data = data[: len(data) // 2]
            elif corrupt == b"flip":  # one bit inside a member: only its CRC tells
                data = data[: len(data) // 3] + bytes([data[len(data) // 3] ^ 0x01]) + data[len(data) // 3 + 1:]
            else:
                data = corrupt
            saved.write_bytes(data)
        return search_codesign(**kwargs)
    return call


case("api-checkpoint-truncated", lambda ws: (lambda: _checkpoint(b"cut")(ws)), REFUSED,
     r"checkpoint file .*restart-0-.*npz is corrupt or truncated", creates=("ckpt",))
case("api-checkpoint-bit-flipped", lambda ws: (lambda: _checkpoint(b"flip")(ws)), REFUSED,
     r"checkpoint file .*restart-0-.*npz is corrupt or truncated \(Bad CRC-32", creates=("ckpt",))
case("api-checkpoint-garbage", lambda ws: (lambda: _checkpoint(b"not a zip at all")(ws)), REFUSED,
     r"is corrupt or truncated", creates=("ckpt",))
case("api-checkpoint-resumed", lambda ws: (lambda: _checkpoint(None)(ws)), HANDLED, creates=("ckpt",))


# ---- faults: full disk, killed writers, broken pipes ---------------------------
def _disk_full(target):
    def make(ws):
        import accel_models.atomic as atomic

        def no_space(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        _MONKEY[0].setattr(atomic.os, "fsync", no_space)
        if target == "report":
            return ["report", str(ws / "result.json"), "--no-cv", "--out", str(ws / "rep")]
        if target == "search":
            return search("--latency-ms", "10", "--budget", "400", "--population", "20")(ws)
        return measure("--runs", "1", "--warmup", "0")(ws)
    return make


_MONKEY: list = []
case("fault-disk-full-search", _disk_full("search"), FAILED, r"disk full while writing")
case("fault-disk-full-report", _disk_full("report"), FAILED, r"disk full")
case("fault-disk-full-table", _disk_full("measure"), FAILED, r"disk full")


STALE_TEMP = f".result.json.{2**22 + 7}.{__import__('accel_models.atomic').atomic._HOST}.abc.tmp"


def _stale_temp(ws):
    (ws / STALE_TEMP).write_bytes(b"x" * 1000)  # what a writer killed with SIGKILL leaves
    return lambda: CodesignResult.from_json(ws / "result.json").to_json(ws / "result.json")


case("fault-stale-temp-removed", _stale_temp, HANDLED, creates=("result.json", STALE_TEMP))


def _killed_writer_leaves_old_file(ws):
    import accel_models.atomic as atomic

    def interrupted(fd):
        raise KeyboardInterrupt

    def call():
        _MONKEY[0].setattr(atomic.os, "fsync", interrupted)
        CodesignResult.from_json(ws / "result.json").to_json(ws / "result.json")
    return call


case("fault-interrupted-write", _killed_writer_leaves_old_file, FAILED, r"", error=KeyboardInterrupt)


# ---- every output is one unit: built beside, swapped in; the previous one survives a fault ----------------------
def _no_space(fd):
    raise OSError(errno.ENOSPC, "No space left on device")


def _again(argv: Callable[[Path], list[str]], fault: Callable | None = None) -> Callable[[Path], list[str]]:
    """Write the output once (the user's previous state), then return the same command, under ``fault``."""
    def make(ws):
        assert main(argv(ws)) == 0
        if fault is not None:
            import accel_models.atomic as atomic

            _MONKEY[0].setattr(atomic.os, "fsync", fault)
        return argv(ws)
    return make


def roofline(out: str) -> Callable[[Path], list[str]]:
    return lambda ws: ["roofline", "--board", "ultra96v2", "--preset", "min", "-r", "32", "--out", str(ws / out)]


def build_config(out: str) -> Callable[[Path], list[str]]:
    return lambda ws: ["build-config", str(ws / "result.json"), "--out", str(ws / out)]


def plan(out: str) -> Callable[[Path], list[str]]:
    return lambda ws: ["lut", "plan", "--resolutions", "160", "--manifest-only", "--force", "--out", str(ws / out)]


def fit(out: str) -> Callable[[Path], list[str]]:
    return lambda ws: ["lut", "fit", str(ws / "table.csv"), "--out", str(ws / out)]


def compile_numpy(out: str) -> Callable[[Path], list[str]]:
    return lambda ws: ["lut", "compile-numpy", "--plan", str(ws / "plan"), "--out", str(ws / out)]


def search_into(out: str, *options: str) -> Callable[[Path], list[str]]:
    return lambda ws: ["search", "--no-progress", "--latency-ms", "10", "--budget", "400", "--population", "20",
                       "--out", str(ws / out), *options]


for command, make, output in (("roofline", roofline, "a roofline report"),
                              ("build-config", build_config, "a DPU build folder"),
                              ("compile-numpy", compile_numpy, "a folder of numpy units"),
                              ("search", search_into, "an ofa-hw search output")):
    case(f"{command}-into-user-folder", make("mine"), REFUSED,
         rf"mine was not replaced: it holds files that are not part of {output} \(thesis.tex\)")
    case(f"{command}-onto-plain-file", make("notes.txt"), REFUSED, r"notes.txt was not replaced: it is not a folder")
for command, make in (("roofline", roofline), ("build-config", build_config), ("plan", plan), ("fit", fit),
                      ("compile-numpy", compile_numpy), ("search", search_into)):
    out = "f.json" if command == "fit" else "o"
    case(f"{command}-valid", make(out), HANDLED, creates=(out,))
    case(f"{command}-replaces-its-own-output", _again(make(out)), HANDLED, creates=(out,))
    case(f"fault-disk-full-{command}-keeps-the-previous-output", _again(make(out), _no_space), FAILED,
         r"disk full")


def _interrupted(fd):
    raise KeyboardInterrupt


case("fault-interrupted-roofline-keeps-the-previous-report", _again(roofline("o"), _interrupted), INTERRUPTED,
     r"interrupted")
case("fault-interrupted-search-keeps-the-previous-output", _again(search_into("o"), _interrupted), INTERRUPTED,
     r"interrupted")


def _measure_interrupted_then_resumed(ws):
    """Ctrl-C after the first unit: exit 130, that unit's entry kept; the same command then resumes."""
    from latency_tables.harness.runners import NumpyRunner

    original, calls = NumpyRunner.load, []

    def load(self, path, key):
        calls.append(key)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, path, key)

    _MONKEY[0].setattr(NumpyRunner, "load", load)
    argv = measure("--runs", "1", "--warmup", "0")(ws)
    assert main(argv) == 130
    assert len(load_table(ws / "m.csv")) == 1 and not list(ws.glob("*.tmp")) and not (ws / ".m.csv.lock").exists()
    _MONKEY[0].setattr(NumpyRunner, "load", original)
    return argv


def _search_interrupted_then_resumed(ws):
    """Ctrl-C after the first of two checkpointed restarts: exit 130, that restart kept; the same command resumes."""
    from ofa_hw.search import codesign

    original = codesign._CheckpointStore.save

    def save(self, *args):
        original(self, *args)
        raise KeyboardInterrupt

    _MONKEY[0].setattr(codesign._CheckpointStore, "save", save)
    argv = search_into("o", "--restarts", "2", "--checkpoint", str(ws / "ckpt"))(ws)
    assert main(argv) == 130
    assert len(list((ws / "ckpt").glob("restart-*.npz"))) == 1 and not (ws / "o").exists()
    _MONKEY[0].setattr(codesign._CheckpointStore, "save", original)
    return argv


case("fault-interrupted-measure-resumes", _measure_interrupted_then_resumed, HANDLED, creates=("m.csv",))
case("fault-interrupted-checkpointed-search-resumes", _search_interrupted_then_resumed, HANDLED,
     creates=("o", "ckpt"))


case("fit-out-is-a-folder", lambda ws: (ws / "mine.json").mkdir() or fit("mine.json")(ws), REFUSED,
     r"--out .*mine.json: a predictor record is a .json file")
case("fit-out-under-a-file", fit("notes.txt/f.json"), REFUSED, r"notes.txt is a file, not a folder")


def _plan_beside_measurements(ws):
    assert main(plan("p")(ws)) == 0
    shutil.copy(ws / "table.csv", ws / "p" / "table.csv")  # measured into the plan folder, as its README shows
    return plan("p")(ws)


case("plan-force-over-measurements", _plan_beside_measurements, REFUSED,
     r"p was not replaced: it holds files that are not part of a measurement plan \(table.csv\)")
case("search-checkpoint-inside-out", lambda ws: search_into("o", "--checkpoint", str(ws / "o" / "ckpt"))(ws), REFUSED,
     r"--checkpoint .*o/ckpt is inside --out .*o, which is replaced as a unit")


def _roofline_in_use(ws):
    from accel_models import atomic

    (ws / ".o.lock").write_text(json.dumps({"pid": os.getppid(), "host": atomic._HOST, "started": 0}))
    return roofline("o")(ws)


case("roofline-out-in-use", _roofline_in_use, FAILED, r"o is in use by pid \d+")


@pytest.mark.parametrize("item", CASES, ids=[c.id for c in CASES])
def test_case(item: Case, ws, artefacts, capsys, monkeypatch, bounded):
    _ARTEFACTS[:] = [artefacts]
    _MONKEY[:] = [monkeypatch]
    if IS_ROOT and not item.root_only_ok:
        pytest.skip("permissions do not bind root")
    target = item.make(ws)
    before = snapshot(ws)
    if callable(target):
        outcome, message = _call(target, item.error, item.outcome)
    else:
        code = main(target)
        captured = capsys.readouterr()
        message = captured.err + captured.out
        assert "Traceback" not in message
        outcome = {0: HANDLED, 1: FAILED, 2: REFUSED, 130: INTERRUPTED}.get(code, f"exit {code}")
        if outcome != HANDLED and target and target[0] not in ("--help",):
            assert message.strip(), "a refusal must say why"
    assert outcome == item.outcome, f"{item.id}: {outcome}: {message}"
    if item.pattern:
        import re

        assert re.search(item.pattern, message), f"{item.id}: message {message!r} does not match {item.pattern!r}"
    after = snapshot(ws)
    changed = {path for path in set(before) | set(after) if before.get(path, b"<none>") != after.get(path, b"<none>")}
    allowed = {path for path in changed if any(path == c or path.startswith(c + os.sep) for c in item.creates)}
    assert changed == allowed, f"{item.id}: files changed that the case may not touch: {sorted(changed - allowed)}"
    assert not [p for p in after if p.endswith(".tmp")], "temporary files left behind"


def _call(target: Callable, error: type[BaseException], expected: str) -> tuple[str, str]:
    """HANDLED when ``target`` returns; the case's refused / failed outcome when it raises ``error`` (only)."""
    try:
        target()
    except error as exc:
        return (REFUSED if expected == HANDLED else expected), (
            str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc))
    return HANDLED, ""


def test_the_corpus_is_large_and_covers_every_category():
    prefixes = {c.id.split("-")[0] for c in CASES}
    assert len(CASES) >= 150, len(CASES)
    assert {"subnet", "table", "result", "search", "export", "measure", "api", "fault"} <= prefixes
    assert {c.outcome for c in CASES} == {REFUSED, FAILED, HANDLED, INTERRUPTED}


def test_a_broken_pipe_ends_quietly():
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    shell = f"{sys.executable} -m ofa_hw.cli info --preset max | head -n 2"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 2
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_a_killed_search_leaves_no_temporary_files(tmp_path):
    """SIGTERM during a checkpointed search: the process ends through the error boundary, temp files go."""
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "ofa_hw.cli", "search", "--latency-ms", "10", "--budget", "2000000",
               "--restarts", "2", "--checkpoint", str(tmp_path / "ckpt"), "--out", str(tmp_path / "out"),
               "--no-progress"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / ".out.lock").exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    left = [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp") or p.name.endswith(".lock")]
    assert left == []


def test_numbers_in_the_corpus_messages_are_computed_not_copied():
    # the budget estimate: 10^12 evaluations at 90,000/s, in hours
    assert f"{10**12 / 90_000 / 3600:,.1f}" == "3,086.4"
    # r = 100000 is (100000 / 224)^2 times the work of r = 224
    assert f"{(100000 / 224) ** 2:,.0f}".startswith("199,29")
    assert np.isclose(1000 / 1.0, 1000.0)


# ------------------------------------------------------- property-based tests
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from latency_tables.format import TableFormatError, format_table, parse_table  # noqa: E402

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=6), children, max_size=6),
    max_leaves=30)
SUBNET_KEYS = st.sampled_from(["ks", "e", "d", "r", "wid", "image_size", "width_mult", "blocks", "supernet"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(SUBNET_KEYS, JSON, max_size=6) | JSON)
def test_subnet_parser_accepts_or_raises_value_error(data):
    """Any JSON value: a valid SubnetConfig or a ValueError with a message, never another exception."""
    try:
        cfg = SubnetConfig.from_dict(data)
    except ValueError as exc:
        assert str(exc)
    else:
        assert SubnetConfig.from_dict(cfg.to_dict()) == cfg


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([3, 5, 7]), min_size=20, max_size=20),
       st.lists(st.sampled_from([3, 4, 6]), min_size=20, max_size=20),
       st.lists(st.sampled_from([2, 3, 4]), min_size=5, max_size=5), st.integers(8, 112).map(lambda r: 4 * r),
       st.sampled_from([1.0, 1.2]))
def test_subnet_parser_round_trips_every_valid_config(ks, e, d, r, width):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # resolutions outside OFA's trained range
        cfg = SubnetConfig(tuple(ks), tuple(e), tuple(d), r, width)
        assert SubnetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


SMALL_TABLE = format_table(LatencyTable.from_entries(
    TableMeta("t", "host", "numpy-int8", None, 1, "numpy", "m", "d", "s", "l", True),
    [Entry("Logits-input:1x1x8-output:4", 3, 0.5, 0.1, 0.4, 0.6), Entry("Conv-input:32x32x3-output:16x16x8", 5, 1.5)]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(SMALL_TABLE) - 1), st.integers(0, 8), st.text(max_size=6))
def test_table_parser_accepts_or_names_the_line(position, cut, insert):
    """Any edit of a valid table: it parses (and round-trips) or raises TableFormatError naming file and line."""
    text = SMALL_TABLE[:position] + insert + SMALL_TABLE[position + cut:]
    try:
        table = parse_table(text, source="edited.csv")
    except TableFormatError as exc:
        assert exc.path == "edited.csv" and 0 <= exc.line <= text.count("\n") + 1 and exc.problem
    else:
        again = parse_table(format_table(table))
        assert (again.meta, dict(again.entries)) == (table.meta, dict(table.entries))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-3, 1e3), st.integers(1, 10**6)), min_size=1, max_size=5))
def test_table_parser_round_trips_written_tables(values):
    keys = [f"Logits-input:1x1x{8 * (i + 1)}-output:4" for i in range(len(values))]
    table = LatencyTable.from_entries(TableMeta("t", "b", "B512", 200.0, 1, "tc", "m", "d", "s", "l", False),
                                      [Entry(k, n, ms) for k, (ms, n) in zip(keys, values, strict=True)])
    again = parse_table(format_table(table))
    assert (again.meta, dict(again.entries)) == (table.meta, dict(table.entries))


@pytest.fixture(scope="module")
def result_dict(artefacts):
    return json.loads((artefacts / "result.json").read_text())


def _leaves(data, path=()):
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data[:3]):
            yield from _leaves(value, (*path, i))
    else:
        yield path


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_result_reader_accepts_or_names_the_field(result_dict, data):
    """Replace any leaf of a real result with any JSON value: it reads, or raises a ValueError with a message."""
    edited = json.loads(json.dumps(result_dict))
    paths = list(_leaves(edited))
    path = data.draw(st.sampled_from(paths))
    node = edited
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(JSON)
    try:
        result = CodesignResult.from_dict(edited)
    except (ValueError, KeyError) as exc:
        assert str(exc)
    else:
        assert all(0 <= d.accuracy_top1 <= 100 and d.latency_ms > 0 for d in result.pareto)
