// Fuzz target: a whole .safetensors file (8-byte header length, JSON header, data region).
// Accepted files must keep every tensor inside the data region with the byte length its shape
// and dtype imply; reading each tensor's first and last byte proves the mapping covers it.
#include <cstdint>

#include "core/checkpoint/safetensors.h"
#include "tests/fuzz/fuzz-input.h"

using namespace kvsvd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (fuzz::scratch_dir() / "input.safetensors").string();
  fuzz::write_file(path, data, size);
  fuzz::expect_ok_or_error([&] {
    SafetensorsFile f(path);
    KVSVD_FUZZ_ASSERT(f.data_offset() <= f.file_size());
    volatile uint8_t sink = 0;
    for (const TensorInfo& t : f.tensors()) {
      KVSVD_FUZZ_ASSERT(t.begin <= t.end && t.end <= f.data_size());
      uint64_t numel = 1;
      for (int64_t d : t.shape) {
        KVSVD_FUZZ_ASSERT(d >= 0);
        numel *= uint64_t(d);
      }
      KVSVD_FUZZ_ASSERT(numel * dtype_size(t.dtype) == t.end - t.begin);
      KVSVD_FUZZ_ASSERT(int64_t(numel) == t.numel());
      KVSVD_FUZZ_ASSERT(f.find(t.name) != nullptr);
      if (t.end > t.begin) {
        const uint8_t* p = f.tensor_data(t);
        sink = sink + p[0] + p[t.end - t.begin - 1];
      }
    }
    (void)sink;
  });
  // The header parser alone, on the raw bytes as JSON against a fixed data region size.
  fuzz::expect_ok_or_error([&] {
    parse_safetensors_header(std::string(reinterpret_cast<const char*>(data), size), 4096,
                             "fuzz-header");
  });
  return 0;
}
