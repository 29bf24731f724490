// Test helper: a small random Llama checkpoint (config.json + model.safetensors, float32) written
// into a directory, so that the profile stage runs on real files without a trained model.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support/safetensors-writer.h"

namespace kvsvd_test {

struct RandomLlamaSpec {
  int64_t layers = 5;  // odd, so that 2 and 3 ranks get uneven shards
  int64_t hidden = 64;
  int64_t heads = 4;
  int64_t kv_heads = 2;
  int64_t head_dim = 16;
  int64_t intermediate = 96;
  int64_t vocab = 61;
  uint64_t seed = 1;
  bool with_k_proj = true;  // false: a checkpoint that lacks the key projections
};

inline std::string f32_bytes(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * sizeof(float));
}

// Weights ~ N(0, 1/sqrt(fan_in)) with a decaying column scale on the projections, so spectra are
// not flat and energy thresholds pick different ranks per head.
inline void write_random_llama(const std::string& dir, const RandomLlamaSpec& s) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
  auto randn = [&](std::vector<int64_t> shape) {
    return at::randn(shape, gen, at::kFloat) / std::sqrt(static_cast<double>(shape.back()));
  };
  const int64_t H = s.hidden, qd = s.heads * s.head_dim, kvd = s.kv_heads * s.head_dim;
  const at::Tensor decay = at::exp(-0.05 * at::arange(H, at::kFloat));
  SafetensorsBuilder b;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    b.add(name, "F32", t.sizes().vec(), f32_bytes(t));
  };
  add("model.embed_tokens.weight", randn({s.vocab, H}));
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", 1 + 0.1 * randn({H}));
    add(p + "self_attn.q_proj.weight", randn({qd, H}) * decay);
    if (s.with_k_proj) add(p + "self_attn.k_proj.weight", randn({kvd, H}) * decay);
    add(p + "self_attn.v_proj.weight", randn({kvd, H}) * decay);
    add(p + "self_attn.o_proj.weight", randn({H, qd}));
    add(p + "post_attention_layernorm.weight", 1 + 0.1 * randn({H}));
    add(p + "mlp.gate_proj.weight", randn({s.intermediate, H}));
    add(p + "mlp.up_proj.weight", randn({s.intermediate, H}));
    add(p + "mlp.down_proj.weight", randn({H, s.intermediate}));
  }
  add("model.norm.weight", 1 + 0.1 * randn({H}));
  add("lm_head.weight", randn({s.vocab, H}));
  b.write(dir + "/model.safetensors");
  const nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}},
                              {"model_type", "llama"},
                              {"hidden_size", H},
                              {"intermediate_size", s.intermediate},
                              {"num_hidden_layers", s.layers},
                              {"num_attention_heads", s.heads},
                              {"num_key_value_heads", s.kv_heads},
                              {"head_dim", s.head_dim},
                              {"vocab_size", s.vocab},
                              {"max_position_embeddings", 512},
                              {"rms_norm_eps", 1e-5},
                              {"rope_theta", 10000.0},
                              {"bos_token_id", 0},
                              {"eos_token_id", 1},
                              {"tie_word_embeddings", false},
                              {"torch_dtype", "float32"}};
  std::ofstream(dir + "/config.json") << cfg.dump(2);
}

// A token-id JSON dataset ([[ids], ...]) of `docs` random documents.
inline void write_random_ids(const std::string& path, int64_t docs, int64_t len, int64_t vocab,
                             uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  nlohmann::json j = nlohmann::json::array();
  for (int64_t d = 0; d < docs; ++d) {
    const at::Tensor ids = at::randint(2, vocab, {len}, gen, at::kLong);
    std::vector<int64_t> v(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + len);
    j.push_back(v);
  }
  std::ofstream(path) << j.dump();
}

}  // namespace kvsvd_test
