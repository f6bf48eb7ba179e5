// The engine's program format: a header of PROGRAM_HEADER int32 words, one descriptor of N_FIELDS
// int32 words per layer, then the per-channel parameter tables the descriptors point to (F_PRM).
// hls/program.py writes it; the manifest describes the same program for humans.
#ifndef OFA_HW_PROGRAM_H
#define OFA_HW_PROGRAM_H

namespace ofa_hw {

const int PROGRAM_MAGIC = 0x4f464148;  // "OFAH"
const int PROGRAM_VERSION = 1;
const int PROGRAM_HEADER = 8;          // magic, version, layers, fields per layer, reserved
const int P_MAGIC = 0, P_VERSION = 1, P_LAYERS = 2, P_FIELDS = 3;
const int MAX_LAYERS = 256;

enum Op { OP_CONV = 0, OP_DWCONV = 1, OP_POOL = 2, OP_ADD = 3, OP_SCALE = 4 };
enum Activation { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU6 = 2, ACT_HSWISH = 3, ACT_HSIGMOID = 4 };

// Descriptor fields. Offsets: F_IN0 / F_IN1 / F_OUT bytes into the activation buffer (HWC tensors),
// F_WGT bytes into the weight buffer, F_PRM words into the program. F_ROWS output rows per band,
// F_CHUNK weight tiles per load and F_OBASE (where the depthwise / element-wise outputs start in the
// input buffer) are the tiling the exporter chose for the on-chip buffers.
enum Field {
    F_OP, F_CIN, F_H, F_W, F_COUT, F_HO, F_WO, F_K, F_S, F_P,
    F_IN0, F_IN1, F_OUT, F_WGT, F_PRM,
    F_ACT, F_MULT, F_SHIFT, F_LO, F_HI, F_FI, F_TLO, F_THI, F_POST, F_PERCH, F_SA, F_SB,
    F_ROWS, F_CHUNK, F_OBASE,
    N_FIELDS = 32
};

} // namespace ofa_hw

#endif
