// C-simulation helpers: read raw little-endian tensors, compare layer outputs with golden
// tensors and print one parseable line per layer:
//   LAYER <name> <elements> <mismatches> <max_abs_diff> <first_mismatch_index or -1>
// then "SUMMARY <layers> <mismatched_layers> <mismatches>" and "RUNTIME_US <microseconds>".
#ifndef OFA_HW_TESTBENCH_H
#define OFA_HW_TESTBENCH_H

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace ofa_hw {
namespace tb {

template <typename T>
std::vector<T> read_tensor(const std::string& dir, const std::string& file, long count) {
    const std::string path = dir + "/" + file;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        std::fprintf(stderr, "ERROR cannot open %s\n", path.c_str());
        std::exit(2);
    }
    std::vector<T> data(count);
    const size_t got = std::fread(data.data(), sizeof(T), count, f);
    const bool extra = std::fgetc(f) != EOF;
    std::fclose(f);
    if ((long)got != count || extra) {
        std::fprintf(stderr, "ERROR %s: expected %ld elements of %zu bytes\n", path.c_str(), count, sizeof(T));
        std::exit(2);
    }
    return data;
}

class Checker {
  public:
    explicit Checker(const std::string& dir) : dir_(dir), layers_(0), bad_layers_(0), mismatches_(0) {}

    void compare(const char* name, const int8_t* got, long count, const std::string& golden_file) {
        const std::vector<int8_t> want = read_tensor<int8_t>(dir_, golden_file, count);
        long bad = 0, first = -1;
        int max_diff = 0;
        for (long i = 0; i < count; ++i) {
            const int diff = got[i] > want[i] ? got[i] - want[i] : want[i] - got[i];
            if (diff) {
                if (first < 0) first = i;
                ++bad;
                if (diff > max_diff) max_diff = diff;
            }
        }
        std::printf("LAYER %s %ld %ld %d %ld\n", name, count, bad, max_diff, first);
        ++layers_;
        if (bad) ++bad_layers_;
        mismatches_ += bad;
    }

    int finish(long runtime_us) const {
        std::printf("SUMMARY %ld %ld %ld\n", layers_, bad_layers_, mismatches_);
        std::printf("RUNTIME_US %ld\n", runtime_us);
        return mismatches_ ? 1 : 0;
    }

    const std::string& dir() const { return dir_; }

  private:
    std::string dir_;
    long layers_, bad_layers_, mismatches_;
};

} // namespace tb
} // namespace ofa_hw

#endif
