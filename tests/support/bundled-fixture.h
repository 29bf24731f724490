// Test fixture shared by the evaluate unit and MPI tests: the bundled model on the CPU in fp32,
// short token windows cut from the committed transformers reference windows, and weight-SVD
// profiles of the model (in memory, or written as an HDF5 store with the model's fingerprint).
#pragma once
#include <ATen/ATen.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/fingerprint.h"
#include "core/compress/layer-decompose.h"
#include "core/compress/rank-plan.h"
#include "core/kv/kv-profile.h"
#include "core/model/llama.h"
#include "core/store/profile-store.h"

namespace kvsvd {
namespace test {

inline const std::string& bundled_model_dir() {
  static const std::string dir = std::string(KVSVD_SOURCE_DIR) + "/assets/models/sotu-llama-tiny";
  return dir;
}

inline const LlamaModel& bundled_model() {
  static const LlamaModel model =
      LlamaModel::load(bundled_model_dir(), at::Device(at::kCPU), at::kFloat);
  return model;
}

// The first `count` reference windows of the held-out set, each cut to its first `len` tokens.
inline std::vector<std::vector<int32_t>> bundled_windows(size_t count, size_t len) {
  std::ifstream f(std::string(KVSVD_SOURCE_DIR) + "/tests/data/bundled-ref/ppl-sotu-heldout.json");
  const nlohmann::json ref = nlohmann::json::parse(f);
  std::vector<std::vector<int32_t>> out;
  for (const auto& w : ref.at("windows")) {
    if (out.size() == count) break;
    std::vector<int32_t> ids = w.get<std::vector<int32_t>>();
    ids.resize(std::min(ids.size(), len));
    out.push_back(ids);
  }
  return out;
}

// The seed's three levels at head_dim 64, as the profile tests store them.
inline std::vector<NamedRank> three_levels() { return {{"low", 16}, {"med", 32}, {"high", 64}}; }

// weight_svd profile of every layer: key bases of `key_rank` columns, value bases of the largest
// named rank, fused output stored.
inline std::vector<LayerProfile> weight_svd_layers(const LlamaModel& model, int64_t key_rank,
                                                   const std::vector<NamedRank>& value_ranks) {
  const LlamaConfig& cfg = model.config();
  AttentionShape shape{cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.hidden_size};
  CompressSpec spec;
  spec.method = ProfileMethod::WeightSvd;
  spec.ranks.key_rank = key_rank;
  spec.ranks.value_ranks = value_ranks;
  spec.store_fused = true;
  spec = resolve_compress_spec(spec, shape);
  std::vector<LayerProfile> out;
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    const LayerWeights& w = model.weights().layers[l];
    LayerInputs in;
    in.wk = w.wk;
    in.wv = w.wv;
    in.wo = w.wo;
    out.push_back(decompose_layer(l, shape, spec, in));
  }
  return out;
}

inline KvProfile weight_svd_profile(const LlamaModel& model, int64_t key_rank,
                                    const std::vector<NamedRank>& value_ranks) {
  return make_kv_profile(weight_svd_layers(model, key_rank, value_ranks), model.config(),
                         model.dtype(), model.device());
}

// Writes a complete store of `layers` for the model in `model_dir`. `fingerprint` is what the
// header records (the evaluator compares it with model_fingerprint over every tensor).
inline void write_store(const std::string& path, const std::string& model_dir,
                        const std::vector<LayerProfile>& layers,
                        const std::vector<NamedRank>& value_ranks, const std::string& fingerprint) {
  const Checkpoint ckpt = Checkpoint::open(model_dir);
  const LlamaConfig& cfg = ckpt.config();
  StoreHeader h;
  h.model_fingerprint = fingerprint;
  h.model_config = llama_config_to_json(cfg);
  h.profile_config = R"({"method": "weight_svd", "key_space": "pre_rope"})";
  h.device = "cpu";
  h.num_layers = cfg.num_layers;
  h.n_kv = cfg.num_kv_heads;
  h.head_dim = cfg.head_dim;
  h.n_q = cfg.num_heads;
  h.hidden = cfg.hidden_size;
  h.key_rank = layers.at(0).key_rank;
  for (const auto& nr : value_ranks) {
    h.value_rank_names.push_back(nr.name);
    h.value_rank_values.push_back(nr.rank);
  }
  ProfileStoreWriter w = ProfileStoreWriter::create(path, h, /*overwrite=*/true);
  for (const auto& p : layers) w.write_layer(p);
  w.finalize();
}

inline std::string bundled_fingerprint() {
  const Checkpoint ckpt = Checkpoint::open(bundled_model_dir());
  return model_fingerprint(ckpt, ckpt.tensor_names());
}

}  // namespace test
}  // namespace kvsvd
