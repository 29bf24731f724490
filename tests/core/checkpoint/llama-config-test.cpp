// config.json parsing for Llama, Mistral and Qwen2, classic and transformers-v5 rope keys.
#include "core/checkpoint/llama-config.h"

#include "support/safetensors-writer.h"
#include "support/catch.h"

using namespace kvsvd;
using namespace kvsvd_test;
using nlohmann::json;

namespace {

const std::string kSrc = "/models/x/config.json";

LlamaConfig parse(const json& j) { return parse_llama_config(j.dump(), kSrc); }
std::string parse_error(const json& j) {
  return error_of([&] { parse_llama_config(j.dump(), kSrc); });
}

json llama3_rope_scaling() {
  return {{"rope_type", "llama3"},
          {"factor", 8.0},
          {"low_freq_factor", 1.0},
          {"high_freq_factor", 4.0},
          {"original_max_position_embeddings", 8192}};
}

}  // namespace

TEST_CASE("a Llama config: values and defaults", "[config]") {
  LlamaConfig c = parse(llama_config_json());
  CHECK(c.architecture == "LlamaForCausalLM");
  CHECK(c.hidden_size == 64);
  CHECK(c.intermediate_size == 128);
  CHECK(c.num_layers == 2);
  CHECK(c.num_heads == 4);
  CHECK(c.num_kv_heads == 2);
  CHECK(c.head_dim == 16);  // derived: 64 / 4
  CHECK(c.group_size() == 2);
  CHECK(c.q_dim() == 64);
  CHECK(c.kv_dim() == 32);
  CHECK(c.vocab_size == 100);
  CHECK(c.max_position_embeddings == 256);
  CHECK(c.rms_norm_eps == Approx(1e-5));
  CHECK_FALSE(c.tie_word_embeddings);
  CHECK_FALSE(c.qkv_bias);
  CHECK(c.rope.type == RopeType::Default);
  CHECK(c.rope.theta == 10000.0);
  CHECK(c.bos_token_id == 1);
  CHECK(c.eos_token_ids == std::vector<int64_t>{2});
  CHECK(c.torch_dtype == "bfloat16");

  json j = llama_config_json();
  j.erase("num_key_value_heads");
  j["tie_word_embeddings"] = true;
  j["eos_token_id"] = {128001, 128008, 128009};
  c = parse(j);
  CHECK(c.num_kv_heads == 4);  // defaults to num_attention_heads
  CHECK(c.tie_word_embeddings);
  CHECK(c.eos_token_ids == std::vector<int64_t>{128001, 128008, 128009});
}

TEST_CASE("head_dim explicit or derived", "[config]") {
  json j = llama_config_json();
  j["head_dim"] = 32;  // explicit and different from hidden / heads (Qwen3/Gemma style)
  LlamaConfig c = parse(j);
  CHECK(c.head_dim == 32);
  CHECK(c.q_dim() == 128);
  CHECK(c.kv_dim() == 64);

  j = llama_config_json();
  j["hidden_size"] = 66;  // 66 / 4 does not divide
  std::string msg = parse_error(j);
  CHECK(contains(msg, kSrc));
  CHECK(contains(msg, "head_dim"));
  j["head_dim"] = 16;  // an explicit head_dim makes it legal
  CHECK(parse(j).head_dim == 16);
}

TEST_CASE("heads must be a multiple of kv heads", "[config]") {
  json j = llama_config_json();
  j["num_key_value_heads"] = 3;
  const std::string msg = parse_error(j);
  CHECK(contains(msg, kSrc));
  CHECK(contains(msg, "num_key_value_heads"));
}

TEST_CASE("each required key is named when missing", "[config]") {
  for (const char* key : {"hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads", "vocab_size"}) {
    INFO(key);
    json j = llama_config_json();
    j.erase(key);
    const std::string msg = parse_error(j);
    CHECK(contains(msg, kSrc));
    CHECK(contains(msg, key));
    j[key] = "sixty-four";  // wrong type is named too
    CHECK(contains(parse_error(j), key));
    j[key] = 0;
    CHECK(contains(parse_error(j), key));
  }
}

TEST_CASE("architectures and model_type", "[config]") {
  json j = llama_config_json();
  j["architectures"] = {"GPT2LMHeadModel"};
  std::string msg = parse_error(j);
  CHECK(contains(msg, kSrc));
  CHECK(contains(msg, "GPT2LMHeadModel"));

  j.erase("architectures");
  j["model_type"] = "mistral";
  CHECK(parse(j).architecture == "MistralForCausalLM");
  j["model_type"] = "qwen2";
  CHECK(parse(j).architecture == "Qwen2ForCausalLM");
  j["model_type"] = "gemma";
  msg = parse_error(j);
  CHECK(contains(msg, kSrc));
  CHECK(contains(msg, "gemma"));
  j.erase("model_type");
  CHECK(contains(parse_error(j), "architectures"));
}

TEST_CASE("qkv bias: Qwen2 always, Llama through attention_bias", "[config]") {
  json j = llama_config_json();
  j["architectures"] = {"Qwen2ForCausalLM"};
  j["model_type"] = "qwen2";
  j["sliding_window"] = 32;  // present but unused without use_sliding_window
  j["use_sliding_window"] = false;
  CHECK(parse(j).qkv_bias);

  j = llama_config_json();
  j["attention_bias"] = true;
  CHECK(parse(j).qkv_bias);

  j = llama_config_json();
  j["architectures"] = {"MistralForCausalLM"};
  j["sliding_window"] = nullptr;
  LlamaConfig m = parse(j);
  CHECK(m.architecture == "MistralForCausalLM");
  CHECK_FALSE(m.qkv_bias);
}

TEST_CASE("sliding-window attention is refused clearly", "[config]") {
  json j = llama_config_json();
  j["architectures"] = {"MistralForCausalLM"};
  j["sliding_window"] = 128;  // < max_position_embeddings 256
  std::string msg = parse_error(j);
  CHECK(contains(msg, kSrc));
  CHECK(contains(msg, "sliding_window"));
  j["sliding_window"] = 4096;  // never reached: same as full attention
  CHECK_NOTHROW(parse(j));

  j = llama_config_json();
  j["architectures"] = {"Qwen2ForCausalLM"};
  j["use_sliding_window"] = true;
  j["sliding_window"] = 64;
  CHECK(contains(parse_error(j), "sliding_window"));
}

TEST_CASE("rope_scaling (classic) and rope_parameters (v5) give the same RopeConfig", "[config]") {
  json classic = llama_config_json();
  classic["rope_theta"] = 500000.0;
  classic["rope_scaling"] = llama3_rope_scaling();

  json v5 = llama_config_json();
  v5.erase("rope_theta");
  json params = llama3_rope_scaling();
  params["rope_theta"] = 500000.0;
  v5["rope_parameters"] = params;

  // The older spelling "type" instead of "rope_type".
  json old_key = classic;
  old_key["rope_scaling"].erase("rope_type");
  old_key["rope_scaling"]["type"] = "llama3";

  for (const json& j : {classic, v5, old_key}) {
    const RopeConfig r = parse(j).rope;
    CHECK(r.type == RopeType::Llama3);
    CHECK(r.theta == 500000.0);
    CHECK(r.factor == 8.0);
    CHECK(r.low_freq_factor == 1.0);
    CHECK(r.high_freq_factor == 4.0);
    CHECK(r.original_max_position_embeddings == 8192);
  }
  CHECK(llama_config_to_json(parse(classic)) == llama_config_to_json(parse(v5)));

  json plain_v5 = llama_config_json();
  plain_v5.erase("rope_theta");
  plain_v5["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1e6}};
  CHECK(parse(plain_v5).rope.type == RopeType::Default);
  CHECK(parse(plain_v5).rope.theta == 1e6);

  json null_scaling = llama_config_json();
  null_scaling["rope_scaling"] = nullptr;
  CHECK(parse(null_scaling).rope.type == RopeType::Default);
}

TEST_CASE("unknown rope types and incomplete llama3 parameters are named", "[config]") {
  for (const char* type : {"yarn", "linear", "dynamic"}) {
    INFO(type);
    json j = llama_config_json();
    j["rope_scaling"] = {{"rope_type", type}, {"factor", 2.0}};
    std::string msg = parse_error(j);
    CHECK(contains(msg, kSrc));
    CHECK(contains(msg, type));

    j.erase("rope_scaling");
    j["rope_parameters"] = {{"rope_type", type}, {"rope_theta", 10000.0}, {"factor", 2.0}};
    msg = parse_error(j);
    CHECK(contains(msg, kSrc));
    CHECK(contains(msg, type));
  }
  json j = llama_config_json();
  json s = llama3_rope_scaling();
  s.erase("low_freq_factor");
  j["rope_scaling"] = s;
  const std::string msg = parse_error(j);
  CHECK(contains(msg, kSrc));
  CHECK(contains(msg, "low_freq_factor"));
}

TEST_CASE("canonical JSON and malformed input", "[config]") {
  const LlamaConfig c = parse(llama_config_json());
  const std::string text = llama_config_to_json(c);
  const json back = json::parse(text);
  CHECK(back["hidden_size"] == 64);
  CHECK(back["num_kv_heads"] == 2);
  CHECK(back["head_dim"] == 16);
  CHECK(back["rope"]["type"] == "default");
  // Key order in config.json does not matter; values do.
  json reordered = json::parse(llama_config_json().dump());
  CHECK(llama_config_to_json(parse(reordered)) == text);
  json other = llama_config_json();
  other["rope_theta"] = 20000.0;
  CHECK(llama_config_to_json(parse(other)) != text);

  const std::string msg = error_of([] { parse_llama_config("{\"hidden_size\": 4,", kSrc); });
  CHECK(contains(msg, kSrc));
  const std::string msg2 = error_of([] { load_llama_config("/nonexistent/dir/config.json"); });
  CHECK(contains(msg2, "/nonexistent/dir/config.json"));
}
