// Global average pooling: per channel, the int32 sum of H*W values is requantized by a
// multiplier + shift that carries both 1/(H*W) and the change of fix position.
#ifndef OFA_HW_AVGPOOL_H
#define OFA_HW_AVGPOOL_H

#include "requant.h"

namespace ofa_hw {

template <int C, int H, int W>
void avgpool_global(const act_t in[C * H * W], const Requant& rq, act_t out[C]) {
pool_c:
    for (int c = 0; c < C; ++c) {
        acc_t sum = 0;
    pool_px:
        for (int px = 0; px < H * W; ++px) {
#pragma HLS PIPELINE II = 1
            sum += in[c * H * W + px];
        }
        out[c] = activate(sum, c, rq);
    }
}

} // namespace ofa_hw

#endif
