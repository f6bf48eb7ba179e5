// Dense KxK convolution (groups = 1), CHW activations, OIHW weights, zero padding P.
// PE output channels x SIMD input channels are computed per cycle (FINN-style folding).
#ifndef OFA_HW_CONV_H
#define OFA_HW_CONV_H

#include "mac.h"

namespace ofa_hw {

template <int CIN, int COUT, int H, int W, int K, int S, int P, int HO, int WO, int PE, int SIMD>
void conv2d(const act_t in[CIN * H * W], const wgt_t w[COUT * CIN * K * K], const bias_t b[COUT],
            const Requant& rq, act_t out[COUT * HO * WO]) {
    static_assert(COUT % PE == 0, "PE must divide COUT");
    static_assert(CIN % SIMD == 0, "SIMD must divide CIN");
    static_assert(HO == (H + 2 * P - K) / S + 1 && WO == (W + 2 * P - K) / S + 1, "output size");
conv_oc:
    for (int oc0 = 0; oc0 < COUT; oc0 += PE) {
    conv_oy:
        for (int oy = 0; oy < HO; ++oy) {
        conv_ox:
            for (int ox = 0; ox < WO; ++ox) {
                acc_t acc[PE];
#pragma HLS ARRAY_PARTITION variable = acc complete
                init_acc<PE>(acc, b, oc0);
            conv_ic:
                for (int ic0 = 0; ic0 < CIN; ic0 += SIMD) {
                    for (int ky = 0; ky < K; ++ky) {
                        for (int kx = 0; kx < K; ++kx) {
#pragma HLS PIPELINE II = 1
                            for (int pe = 0; pe < PE; ++pe) {
#pragma HLS UNROLL
                                for (int s = 0; s < SIMD; ++s) {
#pragma HLS UNROLL
                                    const int ic = ic0 + s;
                                    acc[pe] += padded<H, W>(in, ic, oy * S + ky - P, ox * S + kx - P) *
                                               (acc_t)w[(((oc0 + pe) * CIN + ic) * K + ky) * K + kx];
                                }
                            }
                        }
                    }
                }
                write_out<PE, HO * WO>(acc, oc0, oy * WO + ox, rq, out);
            }
        }
    }
}

} // namespace ofa_hw

#endif
