"""The HLS engine's structure: its shape from an :class:`Accelerator`, its on-chip arrays, what it costs on chip.

The engine (``hls/templates/engine``) is the searched accelerator built from
Vitis HLS C++: a PP x ICP x OCP convolution array, a depthwise engine of
``dw_pp`` pixels over the ICP lanes, an element-wise unit (add, SE scale,
global pool) of PP x ICP lanes, and on-chip buffers of the accelerator's
sizes.  :class:`EngineConfig` holds every compile-time constant of its
``engine_config.h``; :meth:`EngineConfig.resources` estimates DSP / LUT / FF /
BRAM36 / URAM from that structure (a count of what the C++ instantiates, not
a synthesis report) and :meth:`EngineConfig.placed` puts its arrays in the
board's BRAM and UltraRAM.  :func:`accel_models.fits` uses this estimate for
every custom accelerator (one the DPUCZDX8G IP does not build, so the HLS
export is its only way to hardware) and the HLS export refuses an engine
whose estimate exceeds its board; stock DPUCZDX8G configurations keep
PG338's resource model.  No torch, no HLS import: the search's fit check
runs on this module alone.

Basis of the estimate (per core)
--------------------------------
* **DSP48E2.**  One DSP48E2 multiplies 27 x 18 bits (UltraScale Architecture
  DSP Slice User Guide, UG579), so two int8 x int8 products that share one
  operand fit one slice: ``(a * 2^18 + b) * c`` with ``a``, ``b`` in the
  27-bit port, ``c`` in the 18-bit port (Xilinx WP486, "Deep Learning with
  INT8 Optimization on Xilinx Devices"; cited from the paper, not checked
  against a fetched copy here).  The engine's C++ writes its products in
  this packed form (``mul2`` in ``engine.h``): the convolution array pairs
  output channels (they share the activation), the depthwise engine and the
  SE scale pair pixels (they share the weight / the gate), so the array takes
  ``PP * ceil(OCP / 2) * ICP`` slices, the depthwise engine
  ``ceil(DW_PP / 2) * ICP``, the SE scale ``ceil(PP / 2) * ICP``.  Without
  packing, each product would take its own slice (twice the array's DSPs),
  and at one clock an engine cannot use the DPUCZDX8G's double-rate DSP
  clock (PG338: ``dpu_2x_clk``), so a DPU-shaped engine needs about twice
  the DPU's DSPs.  The h-swish / h-sigmoid datapath takes two slices per
  output lane of the convolution array (PP x OCP) and the depthwise engine
  (DW_PP x ICP): the ``t * r`` product and the ``* 2731`` of 1/6; a
  per-channel requantization multiplier (the ``per_channel`` scheme: a
  32-bit accumulator times a 15-bit multiplier, wider than 27 x 18) two more
  on those lanes; the global pool's one requantization lane two.
* **LUT.**  32 per MAC lane: its share of the adder tree, one 32-bit adder in
  the carry chain at one LUT per bit (UG574, CLB); 20 per packed slice to
  split its product (18-bit sign correction); 600 per requantization lane
  with h-swish (64-bit rounding shifts and clamps, twice), 300 per
  element-wise lane (operand shifts, one rounding shift, clamp); the pixel
  crossbar of the input banks (8 x PP x PP x ICP); 12,000 for the program
  walker, the descriptor decode and three ``m_axi`` adapters.
* **FF.**  Pipeline registers: 40 per MAC lane, 300 per requantization or
  element-wise lane, 15,000 for control and AXI.
* **BRAM36 / URAM.**  Every partitioned bank in BRAM18 halves (2K x 9, 1K x
  18, 512 x 36) or, for the arrays placed in UltraRAM, in 4K x 72 blocks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .accelerator import Accelerator
from .boards import RESOURCE_NAMES, Board
from .layer import LayerArrays
from .roofline import RooflineModel, RooflineParams
from .tiling import CLASSES, layer_classes

__all__ = ["CHANNELS_PER_LANE", "DDR_LATENCY_CYCLES", "PIPELINE_DEPTH", "EngineConfig", "EngineResources",
           "cycles_by_layer_type", "engine_hardware", "engine_model", "engine_model_cycles"]

#: Cycles from an AXI read / write request to its first beat, counted once per DDR transfer (Zynq
#: UltraScale+ HP ports take 30-60 cycles of the PL clock to DDR and back; UG1085 ch. 35).
DDR_LATENCY_CYCLES = 40
#: Cycles to fill the pipeline of the flattened tile loop, counted once per loop entry.
PIPELINE_DEPTH = 8
#: Channels per layer the engine supports, per lane of the narrower channel face (PG338's limit of
#: the DPUCZDX8G: input / output channels up to 256 x the channel parallelism).
CHANNELS_PER_LANE = 256
_BRAM18_BITS = 18 * 1024
_URAM_BITS = 288 * 1024


@dataclass(frozen=True)
class EngineResources:
    """Structural estimate of one engine core: multipliers, logic, registers, memories (as placed)."""

    dsp: int
    lut: int
    ff: int
    bram36: float
    uram: int
    on_chip_bytes: int
    uram_arrays: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, float]:
        """The five resources by name (``dsp``, ``lut``, ``ff``, ``bram36``, ``uram``)."""
        return {name: getattr(self, name) for name in RESOURCE_NAMES}

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        out = asdict(self)
        out["uram_arrays"] = list(self.uram_arrays)
        return out


@dataclass(frozen=True)
class EngineConfig:
    """Compile-time constants of one engine (``engine_config.h``).

    ``multipliers`` says whether its requantization lanes have multipliers:
    needed by the ``per_channel`` scheme; a ``pow2`` program (the export's
    default, the DPU's) shifts only.

    Examples
    --------
    >>> cfg = EngineConfig.from_accelerator(Accelerator.from_dpu("B2304", clock_mhz=200.0))
    >>> cfg.pp, cfg.icp, cfg.ocp, cfg.dw_pp, cfg.ib_depth, cfg.ob_depth, cfg.wb_depth
    (8, 12, 12, 4, 1024, 1024, 2048)
    >>> cfg.act_buffer_bytes == 192 * 1024
    True
    >>> EngineConfig.from_accelerator(Accelerator(4, 8, 8, clock_mhz=300.0), multipliers=False).resources().dsp
    250
    """

    pp: int
    icp: int
    ocp: int
    dw_pp: int
    ib_depth: int
    ob_depth: int
    wb_depth: int
    clock_khz: int
    ddr_mbps: int
    ddr_latency_cycles: int = DDR_LATENCY_CYCLES
    pipeline_depth: int = PIPELINE_DEPTH
    multipliers: bool = True

    @classmethod
    def from_accelerator(cls, accelerator: Accelerator, *, multipliers: bool = True) -> EngineConfig:
        """The engine of ``accelerator``: its parallelism, buffer sizes, clock and DDR bandwidth.

        Raises
        ------
        ValueError
            ``dw_pp`` above ``pp``, or buffers too small for the array.
        """
        if not isinstance(accelerator, Accelerator):
            raise TypeError(f"expected an accel_models.Accelerator, got {type(accelerator).__name__}")
        # filled in by Accelerator.__post_init__, typed optional there
        assert accelerator.dw_pp and accelerator.act_buffer_kib and accelerator.weight_buffer_kib
        if accelerator.dw_pp > accelerator.pp:
            raise ValueError(f"depthwise pixel parallelism {accelerator.dw_pp} exceeds PP {accelerator.pp}; the "
                             "depthwise engine reads the PP pixel banks of the input buffer")
        pp, icp, ocp = accelerator.pp, accelerator.icp, accelerator.ocp
        half = int(accelerator.act_buffer_kib * 1024) // 2
        ib_depth = half // (pp * icp) // 4 * 4  # quarters: the element-wise unit's operand regions
        ob_depth = half // (pp * ocp)
        wb_depth = int(accelerator.weight_buffer_kib * 1024) // (icp * ocp)
        if min(ib_depth, ob_depth, wb_depth) < 4:
            raise ValueError(f"accelerator {accelerator.name}: buffers of {accelerator.act_buffer_kib} KiB "
                             f"(activations) and {accelerator.weight_buffer_kib} KiB (weights) are too small for "
                             f"its {pp} x {icp} x {ocp} array")
        return cls(pp, icp, ocp, accelerator.dw_pp, ib_depth, ob_depth, wb_depth,
                   clock_khz=round(accelerator.clock_mhz * 1000), ddr_mbps=round(accelerator.ddr_bw_gbps * 1000),
                   multipliers=bool(multipliers))

    # ------------------------------------------------------------ derived sizes
    @property
    def max_channels(self) -> int:
        """Channels per layer the engine takes (PG338's 256 per lane of the narrower face)."""
        return CHANNELS_PER_LANE * min(self.icp, self.ocp)

    @property
    def lanes(self) -> int:
        """Lanes of the per-channel parameter buffers (the wider channel face)."""
        return max(self.icp, self.ocp)

    @property
    def pb_depth(self) -> int:
        """Depth of the per-channel parameter buffers."""
        return math.ceil(self.max_channels / min(self.icp, self.ocp))

    @property
    def mb_depth(self) -> int:
        """Depth of the element-wise unit's per-channel accumulators."""
        return math.ceil(self.max_channels / self.icp)

    @property
    def act_buffer_bytes(self) -> int:
        """Bytes of ibuf and obuf together: the accelerator's activation buffer."""
        return self.pp * self.icp * self.ib_depth + self.pp * self.ocp * self.ob_depth

    @property
    def weight_buffer_bytes(self) -> int:
        """Bytes of wbuf: the accelerator's weight buffer."""
        return self.ocp * self.icp * self.wb_depth

    def arrays(self) -> dict[str, tuple[int, int, int]]:
        """Every on-chip array: ``name -> (banks, depth, bits)`` after partitioning."""
        return {
            "ibuf": (self.pp * self.icp, self.ib_depth, 8),
            "obuf": (self.pp * self.ocp, self.ob_depth, 8),
            "wbuf": (self.ocp * self.icp, self.wb_depth, 8),
            "bias_buf": (self.lanes, self.pb_depth, 32),
            "mult_buf": (self.lanes, self.pb_depth, 32),
            "shift_buf": (self.lanes, self.pb_depth, 32),
            "macc": (self.icp, self.mb_depth, 32),
        }

    @property
    def on_chip_bytes(self) -> int:
        """Bytes of every on-chip array together."""
        return sum(banks * depth * bits // 8 for banks, depth, bits in self.arrays().values())

    # ------------------------------------------------------------ resources
    def resources(self, uram_arrays: tuple[str, ...] = ()) -> EngineResources:
        """DSP / LUT / FF / BRAM36 / URAM of the engine's structure, ``uram_arrays`` in UltraRAM.

        See the module docstring for the basis of every term.
        """
        packed = (self.pp * math.ceil(self.ocp / 2) * self.icp  # convolution array: output-channel pairs
                  + math.ceil(self.dw_pp / 2) * self.icp  # depthwise engine: pixel pairs
                  + math.ceil(self.pp / 2) * self.icp)  # SE scale: pixel pairs
        macs = self.pp * self.icp * self.ocp + self.dw_pp * self.icp
        rq_lanes = self.pp * self.ocp + self.dw_pp * self.icp  # outputs with h-swish (and multiplier)
        elt_lanes = self.pp * self.icp
        dsp = packed + (2 + (2 if self.multipliers else 0)) * rq_lanes + 2  # + the pool's multiplier
        lut = 32 * macs + 20 * packed + 600 * rq_lanes + 300 * elt_lanes + 8 * self.pp * self.pp * self.icp + 12_000
        ff = 40 * macs + 300 * (rq_lanes + elt_lanes) + 15_000
        bram18, uram = 0, 0
        for name, (banks, depth, bits) in self.arrays().items():
            if name in uram_arrays:
                uram += banks * math.ceil(depth * bits / _URAM_BITS)
            else:
                bram18 += banks * math.ceil(depth * bits / _BRAM18_BITS)
        return EngineResources(dsp=dsp, lut=lut, ff=ff, bram36=bram18 / 2, uram=uram,
                               on_chip_bytes=self.on_chip_bytes, uram_arrays=tuple(uram_arrays))

    def placed(self, board: Board) -> EngineResources:
        """The estimate as built for ``board``: the weight buffer moves to UltraRAM when BRAM alone is short."""
        estimate = self.resources()
        if estimate.bram36 > board.bram36 and board.uram:
            estimate = self.resources(("wbuf",))
        return estimate


#: Where the engine pools: on its PP x ICP element-wise unit, not on a DPUCZDX8G's depthwise ALU
#: (``alu_pooling`` of :func:`accel_models.tiling.layer_classes` and :class:`accel_models.RooflineModel`).
ENGINE_ALU_POOLING = False


def engine_model() -> RooflineModel:
    """The project's analytical latency model with this engine's parameters, for the same ``Accelerator``.

    The engine runs its tile loops at II = 1 (every efficiency 1), fuses h-swish / h-sigmoid into the
    requantization (no extra passes), pools on its element-wise unit (``alu_pooling`` False: PP x ICP
    lanes, not a DPU ALU's one pixel lane walking the window), moves data at the accelerator's DDR bandwidth (bandwidth
    efficiencies 1), does not overlap transfers with compute (``overlap`` 0) and pays about four DDR
    latencies plus a pipeline fill per layer (descriptor, parameters, input, output).  Evaluated on a
    ``LayerArrays`` (every layer reads and writes DDR, as the engine does), its per-layer latency is the
    model's prediction the engine's cycle count is compared with (``benchmarks/bench_hls.py``) and what
    the ``"hls-engine"`` latency predictor answers (:mod:`latency_tables.engine`).
    """
    return RooflineModel(RooflineParams(
        conv_efficiency=1.0, pw_efficiency=1.0, dw_efficiency=1.0, misc_efficiency=1.0, hswish_passes=0.0,
        bw_efficiency=1.0, weight_bw_efficiency=1.0, layer_overhead_cycles=4.0 * DDR_LATENCY_CYCLES + PIPELINE_DEPTH,
        overlap=0.0), alu_pooling=ENGINE_ALU_POOLING)


def engine_hardware(accelerator: Accelerator) -> Accelerator:
    """What the engine builds for ``accelerator``: the same array, buffers and clock, no channel augmentation.

    Channel augmentation is a DPUCZDX8G option the engine does not implement; the model of the engine's
    latency (:func:`engine_model`) is evaluated on this accelerator.
    """
    return accelerator.replace(options=accelerator.options.replace(channel_augmentation=False))



def engine_model_cycles(layers: LayerArrays, accelerator: Accelerator) -> np.ndarray:
    """(L,) cycles the engine model (:func:`engine_model`) predicts per layer on the engine built for ``accelerator``.

    The model's latency on :func:`engine_hardware` at the accelerator's clock, in clock cycles: what the
    engine's own count (``hls.program.engine_cycles``) is compared with.
    """
    cycles = np.asarray(engine_model().layer_latency_ms(layers, engine_hardware(accelerator)), dtype=float)
    return cycles * (accelerator.clock_mhz * 1e3)


def cycles_by_layer_type(layers: LayerArrays, engine_cycles: np.ndarray,
                         model_cycles: np.ndarray) -> dict[str, dict[str, float]]:
    """Engine and model cycles summed per layer type, and engine / model, for the types ``layers`` has.

    Layer types are :data:`accel_models.tiling.CLASSES` as the engine runs them (pooling on its
    element-wise unit: :data:`ENGINE_ALU_POOLING`).  Each entry holds ``layers`` (how many),
    ``engine_cycles``, ``model_cycles`` and ``ratio`` (engine / model).

    Examples
    --------
    >>> from accel_models.layer import Layer
    >>> layers = LayerArrays.from_layers([Layer("c", "conv", (3, 8, 8), (8, 8, 8), kernel=3),
    ...                                   Layer("p", "pwconv", (8, 8, 8), (16, 8, 8)),
    ...                                   Layer("q", "pwconv", (16, 8, 8), (8, 8, 8)),
    ...                                   Layer("g", "pool", (8, 8, 8), (8, 1, 1), kernel=8)])
    >>> by_type = cycles_by_layer_type(layers, np.array([110.0, 30.0, 50.0, 20.0]),
    ...                                np.array([100.0, 40.0, 40.0, 25.0]))
    >>> by_type["conv"]["ratio"], by_type["misc"]["ratio"], "dw" in by_type  # the pool runs as element-wise work
    (1.1, 0.8, False)
    >>> by_type["pw"]
    {'layers': 2, 'engine_cycles': 80, 'model_cycles': 80.0, 'ratio': 1.0}
    """
    classes = layer_classes(layers, ENGINE_ALU_POOLING)
    out: dict[str, dict[str, float]] = {}
    for code, name in enumerate(CLASSES):
        mask = classes == code
        if mask.any():
            out[name] = {"layers": int(mask.sum()), "engine_cycles": int(engine_cycles[mask].sum()),
                         "model_cycles": float(model_cycles[mask].sum()),
                         "ratio": float(engine_cycles[mask].sum() / model_cycles[mask].sum())}
    return out
