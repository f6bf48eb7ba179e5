// C-simulation / co-simulation testbench: calls the synthesis top ofa_engine() exactly as the PYNQ
// driver does (input, weights and program in DDR buffers), then compares every layer's output in
// the activation buffer with its golden tensor and prints the engine's cycle count per layer:
//   LAYER <name> <elements> <mismatches> <max_abs_diff> <first_mismatch or -1>
//   CYCLES <name> <total> <compute> <transfer> <ddr_bytes>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "engine.h"
#include "program_sizes.h"
#include "testbench.h"
#include "testbench_layers.h"

using namespace ofa_hw;

void ofa_engine(act_t* act, const wgt_t* wgt, const int32_t* prog);

int main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : ".";
    tb::Checker check(dir);
    const std::vector<int32_t> prog = tb::read_tensor<int32_t>(dir, "program.bin", PROG_WORDS);
    const std::vector<wgt_t> wgt = tb::read_tensor<wgt_t>(dir, "weights.bin", WGT_BYTES);
    std::vector<act_t> act(ACT_BYTES, 0);
    // The input image, CHW on disk, goes to the activation buffer channel-last (HWC).
    const std::vector<act_t> image = tb::read_tensor<act_t>(dir, INPUT_FILE, (long)IN_C * IN_H * IN_W);
    for (int c = 0; c < IN_C; ++c)
        for (int i = 0; i < IN_H * IN_W; ++i) act[INPUT_OFFSET + i * IN_C + c] = image[c * IN_H * IN_W + i];
    const auto start = std::chrono::steady_clock::now();
    ofa_engine(act.data(), wgt.data(), prog.data());
    const auto stop = std::chrono::steady_clock::now();
    std::vector<act_t> chw;
    for (int l = 0; l < N_LAYERS; ++l) {
        const int32_t* d = &prog[PROGRAM_HEADER + l * N_FIELDS];
        const int c = d[F_COUT], hw = d[F_HO] * d[F_WO];
        chw.assign((size_t)c * hw, 0);
        for (int ch = 0; ch < c; ++ch)
            for (int i = 0; i < hw; ++i) chw[(size_t)ch * hw + i] = act[d[F_OUT] + i * c + ch];
        check.compare(LAYER_NAMES[l], chw.data(), (long)c * hw, GOLDEN_FILES[l]);
    }
    for (int l = 0; l < N_LAYERS; ++l)
        std::printf("CYCLES %s %lld %lld %lld %lld\n", LAYER_NAMES[l], (long long)sim::layer_cycles[l],
                    (long long)sim::layer_compute_cycles[l], (long long)sim::layer_transfer_cycles[l],
                    (long long)sim::layer_ddr_bytes[l]);
    return check.finish((long)std::chrono::duration_cast<std::chrono::microseconds>(stop - start).count());
}
