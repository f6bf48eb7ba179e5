// Depthwise KxK convolution with stride S (groups = C), CHW activations, C x 1 x K x K weights.
// PE channels are computed in parallel.
#ifndef OFA_HW_DWCONV_H
#define OFA_HW_DWCONV_H

#include "mac.h"

namespace ofa_hw {

template <int C, int H, int W, int K, int S, int P, int HO, int WO, int PE>
void dwconv(const act_t in[C * H * W], const wgt_t w[C * K * K], const bias_t b[C], const Requant& rq,
            act_t out[C * HO * WO]) {
    static_assert(C % PE == 0, "PE must divide C");
    static_assert(HO == (H + 2 * P - K) / S + 1 && WO == (W + 2 * P - K) / S + 1, "output size");
dw_c:
    for (int c0 = 0; c0 < C; c0 += PE) {
    dw_oy:
        for (int oy = 0; oy < HO; ++oy) {
        dw_ox:
            for (int ox = 0; ox < WO; ++ox) {
                acc_t acc[PE];
#pragma HLS ARRAY_PARTITION variable = acc complete
                init_acc<PE>(acc, b, c0);
            dw_k:
                for (int ky = 0; ky < K; ++ky) {
                    for (int kx = 0; kx < K; ++kx) {
#pragma HLS PIPELINE II = 1
                        for (int pe = 0; pe < PE; ++pe) {
#pragma HLS UNROLL
                            const int c = c0 + pe;
                            acc[pe] += padded<H, W>(in, c, oy * S + ky - P, ox * S + kx - P) *
                                       (acc_t)w[(c * K + ky) * K + kx];
                        }
                    }
                }
                write_out<PE, HO * WO>(acc, c0, oy * WO + ox, rq, out);
            }
        }
    }
}

} // namespace ofa_hw

#endif
