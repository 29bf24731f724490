// Fuzz target: config.json text. Accepted configs must describe a model whose derived sizes
// are computable (no division by zero, no overflow) and that print as canonical JSON.
#include <cstdint>
#include <limits>
#include <string>

#include "core/checkpoint/llama-config.h"
#include "tests/fuzz/fuzz-input.h"

using namespace kvsvd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_ok_or_error([&] {
    const LlamaConfig c = parse_llama_config(text, "fuzz/config.json");
    KVSVD_FUZZ_ASSERT(c.num_heads > 0 && c.num_kv_heads > 0 && c.head_dim > 0);
    KVSVD_FUZZ_ASSERT(c.num_heads % c.num_kv_heads == 0);
    KVSVD_FUZZ_ASSERT(c.num_layers > 0 && c.hidden_size > 0 && c.vocab_size > 0);
    const int64_t big = std::numeric_limits<int64_t>::max();
    KVSVD_FUZZ_ASSERT(c.num_heads <= big / c.head_dim);  // q_dim() must not overflow
    (void)c.group_size();
    (void)c.q_dim();
    (void)c.kv_dim();
    KVSVD_FUZZ_ASSERT(!llama_config_to_json(c).empty());
  });
  return 0;
}
