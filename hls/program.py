"""The engine's program: one descriptor per layer, packed weights and the DDR layout of every tensor.

:func:`build_program` turns a :class:`hls.QuantizedNetwork` into what the engine
(``hls/templates/engine``) reads from DDR:

* ``program.bin`` (int32): a header, one descriptor of :data:`N_FIELDS` words per
  layer (shapes, kernel, stride, padding, DDR offsets, requantization, the tiling),
  then the per-channel bias (and multiplier / shift) tables;
* ``weights.bin`` (int8): every weighted layer's weights in the order the array
  reads them, channel-last and zero-padded to whole tiles: dense
  ``[OCP-tile][ICP-tile][ky][kx][OCP][ICP]``, depthwise ``[ICP-tile][ky][kx][ICP]``;
* the activation buffer layout: the input and every layer's output, channel-last
  (HWC), each at its own 64-byte-aligned offset.

The tiling is the latency model's (:mod:`accel_models.tiling`): the array takes
ICP input channels for OCP output channels at PP pixels of one output row per
cycle; the exporter only chooses how many output rows (``rows``) and weight
tiles (``chunk``) fit the accelerator's buffers at once.
:func:`engine_cycles` counts the engine's cycles per layer exactly as the
C-simulation's counter does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine import EngineConfig
from .errors import UnsupportedLayerError
from .fixedpoint import ACT_CODES, Requant
from .graph import INPUT
from .quantize import QuantizedLayer, QuantizedNetwork

__all__ = ["FIELDS", "N_FIELDS", "OPS", "PROGRAM_HEADER", "LayerProgram", "Program", "build_program",
           "engine_cycles", "engine_latency_ms"]

PROGRAM_MAGIC, PROGRAM_VERSION, PROGRAM_HEADER, MAX_LAYERS = 0x4F464148, 1, 8, 256
#: Descriptor fields, in the order of ``program.h``'s ``Field`` enum.
FIELDS = ("op", "cin", "h", "w", "cout", "ho", "wo", "k", "s", "p", "in0", "in1", "out", "wgt", "prm",
          "act", "mult", "shift", "lo", "hi", "fi", "t_lo", "t_hi", "post", "per_channel", "sa", "sb",
          "rows", "chunk", "obase")
N_FIELDS = 32
#: Engine operation codes (``program.h``'s ``Op``).
OPS = {"conv": 0, "dwconv": 1, "pool": 2, "add": 3, "scale": 4}
_ALIGN = 64
_CONV_OPS = ("conv", "pwconv", "fc", "se_fc")


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _align(n: int) -> int:
    return _ceil(n, _ALIGN) * _ALIGN


@dataclass(frozen=True)
class LayerProgram:
    """One layer as the engine runs it: its descriptor fields and where its data lives."""

    name: str
    engine_op: str
    fields: dict
    weight_bytes: int
    param_words: int

    def descriptor(self) -> np.ndarray:
        """The layer's N_FIELDS int32 descriptor words."""
        words = np.zeros(N_FIELDS, dtype=np.int32)
        words[:len(FIELDS)] = [self.fields[f] for f in FIELDS]
        return words


@dataclass(frozen=True, eq=False)
class Program:
    """A whole network's program, packed weights and activation layout."""

    config: EngineConfig
    layers: tuple[LayerProgram, ...]
    words: np.ndarray  # int32 program.bin
    weights: np.ndarray  # int8 weights.bin
    act_bytes: int
    input_offset: int
    input_shape: tuple[int, int, int]

    def to_dict(self) -> dict:
        """The manifest's ``program`` section."""
        return {"format": "ofa-hw-engine-program", "version": PROGRAM_VERSION, "header_words": PROGRAM_HEADER,
                "fields_per_layer": N_FIELDS, "fields": list(FIELDS), "ops": dict(OPS),
                "program_words": int(self.words.size), "weight_bytes": int(self.weights.size),
                "activation_bytes": self.act_bytes, "input_offset": self.input_offset,
                "activation_layout": "HWC", "weight_layout": {
                    "dense": "[OCP tile][ICP tile][ky][kx][OCP][ICP], zero-padded",
                    "depthwise": "[ICP tile][ky][kx][ICP], zero-padded"}}


def _engine_op(q: QuantizedLayer) -> str:
    op = q.layer.op
    if op in _CONV_OPS:
        return "conv"
    if op in OPS:
        return op
    raise UnsupportedLayerError([(q.name, f"op {op!r} has no engine operation")], "engine")


def _largest(limit: int, ok) -> int:
    """The largest ``r`` in ``1..limit`` with ``ok(r)``, 0 if none (``ok`` is monotone)."""
    return next((r for r in range(limit, 0, -1) if ok(r)), 0)


def _chunk_sizes(tiles: int, limit: int) -> list[int]:
    """Distinct loads of ``ceil(tiles / n)`` tiles (n = 1, 2, ...) not above ``limit``, largest first."""
    return sorted({-(-tiles // n) for n in range(1, tiles + 1) if -(-tiles // n) <= limit}, reverse=True)


def _tiling(name: str, op: str, f: dict, cfg: EngineConfig) -> tuple[int, int, int]:
    """(output rows per band, weight tiles per load, output base in ibuf) with the fewest engine cycles.

    Of the tilings that fit the buffers, the one with the fewest engine cycles.

    Dense: weight tiles per load (all of them if the weight buffer holds them), then the most output rows
    whose input rows fit ibuf and whose outputs fit obuf.  Depthwise: channel tiles per pass (their
    weights, input rows and output rows together in ibuf), then the most rows.  Element-wise: the most
    rows of the operand regions (a quarter of ibuf per operand for add, half for scale, all of it for pool).
    """
    cin, h, w, cout, ho, wo, k, s = (f[x] for x in ("cin", "h", "w", "cout", "ho", "wo", "k", "s"))
    ct, xg, gx = _ceil(cin, cfg.icp), _ceil(_ceil(w, s), cfg.pp), _ceil(wo, cfg.pp)

    def in_need(r: int, tiles: int) -> int:
        return min((r - 1) * s + k, h) * s * xg * tiles  # padding rows are not stored

    def refuse(what: str) -> UnsupportedLayerError:
        return UnsupportedLayerError([(name, f"{what} (activation buffer {cfg.act_buffer_bytes // 1024} KiB, "
                                             f"weight buffer {cfg.weight_buffer_bytes // 1024} KiB)")], "engine")

    candidates = []
    if op == "conv":
        tiles, taps = _ceil(cout, cfg.ocp), ct * k * k
        if taps > cfg.wb_depth:
            raise refuse(f"one weight tile needs {taps} rows of the weight buffer, which has {cfg.wb_depth}")
        for chunk in _chunk_sizes(tiles, cfg.wb_depth // taps):
            rows = _largest(ho, lambda r, c=chunk: in_need(r, ct) <= cfg.ib_depth and r * gx * c <= cfg.ob_depth)
            if rows:
                candidates.append((rows, chunk, 0))
        if not candidates:
            raise refuse(f"the input rows of one output row of this conv ({in_need(1, ct)} buffer rows) do not fit")
    elif op == "dwconv":
        for chunk in _chunk_sizes(ct, cfg.wb_depth // (k * k)):
            rows = _largest(ho, lambda r, c=chunk: in_need(r, c) + r * gx * c <= cfg.ib_depth)
            if rows:
                candidates.append((rows, chunk, in_need(rows, chunk)))
        if not candidates:
            raise refuse(f"one output row of one channel tile of this depthwise conv needs "
                         f"{in_need(1, 1) + gx} buffer rows")
    else:
        cap = {"add": cfg.ib_depth // 4, "scale": cfg.ib_depth // 2, "pool": cfg.ib_depth}[op]
        rows = _largest(h, lambda r: r * xg * ct <= cap)
        if not rows:
            raise refuse(f"one row of this {op} ({xg * ct} buffer rows) does not fit")
        return rows, 0, cfg.ib_depth // 2

    def cycles(candidate: tuple[int, int, int]) -> int:
        cnt = _layer_cycles(op, {**f, "rows": candidate[0], "chunk": candidate[1]}, cfg)
        return cnt.compute + cnt.transfer

    return min(candidates, key=cycles)


def _pack_weights(q: QuantizedLayer, op: str, cfg: EngineConfig) -> np.ndarray:
    weight, _ = q.params()
    w = weight if weight.ndim == 4 else weight.reshape(*weight.shape, 1, 1)
    cout, cin_g, k, _ = w.shape
    if op == "dwconv":
        ct = _ceil(cout, cfg.icp)
        padded = np.zeros((ct * cfg.icp, k, k), dtype=np.int8)
        padded[:cout] = w[:, 0]
        return padded.reshape(ct, cfg.icp, k, k).transpose(0, 2, 3, 1).ravel()
    tiles, ct = _ceil(cout, cfg.ocp), _ceil(cin_g, cfg.icp)
    padded = np.zeros((tiles * cfg.ocp, ct * cfg.icp, k, k), dtype=np.int8)
    padded[:cout, :cin_g] = w
    return padded.reshape(tiles, cfg.ocp, ct, cfg.icp, k, k).transpose(0, 2, 4, 5, 1, 3).ravel()


def _params(q: QuantizedLayer) -> np.ndarray:
    _, bias = q.params()
    if q.requant.per_tensor:
        return bias.astype(np.int32)
    return np.stack([bias, q.requant.mult, q.requant.shift], axis=1).astype(np.int32).ravel()


def needs_multipliers(qnet: QuantizedNetwork) -> bool:
    """Whether a weighted layer of ``qnet`` requantizes with a multiplier (not a pure shift): the per-channel scheme."""
    return any(np.any(np.asarray(q.requant.mult) != 1) for q in qnet.layers if q.layer.op in (*_CONV_OPS, "dwconv"))


def _requant_problem(op: str, rq: Requant, cfg: EngineConfig) -> str | None:
    """Why the engine's requantization lanes for ``op`` cannot run ``rq`` (None if they can).

    The convolution array's and depthwise engine's lanes have the h-swish datapath and, when
    ``cfg.multipliers``, a multiplier; the element-wise lanes shift and clip only; the pool's one lane
    multiplies but has no h-swish.
    """
    mults = np.asarray(rq.mult)
    if op in ("conv", "dwconv"):
        if not cfg.multipliers and np.any(mults != 1):
            return ("requantizes with a multiplier (per-channel scheme) on an engine built without them; "
                    "build it with EngineConfig.from_accelerator(..., multipliers=True)")
        return None
    if rq.activation in ("h_swish", "h_sigmoid"):
        return f"{rq.activation} after a {op}: only the convolution and depthwise lanes have that datapath"
    if op != "pool" and np.any(mults != 1):
        return f"the element-wise unit requantizes by shifts only; this {op} needs multiplier {int(mults.max())}"
    return None


def build_program(qnet: QuantizedNetwork, cfg: EngineConfig) -> Program:
    """The program, packed weights and activation layout of ``qnet`` on the engine ``cfg``.

    Raises
    ------
    UnsupportedLayerError
        Every layer the engine cannot run or tile on this accelerator's buffers (all at once).
    """
    if len(qnet.layers) > MAX_LAYERS:
        raise UnsupportedLayerError([(qnet.layers[-1].name, f"the engine runs at most {MAX_LAYERS} layers, the "
                                                            f"network has {len(qnet.layers)}")], "engine")
    offsets = {INPUT: 0}
    cursor = _align(int(np.prod(qnet.input_shape)))
    for q in qnet.layers:
        offsets[q.name] = cursor
        cursor += _align(int(np.prod(q.layer.out_shape)))
    n = len(qnet.layers)
    prm_cursor = PROGRAM_HEADER + n * N_FIELDS
    wgt_cursor = 0
    layers, params, weights = [], [], []
    problems: list[tuple[str, str]] = []
    for q in qnet.layers:
        layer = q.layer
        try:
            op = _engine_op(q)
        except UnsupportedLayerError as exc:
            problems += exc.problems
            continue
        (cin, h, w), (cout, ho, wo) = layer.in_shape, layer.out_shape
        k, s, p = (layer.kernel, layer.stride, layer.pad) if op in ("conv", "dwconv") else (1, 1, 0)
        if layer.op in ("fc", "se_fc"):  # (C, 1, 1) -> (C', 1, 1), a 1x1 convolution
            k, s, p = 1, 1, 0
        if max(cin, cout) > cfg.max_channels:
            problems.append((q.name, f"{max(cin, cout)} channels exceed the engine's {cfg.max_channels}"))
            continue
        rq = q.requant
        per_channel = int(op in ("conv", "dwconv") and not rq.per_tensor)
        lane_problem = _requant_problem(op, rq, cfg)
        if lane_problem:
            problems.append((q.name, lane_problem))
            continue
        f = dict(op=OPS[op], cin=cin, h=h, w=w, cout=cout, ho=ho, wo=wo, k=k, s=s, p=p,
                 in0=offsets[q.inputs[0]], in1=offsets[q.inputs[1]] if len(q.inputs) > 1 else 0,
                 out=offsets[q.name], wgt=0, prm=0, act=ACT_CODES[rq.activation],
                 mult=0 if per_channel else int(rq.mult[0]), shift=0 if per_channel else int(rq.shift[0]),
                 lo=rq.lo, hi=rq.hi, fi=rq.fi, t_lo=rq.t_lo, t_hi=rq.t_hi, post=rq.post_shift,
                 per_channel=per_channel, sa=q.input_shifts[0] if q.input_shifts else 0,
                 sb=q.input_shifts[1] if q.input_shifts else 0, rows=0, chunk=0, obase=0)
        try:
            f["rows"], f["chunk"], f["obase"] = _tiling(q.name, op, f, cfg)
        except UnsupportedLayerError as exc:
            problems += exc.problems
            continue
        weight_bytes = param_words = 0
        if op in ("conv", "dwconv"):
            packed, table = _pack_weights(q, op, cfg), _params(q)
            f["wgt"], f["prm"] = wgt_cursor, prm_cursor
            weight_bytes, param_words = packed.size, table.size
            weights.append(np.pad(packed, (0, _align(packed.size) - packed.size)))
            params.append(table)
            wgt_cursor += _align(packed.size)
            prm_cursor += table.size
        if not all(-(2**31) <= int(v) < 2**31 for v in f.values()):
            problems.append((q.name, "a descriptor field exceeds int32"))
            continue
        layers.append(LayerProgram(q.name, op, f, weight_bytes, param_words))
    if problems:
        raise UnsupportedLayerError(problems, "engine")
    header = np.zeros(PROGRAM_HEADER, dtype=np.int32)
    header[:4] = [PROGRAM_MAGIC, PROGRAM_VERSION, n, N_FIELDS]
    words = np.concatenate([header, *(lp.descriptor() for lp in layers), *params]).astype(np.int32)
    packed = np.concatenate(weights) if weights else np.zeros(_ALIGN, dtype=np.int8)
    return Program(cfg, tuple(layers), words, packed.astype(np.int8), cursor, 0, qnet.input_shape)


# ---------------------------------------------------------------- cycle count
@dataclass
class _Counter:
    cfg: EngineConfig
    compute: int = 0
    transfer: int = 0
    ddr_bytes: int = 0

    def run(self, iterations: int) -> None:
        self.compute += iterations + self.cfg.pipeline_depth

    def move(self, nbytes: int, bursts: int = 1) -> None:
        den = self.cfg.ddr_mbps * 1000
        self.transfer += self.cfg.ddr_latency_cycles + bursts - 1 + (nbytes * self.cfg.clock_khz + den - 1) // den
        self.ddr_bytes += nbytes


def _window(cnt: _Counter, rows: int, width: int, channels: int, c0: int, cn: int) -> None:
    """A transfer of ``rows`` x ``width`` pixels, channels [c0, c0 + cn) of ``channels``.

    One burst when whole pixels move, else one per pixel.
    """
    if rows > 0:
        cnt.move(rows * width * cn, 1 if cn == channels else rows * width)


def _valid_rows(y0: int, rows: int, h: int) -> int:
    return min(y0 + rows, h) - max(y0, 0)


def _layer_cycles(op: str, f: dict, cfg: EngineConfig) -> _Counter:
    cnt = _Counter(cfg)
    cnt.move(N_FIELDS * 4)
    cin, h, w, cout, ho, wo, k, s, p, rows_per, chunk = (
        f[x] for x in ("cin", "h", "w", "cout", "ho", "wo", "k", "s", "p", "rows", "chunk"))
    ct = _ceil(cin, cfg.icp)
    bands = [(oy0, min(rows_per, ho - oy0)) for oy0 in range(0, ho, rows_per)]
    if op == "conv":
        cnt.move(cout * (3 if f["per_channel"] else 1) * 4)
        tiles, taps = _ceil(cout, cfg.ocp), ct * k * k
        chunks = _ceil(tiles, chunk)
        if chunks == 1:
            cnt.move(tiles * taps * cfg.ocp * cfg.icp)
        for oy0, rows in bands:
            _window(cnt, _valid_rows(oy0 * s - p, (rows - 1) * s + k, h), w, cin, 0, cin)
            for t0 in range(0, tiles, chunk):
                nt = min(chunk, tiles - t0)
                if chunks > 1:
                    cnt.move(nt * taps * cfg.ocp * cfg.icp)
                for _ in range(rows):
                    cnt.run(_ceil(wo, cfg.pp) * nt * taps)
                c0 = t0 * cfg.ocp
                _window(cnt, rows, wo, cout, c0, min((t0 + nt) * cfg.ocp, cout) - c0)
        return cnt
    if op == "dwconv":
        cnt.move(cout * (3 if f["per_channel"] else 1) * 4)
        for t0 in range(0, ct, chunk):
            nt = min(chunk, ct - t0)
            c0 = t0 * cfg.icp
            cn = min(cin - c0, nt * cfg.icp)
            cnt.move(nt * k * k * cfg.icp)
            for oy0, rows in bands:
                _window(cnt, _valid_rows(oy0 * s - p, (rows - 1) * s + k, h), w, cin, c0, cn)
                for _ in range(rows):
                    cnt.run(_ceil(wo, cfg.dw_pp) * nt * k * k)
                _window(cnt, rows, wo, cout, c0, cn)
        return cnt
    if op == "scale":
        cnt.move(cin)
    for y0 in range(0, h, rows_per):
        rows = min(rows_per, h - y0)
        for _ in range(2 if op == "add" else 1):
            _window(cnt, rows, w, cin, 0, cin)
        cnt.run(rows * _ceil(w, cfg.pp) * ct)
        if op != "pool":
            _window(cnt, rows, w, cin, 0, cin)
    if op == "pool":
        cnt.move(cin)
    return cnt


def engine_cycles(program: Program) -> list[dict]:
    """Per layer: ``{"name", "cycles", "compute_cycles", "transfer_cycles", "ddr_bytes"}``.

    The same count the C-simulation's counter makes (``CYCLES`` lines of the testbench): every
    pipelined tile loop at II = 1 plus :data:`hls.engine.PIPELINE_DEPTH` per entry, every DDR
    transfer at the accelerator's DDR bandwidth plus :data:`hls.engine.DDR_LATENCY_CYCLES`, one
    after the other (the engine does not overlap transfers with compute).
    """
    out = []
    for lp in program.layers:
        cnt = _layer_cycles(lp.engine_op, lp.fields, program.config)
        out.append({"name": lp.name, "cycles": cnt.compute + cnt.transfer, "compute_cycles": cnt.compute,
                    "transfer_cycles": cnt.transfer, "ddr_bytes": cnt.ddr_bytes})
    return out


def engine_latency_ms(program: Program) -> float:
    """Whole-network latency of the engine at its clock."""
    return sum(c["cycles"] for c in engine_cycles(program)) / program.config.clock_khz

