// Integer h-sigmoid and h-swish on an intermediate t at fix position fi:
//   r = clip(t + 3*2^fi, 0, 6*2^fi)            (= relu6(x + 3) at fix fi)
//   h_sigmoid = r * HSIG_MULT                  (at fix fi + HSIG_SHIFT)
//   h_swish   = t * r * HSIG_MULT              (at fix 2*fi + HSIG_SHIFT)
#ifndef OFA_HW_HSWISH_H
#define OFA_HW_HSWISH_H

#include "types.h"

namespace ofa_hw {

inline wide_t clamp_wide(wide_t v, wide_t lo, wide_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

inline wide_t relu6_shifted(wide_t t, int fi) {
    const wide_t three = (wide_t)3 << fi;
    return clamp_wide(t + three, 0, 2 * three);
}

inline wide_t hsigmoid_raw(wide_t t, int fi) { return relu6_shifted(t, fi) * HSIG_MULT; }

inline wide_t hswish_raw(wide_t t, int fi) { return t * relu6_shifted(t, fi) * HSIG_MULT; }

} // namespace ofa_hw

#endif
