// A small random Llama and random orthonormal profiles shared by the quantization tests.
#pragma once
#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>

#include "core/kv/kv-profile.h"
#include "core/model/llama.h"
#include "core/util/error.h"

#include <string>

namespace kvsvd {
namespace quant_test {

inline LlamaConfig tiny_config() {
  LlamaConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 50;
  c.hidden_size = 48;
  c.intermediate_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = 512;
  c.rms_norm_eps = 1e-5;
  c.rope.theta = 10000.0;
  return c;
}

inline at::Tensor rand_w(at::Generator& gen, int64_t rows, int64_t cols) {
  return at::randn({rows, cols}, gen, at::kFloat) / std::sqrt(static_cast<double>(cols));
}

inline LlamaModel tiny_model(uint64_t seed) {
  const LlamaConfig c = tiny_config();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  LlamaWeights w;
  const int64_t H = c.hidden_size;
  w.embed = at::randn({c.vocab_size, H}, gen, at::kFloat);
  w.final_norm = at::ones({H});
  w.lm_head = rand_w(gen, c.vocab_size, H);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    LayerWeights L;
    L.attn_norm = at::ones({H});
    L.wq = rand_w(gen, c.q_dim(), H) * 2.0;
    L.wk = rand_w(gen, c.kv_dim(), H) * 2.0;
    L.wv = rand_w(gen, c.kv_dim(), H);
    L.wo = rand_w(gen, H, c.q_dim());
    L.mlp_norm = at::ones({H});
    L.w_gate = rand_w(gen, c.intermediate_size, H);
    L.w_up = rand_w(gen, c.intermediate_size, H);
    L.w_down = rand_w(gen, H, c.intermediate_size);
    w.layers.push_back(L);
  }
  return LlamaModel(c, std::move(w), at::kCPU, at::kFloat);
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
