"""Each package's __all__ is the API the README lists, and every name in it exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
PACKAGES = ("ofa_hw", "accel_models", "latency_tables")


def _listed(package: str) -> list[str]:
    section = README.read_text().split("**Public API**", 1)[1].split("\n## ", 1)[0]
    line = re.search(rf"^- `{package}`: (.*)$", section, re.M)
    assert line is not None, f"the README's Public API list has no line for {package}"
    return re.findall(r"`([^`]+)`", line.group(1))


@pytest.mark.parametrize("package", PACKAGES)
def test_readme_lists_exactly_the_public_api(package):
    module = importlib.import_module(package)
    assert sorted(_listed(package)) == sorted(n for n in module.__all__ if n != "__version__")
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{package}.__all__ names what it does not define: {missing}"


@pytest.mark.parametrize("package", PACKAGES)
def test_internals_stay_importable_from_their_modules_but_are_not_re_exported(package):
    internals = {"ofa_hw": ("ofa_hw.space", "mutate"), "accel_models": ("accel_models.schedule", "UnitSchedule"),
                 "latency_tables": ("latency_tables.joint", "JOINT_TIED")}[package]
    module, name = internals
    assert hasattr(importlib.import_module(module), name)
    assert name not in importlib.import_module(package).__all__
