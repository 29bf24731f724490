#include "core/checkpoint/llama-config.h"

#include <nlohmann/json.hpp>

#include "core/util/error.h"
#include "core/util/json-util.h"

namespace kvsvd {
namespace {

using nlohmann::json;

// One table for the architectures we run: the class name HF writes in `architectures`, the
// `model_type` that stands for it when `architectures` is missing, and the transformers default
// for max_position_embeddings when the key is absent.
struct ArchEntry {
  const char* architecture;
  const char* model_type;
  int64_t default_max_positions;
};
constexpr ArchEntry kArchitectures[] = {
    {"LlamaForCausalLM", "llama", 2048},
    {"MistralForCausalLM", "mistral", 131072},
    {"Qwen2ForCausalLM", "qwen2", 32768},
};

std::string known_architectures() {
  std::string s;
  for (const auto& a : kArchitectures) s += (s.empty() ? "" : ", ") + std::string(a.architecture);
  return s;
}

const ArchEntry& find_architecture(const json& j, const std::string& source) {
  if (json_has(j, "architectures")) {
    const json& arr = j.at("architectures");
    KVSVD_CHECK(arr.is_array() && !arr.empty() && arr[0].is_string(), source,
                ": key 'architectures' must be a non-empty list of strings, got ", arr.dump());
    const std::string name = arr[0].get<std::string>();
    for (const auto& a : kArchitectures)
      if (name == a.architecture) return a;
    fail(cat(source, ": unsupported architecture '", name, "' (supported: ", known_architectures(),
             ")"));
  }
  KVSVD_CHECK(json_has(j, "model_type"), source,
              ": neither 'architectures' nor 'model_type' is present");
  const std::string mt = json_string(j, "model_type", source);
  for (const auto& a : kArchitectures)
    if (mt == a.model_type) return a;
  fail(cat(source, ": unsupported model_type '", mt, "' (supported: llama, mistral, qwen2)"));
}

// Upper bound of every size in config.json (and of num_heads x head_dim): 2^31 - 1.
constexpr int64_t kMaxConfigDim = 2147483647;

// parse_json lets nlohmann's out_of_range 406 through (a number such as 1e999 that overflows a
// double, found by fuzz-llama-config): that is malformed JSON too, named with its file.
json parse_json_checked(const std::string& text, const std::string& source) {
  try {
    return parse_json(text, source);
  } catch (const json::exception& e) {
    fail(cat(source, ": malformed JSON: ", e.what()));
  }
}

int64_t positive(const json& j, const char* key, const std::string& source) {
  int64_t v = json_int(j, key, source);
  KVSVD_CHECK(v > 0, source, ": key '", key, "' must be positive, got ", v);
  return v;
}

// Fills the rope fields from one parameter object: the classic `rope_scaling` (theta lives
// beside it at the top level) or the transformers v5 `rope_parameters` (theta inside).
void parse_rope_params(const json& p, const std::string& where, const std::string& source,
                       RopeConfig& rope) {
  KVSVD_CHECK(p.is_object(), source, ": '", where, "' must be an object, got ", p.dump());
  for (auto it = p.begin(); it != p.end(); ++it) {
    // v5 allows one parameter set per layer type (e.g. full/sliding attention); Llama-family
    // models here use one set for every layer.
    KVSVD_CHECK(!it->is_object(), source, ": '", where, ".", it.key(),
                "' is a nested rope parameter set (per layer type), which is not supported");
  }
  std::string type = "default";
  if (json_has(p, "rope_type")) {
    type = json_string(p, "rope_type", source + " " + where);
  } else if (json_has(p, "type")) {
    type = json_string(p, "type", source + " " + where);
  }
  const std::string ctx = source + " (" + where + ")";
  if (type == "default") {
    rope.type = RopeType::Default;
  } else if (type == "llama3") {
    rope.type = RopeType::Llama3;
    rope.factor = json_number(p, "factor", ctx);
    rope.low_freq_factor = json_number(p, "low_freq_factor", ctx);
    rope.high_freq_factor = json_number(p, "high_freq_factor", ctx);
    rope.original_max_position_embeddings =
        json_int(p, "original_max_position_embeddings", ctx);
    KVSVD_CHECK(rope.factor > 0 && rope.low_freq_factor > 0 &&
                    rope.high_freq_factor > rope.low_freq_factor &&
                    rope.original_max_position_embeddings > 0,
                ctx, ": llama3 rope needs factor > 0, 0 < low_freq_factor < high_freq_factor and "
                     "original_max_position_embeddings > 0");
  } else {
    fail(cat(source, ": unsupported rope type '", type, "' in '", where,
             "' (supported: default, llama3)"));
  }
}

RopeConfig parse_rope(const json& j, const std::string& source) {
  RopeConfig rope;
  rope.theta = json_number_or(j, "rope_theta", 10000.0, source);
  if (json_has(j, "rope_parameters")) {
    const json& p = j.at("rope_parameters");
    parse_rope_params(p, "rope_parameters", source, rope);
    rope.theta = json_number_or(p, "rope_theta", rope.theta, source + " (rope_parameters)");
  } else if (json_has(j, "rope_scaling")) {
    parse_rope_params(j.at("rope_scaling"), "rope_scaling", source, rope);
  }
  KVSVD_CHECK(rope.theta > 0, source, ": rope_theta must be positive, got ", rope.theta);
  return rope;
}

}  // namespace

LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source) {
  const json j = parse_json_checked(json_text, source);
  KVSVD_CHECK(j.is_object(), source, ": config.json must hold a JSON object");
  const ArchEntry& arch = find_architecture(j, source);

  LlamaConfig c;
  c.architecture = arch.architecture;
  c.hidden_size = positive(j, "hidden_size", source);
  c.intermediate_size = positive(j, "intermediate_size", source);
  c.num_layers = positive(j, "num_hidden_layers", source);
  c.num_heads = positive(j, "num_attention_heads", source);
  c.vocab_size = positive(j, "vocab_size", source);
  c.num_kv_heads = json_has(j, "num_key_value_heads") ? positive(j, "num_key_value_heads", source)
                                                      : c.num_heads;
  KVSVD_CHECK(c.num_heads % c.num_kv_heads == 0, source, ": num_attention_heads (", c.num_heads,
              ") is not a multiple of num_key_value_heads (", c.num_kv_heads, ")");
  if (json_has(j, "head_dim")) {
    c.head_dim = positive(j, "head_dim", source);
  } else {
    KVSVD_CHECK(c.hidden_size % c.num_heads == 0, source, ": hidden_size (", c.hidden_size,
                ") is not divisible by num_attention_heads (", c.num_heads,
                ") and no explicit 'head_dim' is given");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  // A config is untrusted input: sizes later multiply into tensor shapes (q_dim, vocab x hidden,
  // the per-layer weights), so each must fit in 32 bits and the head products must too; a config
  // of [2^40 heads x 2^40 head_dim] would otherwise overflow int64 before any tensor exists.
  auto bounded = [&](const char* key, int64_t v) {
    KVSVD_CHECK(v <= kMaxConfigDim, source, ": key '", key, "' = ", v, " exceeds ",
                kMaxConfigDim, " (corrupt config?)");
  };
  bounded("hidden_size", c.hidden_size);
  bounded("intermediate_size", c.intermediate_size);
  bounded("num_hidden_layers", c.num_layers);
  bounded("num_attention_heads", c.num_heads);
  bounded("vocab_size", c.vocab_size);
  bounded("head_dim", c.head_dim);
  KVSVD_CHECK(c.num_heads * c.head_dim <= kMaxConfigDim, source, ": num_attention_heads (",
              c.num_heads, ") x head_dim (", c.head_dim, ") exceeds ", kMaxConfigDim);
  c.max_position_embeddings =
      json_int_or(j, "max_position_embeddings", arch.default_max_positions, source);
  KVSVD_CHECK(c.max_position_embeddings > 0, source,
              ": key 'max_position_embeddings' must be positive");
  bounded("max_position_embeddings", c.max_position_embeddings);
  c.rms_norm_eps = json_number_or(j, "rms_norm_eps", 1e-6, source);
  KVSVD_CHECK(c.rms_norm_eps > 0, source, ": key 'rms_norm_eps' must be positive");
  c.tie_word_embeddings = json_bool_or(j, "tie_word_embeddings", false, source);

  const std::string act = json_string_or(j, "hidden_act", "silu", source);
  KVSVD_CHECK(act == "silu", source, ": unsupported hidden_act '", act, "' (only silu)");
  // Bias tensors the forward pass does not know would be silently dropped: refuse instead.
  KVSVD_CHECK(!json_bool_or(j, "mlp_bias", false, source), source,
              ": key 'mlp_bias' = true is not supported");

  const std::string arch_name = arch.architecture;
  if (arch_name == "Qwen2ForCausalLM") {
    c.qkv_bias = true;  // Qwen2 always carries q/k/v biases (and no o_proj bias)
  } else if (arch_name == "LlamaForCausalLM") {
    c.qkv_bias = json_bool_or(j, "attention_bias", false, source);
  }

  // Sliding-window attention changes which keys a query sees; the caches here keep every token.
  if (json_has(j, "sliding_window")) {
    const bool used = arch_name == "MistralForCausalLM" ||
                      (arch_name == "Qwen2ForCausalLM" &&
                       json_bool_or(j, "use_sliding_window", false, source));
    const int64_t window = json_int(j, "sliding_window", source);
    KVSVD_CHECK(!used || window >= c.max_position_embeddings, source, ": sliding_window ",
                window, " < max_position_embeddings ", c.max_position_embeddings,
                ": sliding-window attention is not supported");
  }

  c.rope = parse_rope(j, source);

  c.bos_token_id = json_int_or(j, "bos_token_id", -1, source);
  if (json_has(j, "eos_token_id")) {
    const json& e = j.at("eos_token_id");
    if (e.is_array()) {
      for (const auto& v : e) {
        KVSVD_CHECK(v.is_number_integer(), source,
                    ": key 'eos_token_id' must be an integer or a list of integers, got ",
                    e.dump());
        c.eos_token_ids.push_back(v.get<int64_t>());
      }
    } else {
      c.eos_token_ids.push_back(json_int(j, "eos_token_id", source));
    }
  }
  // transformers v5 renamed torch_dtype to dtype.
  c.torch_dtype = json_string_or(j, "torch_dtype", json_string_or(j, "dtype", "", source), source);
  return c;
}

LlamaConfig load_llama_config(const std::string& path) {
  return parse_llama_config(read_text_file(path), path);
}

std::string llama_config_to_json(const LlamaConfig& c) {
  // nlohmann::json objects keep keys sorted, so equal configs give byte-equal strings.
  json rope = {{"theta", c.rope.theta},
               {"type", c.rope.type == RopeType::Llama3 ? "llama3" : "default"}};
  if (c.rope.type == RopeType::Llama3) {
    rope["factor"] = c.rope.factor;
    rope["low_freq_factor"] = c.rope.low_freq_factor;
    rope["high_freq_factor"] = c.rope.high_freq_factor;
    rope["original_max_position_embeddings"] = c.rope.original_max_position_embeddings;
  }
  json j = {{"architecture", c.architecture},
            {"vocab_size", c.vocab_size},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_layers", c.num_layers},
            {"num_heads", c.num_heads},
            {"num_kv_heads", c.num_kv_heads},
            {"head_dim", c.head_dim},
            {"max_position_embeddings", c.max_position_embeddings},
            {"rms_norm_eps", c.rms_norm_eps},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"qkv_bias", c.qkv_bias},
            {"rope", rope},
            {"bos_token_id", c.bos_token_id},
            {"eos_token_ids", c.eos_token_ids},
            {"torch_dtype", c.torch_dtype}};
  return j.dump();
}

}  // namespace kvsvd
