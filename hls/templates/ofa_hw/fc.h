// Fully connected layer (also the 1x1 convolutions of squeeze-and-excitation), OI weights:
// a pointwise convolution over a single pixel.
#ifndef OFA_HW_FC_H
#define OFA_HW_FC_H

#include "pwconv.h"

namespace ofa_hw {

template <int CIN, int COUT, int PE, int SIMD>
void fc(const act_t in[CIN], const wgt_t w[COUT * CIN], const bias_t b[COUT], const Requant& rq, act_t out[COUT]) {
    pwconv<CIN, COUT, 1, PE, SIMD>(in, w, b, rq, out);
}

} // namespace ofa_hw

#endif
