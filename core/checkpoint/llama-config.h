// Model hyper-parameters read from a Hugging Face config.json (Llama, Mistral, Qwen2 shapes).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kvsvd {

enum class RopeType { Default, Llama3 };

struct RopeConfig {
  double theta = 10000.0;
  RopeType type = RopeType::Default;
  // llama3 frequency scaling (rope_scaling / rope_parameters with rope_type "llama3")
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 0;
};

struct LlamaConfig {
  std::string architecture;  // "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;  // explicit in config.json, else hidden_size / num_heads
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2 (and Llama's attention_bias)
  RopeConfig rope;
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype;  // as written in config.json, informational

  int64_t group_size() const { return num_heads / num_kv_heads; }  // query heads per KV head
  int64_t q_dim() const { return num_heads * head_dim; }
  int64_t kv_dim() const { return num_kv_heads * head_dim; }
};

// Parses config.json text; `source` (the file path) is named in every error.
LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source);
LlamaConfig load_llama_config(const std::string& path);
// Canonical JSON of the fields above (for provenance and fingerprints).
std::string llama_config_to_json(const LlamaConfig& cfg);

}  // namespace kvsvd
