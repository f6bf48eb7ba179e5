// Pointwise (1x1, stride 1) convolution over HW pixels, CHW activations, OI weights.
// With HW = 1 it is a fully connected layer (see fc.h).
#ifndef OFA_HW_PWCONV_H
#define OFA_HW_PWCONV_H

#include "mac.h"

namespace ofa_hw {

template <int CIN, int COUT, int HW, int PE, int SIMD>
void pwconv(const act_t in[CIN * HW], const wgt_t w[COUT * CIN], const bias_t b[COUT], const Requant& rq,
            act_t out[COUT * HW]) {
    static_assert(COUT % PE == 0, "PE must divide COUT");
    static_assert(CIN % SIMD == 0, "SIMD must divide CIN");
pw_oc:
    for (int oc0 = 0; oc0 < COUT; oc0 += PE) {
    pw_px:
        for (int px = 0; px < HW; ++px) {
            acc_t acc[PE];
#pragma HLS ARRAY_PARTITION variable = acc complete
            init_acc<PE>(acc, b, oc0);
        pw_ic:
            for (int ic0 = 0; ic0 < CIN; ic0 += SIMD) {
#pragma HLS PIPELINE II = 1
                for (int pe = 0; pe < PE; ++pe) {
#pragma HLS UNROLL
                    for (int s = 0; s < SIMD; ++s) {
#pragma HLS UNROLL
                        acc[pe] += (acc_t)in[(ic0 + s) * HW + px] * (acc_t)w[(oc0 + pe) * CIN + ic0 + s];
                    }
                }
            }
            write_out<PE, HW>(acc, oc0, px, rq, out);
        }
    }
}

} // namespace ofa_hw

#endif
