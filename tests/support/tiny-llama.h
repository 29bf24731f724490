// A tiny seeded random Llama (2 layers, hidden 48, 4 query / 2 KV heads of 16) for the cache tests.
#pragma once
#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>

#include "core/model/llama.h"

namespace kvsvd::test {

inline LlamaConfig tiny_llama_config(int64_t max_positions = 256) {
  LlamaConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 50;
  c.hidden_size = 48;
  c.intermediate_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = max_positions;
  c.rms_norm_eps = 1e-5;
  c.rope.theta = 10000.0;
  return c;
}

// Seeded random weights; `decay` > 0 scales input columns by exp(-decay * j), which gives the
// K/V projections (and so the bases) a decaying spectrum.
inline at::Tensor tiny_random_weight(at::Generator& gen, int64_t rows, int64_t cols,
                                     double decay = 0) {
  at::Tensor w = at::randn({rows, cols}, gen, at::kFloat) / std::sqrt(static_cast<double>(cols));
  if (decay > 0) w = w * at::exp(-decay * at::arange(cols, at::kFloat)) * 3.0;
  return w;
}

struct TinyLlamaOptions {
  int64_t max_positions = 256;
  double decay = 0;         // see tiny_random_weight
  bool noisy_norms = true;  // attention norms 1 + 0.1 N(0,1) (else ones)
};

inline LlamaModel tiny_llama(uint64_t seed, const TinyLlamaOptions& o = {}) {
  const LlamaConfig c = tiny_llama_config(o.max_positions);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  LlamaWeights w;
  const int64_t H = c.hidden_size;
  w.embed = at::randn({c.vocab_size, H}, gen, at::kFloat);
  w.final_norm = at::ones({H});
  w.lm_head = tiny_random_weight(gen, c.vocab_size, H);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    LayerWeights L;
    L.attn_norm = o.noisy_norms ? at::ones({H}) + 0.1 * at::randn({H}, gen, at::kFloat)
                                : at::ones({H});
    L.wq = tiny_random_weight(gen, c.q_dim(), H, o.decay) * 2.0;
    L.wk = tiny_random_weight(gen, c.kv_dim(), H, o.decay) * 2.0;
    L.wv = tiny_random_weight(gen, c.kv_dim(), H, o.decay);
    L.wo = tiny_random_weight(gen, H, c.q_dim());
    L.mlp_norm = at::ones({H});
    L.w_gate = tiny_random_weight(gen, c.intermediate_size, H);
    L.w_up = tiny_random_weight(gen, c.intermediate_size, H);
    L.w_down = tiny_random_weight(gen, H, c.intermediate_size);
    w.layers.push_back(L);
  }
  return LlamaModel(c, std::move(w), at::kCPU, at::kFloat);
}

}  // namespace kvsvd::test
