"""The HLS engine's shape, taken from an :class:`accel_models.Accelerator`, and what it costs on chip.

The engine is the searched accelerator: a PP x ICP x OCP convolution array, a
depthwise engine of ``dw_pp`` pixels over the ICP lanes, an element-wise unit
(add, SE scale, global pool) of PP x ICP lanes, and on-chip buffers of the
accelerator's sizes: the activation buffer split into the input tiles (PP x ICP
banks) and the output tiles (PP x OCP banks), the weight buffer as OCP x ICP
banks.  :class:`EngineConfig` holds every compile-time constant of
``engine_config.h``; :meth:`EngineConfig.resources` estimates DSP / BRAM36 /
URAM / LUT from that structure (a structural estimate, not a synthesis report)
and :meth:`EngineConfig.check_board` refuses an engine whose on-chip memory
the board cannot hold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from accel_models import Accelerator, RooflineModel, RooflineParams
from accel_models.boards import Board

from .errors import HLSError

__all__ = ["DDR_LATENCY_CYCLES", "PIPELINE_DEPTH", "EngineConfig", "EngineResources", "OnChipMemoryError",
           "engine_model"]

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


def engine_model() -> RooflineModel:
    """The project's analytical latency model with this engine's parameters, for the same ``Accelerator``.

    The engine runs its tile loops at II = 1 (every efficiency 1), fuses h-swish / h-sigmoid into the
    requantization (no extra passes), moves data at the accelerator's DDR bandwidth (bandwidth
    efficiencies 1), does not overlap transfers with compute (``overlap`` 0) and pays about four DDR
    latencies plus a pipeline fill per layer (descriptor, parameters, input, output).  Evaluated on a
    ``LayerArrays`` (every layer reads and writes DDR, as the engine does), its per-layer latency is the
    model's prediction the engine's cycle count is compared with (``benchmarks/bench_hls.py``).
    """
    return RooflineModel(RooflineParams(
        conv_efficiency=1.0, pw_efficiency=1.0, dw_efficiency=1.0, misc_efficiency=1.0, hswish_passes=0.0,
        bw_efficiency=1.0, weight_bw_efficiency=1.0, layer_overhead_cycles=4.0 * DDR_LATENCY_CYCLES + PIPELINE_DEPTH,
        overlap=0.0))


class OnChipMemoryError(HLSError, ValueError):
    """The engine's on-chip buffers do not fit the board's BRAM and UltraRAM."""


@dataclass(frozen=True)
class EngineResources:
    """Structural estimate of one engine core: multipliers, memories, logic."""

    dsp: int
    bram36: float
    uram: int
    lut: int
    on_chip_bytes: int

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class EngineConfig:
    """Compile-time constants of one engine (``engine_config.h``).

    Examples
    --------
    >>> cfg = EngineConfig.from_accelerator(Accelerator.from_dpu("B2304", clock_mhz=200.0))
    >>> cfg.pp, cfg.icp, cfg.ocp, cfg.dw_pp, cfg.ib_depth, cfg.ob_depth, cfg.wb_depth
    (8, 12, 12, 4, 1024, 1024, 2048)
    >>> cfg.act_buffer_bytes == 192 * 1024
    True
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

    @classmethod
    def from_accelerator(cls, accelerator: Accelerator) -> EngineConfig:
        """The engine of ``accelerator``: its parallelism, buffer sizes, clock and DDR bandwidth."""
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
                   clock_khz=round(accelerator.clock_mhz * 1000), ddr_mbps=round(accelerator.ddr_bw_gbps * 1000))

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

    def header(self) -> str:
        """``engine_config.h``."""
        constants = {
            "PP": self.pp, "ICP": self.icp, "OCP": self.ocp, "DW_PP": self.dw_pp,
            "IB_DEPTH": self.ib_depth, "IB_HALF": self.ib_depth // 2, "IB_QUARTER": self.ib_depth // 4,
            "OB_DEPTH": self.ob_depth, "WB_DEPTH": self.wb_depth, "MAX_CHANNELS": self.max_channels,
            "LANES": self.lanes, "PB_DEPTH": self.pb_depth, "MB_DEPTH": self.mb_depth,
            "CLOCK_KHZ": self.clock_khz, "DDR_MBPS": self.ddr_mbps,
            "DDR_LATENCY_CYCLES": self.ddr_latency_cycles, "PIPELINE_DEPTH": self.pipeline_depth,
        }
        lines = "".join(f"const int {name} = {value};\n" for name, value in constants.items())
        return ("// Engine shape, generated by ofa-hw from the accelerator (hls/engine.py). Do not edit: re-export.\n"
                "#ifndef OFA_HW_ENGINE_CONFIG_H\n#define OFA_HW_ENGINE_CONFIG_H\n\nnamespace ofa_hw {\n\n"
                f"{lines}\n}} // namespace ofa_hw\n\n#endif\n")

    # ------------------------------------------------------------ resources
    def resources(self, uram_arrays: tuple[str, ...] = ()) -> EngineResources:
        """DSP / BRAM36 / URAM / LUT of the engine's structure.

        Multipliers: two int8 MACs per DSP48E2 sharing an operand (Xilinx WP486) for the PP x ICP x OCP
        array and the DW_PP x ICP depthwise engine; four DSPs per requantization lane (the 32 x 15-bit
        multiplier and the h-swish product) on the PP x OCP array outputs and the PP x ICP element-wise
        outputs.  Memories: every partitioned bank in BRAM18 halves (2K x 9 / 512 x 36), or in 4K x 72
        UltraRAM for the arrays in ``uram_arrays``.  LUTs: 30 per MAC (adder tree), 600 per requantization
        lane, a PP x PP pixel crossbar of ICP bytes, 12k of control and AXI.
        """
        macs = self.pp * self.icp * self.ocp + self.dw_pp * self.icp
        lanes = self.pp * self.ocp + self.pp * self.icp
        bram18, uram = 0, 0
        for name, (banks, depth, bits) in self.arrays().items():
            if name in uram_arrays:
                uram += banks * math.ceil(depth * bits / _URAM_BITS)
            else:
                bram18 += banks * math.ceil(depth * bits / _BRAM18_BITS)
        lut = 30 * macs + 600 * lanes + 8 * self.pp * self.pp * self.icp + 12_000
        return EngineResources(dsp=math.ceil(macs / 2) + 4 * lanes, bram36=bram18 / 2, uram=uram, lut=lut,
                               on_chip_bytes=self.on_chip_bytes)

    def check_board(self, board: Board) -> dict[str, Any]:
        """Resource estimate and utilisation on ``board``; :class:`OnChipMemoryError` if the buffers do not fit.

        The weight buffer moves to UltraRAM when the BRAM alone cannot hold everything and the board has
        UltraRAM.  DSP and LUT over-use is reported (``fits`` False), not refused: synthesis can trade one
        for the other, memory it cannot.
        """
        placed: tuple[str, ...] = ()
        estimate = self.resources()
        if estimate.bram36 > board.bram36 and board.uram:
            placed = ("wbuf",)
            estimate = self.resources(placed)
        use = {"dsp": estimate.dsp / board.dsp, "bram36": estimate.bram36 / board.bram36,
               "uram": estimate.uram / board.uram if board.uram else (0.0 if not estimate.uram else math.inf),
               "lut": estimate.lut / board.lut}
        if use["bram36"] > 1 or use["uram"] > 1:
            raise OnChipMemoryError(
                f"the engine's on-chip buffers ({estimate.on_chip_bytes / 1024:.0f} KiB: activation "
                f"{self.act_buffer_bytes / 1024:.0f} KiB, weights {self.weight_buffer_bytes / 1024:.0f} KiB) need "
                f"{estimate.bram36:g} BRAM36 and {estimate.uram} URAM; board {board.name} has {board.bram36:g} BRAM36 "
                f"and {board.uram} URAM. Choose an accelerator with smaller buffers")
        return {"board": board.name, "part": board.part, **estimate.to_dict(), "uram_arrays": list(placed),
                "utilization": {k: round(v, 4) for k, v in use.items()},
                "fits": {k: v <= 1 for k, v in use.items()}}
