"""Every README snippet and command runs as written.

The snippets are parsed from ``README.md`` when the test runs (not copied
here), so whatever the README says at that moment is what is tested:

* fenced ``python`` blocks are executed, fenced ``bash`` blocks and inline
  `` `ofa-hw ...` `` / `` `python -m ...` `` spans are run (``ofa-hw`` in-process
  through :func:`ofa_hw.cli.main`), each scenario in a fresh folder;
* synopses (placeholders such as ``B``, ``DIR``, ``[--fps F]``) are checked
  to name real sub-commands and options (``--help``);
* board-only steps run with the numpy stand-in: Vitis AI's compile step is
  replaced by ``ofa-hw lut compile-numpy`` and ``lut measure`` gets
  ``--runner numpy``; nothing else is changed;
* ``pip install`` lines are what ``.ci/run`` executes, ``python -m pytest`` is
  this suite itself: both are listed, not run.

Long scenarios (the full search + export + C-simulation, the full board
plan, the benchmarks) are marked slow; ``.ci/run`` runs them.  A
``python -m benchmarks`` command runs with ``--quick`` (the same code on
smaller problems): the figures themselves are the benchmarks' job, and their
full runs take longer than a CI run may.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from ofa_hw.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
#: An inline command (it may wrap onto the next README line, as Markdown allows).
INLINE = re.compile(r"`((?:ofa-hw|python -m|pip install|python3 -m) [^`]+)`")


@dataclass(frozen=True)
class Snippet:
    kind: str  # "python" or "shell"
    text: str
    section: str
    offset: int  # position in the section text (README order)
    fenced: bool = True  # False: an inline `command` in the prose


def sections() -> dict[str, str]:
    """README text by ``## `` heading (the text before the first heading is ``""``)."""
    parts = re.split(r"^## (.+)$", README.read_text(encoding="utf-8"), flags=re.M)
    return {"": parts[0], **{parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}}


def snippets(section: str, text: str) -> list[Snippet]:
    """Python blocks, shell commands of bash blocks and inline commands, in README order."""
    found = []
    for match in FENCE.finditer(text):
        lang, body = match.group("lang"), textwrap.dedent(match.group("body"))
        if lang == "python":
            found.append(Snippet("python", body, section, match.start()))
        elif lang in ("bash", "sh", "shell", "console"):
            for line in body.splitlines():
                for command in line.split("&&"):
                    if command.strip():
                        found.append(Snippet("shell", command.strip(), section, match.start()))
    outside = FENCE.sub(lambda m: " " * len(m.group(0)), text)
    for match in INLINE.finditer(outside):
        text = " ".join(match.group(1).replace("\\|", "|").split())
        found.append(Snippet("shell", text, section, match.start(), fenced=False))
    return sorted(found, key=lambda s: s.offset)


def all_snippets() -> list[Snippet]:
    return [s for name, text in sections().items() for s in snippets(name, text)]


def is_synopsis(command: str) -> bool:
    """A usage line or a mention, checked with ``--help`` rather than run.

    Usage lines have placeholders (``B``, ``DIR``, ``SUBNET.json``, ``[--fps F]``,
    ``plan | measure``); a mention names a command or a flag with no values
    (``ofa-hw export``, ``ofa-hw search --raw-accuracy``).
    """
    tokens = shlex.split(command)
    if any(t.startswith("[") or "|" in t or re.fullmatch(r"[A-Z][A-Z_]*(\.json|\.csv)?", t) for t in tokens):
        return True
    if tokens[0] != "ofa-hw" or not all(re.fullmatch(r"-{0,2}[a-z][a-z0-9-]*", t) for t in tokens[1:]):
        return False
    # a mention: sub-command words, then flags only; a word after an option is its value, so the command runs
    first_option = next((i for i, t in enumerate(tokens) if t.startswith("-")), len(tokens))
    return all(t.startswith("-") for t in tokens[first_option:])


def skip_reason(command: str) -> str | None:
    """Why a concrete command is listed, not run (None: it runs)."""
    if command.startswith("pip install") or " pip install" in command:
        return "an install step: .ci/run performs it"
    if command.startswith(("python3 -m venv", ". .venv")):
        return "environment setup: .ci/run performs it"
    if re.match(r"python3? -m pytest", command):
        return "this test suite itself"
    return None


def run_shell(command: str, cwd: Path) -> None:
    """Run one README command in ``cwd``: ``ofa-hw`` in-process, ``python -m`` as a subprocess."""
    tokens = shlex.split(command)
    if tokens[0] == "ofa-hw":
        previous = Path.cwd()
        os.chdir(cwd)
        try:
            code = main(tokens[1:])
        finally:
            os.chdir(previous)
        assert code == 0, f"README command failed with exit code {code}: {command}"
        return
    if tokens[1:3] == ["-m", "benchmarks"] and "--quick" not in tokens:
        tokens.append("--quick")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *tokens[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=3600)
    assert done.returncode == 0, f"README command failed: {command}\n{done.stderr[-2000:]}"


def run_python(code: str, cwd: Path) -> None:
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            exec(compile(code, f"README.md python block in {cwd.name}", "exec"), {"__name__": "__readme__"})
    finally:
        os.chdir(previous)


def on_the_numpy_runner(command: str, cwd: Path) -> str:
    """A board-only ``lut measure`` on the numpy stand-in: compile the plan's units in numpy, add ``--runner numpy``."""
    tokens = shlex.split(command)
    if tokens[:3] != ["ofa-hw", "lut", "measure"] or "--runner" in tokens:
        return command
    plan, xmodels = tokens[tokens.index("--plan") + 1], tokens[tokens.index("--xmodels") + 1]
    run_shell(f"ofa-hw lut compile-numpy --plan {plan} --out {xmodels}", cwd)
    return f"{command} --runner numpy"


# ------------------------------------------------------------------- tests
def test_the_readme_has_the_snippets_these_tests_run():
    found = all_snippets()
    assert sum(s.kind == "python" for s in found) >= 2
    concrete = [s for s in found if s.kind == "shell" and not is_synopsis(s.text) and not skip_reason(s.text)]
    assert any(s.text.startswith("ofa-hw search") for s in concrete)
    assert any(s.text.startswith("ofa-hw lut measure") for s in concrete)
    board, off_board, python = board_workflow()
    assert board and off_board and python


def board_workflow() -> tuple[list[str], list[str], list[str]]:
    """"Measuring a new board": its inline commands (the steps on a board), its command block (the same
    workflow anywhere, on the numpy stand-in) and its Python blocks (calibrate and search)."""
    found = snippets("", sections()["Measuring a new board"])
    board = [s.text for s in found if s.kind == "shell" and not s.fenced]
    block = [s.text for s in found if s.kind == "shell" and s.fenced]
    python = [s.text for s in found if s.kind == "python"]

    def runnable(commands):
        return [c for c in commands if not is_synopsis(c) and not skip_reason(c)]

    return runnable(board), runnable(block), python


@pytest.mark.parametrize("command", sorted({s.text for s in all_snippets() if s.kind == "shell" and
                                            is_synopsis(s.text) and s.text.startswith("ofa-hw")}))
def test_synopses_name_real_commands_and_options(command, capsys):
    """``ofa-hw search --board B --latency-ms L [--fps F] ...``: the command and every option exist."""
    tokens = shlex.split(command)
    words = [t for t in tokens[1:] if re.fullmatch(r"[a-z][a-z-]*", t)]
    path = []
    for word in words:  # the sub-command path: leading plain words (``lut plan``), alternatives after ``|``
        path.append(word)
        if main([*path, "--help"]) != 0:
            path.pop()
            break
    # ``lut plan | measure | show``: sibling sub-commands (a ``|`` after a top-level command is a shell pipe)
    alternatives = [tokens[i + 1] for i, t in enumerate(tokens[:-1]) if t == "|" and len(path) > 1
                    and re.fullmatch(r"[a-z-]+", tokens[i + 1])]
    for alternative in alternatives:
        assert main([*path[:-1], alternative, "--help"]) == 0, f"{command}: no sub-command {alternative!r}"
    assert main([*path, "--help"]) == 0
    usage = capsys.readouterr().out
    for option in re.findall(r"(--[a-z][a-z-]*)", command):
        assert option in usage, f"{command}: {' '.join(path)} has no option {option}"


def test_skipped_commands_are_only_installs_and_the_suite():
    skipped = {s.text: skip_reason(s.text) for s in all_snippets() if s.kind == "shell" and skip_reason(s.text)}
    assert all(reason for reason in skipped.values())
    assert not [s for s in skipped if s.startswith("ofa-hw")]


def test_main_job(tmp_path):
    """The first command block: the search the README's first command runs (the install steps are .ci/run's)."""
    commands = [s.text for s in snippets("", sections()["Set up and run the main job"]) if s.kind == "shell"
                and not skip_reason(s.text) and not is_synopsis(s.text)]
    assert commands
    for command in commands:
        run_shell(command, tmp_path)
    assert (tmp_path / "results" / "search" / "result.json").is_file()
    assert (tmp_path / "results" / "search" / "report" / "report.html").is_file()


@pytest.mark.slow  # 284 units timed in numpy: about a minute on two cores
def test_board_workflow_off_board(tmp_path):
    """"Measuring a new board" anywhere: its command block on the numpy stand-in, then its Python."""
    _, commands, python = board_workflow()
    assert any("--runner numpy" in c for c in commands)
    for command in commands:
        run_shell(command, tmp_path)
    for block in python:
        run_python(block, tmp_path)


@pytest.mark.slow
def test_board_workflow_as_written(tmp_path):
    """The numbered board steps as written, the board's measurement on the numpy stand-in, then the Python."""
    commands, _, python = board_workflow()
    for command in commands:
        run_shell(on_the_numpy_runner(command, tmp_path), tmp_path)
    for block in python:
        run_python(block, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("section", [name for name, text in sections().items()
                                     if name not in ("", "Set up and run the main job", "Measuring a new board")
                                     and any(s.kind == "python" or (not is_synopsis(s.text) and not skip_reason(s.text))
                                             for s in snippets(name, text))])
def test_other_sections_run_as_written(section, tmp_path):
    """Every other section's snippets, in README order, in one folder (the Python example, the benchmarks)."""
    for snippet in snippets(section, sections()[section]):
        if snippet.kind == "python":
            run_python(snippet.text, tmp_path)
        elif not is_synopsis(snippet.text) and not skip_reason(snippet.text):
            run_shell(snippet.text, tmp_path)
