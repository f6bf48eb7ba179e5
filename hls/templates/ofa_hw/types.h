// ofa-hw HLS kernel library: integer types and the requantization parameters.
// Plain C++14 with fixed-width integers; `#pragma HLS` lines are read by Vitis HLS
// and ignored by g++ (compile with -Wno-unknown-pragmas).
#ifndef OFA_HW_TYPES_H
#define OFA_HW_TYPES_H

#include <cstdint>

namespace ofa_hw {

typedef int8_t act_t;   // activations, int8 at a per-tensor fix position
typedef int8_t wgt_t;   // weights, int8
typedef int32_t bias_t; // biases, int32 at the accumulator's scale
typedef int32_t acc_t;  // accumulators (the exporter proves they cannot overflow)
typedef int64_t wide_t; // requantization products

enum Activation { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU6 = 2, ACT_HSWISH = 3, ACT_HSIGMOID = 4 };

// 1/6 of h-sigmoid / h-swish as HSIG_MULT / 2^HSIG_SHIFT (the DPU's approximation).
const wide_t HSIG_MULT = 2731;
const int HSIG_SHIFT = 14;

// Accumulator -> int8 output with the activation fused; see requant.h.
struct Requant {
    const int32_t* mult;  // [C] multiplier per output channel (1 for power-of-two scales)
    const int32_t* shift; // [C] rounding right shift per output channel (negative: left shift)
    int act;              // Activation
    int32_t lo, hi;       // output clip bounds (ReLU / ReLU6 are clip bounds)
    int fi;               // h-swish / h-sigmoid: fix position of the intermediate
    wide_t t_lo, t_hi;    // h-swish / h-sigmoid: clip range of the intermediate
    int post_shift;       // h-swish / h-sigmoid: final rounding shift
};

} // namespace ofa_hw

#endif
