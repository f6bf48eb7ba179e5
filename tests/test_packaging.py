"""Packaging: every data file the packages read is shipped; pyproject holds only the build system."""

import configparser
import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ofa_hw", "accel_models", "latency_tables", "hls")


def _package_data() -> dict[str, list[str]]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return {package: [p.strip() for p in patterns.split(",") if p.strip()]
            for package, patterns in config["options.package_data"].items()}


def test_every_non_python_file_is_package_data():
    patterns = _package_data()
    missing = []
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*"):
            if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(ROOT)
            owners = [p for p in patterns if relative.parts[:len(p.split("."))] == tuple(p.split("."))]
            shipped = any(fnmatch.fnmatch(str(relative.relative_to(*owner.split("."))), pattern)
                          for owner in owners for pattern in patterns[owner])
            if not shipped:
                missing.append(str(relative))
    assert not missing, f"files not listed in setup.cfg [options.package_data]: {missing}"


def test_pyproject_holds_only_the_build_system_and_tool_settings():
    """Metadata lives in setup.cfg alone; pyproject.toml has the build system and tools that only read it (ruff)."""
    text = (ROOT / "pyproject.toml").read_text()
    sections = [line.strip() for line in text.splitlines() if line.strip().startswith("[")]
    assert sections[0] == "[build-system]"
    assert all(section.startswith("[tool.ruff") for section in sections[1:])
