"""Resources of DPUCZDX8G build options, from PG338's option tables.

``data/pg338_option_resources.yaml`` holds the tables as PG338 publishes
them (each section names its version and table).  :func:`option_extras`
turns them into the per-core extra LUT / FF / BRAM36 / DSP of each option
on top of :func:`accel_models.resources.estimate_resources`' base fit (PG338's
high-DSP-usage rows, measured without those options):

* DSP usage "low": the LUTs and registers it costs instead of DSP slices
  (PG338 v1.2 Table 9, low minus high DSP usage; the DSP count itself is
  the base fit's ``dsp_low``);
* channel augmentation: PG338's extra LUTs per architecture;
* ALU parallelism (``dw_pp``, IP 4.x ``ALU_PARALLEL_*``) other than the
  recommended PP/2: PG338 gives B4096 only (16 DSP, about 2,300 LUT and
  3,200 FF per ALU pixel lane); other arrays are scaled by ICP / 16, an
  assumption the resource note states;
* softmax: PG338's extra resources, once per DPU IP (not per core).

PG338 gives the figure per architecture; a custom PE array takes the
least-squares fit over the eight architectures (``macs`` for DSP usage,
the mean for channel augmentation).  Average pooling, the element-wise
multiply, the ReLU types and the hard-sigmoid have no published figure:
:func:`resource_notes` says so instead of adding a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from .accelerator import Accelerator, _dpu_table

__all__ = ["OptionTable", "option_extras", "option_tables", "resource_notes"]

#: The resources an option table can list, in the order :func:`option_extras` returns them.
_NAMES = ("lut", "ff", "bram36", "dsp")
_BASE_COLUMNS = {"lut": "lut", "ff": "ff", "bram36": "bram36", "dsp": "dsp_low"}


@dataclass(frozen=True)
class OptionTable:
    """One PG338 table: where it comes from, its columns and its rows (by architecture or setting)."""

    source: str
    columns: tuple[str, ...]
    rows: Mapping[str, tuple[float, ...]]

    def column(self, name: str) -> dict[str, float]:
        """``{row: value}`` of one column."""
        i = self.columns.index(name)
        return {row: values[i] for row, values in self.rows.items()}


@lru_cache(maxsize=1)
def option_tables() -> Mapping[str, OptionTable]:
    """The PG338 option tables shipped in ``data/pg338_option_resources.yaml``.

    >>> option_tables()["softmax"].column("dsp")
    {'Softmax': 14.0}
    """
    import yaml  # only when resources are first estimated

    text = resources.files("accel_models").joinpath("data/pg338_option_resources.yaml").read_text()
    data = yaml.safe_load(text)
    return {name: OptionTable(section["source"].strip(), tuple(section["columns"]),
                              {str(row): tuple(float(v) for v in values) for row, values in section["rows"].items()})
            for name, section in data.items()}


@lru_cache(maxsize=1)
def _low_dsp_deltas() -> dict[str, dict[str, float]]:
    low = option_tables()["dsp_usage_low"]
    table = _dpu_table()
    return {name: {arch: value - getattr(table[arch], name) for arch, value in low.column(name).items()}
            for name in ("lut", "ff")}


def _per_macs(deltas: Mapping[str, float]) -> float:
    # least-squares slope through the origin over PG338's architectures, for a custom PE array
    table = _dpu_table()
    macs = np.array([table[a].pp * table[a].icp * table[a].ocp for a in deltas], dtype=float)
    return float(macs @ np.array(list(deltas.values())) / (macs @ macs))


@lru_cache(maxsize=1)
def _alu_lane_costs() -> dict[str, float]:
    # least-squares slope of B4096's resources over its ALU pixel lanes
    table = option_tables()["alu_parallel_b4096"]
    lanes = np.array([float(r) for r in table.rows])
    centred = lanes - lanes.mean()
    return {name: float(centred @ np.array(list(table.column(name).values())) / (centred @ centred))
            for name in _NAMES}


def option_extras(accelerators: Sequence[Accelerator]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Extra resources of the build options: ``(per_core, per_ip)``, each ``{lut, ff, bram36, dsp: (M,)}``.

    Examples
    --------
    >>> from accel_models.dpu_options import DpuOptions
    >>> per_core, per_ip = option_extras([Accelerator.from_dpu("B2304"),
    ...                                   Accelerator.from_dpu("B2304", options=DpuOptions(dsp_usage="low"))])
    >>> per_core["lut"].tolist()  # channel augmentation; plus low DSP usage's LUTs
    [1710.0, 4386.0]
    >>> per_ip["dsp"].tolist()
    [0.0, 0.0]
    """
    accs = list(accelerators)
    per_core = {name: np.zeros(len(accs)) for name in _NAMES}
    per_ip = {name: np.zeros(len(accs)) for name in _NAMES}
    augmentation = option_tables()["channel_augmentation"].column("lut")
    low_dsp = _low_dsp_deltas()
    lanes = _alu_lane_costs()
    softmax = option_tables()["softmax"].rows["Softmax"]
    for m, acc in enumerate(accs):
        arch, options = acc.pg338_array, acc.options
        if options.channel_augmentation:
            per_core["lut"][m] += augmentation[arch] if arch else float(np.mean(list(augmentation.values())))
        if options.dsp_usage == "low":
            for name, deltas in low_dsp.items():
                per_core[name][m] += deltas[arch] if arch else _per_macs(deltas) * acc.macs_per_cycle
        extra_lanes = int(acc.dw_pp or 0) - acc.default_dw_pp
        if extra_lanes:
            for name, cost in lanes.items():
                per_core[name][m] += cost * extra_lanes * acc.icp / 16
        if options.softmax:
            for name, value in zip(_NAMES, softmax, strict=True):
                per_ip[name][m] += value
    return per_core, per_ip


def resource_notes(accelerator: Accelerator) -> tuple[str, ...]:
    """What the resource estimate of ``accelerator`` counts from PG338's option tables and what it cannot.

    >>> resource_notes(Accelerator.from_dpu("B2304"))[-1].split(":")[0]
    'no PG338 resource figure for average pooling, element-wise multiply, hard-sigmoid, leaky ReLU, ReLU6'
    """
    options = accelerator.options
    counted = ["the PE array (PG338 v1.2 Table 9, high DSP usage)"]
    if options.dsp_usage == "low":
        counted.append("low DSP usage (PG338 v1.2 Table 9)")
    if options.depthwise:
        counted.append("the depthwise engine (PG338 v3.4 'DepthwiseConv' Table 1)")
    if options.channel_augmentation:
        counted.append("channel augmentation (PG338 v3.4/v4.1 'Channel Augmentation' Table 1)")
    if options.softmax:
        counted.append("the softmax core (PG338 v3.4/v4.1 'Softmax' Table 1)")
    notes = ["counted: " + "; ".join(counted)]
    if int(accelerator.dw_pp or 0) != accelerator.default_dw_pp:
        scaled = "" if accelerator.icp == 16 else ", scaled from B4096 by ICP/16 (an assumption)"
        notes.append(f"ALU parallelism {accelerator.dw_pp} (PG338 v4.1 'DepthwiseConv (ALU)' Table 1{scaled})")
    if accelerator.pg338_array is None:
        notes.append("a custom PE array: option figures fitted over PG338's eight architectures")
    missing = [label for label, on in (("average pooling", options.avg_pool),
                                       ("element-wise multiply", options.elementwise_multiply),
                                       ("hard-sigmoid", options.hard_sigmoid),
                                       ("leaky ReLU", "leakyrelu" in options.conv_relu + options.alu_relu),
                                       ("ReLU6", True)) if on]
    notes.append(f"no PG338 resource figure for {', '.join(missing)}: not counted "
                 "(PG338 v1.2 Table 9 was measured without them)")
    return tuple(notes)
