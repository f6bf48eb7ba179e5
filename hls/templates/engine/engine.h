// ofa-hw DPU-like engine: one PP x ICP x OCP convolution array, a depthwise engine of DW_PP pixels,
// an element-wise unit (residual add, SE scale, global average pool) and on-chip buffers of the
// accelerator's sizes. The network is a program: one descriptor per layer (program.h) that the
// engine walks; activations (channel-last, HWC) and packed weights live in DDR.
//
// Synthesis rules this file keeps (checked by tests/test_hls_structure.py): every on-chip array
// has a size from engine_config.h; every loop has a constant bound or a LOOP_TRIPCOUNT; no
// dynamic memory, no pointers to pointers; plain C++11 with fixed-width integers.
#ifndef OFA_HW_ENGINE_H
#define OFA_HW_ENGINE_H

#include <cstdint>

#include "engine_config.h"
#include "program.h"

namespace ofa_hw {

typedef int8_t act_t;
typedef int8_t wgt_t;
typedef int32_t acc_t;
typedef int64_t wide_t;

// 1/6 of h-sigmoid / h-swish as HSIG_MULT / 2^HSIG_SHIFT (the DPU's approximation).
const wide_t HSIG_MULT = 2731;

#ifndef __SYNTHESIS__
// C-simulation only: cycle count of each layer (tile loops at II = 1 plus pipeline fill; a DDR transfer
// of `bursts` bursts at the board's bandwidth, plus one AXI latency and one cycle per further burst:
// the m_axi adapter keeps several bursts outstanding, so only the first one's latency shows).
namespace sim {
extern int64_t layer_cycles[MAX_LAYERS];
extern int64_t layer_compute_cycles[MAX_LAYERS];
extern int64_t layer_transfer_cycles[MAX_LAYERS];
extern int64_t layer_ddr_bytes[MAX_LAYERS];
extern int current;
inline void compute(int64_t iterations) {
    layer_compute_cycles[current] += iterations + PIPELINE_DEPTH;
    layer_cycles[current] += iterations + PIPELINE_DEPTH;
}
inline void transfer(int64_t bytes, int64_t bursts) {
    const int64_t den = (int64_t)DDR_MBPS * 1000;
    const int64_t cycles = DDR_LATENCY_CYCLES + (bursts - 1) + (bytes * CLOCK_KHZ + den - 1) / den;
    layer_transfer_cycles[current] += cycles;
    layer_cycles[current] += cycles;
    layer_ddr_bytes[current] += bytes;
}
} // namespace sim
#define OFA_SIM_COMPUTE(n) sim::compute(n)
#define OFA_SIM_TRANSFER(n, bursts) sim::transfer(n, bursts)
#else
#define OFA_SIM_COMPUTE(n) ((void)(n))
#define OFA_SIM_TRANSFER(n, bursts) ((void)(n), (void)(bursts))
#endif

// ------------------------------------------------------------------ requantization
// t = rshift_round(acc * mult, shift); h-swish / h-sigmoid on t at fix position fi; clip to [lo, hi].
// rshift_round rounds half up (add 2^(s-1), arithmetic shift right), like a DPU shifter.
struct Requant {
    int32_t act, lo, hi, fi, t_lo, t_hi, post;
};

inline wide_t rshift_round(wide_t v, int32_t s) {
#pragma HLS INLINE
    if (s > 0) return (v + ((wide_t)1 << (s - 1))) >> s;
    if (s < 0) return v * ((wide_t)1 << (-s));
    return v;
}

inline wide_t clamp_wide(wide_t v, wide_t lo, wide_t hi) {
#pragma HLS INLINE
    return v < lo ? lo : (v > hi ? hi : v);
}

// MULT: the lane has a requantization multiplier (REQUANT_MULT: the per-channel scheme; a power-of-two
// program has mult == 1 everywhere and the engine is built without them). HSWISH: the lane has the
// h-swish / h-sigmoid datapath (the convolution array and the depthwise engine; the element-wise unit
// and the pool run shifts and clipping only, which build_program checks).
template <bool MULT, bool HSWISH>
inline act_t requantize(acc_t acc, int32_t mult, int32_t shift, const Requant& rq) {
#pragma HLS INLINE
    wide_t t = rshift_round(MULT ? (wide_t)acc * mult : (wide_t)acc, shift);
    if (HSWISH && (rq.act == ACT_HSWISH || rq.act == ACT_HSIGMOID)) {
        t = clamp_wide(t, rq.t_lo, rq.t_hi);
        const wide_t three = (wide_t)3 << rq.fi;
        const wide_t r = clamp_wide(t + three, 0, 2 * three);
        t = rshift_round((rq.act == ACT_HSWISH ? t * r : r) * HSIG_MULT, rq.post);
    }
    return (act_t)clamp_wide(t, rq.lo, rq.hi);
}

// ------------------------------------------------------------------ packed int8 multiplies
// Two int8 x int8 products that share the operand c in one multiplication, as one DSP48E2 computes them
// (Xilinx WP486, "Deep Learning with INT8 Optimization on Xilinx Devices": a and b in one 27-bit port,
// c in the 18-bit port): p = (a * 2^18 + b) * c. The low 18 bits hold b * c (|b * c| <= 2^14, sign
// extended), the rest a * c exactly; divisions are exact, so no implementation-defined shifts.
const int64_t PACK = 262144;  // 2^18
inline void mul2(act_t a, act_t b, act_t c, acc_t& ac, acc_t& bc) {
#pragma HLS INLINE
    const int64_t p = ((int64_t)a * PACK + b) * c;
    int64_t lo = p % PACK;
    if (lo < 0) lo += PACK;
    if (lo >= PACK / 2) lo -= PACK;
    bc = (acc_t)lo;
    ac = (acc_t)((p - lo) / PACK);
}

// ------------------------------------------------------------------ the on-chip buffers
// Declared (and partitioned) in the top function; every engine function takes the ones it uses:
//   ibuf  input tiles, PP pixel banks x ICP input-channel lanes      (half of the activation buffer)
//   obuf  output tiles of the convolution array, PP x OCP banks       (the other half)
//   wbuf  weight tiles, OCP x ICP bytes per address                   (the weight buffer)
//   bias_buf / mult_buf / shift_buf  per output channel requantization parameters
//   macc  element-wise unit: pool sums and SE gates per channel
#define IBUF act_t ibuf[PP][ICP][IB_DEPTH]
#define OBUF act_t obuf[PP][OCP][OB_DEPTH]
#define WBUF wgt_t wbuf[OCP][ICP][WB_DEPTH]
#define PBUF acc_t bias_buf[LANES][PB_DEPTH], int32_t mult_buf[LANES][PB_DEPTH], int32_t shift_buf[LANES][PB_DEPTH]
#define MACC acc_t macc[ICP][MB_DEPTH]

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

struct Layer {
    int op, cin, h, w, cout, ho, wo, k, s, p;
    int in0, in1, out, wgt, prm;
    Requant rq;
    int32_t mult, shift;
    int per_channel, sa, sb, rows, chunk, obase;
};

inline Layer decode(const int32_t d[N_FIELDS]) {
    Layer l;
    l.op = d[F_OP]; l.cin = d[F_CIN]; l.h = d[F_H]; l.w = d[F_W]; l.cout = d[F_COUT];
    l.ho = d[F_HO]; l.wo = d[F_WO]; l.k = d[F_K]; l.s = d[F_S]; l.p = d[F_P];
    l.in0 = d[F_IN0]; l.in1 = d[F_IN1]; l.out = d[F_OUT]; l.wgt = d[F_WGT]; l.prm = d[F_PRM];
    l.rq.act = d[F_ACT]; l.rq.lo = d[F_LO]; l.rq.hi = d[F_HI]; l.rq.fi = d[F_FI];
    l.rq.t_lo = d[F_TLO]; l.rq.t_hi = d[F_THI]; l.rq.post = d[F_POST];
    l.mult = d[F_MULT]; l.shift = d[F_SHIFT]; l.per_channel = d[F_PERCH];
    l.sa = d[F_SA]; l.sb = d[F_SB]; l.rows = d[F_ROWS]; l.chunk = d[F_CHUNK]; l.obase = d[F_OBASE];
    return l;
}

// ------------------------------------------------------------------ DDR -> buffers
// Rows [y0, y0 + rows) clipped to the tensor (from lo = max(y0, 0)) and channels [c0, c0 + cn) of an HWC
// tensor of c channels into ibuf at `base`: pixel x in bank (x / s) % PP, channel c0 + u * ICP + i in lane i,
// address base + (((y - lo) * s + x % s) * xg + x / s / PP) * ceil(cn / ICP) + u. Padding rows are not
// stored (reads outside the tensor are zero). Whole pixels (cn == c) are one contiguous burst.
inline void load_rows(const act_t* act, int offset, int y0, int rows, int h, int w, int c, int c0, int cn, int s,
                      int base, IBUF) {
    const int ct = ceil_div(cn, ICP), xg = ceil_div(ceil_div(w, s), PP);
    const int lo = y0 < 0 ? 0 : y0, hi = y0 + rows > h ? h : y0 + rows;
    if (hi <= lo) return;
    OFA_SIM_TRANSFER((int64_t)(hi - lo) * w * cn, cn == c ? 1 : (hi - lo) * w);
    const int n = (hi - lo) * w * ct;
load_rows:
    for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT max = IB_DEPTH
#pragma HLS PIPELINE II = 1
        const int u = j % ct, x = (j / ct) % w, y = lo + j / ct / w;
        const int addr = base + (((y - lo) * s + x % s) * xg + x / s / PP) * ct + u;
        for (int i = 0; i < ICP; ++i) {
#pragma HLS UNROLL
            const int ch = u * ICP + i;
            ibuf[(x / s) % PP][i][addr] = ch < cn ? act[offset + (y * w + x) * c + c0 + ch] : (act_t)0;
        }
    }
}

// Per-channel bias / multiplier / shift of a weighted layer from the program into the parameter buffers.
inline void load_params(const int32_t* prog, const Layer& l, int lanes, PBUF) {
    const int words = l.per_channel ? 3 : 1;
    OFA_SIM_TRANSFER((int64_t)l.cout * words * 4, 1);
load_params:
    for (int c = 0; c < l.cout; ++c) {
#pragma HLS LOOP_TRIPCOUNT max = MAX_CHANNELS
#pragma HLS PIPELINE II = 1
        const int lane = c % lanes, t = c / lanes;
        bias_buf[lane][t] = prog[l.prm + c * words];
        mult_buf[lane][t] = l.per_channel ? prog[l.prm + c * words + 1] : l.mult;
        shift_buf[lane][t] = l.per_channel ? prog[l.prm + c * words + 2] : l.shift;
    }
}

// Weight tiles [t0, t0 + nt) of a layer: nt * taps addresses of OCP x ICP (dense) or ICP (depthwise) bytes.
inline void load_weights(const wgt_t* wgt, int offset, int t0, int nt, int taps, int dense, WBUF) {
    const int words = dense ? OCP * ICP : ICP;
    OFA_SIM_TRANSFER((int64_t)nt * taps * words, 1);
    const int n = nt * taps;
load_weights:
    for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT max = WB_DEPTH
#pragma HLS PIPELINE II = 1
        const int src = offset + (t0 * taps + j) * words;
        for (int o = 0; o < OCP; ++o) {
#pragma HLS UNROLL
            for (int i = 0; i < ICP; ++i) {
#pragma HLS UNROLL
                if (dense || o == 0) wbuf[o][i][j] = wgt[src + (dense ? o * ICP + i : i)];
            }
        }
    }
}

// ------------------------------------------------------------------ dense / pointwise / fully connected
// One band of output rows [oy0, oy0 + rows) for output-channel tiles [t0, t0 + nt): a single pipelined
// loop per row over (pixel group, channel tile, input-channel tile, ky, kx) at II = 1.
inline void conv_rows(const Layer& l, int oy0, int rows, int ylo, int t0, int nt, IBUF, OBUF, WBUF, PBUF) {
    const int ct = ceil_div(l.cin, ICP), xg = ceil_div(ceil_div(l.w, l.s), PP), gx = ceil_div(l.wo, PP);
    const int taps = ct * l.k * l.k, n = gx * nt * taps;
conv_rows:
    for (int r = 0; r < rows; ++r) {
#pragma HLS LOOP_TRIPCOUNT max = OB_DEPTH
        OFA_SIM_COMPUTE(n);
        acc_t acc[PP][OCP];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
        int g = 0, t = 0, u = 0, ky = 0, kx = 0;
    conv_tile:
        for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT max = WB_DEPTH
#pragma HLS PIPELINE II = 1
            const int tap = u * l.k * l.k + ky * l.k + kx;
            const int y = (oy0 + r) * l.s + ky - l.p;
            for (int p = 0; p < PP; ++p) {
#pragma HLS UNROLL
                const int x = (g * PP + p) * l.s + kx - l.p;
                const bool valid = y >= 0 && y < l.h && x >= 0 && x < l.w;
                const int xs = valid ? x / l.s : 0, xm = valid ? x % l.s : 0;
                const int addr = (((y - ylo) * l.s + xm) * xg + xs / PP) * ct + u;
                acc_t sum[OCP];
#pragma HLS ARRAY_PARTITION variable = sum complete
                for (int o = 0; o < OCP; ++o) {
#pragma HLS UNROLL
                    sum[o] = tap == 0 ? bias_buf[o][t0 + t] : acc[p][o];
                }
                for (int i = 0; i < ICP; ++i) {
#pragma HLS UNROLL
                    const act_t a = valid ? ibuf[xs % PP][i][valid ? addr : 0] : (act_t)0;
                    for (int o = 0; o < OCP; o += 2) {  // output channels o, o + 1 share the activation: one DSP
#pragma HLS UNROLL
                        acc_t hi = 0, lo = 0;
                        mul2(wbuf[o][i][t * taps + tap], o + 1 < OCP ? wbuf[o + 1 < OCP ? o + 1 : o][i][t * taps + tap]
                                                                     : (wgt_t)0, a, hi, lo);
                        sum[o] += hi;
                        if (o + 1 < OCP) sum[o + 1] += lo;
                    }
                }
                for (int o = 0; o < OCP; ++o) {
#pragma HLS UNROLL
                    acc[p][o] = sum[o];
                    if (tap == taps - 1)
                        obuf[p][o][(r * gx + g) * nt + t] =
                            requantize<REQUANT_MULT != 0, true>(sum[o], mult_buf[o][t0 + t], shift_buf[o][t0 + t], l.rq);
                }
            }
            if (++kx == l.k) { kx = 0; if (++ky == l.k) { ky = 0; if (++u == ct) { u = 0; if (++t == nt) { t = 0; ++g; } } } }
        }
    }
}

// Output tiles of obuf back to DDR (HWC): channels [t0 * OCP, (t0 + nt) * OCP) of rows [oy0, oy0 + rows).
inline void store_obuf(act_t* act, const Layer& l, int oy0, int rows, int t0, int nt, OBUF) {
    const int gx = ceil_div(l.wo, PP);
    const int c0 = t0 * OCP, c1 = (t0 + nt) * OCP < l.cout ? (t0 + nt) * OCP : l.cout;
    OFA_SIM_TRANSFER((int64_t)rows * l.wo * (c1 - c0), c1 - c0 == l.cout ? 1 : rows * l.wo);  // whole pixels: 1 burst
    const int n = rows * l.wo * nt;
store_obuf:
    for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT max = OB_DEPTH
#pragma HLS PIPELINE II = 1
        const int t = j % nt, ox = (j / nt) % l.wo, r = j / nt / l.wo;
        for (int o = 0; o < OCP; ++o) {
#pragma HLS UNROLL
            const int ch = (t0 + t) * OCP + o;
            if (ch < l.cout) act[l.out + ((oy0 + r) * l.wo + ox) * l.cout + ch] = obuf[ox % PP][o][(r * gx + ox / PP) * nt + t];
        }
    }
}

inline void run_conv(act_t* act, const wgt_t* wgt, const int32_t* prog, const Layer& l, IBUF, OBUF, WBUF, PBUF) {
    load_params(prog, l, OCP, bias_buf, mult_buf, shift_buf);
    const int tiles = ceil_div(l.cout, OCP), taps = ceil_div(l.cin, ICP) * l.k * l.k;
    const int chunks = ceil_div(tiles, l.chunk);
    if (chunks == 1) load_weights(wgt, l.wgt, 0, tiles, taps, 1, wbuf);
conv_bands:
    for (int oy0 = 0; oy0 < l.ho; oy0 += l.rows) {
#pragma HLS LOOP_TRIPCOUNT max = 64
        const int rows = oy0 + l.rows > l.ho ? l.ho - oy0 : l.rows;
        const int y0 = oy0 * l.s - l.p;
        load_rows(act, l.in0, y0, (rows - 1) * l.s + l.k, l.h, l.w, l.cin, 0, l.cin, l.s, 0, ibuf);
    conv_chunks:
        for (int t0 = 0; t0 < tiles; t0 += l.chunk) {
#pragma HLS LOOP_TRIPCOUNT max = 64
            const int nt = t0 + l.chunk > tiles ? tiles - t0 : l.chunk;
            if (chunks > 1) load_weights(wgt, l.wgt, t0, nt, taps, 1, wbuf);
            conv_rows(l, oy0, rows, y0 < 0 ? 0 : y0, t0, nt, ibuf, obuf, wbuf, bias_buf, mult_buf, shift_buf);
            store_obuf(act, l, oy0, rows, t0, nt, obuf);
        }
    }
}

// ------------------------------------------------------------------ depthwise engine
// Output of a band in ibuf from address obase back to DDR: channels [c0, c0 + cn) of an HWC tensor of c
// channels, pixel ox in bank ox % PP, channel c0 + u * ICP + i in lane i.
inline void store_upper(act_t* act, int offset, int oy0, int rows, int wo, int c, int c0, int cn, int obase,
                        IBUF) {
    const int ct = ceil_div(cn, ICP), gx = ceil_div(wo, PP);
    OFA_SIM_TRANSFER((int64_t)rows * wo * cn, cn == c ? 1 : rows * wo);
    const int n = rows * wo * ct;
store_upper:
    for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT max = IB_DEPTH
#pragma HLS PIPELINE II = 1
        const int u = j % ct, ox = (j / ct) % wo, r = j / ct / wo;
        for (int i = 0; i < ICP; ++i) {
#pragma HLS UNROLL
            const int ch = u * ICP + i;
            if (ch < cn) act[offset + ((oy0 + r) * wo + ox) * c + c0 + ch] = ibuf[ox % PP][i][obase + (r * gx + ox / PP) * ct + u];
        }
    }
}

// One band of output rows for channel tiles [t0, t0 + nt) (their input rows in ibuf from address 0, their
// output from obase): a single pipelined loop per row over (pixel group, channel tile, ky, kx) at II = 1.
inline void dw_rows(const Layer& l, int oy0, int rows, int ylo, int t0, int nt, IBUF, WBUF, PBUF) {
    const int xg = ceil_div(ceil_div(l.w, l.s), PP);
    const int gd = ceil_div(l.wo, DW_PP), gx = ceil_div(l.wo, PP), taps = l.k * l.k, n = gd * nt * taps;
dw_rows:
    for (int r = 0; r < rows; ++r) {
#pragma HLS LOOP_TRIPCOUNT max = IB_HALF
        OFA_SIM_COMPUTE(n);
        acc_t acc[DW_PP][ICP];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
        int g = 0, t = 0, ky = 0, kx = 0;
    dw_tile:
        for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT max = WB_DEPTH
#pragma HLS PIPELINE II = 1
            const int tap = ky * l.k + kx;
            const int y = (oy0 + r) * l.s + ky - l.p;
            act_t a[DW_PP][ICP];
#pragma HLS ARRAY_PARTITION variable = a complete dim = 0
            for (int p = 0; p < DW_PP; ++p) {
#pragma HLS UNROLL
                const int x = (g * DW_PP + p) * l.s + kx - l.p;
                const bool valid = y >= 0 && y < l.h && x >= 0 && x < l.w;
                const int xs = valid ? x / l.s : 0, xm = valid ? x % l.s : 0;
                const int addr = (((y - ylo) * l.s + xm) * xg + xs / PP) * nt + t;
                for (int i = 0; i < ICP; ++i) {
#pragma HLS UNROLL
                    a[p][i] = valid ? ibuf[xs % PP][i][valid ? addr : 0] : (act_t)0;
                }
            }
            for (int p = 0; p < DW_PP; p += 2) {  // pixels p, p + 1 share the channel's weight: one DSP
#pragma HLS UNROLL
                for (int i = 0; i < ICP; ++i) {
#pragma HLS UNROLL
                    acc_t hi = 0, lo = 0;
                    mul2(a[p][i], p + 1 < DW_PP ? a[p + 1 < DW_PP ? p + 1 : p][i] : (act_t)0, wbuf[0][i][t * taps + tap],
                         hi, lo);
                    for (int d = 0; d < 2; ++d) {
#pragma HLS UNROLL
                        const int q = p + d, ox = g * DW_PP + q;
                        if (q >= DW_PP) continue;
                        const acc_t sum = (tap == 0 ? bias_buf[i][t0 + t] : acc[q][i]) + (d == 0 ? hi : lo);
                        acc[q][i] = sum;
                        if (tap == taps - 1 && ox < l.wo)
                            ibuf[ox % PP][i][l.obase + (r * gx + ox / PP) * nt + t] =
                                requantize<REQUANT_MULT != 0, true>(sum, mult_buf[i][t0 + t], shift_buf[i][t0 + t], l.rq);
                    }
                }
            }
            if (++kx == l.k) { kx = 0; if (++ky == l.k) { ky = 0; if (++t == nt) { t = 0; ++g; } } }
        }
    }
}

// Channels are independent: chunks of channel tiles (their weights loaded once) outside, bands of rows inside.
inline void run_dwconv(act_t* act, const wgt_t* wgt, const int32_t* prog, const Layer& l, IBUF, WBUF, PBUF) {
    load_params(prog, l, ICP, bias_buf, mult_buf, shift_buf);
    const int tiles = ceil_div(l.cin, ICP), taps = l.k * l.k;
dw_chunks:
    for (int t0 = 0; t0 < tiles; t0 += l.chunk) {
#pragma HLS LOOP_TRIPCOUNT max = 64
        const int nt = t0 + l.chunk > tiles ? tiles - t0 : l.chunk;
        const int c0 = t0 * ICP, cn = c0 + nt * ICP > l.cin ? l.cin - c0 : nt * ICP;
        load_weights(wgt, l.wgt, t0, nt, taps, 0, wbuf);
    dw_bands:
        for (int oy0 = 0; oy0 < l.ho; oy0 += l.rows) {
#pragma HLS LOOP_TRIPCOUNT max = 64
            const int rows = oy0 + l.rows > l.ho ? l.ho - oy0 : l.rows;
            const int y0 = oy0 * l.s - l.p;
            load_rows(act, l.in0, y0, (rows - 1) * l.s + l.k, l.h, l.w, l.cin, c0, cn, l.s, 0, ibuf);
            dw_rows(l, oy0, rows, y0 < 0 ? 0 : y0, t0, nt, ibuf, wbuf, bias_buf, mult_buf, shift_buf);
            store_upper(act, l.out, oy0, rows, l.wo, l.cout, c0, cn, l.obase, ibuf);
        }
    }
}

// ------------------------------------------------------------------ element-wise unit
// Residual add (two operands aligned by left shifts) and SE scale (x times a per-channel gate),
// PP pixels x ICP channels per cycle, result in ibuf from obase (its upper half).
inline void run_eltwise(act_t* act, const Layer& l, IBUF, MACC) {
    const int ct = ceil_div(l.cin, ICP), xg = ceil_div(l.w, PP);
    if (l.op == OP_SCALE) {
        OFA_SIM_TRANSFER(l.cin, 1);
    load_gate:
        for (int c = 0; c < l.cin; ++c) {
#pragma HLS LOOP_TRIPCOUNT max = MAX_CHANNELS
#pragma HLS PIPELINE II = 1
            macc[c % ICP][c / ICP] = act[l.in1 + c];
        }
    }
eltwise_bands:
    for (int y0 = 0; y0 < l.h; y0 += l.rows) {
#pragma HLS LOOP_TRIPCOUNT max = 64
        const int rows = y0 + l.rows > l.h ? l.h - y0 : l.rows;
        load_rows(act, l.in0, y0, rows, l.h, l.w, l.cin, 0, l.cin, 1, 0, ibuf);
        if (l.op == OP_ADD) load_rows(act, l.in1, y0, rows, l.h, l.w, l.cin, 0, l.cin, 1, IB_QUARTER, ibuf);
        const int n = rows * xg * ct;
        OFA_SIM_COMPUTE(n);
    eltwise:
        for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT max = IB_QUARTER
#pragma HLS PIPELINE II = 1
            const int u = j % ct;
            for (int p = 0; p < PP; p += 2) {  // pixels p, p + 1 share the channel's SE gate: one DSP
#pragma HLS UNROLL
                for (int i = 0; i < ICP; ++i) {
#pragma HLS UNROLL
                    acc_t hi = 0, lo = 0;
                    if (l.op == OP_SCALE)
                        mul2(ibuf[p][i][j], p + 1 < PP ? ibuf[p + 1 < PP ? p + 1 : p][i][j] : (act_t)0,
                             (act_t)macc[i][u], hi, lo);
                    for (int d = 0; d < 2; ++d) {
#pragma HLS UNROLL
                        const int q = p + d;
                        if (q >= PP) continue;
                        const acc_t v = l.op == OP_ADD ? (acc_t)ibuf[q][i][j] * (1 << l.sa) +
                                                             (acc_t)ibuf[q][i][IB_QUARTER + j] * (1 << l.sb)
                                                       : (d == 0 ? hi : lo);
                        ibuf[q][i][l.obase + j] = requantize<false, false>(v, l.mult, l.shift, l.rq);
                    }
                }
            }
        }
        store_upper(act, l.out, y0, rows, l.w, l.cin, 0, l.cin, l.obase, ibuf);
    }
}

// Global average pool: per-channel sums in macc over bands of rows, then one requantized value per channel.
inline void run_pool(act_t* act, const Layer& l, IBUF, MACC) {
    const int ct = ceil_div(l.cin, ICP), xg = ceil_div(l.w, PP);
pool_clear:
    for (int u = 0; u < ct; ++u) {
#pragma HLS LOOP_TRIPCOUNT max = MB_DEPTH
#pragma HLS PIPELINE II = 1
        for (int i = 0; i < ICP; ++i) {
#pragma HLS UNROLL
            macc[i][u] = 0;
        }
    }
pool_bands:
    for (int y0 = 0; y0 < l.h; y0 += l.rows) {
#pragma HLS LOOP_TRIPCOUNT max = 64
        const int rows = y0 + l.rows > l.h ? l.h - y0 : l.rows;
        load_rows(act, l.in0, y0, rows, l.h, l.w, l.cin, 0, l.cin, 1, 0, ibuf);
        const int n = rows * xg * ct;
        OFA_SIM_COMPUTE(n);
    pool_sum:
        for (int j = 0; j < n; ++j) {
#pragma HLS LOOP_TRIPCOUNT max = IB_DEPTH
#pragma HLS PIPELINE II = 1
            const int u = j % ct, x0 = ((j / ct) % xg) * PP;
            for (int i = 0; i < ICP; ++i) {
#pragma HLS UNROLL
                acc_t sum = 0;
                for (int p = 0; p < PP; ++p) {
#pragma HLS UNROLL
                    sum += x0 + p < l.w ? (acc_t)ibuf[p][i][j] : 0;
                }
                macc[i][u] += sum;
            }
        }
    }
    OFA_SIM_TRANSFER(l.cin, 1);
pool_out:
    for (int c = 0; c < l.cin; ++c) {
#pragma HLS LOOP_TRIPCOUNT max = MAX_CHANNELS
#pragma HLS PIPELINE II = 1
        act[l.out + c] = requantize<true, false>(macc[c % ICP][c / ICP], l.mult, l.shift, l.rq);
    }
}

// ------------------------------------------------------------------ the program walker
inline void run_program(act_t* act, const wgt_t* wgt, const int32_t* prog, IBUF, OBUF, WBUF, PBUF, MACC) {
    const int n_layers = prog[P_LAYERS];
program:
    for (int index = 0; index < n_layers; ++index) {
#pragma HLS LOOP_TRIPCOUNT max = MAX_LAYERS
        int32_t d[N_FIELDS];
#pragma HLS ARRAY_PARTITION variable = d complete
#ifndef __SYNTHESIS__
        sim::current = index;
#endif
        OFA_SIM_TRANSFER(N_FIELDS * 4, 1);
    fetch:
        for (int f = 0; f < N_FIELDS; ++f) {
#pragma HLS PIPELINE II = 1
            d[f] = prog[PROGRAM_HEADER + index * N_FIELDS + f];
        }
        const Layer l = decode(d);
        if (l.op == OP_CONV) run_conv(act, wgt, prog, l, ibuf, obuf, wbuf, bias_buf, mult_buf, shift_buf);
        else if (l.op == OP_DWCONV) run_dwconv(act, wgt, prog, l, ibuf, wbuf, bias_buf, mult_buf, shift_buf);
        else if (l.op == OP_POOL) run_pool(act, l, ibuf, macc);
        else run_eltwise(act, l, ibuf, macc);
    }
}

} // namespace ofa_hw

#endif
