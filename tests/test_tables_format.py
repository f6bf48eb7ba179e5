"""The table file format: round trips, OFA YAML, and every way a file can be broken."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel_models import BlockSpec
from latency_tables import Entry, LatencyTable, TableFormatError, TableMeta, read_table, write_table
from latency_tables.format import FORMAT_ID, format_table, parse_ofa_yaml, parse_table
from latency_tables.table import pool_entries

META = TableMeta("t", "ultra96v2", "B2304", 200.0, 1, "Vitis AI 3.0", "profiler", "2024", "here", "figures only",
                 True, "ofa-mbv3-w1.2")
K1 = "expanded_conv-input:14x14x96-output:14x14x96-expand:288-kernel:3-stride:1-idskip:1-se:0-hs:1"
K2 = "Logits-input:1x1x1536-output:1000"
GOOD = f"""# format: {FORMAT_ID}
# name: t
# board: ultra96v2
# dpu_arch: B2304
# clock_mhz: 200.0
# cores: 1
# toolchain: Vitis AI 3.0
# method: profiler
# date: 2024
# source: here
# license: figures only
# per_entry_invocation: true
# entries: 2
key,count,mean_ms,std_ms,min_ms,max_ms,mem_io_mb
{K1},500,0.373,,0.368,0.486,0.11
{K2},500,0.822,0.01,0.81,1.435,
"""


def test_parse_reads_every_field():
    table = parse_table(GOOD)
    assert table.meta == TableMeta(**{**META.to_dict(), "space": ""})
    assert table.entries[K1] == Entry(K1, 500, 0.373, None, 0.368, 0.486, {"mem_io_mb": 0.11})
    assert table.entries[K2].std_ms == 0.01 and dict(table.entries[K2].extra) == {}
    assert parse_table(format_table(table)).entries == table.entries


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.split("\n"), start=1) if needle in line)


# (what to do to GOOD, text of the line the error must name (None: the error is about the whole file), message)
BROKEN = [
    (lambda t: t.replace(f"{K1},500,0.373", f"{K1},500,-0.373"), K1, "mean_ms must be a finite non-negative"),
    (lambda t: t.replace(f"{K1},500,0.373", f"{K1},500,nan"), K1, "not a finite number"),
    (lambda t: t.replace(f"{K1},500,0.373", f"{K1},500,abc"), K1, "'abc' is not a number"),
    (lambda t: t.replace(f"{K1},500,", f"{K1},5.5,"), K1, "count': '5.5' is not an integer"),
    (lambda t: t.replace(f"{K1},500,0.373,", f"{K1},500,,"), K1, "count and mean_ms are required"),
    (lambda t: t.replace(",0.11\n", "\n"), K1, "expected 7 cells"),
    (lambda t: t.replace("std_ms,min_ms", "min_ms,std_ms"), "key,count", "columns must start with"),
    (lambda t: t.replace(",mem_io_mb", ",Mem-IO"), "key,count", "bad extra column name 'Mem-IO'"),
    (lambda t: t.replace("# toolchain: Vitis AI 3.0\n", ""), "key,count",
     "metadata missing: header field(s) ['toolchain']"),
    (lambda t: t.replace("# toolchain: Vitis AI 3.0\n", "# toolchain:\n"), "key,count", "'toolchain' is missing"),
    (lambda t: t.replace("# date: 2024", "# dat: 2024"), "# dat:", "unknown header field 'dat'; allowed:"),
    (lambda t: t.replace("# date: 2024", "# date: 2024\n# date: 2025"), "# date: 2025", "given twice"),
    (lambda t: t.replace("# cores: 1", "# cores: one"), "# cores", "cores must be an integer"),
    (lambda t: t.replace("invocation: true", "invocation: yes"), "invocation", "must be 'true' or 'false'"),
    (lambda t: t.replace("# board: ultra96v2", "board: ultra96v2"), "board: ultra96v2", "columns must start with"),
    (lambda t: t.replace("# board: ultra96v2", "# board ultra96v2"), "# board", "must read '# field: value'"),
    (lambda t: t.replace(f"# format: {FORMAT_ID}\n", ""), "# name", "first header line must be"),
    (lambda t: t.replace("# entries: 2\n", ""), "key,count", "'entries' (the number of rows) is missing"),
    (lambda t: t[: t.rindex(K2)], "__last__", "header says 2 entries, the file has 1 rows"),
    (lambda t: t[:-10], "__last__", "truncated: the last line has no line end"),
    (lambda t: t + f"{K1},500,0.374,,0.368,0.486,0.11\n", "__last__", "repeats line 15 with different values"),
    (lambda t: t.replace(K2, "Logits-input:1x1x1536"), "Logits-input:1x1x1536,", "unrecognised block key"),
    (lambda t: t.replace("expand:288", "expand:288x"), "expand:288x", "unrecognised block key"),
    (lambda t: t.replace("output:14x14x96-expand", "output:7x7x96-expand"), "output:7x7x96", "inconsistent"),
    (lambda t: t.replace(",0.368,", ",0.5,"), K1, "min_ms 0.5 exceeds mean_ms"),
]


@pytest.mark.parametrize("corrupt, where, message", BROKEN)
def test_broken_files_name_file_and_line(tmp_path, corrupt, where, message):
    text = corrupt(GOOD)
    path = tmp_path / "broken.csv"
    path.write_text(text)
    with pytest.raises(TableFormatError, match=re.escape(message)) as info:
        read_table(path)
    assert info.value.path == str(path) and str(info.value).startswith(f"{path}:")
    lines = text.split("\n")
    expected = len([line for line in lines if line]) if where == "__last__" else _line_of(text, where)
    if where == "__last__" and not text.endswith("\n"):
        expected = len(lines)
    assert info.value.line == expected


def test_identical_duplicates_are_tolerated():
    text = GOOD.replace("# entries: 2", "# entries: 3") + f"{K2},500,0.822,0.01,0.81,1.435,\n"
    assert len(parse_table(text)) == 2


def test_empty_and_wrong_suffix_and_missing(tmp_path):
    with pytest.raises(TableFormatError, match="file is empty"):
        parse_table("")
    (tmp_path / "t.txt").write_text(GOOD)
    with pytest.raises(TableFormatError, match="unknown table file type '.txt'"):
        read_table(tmp_path / "t.txt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="written as .csv"):
        write_table(parse_table(GOOD), tmp_path / "t.yaml")


def test_writer_rejects_multiline_metadata(tmp_path):
    table = LatencyTable.from_entries(TableMeta(**{**META.to_dict(), "source": "a\nb"}), [Entry(K2, 1, 1.0)])
    with pytest.raises(ValueError, match="'source' cannot be written"):
        write_table(table, tmp_path / "t.csv")
    assert not list(tmp_path.iterdir())  # nothing half-written


# ----------------------------------------------------------- property tests
_text = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=30).filter(
    lambda s: s == s.strip() and s.strip())
_ms = st.floats(min_value=1e-6, max_value=1e4, allow_nan=False, allow_infinity=False)


@st.composite
def _tables(draw):
    meta = TableMeta(
        name=draw(_text), board=draw(_text), dpu_arch=draw(_text),
        clock_mhz=draw(st.none() | st.floats(min_value=1.0, max_value=2000.0)), cores=draw(st.integers(1, 8)),
        toolchain=draw(_text), method=draw(_text), date=draw(_text), source=draw(_text), license=draw(_text),
        per_entry_invocation=draw(st.booleans()), space=draw(st.just("") | _text),
    )
    n = draw(st.integers(0, 6))
    keys = draw(st.lists(st.tuples(st.sampled_from([8, 16, 24]), st.sampled_from([7, 14, 28]),
                                   st.sampled_from([3, 5, 7]), st.sampled_from([1, 2]), st.booleans()),
                         min_size=n, max_size=n, unique=True))
    extras = draw(st.lists(st.sampled_from(["mem_io_mb", "workload_gop", "n_sources"]), unique=True))
    entries = []
    for c, h, k, s, se in keys:
        key = BlockSpec("mbconv", (c, h, h), c, kernel=k, stride=s, mid=3 * c, se=se, activation="relu").key
        mean = draw(_ms)
        lo = draw(st.none() | st.floats(min_value=0.0, max_value=1.0))
        hi = draw(st.none() | st.floats(min_value=1.0, max_value=10.0))
        entries.append(Entry(key, draw(st.integers(1, 10_000)), mean, draw(st.none() | _ms),
                             None if lo is None else mean * lo, None if hi is None else mean * hi,
                             {name: draw(_ms) for name in extras if draw(st.booleans())}))
    return LatencyTable.from_entries(meta, entries)


@settings(max_examples=60, deadline=None)
@given(_tables())
def test_write_read_round_trip(tmp_path_factory, table):
    path = tmp_path_factory.mktemp("rt") / "table.csv"
    write_table(table, path)
    back = read_table(path)
    assert back.meta == table.meta
    assert back.entries == table.entries
    assert list(back.entries) == list(table.entries)


@settings(max_examples=60, deadline=None)
@given(_tables(), st.data())
def test_any_cut_of_the_file_is_detected(table, data):
    text = format_table(table)
    cut = data.draw(st.integers(0, len(text) - 1))
    with pytest.raises(TableFormatError):
        parse_table(text[:cut])


# ------------------------------------------------------------------ OFA YAML
NOTE10_META = TableMeta("n", "note10", "cpu", None, 1, "tc", "m", "d", "s", "Apache-2.0", False)


def test_ofa_yaml_with_meta_argument_and_sidecar(tmp_path):
    text = f"{K2}:\n  count: 500\n  mean: 0.669412\n  std: 0.0774\n{K1}:\n  count: 54\n  mean: 4.81\n  std: 0.09\n"
    path = tmp_path / "224_lookup_table.yaml"
    path.write_text(text)
    with pytest.raises(TableFormatError, match="metadata missing.*224_lookup_table.meta.yaml"):
        read_table(path)
    table = read_table(path, meta=NOTE10_META)
    assert table.entries[K1] == Entry(K1, 54, 4.81, 0.09)
    (tmp_path / "224_lookup_table.meta.yaml").write_text(
        "\n".join(f"{k}: {'null' if v is None else v}" for k, v in NOTE10_META.to_dict().items() if v != ""))
    assert read_table(path).meta == NOTE10_META
    (tmp_path / "224_lookup_table.meta.yaml").write_text("name: n\ncolour: red\n")
    with pytest.raises(TableFormatError, match="unknown key.*colour.*in table metadata"):
        read_table(path)


@pytest.mark.parametrize("text, line, message", [
    (f"{K2}:\n  count: 5\n  mean: 0.6\n  sdt: 0.1\n", 4, "unknown field 'sdt'"),
    (f"{K2}:\n  count: 5\n  std: 0.1\n", 1, r"field\(s\) \['mean'\] missing"),
    (f"{K2}:\n  count: 5\n  mean: -0.6\n", 1, "mean_ms must be a finite non-negative"),
    (f"{K2}:\n  count: 5\n  mean: .nan\n", 1, "not a finite number"),
    (f"{K2}:\n  count: 5\n  mean: 0.6\n{K2}:\n  count: 5\n  mean: 0.7\n", 4, "repeats line 1 with different"),
    (f"{K2}:\n  count: 5\n  mean: [0.6\n", 4, "not valid YAML"),
    (f"- {K2}\n", 1, "expected a mapping"),
    ("bogus-key:\n  count: 5\n  mean: 0.6\n", 1, "unrecognised block key"),
])
def test_ofa_yaml_errors(text, line, message):
    with pytest.raises(TableFormatError, match=message) as info:
        parse_ofa_yaml(text, NOTE10_META, source="x.yaml")
    assert info.value.line == line


def test_real_ofa_yaml_loads_as_is(shared_data):
    import yaml

    path = shared_data / "note10" / "224_lookup_table.yaml"
    table = read_table(path, meta=NOTE10_META)
    raw = yaml.safe_load(path.read_text())  # independent reading of the same file
    assert len(table) == len(raw) == 96
    for key, value in raw.items():
        entry = table.entries[key]
        assert (entry.count, entry.mean_ms, entry.std_ms) == (value["count"], value["mean"], value["std"])


# ------------------------------------------------------------------- pooling
@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(0.1, 10.0), min_size=2, max_size=20), min_size=1, max_size=5))
def test_pool_entries_equals_statistics_of_all_runs(samples):
    entries = [Entry(K2, len(s), float(np.mean(s)), float(np.std(s, ddof=1)), min(s), max(s)) for s in samples]
    pooled = pool_entries(entries)
    runs = np.concatenate(samples)
    assert pooled.count == runs.size
    assert math.isclose(pooled.mean_ms, runs.mean(), rel_tol=1e-9)
    assert math.isclose(pooled.std_ms, np.std(runs, ddof=1), rel_tol=1e-6, abs_tol=1e-9)
    assert (pooled.min_ms, pooled.max_ms) == (runs.min(), runs.max())


def test_pool_entries_rejects_mixed_keys():
    with pytest.raises(ValueError, match="one key"):
        pool_entries([Entry(K1, 1, 1.0), Entry(K2, 1, 1.0)])
