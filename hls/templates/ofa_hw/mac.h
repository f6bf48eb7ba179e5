// Pieces every multiply-accumulate kernel shares: bias-initialised accumulators, zero padding,
// and the requantized write-back of PE output channels (CHW layout, PIX pixels per channel).
#ifndef OFA_HW_MAC_H
#define OFA_HW_MAC_H

#include "requant.h"

namespace ofa_hw {

template <int PE>
inline void init_acc(acc_t acc[PE], const bias_t b[], int oc0) {
#pragma HLS INLINE
    for (int pe = 0; pe < PE; ++pe) {
#pragma HLS UNROLL
        acc[pe] = b[oc0 + pe];
    }
}

// Input value at (c, iy, ix), 0 in the zero padding around the H x W plane.
template <int H, int W>
inline acc_t padded(const act_t in[], int c, int iy, int ix) {
#pragma HLS INLINE
    return (iy >= 0 && iy < H && ix >= 0 && ix < W) ? (acc_t)in[(c * H + iy) * W + ix] : 0;
}

template <int PE, int PIX>
inline void write_out(const acc_t acc[PE], int oc0, int px, const Requant& rq, act_t out[]) {
#pragma HLS INLINE
    for (int pe = 0; pe < PE; ++pe) {
#pragma HLS UNROLL
        out[(oc0 + pe) * PIX + px] = activate(acc[pe], oc0 + pe, rq);
    }
}

} // namespace ofa_hw

#endif
