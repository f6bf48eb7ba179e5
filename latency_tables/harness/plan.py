"""Measurement plans: the units a board must time, as files ready for the vendor toolchain.

A plan folder is complete by itself and needs no torch to read:

* ``manifest.json`` (format :data:`PLAN_FORMAT`: the space, resolutions, seed,
  the module factory that builds a unit as a torch module, one record per unit);
* ``units/<name>.json`` (format :data:`UNIT_FORMAT`), one per unit: its key,
  input and output shapes, MACs and every layer (:meth:`accel_models.Layer.to_dict`),
  a few kB each (the 284 units of OFA-MobileNetV3 w1.2 at 160-224 take about 1 MB);
* ``quantize_units.py``, which builds each unit from its key with the module factory
  and runs Vitis AI's quantizer on it (inside the Vitis AI docker);
* ``README.md`` with the host and board commands.

``torch.export`` programs (``.pt2``) and ONNX models of the units, which carry float
weights (about 1.8 MB a unit), are written only on request (``models=True``).
This module takes plain unit keys (it never imports ``ofa_hw``): the caller decides
which units a search space needs and how a unit becomes a torch module.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from accel_models.atomic import atomic_directory, atomic_write_text, check_replaceable, holds_only
from accel_models.blocks import BlockSpec
from accel_models.validation import reject_unknown_keys

__all__ = ["PLAN_FORMAT", "UNIT_FORMAT", "Plan", "PlanUnit", "read_plan", "unit_name", "write_plan"]

PLAN_FORMAT = "ofa-hw-lut-plan/1"
UNIT_FORMAT = "ofa-hw-lut-unit/1"
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
MANIFEST = "manifest.json"
# A plan folder is replaced as a unit, so only one holding nothing but a plan: measurements kept beside it
# (compiled/, quantized/, table.csv, as the plan's README suggests) make --force refuse instead of losing them.
_replaceable_plan = holds_only({MANIFEST, "units", "README.md", "quantize_units.py"}, required={MANIFEST},
                               what="a measurement plan")
_UNIT_FIELDS = ("name", "key", "files")
_PLAN_FIELDS = ("format", "space", "resolutions", "seed", "module_factory", "units")


def unit_name(key: str) -> str:
    """A file-safe name for a unit key (letters, digits, ``x`` and ``_``).

    >>> unit_name("Conv-input:224x224x3-output:112x112x24")
    'Conv_input_224x224x3_output_112x112x24'
    """
    return re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_")


@dataclass(frozen=True)
class PlanUnit:
    """One unit to measure: its key, file-safe name and plan files (kind -> path relative to the plan)."""

    name: str
    key: str
    files: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        BlockSpec.from_key(self.key)
        if self.name != unit_name(self.key):
            raise ValueError(f"unit {self.key!r}: name must be {unit_name(self.key)!r}, got {self.name!r}")
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))

    @property
    def spec(self) -> BlockSpec:
        """The unit as a :class:`~accel_models.BlockSpec` (from its key)."""
        return BlockSpec.from_key(self.key)

    def to_dict(self) -> dict:
        """The manifest record: name, key, files and, derived from the key, shapes, MACs, layer count."""
        spec = self.spec
        layers = spec.layers()
        return {"name": self.name, "key": self.key, "files": dict(self.files),
                "input_shape": list(spec.in_shape), "output_shape": list(spec.out_shape),
                "macs": sum(layer.macs for layer in layers), "layers": len(layers)}

    @classmethod
    def from_dict(cls, data: Mapping) -> PlanUnit:
        """Read a manifest record; unknown fields are an error, derived ones are recomputed."""
        derived = {"input_shape", "output_shape", "macs", "layers"}  # recomputed from the key
        reject_unknown_keys(data, [*_UNIT_FIELDS, *sorted(derived)], "a plan unit")
        return cls(data["name"], data["key"], data.get("files", {}))


@dataclass(frozen=True)
class Plan:
    """The units a table needs, in measurement order (``directory`` is where it was read from, if anywhere)."""

    units: tuple[PlanUnit, ...]
    space: str = ""
    resolutions: tuple[int, ...] = ()
    seed: int = 0
    module_factory: str = ""
    directory: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", tuple(self.units))
        object.__setattr__(self, "resolutions", tuple(int(r) for r in self.resolutions))
        if self.module_factory and not _FACTORY.match(self.module_factory):
            raise ValueError(f"module_factory must be 'package.module:function', got {self.module_factory!r}")
        seen: set[str] = set()
        for unit in self.units:
            if unit.key in seen:
                raise ValueError(f"plan lists unit {unit.key!r} twice")
            seen.add(unit.key)

    @classmethod
    def from_keys(cls, keys: Iterable[str], **kwargs) -> Plan:
        """A plan of the distinct ``keys`` in first-seen order (no files).

        >>> Plan.from_keys(["Logits-input:1x1x8-output:4"] * 2).keys()
        ['Logits-input:1x1x8-output:4']
        """
        if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):  # a str would be its characters
            raise TypeError(f"Plan.from_keys takes a list of unit keys, got {type(keys).__name__} {keys!r}"[:300])
        distinct = dict.fromkeys(keys)
        if not distinct:
            raise ValueError("Plan.from_keys: a plan needs at least one unit key")
        return cls(tuple(PlanUnit(unit_name(key), key) for key in distinct), **kwargs)

    def __len__(self) -> int:
        return len(self.units)

    def keys(self) -> list[str]:
        """The unit keys in measurement order."""
        return [unit.key for unit in self.units]

    def to_dict(self) -> dict:
        """The manifest (format :data:`PLAN_FORMAT`)."""
        return {"format": PLAN_FORMAT, "space": self.space, "resolutions": list(self.resolutions), "seed": self.seed,
                "module_factory": self.module_factory, "units": [unit.to_dict() for unit in self.units]}

    @classmethod
    def from_dict(cls, data: Mapping, directory: Path | None = None) -> Plan:
        """Read a manifest; unknown fields or another format are an error."""
        reject_unknown_keys(data, list(_PLAN_FIELDS), "a plan")
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(f"plan format must be {PLAN_FORMAT!r}, got {data.get('format')!r}")
        return cls(tuple(PlanUnit.from_dict(u) for u in data.get("units", ())), data.get("space", ""),
                   tuple(data.get("resolutions", ())), int(data.get("seed", 0)), data.get("module_factory", ""),
                   directory)


def read_plan(directory: str | os.PathLike) -> Plan:
    """The plan in ``directory`` (its ``manifest.json``)."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no measurement plan in {str(directory)!r}: {MANIFEST} is missing "
                                "(create one with `ofa-hw lut plan`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    try:
        return Plan.from_dict(data, directory)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def _factory_name(factory: Callable | str) -> str:
    return factory if isinstance(factory, str) else f"{factory.__module__}:{factory.__qualname__}"


def _unit_file(unit: PlanUnit, seed: int) -> str:
    """The self-contained description of one unit: what it computes, layer by layer (no weights)."""
    return json.dumps({"format": UNIT_FORMAT, **unit.to_dict(), "seed": seed,
                       "layers": [layer.to_dict() for layer in unit.spec.layers()]}, indent=1) + "\n"


def write_plan(
    plan: Plan,
    out_dir: str | os.PathLike,
    *,
    module_factory: Callable | str | None = None,
    models: bool = False,
    onnx: bool | None = None,
    unit_files: bool = True,
    overwrite: bool = False,
    progress: bool = True,
) -> Plan:
    """Write ``plan`` into ``out_dir``: unit descriptions, manifest, quantize script and README.

    Parameters
    ----------
    plan : Plan
        The units (e.g. ``Plan.from_keys(keys, space=..., resolutions=...)``).
    module_factory : callable or str, optional
        ``factory(key, seed=...) -> torch.nn.Module`` for one unit, or its
        ``"package.module:function"`` name; recorded in the manifest for
        ``quantize_units.py``. Without it the plan has no quantize script (the
        README says how to bring your own modules).
    models : bool
        Also export each unit as a ``torch.export`` program (needs torch and a
        callable ``module_factory``).
    onnx : bool, optional
        With ``models``, also export ONNX models; ``None`` does so when ``onnx`` is installed.
    unit_files : bool
        Write ``units/<name>.json`` (default); ``False`` writes the manifest alone.
    overwrite : bool
        Replace an existing plan in ``out_dir`` (as a unit: the folder is built
        as a temporary sibling and swapped into place; a plan folder that also
        holds other files, such as measurements, is refused).

    Returns
    -------
    Plan
        The plan as written (with its files and directory).
    """
    out = Path(out_dir)
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise FileExistsError(f"{out} holds files but no plan ({MANIFEST}): a plan is written into a new or empty "
                              "folder only, so nothing of yours is mixed or replaced")
    if (out / MANIFEST).exists() and not overwrite:
        raise FileExistsError(f"{out} already holds a plan ({MANIFEST}); replace it with --force "
                              "(Python: overwrite=True)")
    if onnx and not models:
        raise ValueError("onnx=True exports models: pass models=True (and a module_factory) as well")
    if models and not callable(module_factory):
        raise ValueError("models=True needs a callable module_factory to build the units")
    if models and importlib.util.find_spec("torch") is None:
        raise ValueError("exporting unit models needs torch (pip install torch); the plan without them is complete: "
                         "quantize_units.py builds each unit from its key inside the Vitis AI docker")
    if onnx is None:
        onnx = models and importlib.util.find_spec("onnx") is not None
    check_replaceable(out, replaceable=_replaceable_plan, what="plan folder")  # before any unit is exported
    factory_name = _factory_name(module_factory) if module_factory is not None else plan.module_factory
    units = []
    from tqdm.auto import tqdm

    with atomic_directory(out, replaceable=_replaceable_plan, what="plan folder") as tmp:
        (tmp / "units").mkdir()
        for unit in tqdm(plan.units, desc="lut plan", unit="unit", disable=not progress):
            files: dict[str, str] = {}
            if unit_files:
                files["spec"] = f"units/{unit.name}.json"
                atomic_write_text(tmp / files["spec"], _unit_file(unit, plan.seed))
            if models:
                files |= _export_unit(unit, tmp, module_factory, plan.seed, bool(onnx))  # type: ignore[arg-type]
            units.append(PlanUnit(unit.name, unit.key, files))
        written = Plan(tuple(units), plan.space, plan.resolutions, plan.seed, factory_name, out)
        if factory_name:
            atomic_write_text(tmp / "quantize_units.py", _QUANTIZE_SCRIPT)
        atomic_write_text(tmp / "README.md", _readme(written))
        atomic_write_text(tmp / MANIFEST, json.dumps(written.to_dict(), indent=1) + "\n")
    return written


def _export_unit(unit: PlanUnit, out: Path, factory: Callable, seed: int, onnx: bool) -> dict[str, str]:
    import torch

    spec = unit.spec
    model = factory(unit.key, seed=seed)
    example = torch.zeros(1, *spec.in_shape)
    files = {"torch_export": f"units/{unit.name}.pt2"}
    with torch.no_grad():
        torch.export.save(torch.export.export(model, (example,)), str(out / files["torch_export"]))
        if onnx:
            files["onnx"] = f"units/{unit.name}.onnx"
            with warnings.catch_warnings():
                # The TorchScript exporter is the one that works without onnxscript installed.
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.onnx.export(model, (example,), str(out / files["onnx"]), dynamo=False, opset_version=17,
                                  input_names=["input"], output_names=["output"])
    return files


def _quantize_text(plan: Plan) -> str:
    if not plan.module_factory:
        return ("No module factory is recorded in this plan, so it has no `quantize_units.py`: build one torch\n"
                "module per `units/<name>.json` yourself and quantize it with `pytorch_nndct.apis.torch_quantizer`.")
    return """    python quantize_units.py --plan . --mode calib --out quantized
    python quantize_units.py --plan . --mode test  --out quantized

This runs `pytorch_nndct.apis.torch_quantizer` per unit on random calibration inputs (latency
does not depend on the weight values) and writes `quantized/<name>/<Class>_int.xmodel`.
With ONNX models in the plan, `vai_q_onnx` (Vitis AI >= 3.5) quantizes them instead."""


def _readme(plan: Plan) -> str:
    resolutions = ", ".join(map(str, plan.resolutions)) or "as listed"
    return f"""# Latency measurement plan

{len(plan)} distinct units of `{plan.space or 'the given keys'}` at resolutions {resolutions}.
`manifest.json` lists them (unit `name`, OFA canonical `key`, files, input shape, MACs);
`units/<name>.json` describes each unit layer by layer (shapes, kernels, strides, activations;
no weights: latency does not depend on their values). Units are built as torch modules by
`{plan.module_factory or 'no factory recorded'}` with seed {plan.seed}; `.pt2` / ONNX files are
in `units/` only if the plan was written with models.
Each unit is compiled as its own xmodel, so every table entry includes one DPU program launch;
the measured table records that as `per_entry_invocation: true` and the hybrid predictor
subtracts the calibrated launch cost per entry and adds it once per network.
The steps below write `quantized/`, `compiled/` and `table.csv` into this folder; a new plan written
over it (`--force`) replaces the folder as a unit, so it is refused while these are here.

## 1. Quantize (host, inside the Vitis AI PyTorch docker, with `pip install "ofa-hw[host]"`)

{_quantize_text(plan)}

## 2. Compile (host) against the DPU of your board

    for d in quantized/*/; do n=$(basename "$d")
      vai_c_xir -x "$d"/*_int.xmodel -a <arch.json> -o compiled -n "$n"
    done

`<arch.json>` must describe the DPU in your `dpu.bit`: for the stock Vitis AI boards it is
`/opt/vitis_ai/compiler/arch/DPUCZDX8G/<BOARD>/arch.json`; for a PYNQ-DPU overlay use the
`arch.json` produced by its board build. The output is `compiled/<name>.xmodel`, one per unit.

## 3. Measure (on the PYNQ board: `pip install ofa-hw`; pynq and pynq_dpu come with the image)

    ofa-hw lut measure --plan . --xmodels compiled --bitstream dpu.bit --out table.csv \\
        --board <board> --dpu-arch <arch> --clock-mhz <MHz> --toolchain "Vitis AI <version>"

Run it as root (`sudo -E`, or from the board's Jupyter): loading the DPU overlay copies its
`dpu.xclbin` to `/usr/lib` and `pynq_dpu` rewrites `/etc/vart.conf` when it points elsewhere;
the harness checks both before timing anything.
Every finished unit is written to `table.csv` at once (atomically), so an interrupted run
resumes where it stopped when started again; missing or unloadable xmodels are reported and
skipped. The table loads with `latency_tables.load_table("table.csv")` and updates the shipped
calibration directly: `latency_tables.fit_device(table, latency_tables.table_accelerator(table.meta))`,
or `ofa-hw lut fit table.csv` / `ofa-hw search --predictor table.csv` from the shell.
"""


_QUANTIZE_SCRIPT = '''"""Quantize every unit of this plan with Vitis AI's PyTorch quantizer (in the Vitis AI docker)."""

import argparse
import importlib
import json
from pathlib import Path

import torch
from pytorch_nndct.apis import torch_quantizer


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", type=Path, default=Path("."))
    parser.add_argument("--mode", choices=("calib", "test"), required=True)
    parser.add_argument("--out", type=Path, default=Path("quantized"))
    parser.add_argument("--calib-batches", type=int, default=8)
    args = parser.parse_args()
    manifest = json.loads((args.plan / "manifest.json").read_text())
    module, name = manifest["module_factory"].split(":")
    factory = getattr(importlib.import_module(module), name)
    generator = torch.Generator().manual_seed(manifest["seed"])
    for unit in manifest["units"]:
        model = factory(unit["key"], seed=manifest["seed"])
        shape = (1, *unit["input_shape"])
        example = torch.rand(shape, generator=generator)
        out_dir = str(args.out / unit["name"])
        quantizer = torch_quantizer(args.mode, model, (example,), output_dir=out_dir)
        quant_model = quantizer.quant_model
        if args.mode == "calib":
            for _ in range(args.calib_batches):
                quant_model(torch.rand(shape, generator=generator) * 4 - 2)
            quantizer.export_quant_config()
        else:
            quant_model(example)
            quantizer.export_xmodel(output_dir=out_dir, deploy_check=False)


if __name__ == "__main__":
    main()
'''
