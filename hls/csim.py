"""``hls.csim``: compile an export with g++, run its testbench, compare every layer bit for bit."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import CompilerNotFoundError, CsimError

__all__ = ["DEFAULT_FLAGS", "CsimReport", "LayerCheck", "LayerCycles", "csim", "csim_script", "find_compiler"]

#: Compiler flags of the C-simulation (pragmas and loop labels are for Vitis HLS; g++ need not warn about them).
DEFAULT_FLAGS = ("-O2", "-std=c++11", "-Wall", "-Wextra", "-Wno-unknown-pragmas", "-Wno-unused-label")
#: Environment variable naming the compiler when ``compiler=`` is not given.
COMPILER_ENV = "OFA_HW_CXX"
_SOURCES = ("tb.cpp", "top.cpp")
_LAYER_LINE = re.compile(r"^LAYER (\S+) (\d+) (\d+) (\d+) (-?\d+)$")
_CYCLES_LINE = re.compile(r"^CYCLES (\S+) (\d+) (\d+) (\d+) (\d+)$")


@dataclass(frozen=True)
class LayerCheck:
    """One layer's output against its golden tensor."""

    name: str
    elements: int
    mismatches: int
    max_abs_diff: int
    first_mismatch: int  # element index, -1 when none


@dataclass(frozen=True)
class LayerCycles:
    """The engine's cycle count of one layer, as the C-simulation's counter made it."""

    name: str
    cycles: int
    compute_cycles: int
    transfer_cycles: int
    ddr_bytes: int


@dataclass(frozen=True)
class CsimReport:
    """Outcome of one C-simulation.

    ``passed`` means every layer matched bit for bit.  ``compile_s`` is the
    wall time of compiling and linking, ``run_s`` of the testbench process,
    ``kernel_us`` of the ``ofa_engine()`` call alone (measured inside it);
    ``cycles`` the engine's cycle count per layer.
    """

    passed: bool
    layers: tuple[LayerCheck, ...]
    cycles: tuple[LayerCycles, ...]
    compile_s: float
    run_s: float
    kernel_us: int
    compiler: str
    compiler_version: str
    executable: str
    compiler_output: str = ""

    @property
    def compiler_warnings(self) -> int:
        """Warnings g++ printed (the generated C++ is meant to compile cleanly under ``-Wall``)."""
        return self.compiler_output.count("warning:")

    @property
    def mismatches(self) -> int:
        """Values that differ from the golden tensors, over every layer."""
        return sum(layer.mismatches for layer in self.layers)

    @property
    def failed_layers(self) -> tuple[LayerCheck, ...]:
        """The layers with at least one differing value."""
        return tuple(layer for layer in self.layers if layer.mismatches)

    def summary(self) -> str:
        """One line: pass / fail, values, cycles, compile and run time, compiler."""
        status = "PASS (bit-exact)" if self.passed else f"FAIL ({len(self.failed_layers)} layer(s) differ)"
        return (f"csim {status}: {len(self.layers)} layers, {sum(c.elements for c in self.layers):,} values, "
                f"{self.mismatches} mismatches; {self.total_cycles:,} engine cycles; compile {self.compile_s:.2f} s, "
                f"run {self.run_s:.3f} s (ofa_engine {self.kernel_us / 1e3:.1f} ms); {self.compiler_version}")

    @property
    def total_cycles(self) -> int:
        """The engine's cycles for the whole network (C-simulation counter)."""
        return sum(c.cycles for c in self.cycles)


def find_compiler(compiler: str | os.PathLike | None = None) -> str:
    """Absolute path of the C++ compiler: ``compiler``, else ``$OFA_HW_CXX``, else ``g++`` on the PATH."""
    name = str(compiler) if compiler is not None else os.environ.get(COMPILER_ENV, "g++")
    found = shutil.which(name)
    if found is None:
        raise CompilerNotFoundError(
            f"C++ compiler {name!r} not found{' on the PATH' if os.sep not in name else ''}; install g++ "
            f"(e.g. 'apt-get install g++') or pass compiler= / set ${COMPILER_ENV} to its path"
        )
    return found


def csim_script(flags: Sequence[str] = DEFAULT_FLAGS) -> str:
    """``csim.sh`` of an export: the same build and run as :func:`csim`, for use without Python."""
    return (
        "#!/bin/sh\n"
        "# C-simulation of this export through the synthesis top ofa_engine() (what hls.csim runs).\n"
        "set -e\ncd \"$(dirname \"$0\")\"\nCXX=${CXX:-g++}\nmkdir -p build\n"
        f"$CXX {' '.join(flags)} -I. {' '.join(_SOURCES)} -o build/csim\nexec build/csim .\n"
    )


def _compile(cxx: str, root: Path, build: Path, sources: list[str], defines: list[str], flags: Sequence[str],
             jobs: int, timeout_s: float, tag: str) -> tuple[Path, str]:
    objects, pending, messages = [], list(sources), []
    running: list[tuple[subprocess.Popen, str]] = []
    deadline = time.monotonic() + timeout_s

    def reap(proc, source):
        try:
            _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            raise CsimError(f"compiling {source} took longer than {timeout_s:.0f} s") from None
        if proc.returncode:
            tail = err.decode(errors="replace")[-4000:]
            raise CsimError(f"{cxx} failed on {source} (exit {proc.returncode}):\n{tail}")
        messages.append(err.decode(errors="replace"))

    # Translation units compile in parallel: the weight headers of a large network take seconds each.
    while pending or running:
        while pending and len(running) < max(1, jobs):
            source = pending.pop(0)
            obj = build / f"{Path(source).stem}.{tag}.o"
            objects.append(obj)
            cmd = [cxx, *flags, *defines, "-I", str(root), "-c", str(root / source), "-o", str(obj)]
            running.append((subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE), source))
        proc, source = running.pop(0)
        reap(proc, source)
    exe = build / f"csim_{tag}"
    link = subprocess.run([cxx, *flags, *(str(o) for o in objects), "-o", str(exe)], capture_output=True,
                          timeout=max(1.0, deadline - time.monotonic()))
    if link.returncode:
        raise CsimError(f"linking failed (exit {link.returncode}):\n{link.stderr.decode(errors='replace')[-4000:]}")
    return exe, "".join(messages) + link.stderr.decode(errors="replace")


def csim(out_dir: str | os.PathLike, compiler: str | os.PathLike | None = None,
         flags: Sequence[str] = DEFAULT_FLAGS, build_dir: str | os.PathLike | None = None, jobs: int = 2,
         timeout_s: float = 1800.0) -> CsimReport:
    """C-simulate the export in ``out_dir`` through its synthesis top ``ofa_engine()``.

    The export is loaded first (schema and every sha256 verified), then
    ``tb.cpp`` and ``top.cpp`` are compiled with ``compiler`` and ``flags``; the
    testbench puts the golden input, the packed weights and the program in
    DDR-like buffers, calls ``ofa_engine()`` and compares every layer's output
    with its golden tensor.

    Parameters
    ----------
    out_dir : path
        An export written by :func:`hls.export`.
    compiler : str or path, optional
        Default ``$OFA_HW_CXX`` or ``g++``.  Missing -> :class:`CompilerNotFoundError`.
    build_dir : path, optional
        Where objects and the executable go (default ``out_dir/build``).
    jobs : int
        Translation units compiled in parallel.

    Returns
    -------
    CsimReport
        ``passed`` is False when any value differs; compile or run failures
        raise :class:`CsimError`.
    """
    from .loader import load

    cxx = find_compiler(compiler)
    project = load(out_dir)
    root = project.path
    build = Path(build_dir) if build_dir is not None else root / "build"
    build.mkdir(parents=True, exist_ok=True)
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.splitlines()
    started = time.perf_counter()
    exe, compiler_output = _compile(cxx, root, build, list(_SOURCES), [], flags, jobs, timeout_s, "engine")
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    try:
        run = subprocess.run([str(exe), str(root)], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise CsimError(f"the testbench ran longer than {timeout_s:.0f} s") from None
    run_s = time.perf_counter() - started
    if run.returncode not in (0, 1):
        raise CsimError(f"the testbench failed (exit {run.returncode}):\n{run.stderr[-4000:]}")
    checks, cycles, kernel_us = _parse(run.stdout, [layer["name"] for layer in project.manifest["layers"]])
    passed = run.returncode == 0 and all(c.mismatches == 0 for c in checks)
    return CsimReport(passed, checks, cycles, compile_s, run_s, kernel_us, cxx,
                      version[0] if version else "unknown", str(exe), compiler_output)


def _parse(stdout: str, expected: list[str]) -> tuple[tuple[LayerCheck, ...], tuple[LayerCycles, ...], int]:
    checks, cycles, kernel_us = [], [], None
    for line in stdout.splitlines():
        match = _LAYER_LINE.match(line)
        if match:
            name, *numbers = match.groups()
            checks.append(LayerCheck(name, *(int(n) for n in numbers)))
        elif (match := _CYCLES_LINE.match(line)):
            name, *numbers = match.groups()
            cycles.append(LayerCycles(name, *(int(n) for n in numbers)))
        elif line.startswith("RUNTIME_US "):
            kernel_us = int(line.split()[1])
    names = [c.name for c in checks]
    if names != expected or [c.name for c in cycles] != expected or kernel_us is None:
        raise CsimError(f"the testbench reported {len(names)} of {len(expected)} layers (or no cycles or run time); "
                        f"output ends with:\n{stdout[-2000:]}")
    return tuple(checks), tuple(cycles), kernel_us
