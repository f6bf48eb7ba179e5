// Residual add: both operands are brought to the finer fix position by left shifts
// (SA, SB >= 0), added in int32, then requantized to the output fix position.
#ifndef OFA_HW_ADD_H
#define OFA_HW_ADD_H

#include "requant.h"

namespace ofa_hw {

template <int C, int HW, int SA, int SB>
void add(const act_t a[C * HW], const act_t b[C * HW], const Requant& rq, act_t out[C * HW]) {
    static_assert(SA >= 0 && SB >= 0 && SA < 23 && SB < 23, "alignment shifts must keep the sum in int32");
add_c:
    for (int c = 0; c < C; ++c) {
    add_px:
        for (int px = 0; px < HW; ++px) {
#pragma HLS PIPELINE II = 1
            const int i = c * HW + px;
            const acc_t sum = (acc_t)a[i] * (1 << SA) + (acc_t)b[i] * (1 << SB);
            out[i] = activate(sum, c, rq);
        }
    }
}

} // namespace ofa_hw

#endif
