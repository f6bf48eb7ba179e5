"""accel_models.atomic: folders swapped in as a unit, locked while built, replaced only when they are ours."""

from __future__ import annotations

import json
import os

import pytest

from accel_models import atomic
from accel_models.atomic import OutputLockedError, atomic_directory, holds_only, output_lock


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_a_folder_is_replaced_whole_and_nothing_else_is_left(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    target = tmp_path / "out"
    for files in (["a", "b"], ["c"]):
        with atomic_directory(target, replaceable=holds_only({"a", "b", "c"})) as tmp:
            assert tmp.parent == tmp_path and tmp != target
            for name in files:
                (tmp / name).write_text(name)
    assert _names(target) == ["c"]  # the previous folder's a and b are gone with it, not mixed in
    assert _names(tmp_path) == ["out"]  # no temporary, no lock


def test_a_failure_while_building_leaves_the_previous_folder(tmp_path):
    target = tmp_path / "out"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("old")
    with pytest.raises(OSError, match="disk full"):
        with atomic_directory(target, replaceable=holds_only({"a"})) as tmp:
            (tmp / "a").write_text("new")
            raise OSError("disk full")
    assert (target / "a").read_text() == "old" and _names(tmp_path) == ["out"]


def test_the_exchange_really_swaps_two_folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "from_a").touch()
    (b / "from_b").touch()
    if not atomic._exchange(a, b):
        pytest.skip("this system or file system has no renameat2(RENAME_EXCHANGE)")
    assert _names(a) == ["from_b"] and _names(b) == ["from_a"]


def test_a_folder_being_built_is_locked(tmp_path):
    target = tmp_path / "out"
    with atomic_directory(target, what="report folder"):
        holder = json.loads((tmp_path / ".out.lock").read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(OutputLockedError, match=rf"out is in use by pid {os.getpid()}"):
            with atomic_directory(target):
                pass
    assert not (tmp_path / ".out.lock").exists()
    with output_lock(target), atomic_directory(target, replaceable=holds_only(()), locked=True) as tmp:  # held: no 2nd
        (tmp / "x").touch()
    assert _names(target) == ["x"]


def test_a_run_that_writes_nothing_leaves_no_folder_behind(tmp_path):
    target = tmp_path / "results" / "run" / "search"
    with pytest.raises(ValueError, match="bad input"):
        with output_lock(target):
            assert (tmp_path / "results" / "run" / ".search.lock").is_file()
            raise ValueError("bad input")  # e.g. a search refusing its arguments
    assert _names(tmp_path) == []  # the lock's folders were made for it, and are gone with it
    (tmp_path / "results").mkdir()
    with output_lock(target):
        target.mkdir()
    assert target.is_dir() and _names(tmp_path / "results" / "run") == ["search"]  # output kept, lock gone
    with output_lock(target):  # nothing written
        pass
    assert _names(tmp_path / "results") == ["run"]  # a folder that held something stays


def test_holds_only_names_the_foreign_entries_and_the_missing_ones(tmp_path):
    check = holds_only({"report.html", "summary.json"}, required={"summary.json"}, what="a report")
    assert check(tmp_path) is None  # empty
    (tmp_path / ".report.html.123.abc.def.tmp").touch()  # this module's temporaries and locks do not count
    (tmp_path / ".x.lock").touch()
    assert check(tmp_path) is None
    (tmp_path / "report.html").touch()
    assert check(tmp_path) == "it holds no summary.json, so it is not a report of ours; choose an empty or new folder"
    for i in range(7):
        (tmp_path / f"mine{i}.txt").touch()
    reason = check(tmp_path)
    assert reason is not None and "mine0.txt, mine1.txt, mine2.txt, mine3.txt, mine4.txt and 2 more" in reason
    units = holds_only((), suffix=".npz", what="a folder of units")
    only_npz = tmp_path / "units"
    only_npz.mkdir()
    (only_npz / "a.npz").touch()
    assert units(only_npz) is None
    (only_npz / "a.xmodel").touch()
    assert "a.xmodel" in (units(only_npz) or "")
