"""The board install: a fresh venv with the core package only (no torch, scipy, matplotlib, pymoo).

The wheel is built from this tree and installed with ``pip --no-index``: its dependencies must
already be satisfied by the three packages linked into the venv (numpy, pyyaml, tqdm), so a
requirement on anything else fails the install. The README's board section is then run as
written (its code block is read from the README), with the numpy runner standing in for the
DPU, and the measured table is fitted on the host. The minimum Python version the code needs
is checked with vermin against the board image's Python 3.10.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ofa_hw", "accel_models", "latency_tables", "hls")
BOARD_DEPENDENCIES = ("numpy", "PyYAML", "tqdm")
HOST_ONLY = ("torch", "scipy", "matplotlib", "pymoo", "networkx", "jsonschema")
BOARD_PYTHON = "3.10"  # PYNQ 3.x images


def readme_board_commands() -> list[str]:
    """The shell commands of the README's board block (between its ``board-install`` markers)."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- board-install -->\s*```bash\n(.*?)```", text, re.S)
    assert match, "README.md has no ```bash block after <!-- board-install -->"
    commands, pending = [], ""
    for line in match.group(1).splitlines():
        line = line.split(" # ")[0].rstrip() if not line.lstrip().startswith("#") else ""
        if not line:
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            commands.append(pending.strip())
            pending = ""
    return commands


def _link_distribution(name: str, site: Path) -> None:
    """Make an installed distribution visible in another venv (its files and its metadata)."""
    dist = importlib.metadata.distribution(name)
    tops = {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}
    source = Path(str(dist.locate_file("")))
    for top in tops:
        if (source / top).exists() and not (site / top).exists() and top != "__pycache__":
            (site / top).symlink_to(source / top)


def _clean_env(venv: Path | None = None) -> dict[str, str]:
    """This process's environment without what would make the source tree or the host venv visible."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]


@pytest.fixture(scope="module")
def board_wheel(tmp_path_factory) -> Path:
    """The pure-Python wheel of this tree, as the README builds it on the host for the board."""
    work = tmp_path_factory.mktemp("wheel")
    tree = work / "src"
    tree.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "wheels"), str(tree)],
                   check=True, cwd=work, env=_clean_env())
    return next((work / "wheels").glob("ofa_hw-*.whl"))


@pytest.fixture(scope="module")
def board_venv(tmp_path_factory, board_wheel) -> Path:
    work = tmp_path_factory.mktemp("board")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    for name in BOARD_DEPENDENCIES:
        _link_distribution(name, site)
    # --no-index: every requirement of the core install must already be met by the three packages above
    subprocess.run([*PIP, "--python", str(python), "install", "--no-index", str(board_wheel)], check=True, cwd=work,
                   env=_clean_env())
    return venv


def _run(venv: Path, command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(shlex.split(command), cwd=cwd, env=_clean_env(venv), capture_output=True, text=True)


@pytest.mark.slow
def test_the_core_install_has_no_host_packages(board_venv, tmp_path):
    probe = ("import importlib.util as u; print(','.join(m for m in " + repr(HOST_ONLY)
             + " if u.find_spec(m)))")
    result = _run(board_venv, f"python -c {shlex.quote(probe)}", tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr
    result = _run(board_venv, "ofa-hw --help", tmp_path)
    assert result.returncode == 0 and "lut" in result.stdout, result.stderr
    result = _run(board_venv, "python -c 'import ofa_hw.cli as c; print(c.__file__)'", tmp_path)
    assert str(board_venv) in result.stdout  # the installed wheel runs, not this source tree


@pytest.mark.slow
def test_readme_board_section_runs_as_written_then_fits_on_the_host(board_venv, tmp_path):
    commands = readme_board_commands()
    assert any(c.startswith("ofa-hw lut plan") for c in commands)
    assert any(c.startswith("ofa-hw lut measure") and "--runner numpy" in c for c in commands)
    host = [sys.executable, "-m", "ofa_hw.cli"]  # the host's full install (this environment)
    for command in commands:
        if command.startswith("pip install"):
            continue  # done by the fixture, from this tree's wheel and without an index
        if command.startswith("ofa-hw lut fit"):  # back on the host: calibration needs scipy
            argv = host + shlex.split(command)[1:]
            result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True,
                                    env=os.environ | {"PYTHONPATH": str(ROOT)})
        else:
            result = _run(board_venv, command, tmp_path)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    plan_bytes = sum(p.stat().st_size for p in (tmp_path / "plan").rglob("*") if p.is_file())
    n_units = len(list((tmp_path / "plan" / "units").glob("*.json")))
    assert n_units == 284 and plan_bytes < 5e6  # self-contained, no torch files (501 MB of .pt2 before)

    pynq = _run(board_venv, "ofa-hw lut measure --plan plan --xmodels compiled --out pynq.csv --board ultra96v2 "
                            "--dpu-arch B1600 --toolchain 'Vitis AI 2.5'", tmp_path)
    assert pynq.returncode == 2 and pynq.stderr.count("pip3 install pynq-dpu --no-build-isolation") == 1

    # the host's fit (README step 4) read the board's table and wrote a predictor the search takes
    import hashlib
    import json

    from latency_tables import load_table

    table = load_table(tmp_path / "my_board.csv")
    assert len(table) == n_units and table.meta.space == "ofa-mbv3-w1.2" and table.meta.per_entry_invocation
    record = json.loads((tmp_path / "my_board.json").read_text())
    assert record["kind"] == "table" and record["few_shot"]
    assert record["sha256"] == hashlib.sha256((tmp_path / "my_board.csv").read_bytes()).hexdigest()


#: The numpy a PYNQ 3.x image ships: Ubuntu 22.04's python3-numpy 1:1.21.5 (Xilinx/PYNQ
#: sdbuild/ubuntu/jammy/aarch64/multistrap.config installs it with python3-scipy, python3-matplotlib & co.; the
#: pynq venv is made with --system-site-packages and its requirements.txt pins no numpy).
IMAGE_NUMPY = "1.21.5"
#: Its PyYAML: Ubuntu 22.04's python3-yaml 5.4.1 (netplan.io's dependency: ubuntu-minimal, in the same multistrap
#: list, pulls it in). PyPI has no Python 3.10 wheel of
#: 5.4.1 and its sdist does not build with Cython 3: the stand-in builds it with Cython < 3, as a constraint.
IMAGE_PYYAML = "5.4.1"
#: Its tqdm: PYNQ's sdbuild/packages/python_packages_jammy/requirements.txt pins 4.64.0.
IMAGE_TQDM = "4.64.0"


def _board_python() -> str | None:
    """A working Python of the board image's minor version (3.10) on this machine, if there is one."""
    candidates = [*map(str, sorted(Path.home().glob(f".pyenv/versions/{BOARD_PYTHON}.*/bin/python"))),
                  shutil.which(f"python{BOARD_PYTHON}")]
    check = f"import sys; assert sys.version_info[:2] == ({BOARD_PYTHON.replace('.', ', ')})"
    return next((c for c in candidates if c and subprocess.run([c, "-c", check], capture_output=True).returncode == 0),
                None)


def test_the_core_install_accepts_the_numpy_of_a_pynq_image():
    import configparser

    from packaging.requirements import Requirement

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    core = {r.name.lower(): r for r in (Requirement(line) for line in
                                        config["options"]["install_requires"].splitlines() if line.strip())}
    for name, image in (("numpy", IMAGE_NUMPY), ("pyyaml", IMAGE_PYYAML), ("tqdm", IMAGE_TQDM)):
        assert core[name].specifier.contains(image), f"{core[name]} would make pip replace the image's {name} {image}"


@pytest.mark.slow
def test_the_board_path_runs_on_the_pynq_image_s_python_and_numpy(board_wheel, tmp_path):
    python = _board_python()
    if python is None:
        pytest.skip(f"no Python {BOARD_PYTHON} here to stand in for the board image's")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    (tmp_path / "build-constraints.txt").write_text("cython<3\n")
    setup = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet",
                            "install", f"numpy=={IMAGE_NUMPY}", f"pyyaml=={IMAGE_PYYAML}", f"tqdm=={IMAGE_TQDM}"],
                           capture_output=True, text=True,
                           env=_clean_env() | {"PIP_CONSTRAINT": str(tmp_path / "build-constraints.txt")})
    if setup.returncode != 0:
        pytest.skip(f"could not install the image's numpy, PyYAML and tqdm for Python {BOARD_PYTHON} "
                    f"(no package index?): {setup.stderr[-300:]}")
    # --no-index: the wheel must install over the image's numpy as it is, not pull another
    subprocess.run([*PIP, "--python", str(venv / "bin" / "python"), "install", "--no-index", str(board_wheel)],
                   check=True, env=_clean_env())
    for command in ("ofa-hw lut plan --space ofa-mbv3-w1.2 --resolutions 160 --out plan --quiet",
                    "ofa-hw lut compile-numpy --plan plan --out compiled",
                    "ofa-hw lut measure --plan plan --xmodels compiled --out board.csv --runner numpy --board host "
                    "--dpu-arch numpy-int8 --toolchain numpy --warmup 1 --runs 2"):
        result = _run(venv, command, tmp_path)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    version = _run(venv, "python -c 'import sys, numpy, yaml, tqdm; print(sys.version_info[:2], numpy.__version__, "
                         "yaml.__version__, tqdm.__version__)'", tmp_path)
    assert version.stdout.split(")")[-1].split() == [IMAGE_NUMPY, IMAGE_PYYAML, IMAGE_TQDM], version.stdout
    assert f"(3, {BOARD_PYTHON[2:]}" in version.stdout
    from latency_tables import load_table
    from latency_tables.harness import read_plan

    table = load_table(tmp_path / "board.csv")
    assert set(table.keys()) == {unit.key for unit in read_plan(tmp_path / "plan").units}  # every unit measured
    host = subprocess.run([sys.executable, "-m", "ofa_hw.cli", "lut", "compile-numpy", "--plan", "plan", "--out",
                           "host"], cwd=tmp_path, capture_output=True, text=True,
                          env=os.environ | {"PYTHONPATH": str(ROOT)})
    assert host.returncode == 0, host.stderr
    import numpy as np

    for board_file in sorted((tmp_path / "compiled").glob("*.npz")):  # the int8 stand-ins: the same arrays
        with np.load(board_file) as board, np.load(tmp_path / "host" / board_file.name) as ours:
            assert sorted(board.files) == sorted(ours.files)
            assert all(board[k].dtype == ours[k].dtype and np.array_equal(board[k], ours[k]) for k in board.files)


def test_minimum_python_is_the_board_image_s():
    vermin = shutil.which("vermin") or shutil.which("vermin", path=sysconfig.get_path("scripts"))
    if vermin is None:
        pytest.skip("vermin is not installed")
    result = subprocess.run([vermin, "--no-tips", "--violations", f"--target={BOARD_PYTHON}-", "--eval-annotations",
                             *[str(ROOT / p) for p in PACKAGES]], capture_output=True, text=True)
    # with --violations, vermin fails (exit 1) on any file that needs a newer Python than the target
    assert result.returncode == 0, result.stdout + result.stderr
    minimum = re.search(r"Minimum required versions: ([\d.]+)", result.stdout)
    assert minimum and tuple(map(int, minimum.group(1).split("."))) <= (3, 10), result.stdout
    setup = (ROOT / "setup.cfg").read_text()
    assert f"python_requires = >={BOARD_PYTHON}" in setup


def test_metadata_keeps_host_packages_off_the_board():
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    core = {re.split(r"[<>=!~ ;\[]", line.strip())[0].lower()
            for line in config["options"]["install_requires"].splitlines() if line.strip()}
    assert core == {"numpy", "pyyaml", "tqdm"}
    extras = config["options.extras_require"]
    assert extras["board"].strip() == ""  # pynq / pynq_dpu come with the image, never from PyPI
    host = {re.split(r"[<>=!~ ;\[]", line.strip())[0].lower() for line in extras["host"].splitlines() if line.strip()}
    assert {"scipy", "torch", "matplotlib", "pymoo", "networkx"} <= host
    assert "ofa-hw[host]" in extras["dev"].split()  # the README's first command installs everything


def test_plan_and_help_work_without_host_packages(tmp_path, monkeypatch, capsys):
    for name in HOST_ONLY:  # importing any of them now fails, as on a board
        monkeypatch.setitem(sys.modules, name, None)
    for name in [m for m in sys.modules if m.split(".")[0] in {"ofa_hw", "accel_models", "latency_tables"}]:
        monkeypatch.delitem(sys.modules, name)
    from ofa_hw.cli import main

    assert main(["--help"]) == 0 and "lut" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="outside the range OFA was trained on"):
        assert main(["lut", "plan", "--resolutions", "64", "--out", str(tmp_path / "p"), "--quiet"]) == 0
    manifest = (tmp_path / "p" / "manifest.json").read_text()
    assert '"module_factory": "ofa_hw.torch_model:build_unit_model"' in manifest
    with pytest.warns(UserWarning):
        assert main(["lut", "plan", "--resolutions", "64", "--out", str(tmp_path / "q"), "--models"]) == 2
    assert "--models exports torch programs and needs torch" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()
