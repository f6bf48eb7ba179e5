// Squeeze-and-excitation channel scale: y[c, p] = requant(x[c, p] * gate[c]).
// (The squeeze - global pool, reduce fc + ReLU, expand fc + h-sigmoid - uses
// avgpool_global and fc, so every step has its own golden tensor.)
#ifndef OFA_HW_SE_H
#define OFA_HW_SE_H

#include "requant.h"

namespace ofa_hw {

template <int C, int HW>
void se_scale(const act_t x[C * HW], const act_t gate[C], const Requant& rq, act_t out[C * HW]) {
se_c:
    for (int c = 0; c < C; ++c) {
        const acc_t g = gate[c];
    se_px:
        for (int px = 0; px < HW; ++px) {
#pragma HLS PIPELINE II = 1
            out[c * HW + px] = activate((acc_t)x[c * HW + px] * g, c, rq);
        }
    }
}

} // namespace ofa_hw

#endif
