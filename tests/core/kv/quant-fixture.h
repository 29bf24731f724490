// A small random Llama and random orthonormal profiles shared by the quantization tests.
#pragma once
#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>

#include "core/kv/kv-profile.h"
#include "core/model/llama.h"
#include "core/util/error.h"
#include "support/tiny-llama.h"

#include <string>

namespace kvsvd {
namespace quant_test {

inline LlamaConfig tiny_config() { return test::tiny_llama_config(512); }

inline LlamaModel tiny_model(uint64_t seed) {
  test::TinyLlamaOptions o;
  o.max_positions = 512;
  o.noisy_norms = false;
  return test::tiny_llama(seed, o);
}

// Random orthonormal bases [Hkv, d, r] per layer (no fused output: the cache fuses W_O itself).
inline KvProfile random_profile(const LlamaConfig& c, int64_t key_rank, int64_t value_rank,
                                uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto basis = [&](int64_t r) {
    at::Tensor a = at::randn({c.num_kv_heads, c.head_dim, c.head_dim}, gen, at::kFloat);
    return std::get<0>(at::linalg_qr(a)).narrow(2, 0, r).contiguous();
  };
  KvProfile p;
  p.key_rank = key_rank;
  p.value_rank = value_rank;
  for (int64_t l = 0; l < c.num_layers; ++l) p.layers.push_back({basis(key_rank), basis(value_rank), {}});
  return p;
}

inline at::Tensor random_tokens(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(0, tiny_config().vocab_size, {1, n}, gen, at::kLong);
}

// The message of the kvsvd::Error that f throws ("(no error)" when it throws none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

inline bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace quant_test
}  // namespace kvsvd
