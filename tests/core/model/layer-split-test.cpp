// Pipeline layer slices: contiguous, every layer once, balanced by parameter bytes with the
// embedding on the first stage and the head on the last, worked out by hand for LLaMA-3-70B.
#include "core/model/layer-split.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/util/error.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

// LLaMA-3-70B's config.json widths (scripts/bench-hf-8b.py CONFIG_70B).
LlamaConfig llama3_70b() {
  LlamaConfig c;
  c.vocab_size = 128256;
  c.hidden_size = 8192;
  c.intermediate_size = 28672;
  c.num_layers = 80;
  c.num_heads = 64;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  return c;
}

}  // namespace

TEST_CASE("70B bytes per layer, embedding and head match the published parameter count", "[pipeline]") {
  const LlamaConfig c = llama3_70b();
  // Per layer: q,o 8192^2 each; k,v 1024 x 8192 each; gate/up/down 28672 x 8192; two norms.
  const int64_t per_layer = 2 * 8192LL * 8192 + 2 * 1024LL * 8192 + 3 * 28672LL * 8192 + 2 * 8192;
  CHECK(layer_param_bytes(c, 2) == 2 * per_layer);
  CHECK(embed_param_bytes(c, 2) == 2 * 128256LL * 8192);
  const int64_t total = 80 * per_layer + 2 * 128256LL * 8192 + 8192;
  CHECK(total == 70553706496LL);  // 70.55 B parameters: the model card's "70B", 141 GB in bf16
  const auto one = split_layers(c, 1, 2);
  REQUIRE(one.size() == 1);
  CHECK(one[0].param_bytes == 2 * total);
}

TEST_CASE("slices are contiguous and balanced", "[pipeline]") {
  const LlamaConfig c = llama3_70b();
  for (int s : {1, 2, 3, 4, 5, 8, 80}) {
    INFO(s << " stages");
    const auto split = split_layers(c, s, 2);
    REQUIRE(static_cast<int>(split.size()) == s);
    int64_t next = 0, most = 0, least = INT64_MAX;
    for (int i = 0; i < s; ++i) {
      CHECK(split[i].stage == i);
      CHECK(split[i].first_layer == next);
      CHECK(split[i].layers() >= 1);
      CHECK(split[i].embed == (i == 0));
      CHECK(split[i].head == (i == s - 1));
      next = split[i].end_layer;
      most = std::max(most, split[i].param_bytes);
      least = std::min(least, split[i].param_bytes);
    }
    CHECK(next == 80);
    // The largest slice exceeds the ideal share by less than one layer plus the embedding.
    int64_t all = 0;
    for (const auto& x : split) all += x.param_bytes;
    CHECK(most <= all / s + layer_param_bytes(c, 2) + embed_param_bytes(c, 2));
  }
  // Two stages: the embedding and the head weigh the same, so the layers split 40 / 40.
  const auto two = split_layers(c, 2, 2);
  CHECK(two[0].layers() == 40);
  CHECK(two[1].layers() == 40);
  CHECK(layer_split_string(two) == "0-39|40-79");
  // Four stages: the outer stages carry the embedding / head (~1.2 layers), so they hold fewer.
  const auto four = split_layers(c, 4, 2);
  CHECK(four[0].layers() < four[1].layers());
  CHECK(four[3].layers() < four[2].layers());
}

TEST_CASE("impossible stage counts name the flag", "[pipeline]") {
  const LlamaConfig c = llama3_70b();
  auto message = [&](int stages) {
    try {
      split_layers(c, stages, 2);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(message(0).find("--pipeline-stages") != std::string::npos);
  CHECK(message(81).find("only 80 layers") != std::string::npos);
}

TEST_CASE("a stage's memory counts its parameters, KV and activations", "[pipeline]") {
  const LlamaConfig c = llama3_70b();
  const auto two = split_layers(c, 2, 2);
  const int64_t need0 = stage_memory_bytes(c, two[0], 2, 4096);
  // 40 layers of K and V at 4096 tokens: 2 * 40 * 1024 * 4096 * 2 bytes = 1.34 GB on top.
  CHECK(need0 - two[0].param_bytes >= 2LL * 40 * 1024 * 4096 * 2);
  // The last stage adds float32 logits over the vocabulary.
  const int64_t need1 = stage_memory_bytes(c, two[1], 2, 4096);
  CHECK(need1 - two[1].param_bytes - (need0 - two[0].param_bytes) == 3LL * 4096 * 128256 * 4);
}
