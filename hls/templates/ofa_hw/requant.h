// Requantization: int32 accumulator -> int8, the activation fused.
//   t = rshift_round(acc * mult[c], shift[c])
//   h-swish / h-sigmoid: t = clip(t, t_lo, t_hi); t = rshift_round(hswish_raw / hsigmoid_raw, post_shift)
//   y = clip(t, lo, hi)
// rshift_round rounds half up (add 2^(s-1), arithmetic shift right), like a DPU shifter.
// Right shifts of negative values are arithmetic on g++ and in Vitis HLS; left shifts are
// written as multiplications because shifting a negative value left is undefined in C++14.
#ifndef OFA_HW_REQUANT_H
#define OFA_HW_REQUANT_H

#include "hswish.h"
#include "types.h"

namespace ofa_hw {

inline wide_t rshift_round(wide_t v, int s) {
    if (s > 0) return (v + ((wide_t)1 << (s - 1))) >> s;
    if (s < 0) return v * ((wide_t)1 << (-s));
    return v;
}

inline act_t activate(acc_t acc, int c, const Requant& rq) {
#pragma HLS INLINE
    wide_t t = rshift_round((wide_t)acc * rq.mult[c], rq.shift[c]);
    if (rq.act == ACT_HSWISH || rq.act == ACT_HSIGMOID) {
        t = clamp_wide(t, rq.t_lo, rq.t_hi);
        const wide_t p = rq.act == ACT_HSWISH ? hswish_raw(t, rq.fi) : hsigmoid_raw(t, rq.fi);
        t = rshift_round(p, rq.post_shift);
    }
    return (act_t)clamp_wide(t, rq.lo, rq.hi);
}

} // namespace ofa_hw

#endif
