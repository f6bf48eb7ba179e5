// The synthesis top function: the engine with its DDR and control interfaces.
//   act   activation buffer (input, every layer's output; HWC int8)   m_axi bundle gmem_act
//   wgt   packed weights (weights.bin)                                  m_axi bundle gmem_wgt
//   prog  the program (program.bin: descriptors + parameter tables)     m_axi bundle gmem_prog
// Buffer base addresses and ap_ctrl (start / done) are s_axilite registers of bundle control.
#include "engine.h"
#include "program_sizes.h"

using namespace ofa_hw;

#ifndef __SYNTHESIS__
namespace ofa_hw {
namespace sim {
int64_t layer_cycles[MAX_LAYERS];
int64_t layer_compute_cycles[MAX_LAYERS];
int64_t layer_transfer_cycles[MAX_LAYERS];
int64_t layer_ddr_bytes[MAX_LAYERS];
int current = 0;
} // namespace sim
} // namespace ofa_hw
#endif

void ofa_engine(act_t* act, const wgt_t* wgt, const int32_t* prog) {
#pragma HLS INTERFACE m_axi port = act offset = slave bundle = gmem_act depth = ACT_BYTES max_widen_bitwidth = 128
#pragma HLS INTERFACE m_axi port = wgt offset = slave bundle = gmem_wgt depth = WGT_BYTES max_widen_bitwidth = 128
#pragma HLS INTERFACE m_axi port = prog offset = slave bundle = gmem_prog depth = PROG_WORDS
#pragma HLS INTERFACE s_axilite port = act bundle = control
#pragma HLS INTERFACE s_axilite port = wgt bundle = control
#pragma HLS INTERFACE s_axilite port = prog bundle = control
#pragma HLS INTERFACE s_axilite port = return bundle = control
    static act_t ibuf[PP][ICP][IB_DEPTH];
#pragma HLS ARRAY_PARTITION variable = ibuf complete dim = 1
#pragma HLS ARRAY_PARTITION variable = ibuf complete dim = 2
    static act_t obuf[PP][OCP][OB_DEPTH];
#pragma HLS ARRAY_PARTITION variable = obuf complete dim = 1
#pragma HLS ARRAY_PARTITION variable = obuf complete dim = 2
    static wgt_t wbuf[OCP][ICP][WB_DEPTH];
#pragma HLS ARRAY_PARTITION variable = wbuf complete dim = 1
#pragma HLS ARRAY_PARTITION variable = wbuf complete dim = 2
    static acc_t bias_buf[LANES][PB_DEPTH];
#pragma HLS ARRAY_PARTITION variable = bias_buf complete dim = 1
    static int32_t mult_buf[LANES][PB_DEPTH];
#pragma HLS ARRAY_PARTITION variable = mult_buf complete dim = 1
    static int32_t shift_buf[LANES][PB_DEPTH];
#pragma HLS ARRAY_PARTITION variable = shift_buf complete dim = 1
    static acc_t macc[ICP][MB_DEPTH];
#pragma HLS ARRAY_PARTITION variable = macc complete dim = 1
    run_program(act, wgt, prog, ibuf, obuf, wbuf, bias_buf, mult_buf, shift_buf, macc);
}
