// Fully connected layer (also the 1x1 convolutions of squeeze-and-excitation), OI weights.
#ifndef OFA_HW_FC_H
#define OFA_HW_FC_H

#include "requant.h"

namespace ofa_hw {

template <int CIN, int COUT, int PE, int SIMD>
void fc(const act_t in[CIN], const wgt_t w[COUT * CIN], const bias_t b[COUT], const Requant& rq, act_t out[COUT]) {
    static_assert(COUT % PE == 0, "PE must divide COUT");
    static_assert(CIN % SIMD == 0, "SIMD must divide CIN");
fc_oc:
    for (int oc0 = 0; oc0 < COUT; oc0 += PE) {
        acc_t acc[PE];
#pragma HLS ARRAY_PARTITION variable = acc complete
        for (int pe = 0; pe < PE; ++pe) {
#pragma HLS UNROLL
            acc[pe] = b[oc0 + pe];
        }
    fc_ic:
        for (int ic0 = 0; ic0 < CIN; ic0 += SIMD) {
#pragma HLS PIPELINE II = 1
            for (int pe = 0; pe < PE; ++pe) {
#pragma HLS UNROLL
                for (int s = 0; s < SIMD; ++s) {
#pragma HLS UNROLL
                    acc[pe] += (acc_t)in[ic0 + s] * (acc_t)w[(oc0 + pe) * CIN + ic0 + s];
                }
            }
        }
        for (int pe = 0; pe < PE; ++pe) {
#pragma HLS UNROLL
            out[oc0 + pe] = activate(acc[pe], oc0 + pe, rq);
        }
    }
}

} // namespace ofa_hw

#endif
