// Cache configurations: labels, params, and the cache they build.
#include "core/eval/cache-factory.h"

#include <cstdio>

#include "core/compress/fused-output.h"
#include "core/kv/full-cache.h"
#include "core/kv/head-rank-cache.h"
#include "core/kv/quant-cache.h"
#include "core/kv/quant-spec.h"
#include "core/kv/svd-cache.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

std::string short_num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

// "" or "/4b/g32" (+ "/had" under --hadamard): the storage part of an svd / chunked label.
std::string storage_suffix(const CacheConfig& c) {
  const std::string q = quant_spec_label(QuantSpec{c.kv_bits, c.quant_group});
  if (q.empty()) return "";
  return cat("/", q, c.hadamard ? "/had" : "");
}

}  // namespace

std::string cache_config_label(const CacheConfig& c) {
  switch (c.method) {
    case KvMethod::Full:
      return "full";
    case KvMethod::Svd: {
      if (c.head_ranks) return "svd/heads" + storage_suffix(c);
      std::string v;
      for (const auto& nr : c.value_ranks) v += cat(v.empty() ? "v" : "-", nr.rank);
      std::string label = cat("svd/k", c.key_rank, "/", v, "/", c.policy.spec());
      if (c.key_space == KeySpace::PostRope) label += "/post_rope";
      return label + storage_suffix(c);
    }
    case KvMethod::Chunked:
      if (c.chunked.energy_threshold > 0)
        return cat("chunked/c", c.chunked.chunk_size, "/e", short_num(c.chunked.energy_threshold),
                   "/f", short_num(c.chunked.min_rank_ratio), storage_suffix(c));
      return cat("chunked/c", c.chunked.chunk_size, "/x", short_num(c.chunked.compression_ratio),
                 storage_suffix(c));
    case KvMethod::Quant:
      return cat("quant/", c.kv_bits, "b/g", c.quant_group, "/r", c.residual);
  }
  KVSVD_ASSERT(false, "CacheConfig with an unknown method");
  return "";
}

nlohmann::json cache_config_params(const CacheConfig& c, at::ScalarType cache_dtype) {
  nlohmann::json p = {{"key_rank", 0},
                      {"value_ranks", nlohmann::json::object()},
                      {"policy", ""},
                      {"profile_method", ""},
                      {"key_space", ""},
                      {"chunk_size", 0},
                      {"compression_ratio", 0},
                      {"energy_threshold", 0},
                      {"min_rank_ratio", 0},
                      {"kv_bits", c.kv_bits > 0 && c.method != KvMethod::Full
                                      ? c.kv_bits
                                      : static_cast<int64_t>(c10::elementSize(cache_dtype)) * 8},
                      {"quant_group", 0},
                      {"residual", 0},
                      {"hadamard", false}};
  if (c.method != KvMethod::Full && QuantSpec{c.kv_bits, c.quant_group}.quantized())
    p["quant_group"] = c.quant_group;
  if (c.method == KvMethod::Quant) {
    p["quant_group"] = c.quant_group;
    p["residual"] = c.residual;
  }
  if (c.method == KvMethod::Svd) p["hadamard"] = c.hadamard;
  if (c.method == KvMethod::Svd && c.head_ranks) {
    p["head_ranks"] = true;
    p["profile_method"] = c.profile_method;
    p["key_space"] = key_space_name(c.key_space);
  } else if (c.method == KvMethod::Svd) {
    p["key_rank"] = c.key_rank;
    for (const auto& nr : c.value_ranks) p["value_ranks"][nr.name] = nr.rank;
    p["policy"] = c.policy.spec();
    p["profile_method"] = c.profile_method;
    p["key_space"] = key_space_name(c.key_space);
  } else if (c.method == KvMethod::Chunked) {
    p["chunk_size"] = c.chunked.chunk_size;
    if (c.chunked.energy_threshold > 0) {
      p["energy_threshold"] = c.chunked.energy_threshold;
      p["min_rank_ratio"] = c.chunked.min_rank_ratio;
    } else {
      p["compression_ratio"] = c.chunked.compression_ratio;
    }
  }
  return p;
}

KvProfile with_fused_output(KvProfile profile, const LlamaModel& model) {
  std::vector<at::Tensor> w_o;
  for (const LayerWeights& L : model.weights().layers) w_o.push_back(L.wo);
  return with_fused_output(std::move(profile), model.config(), w_o, model.dtype());
}

KvProfile with_fused_output(KvProfile profile, const LlamaConfig& cfg,
                            const std::vector<at::Tensor>& w_o, at::ScalarType dtype) {
  KVSVD_CHECK(static_cast<int64_t>(profile.layers.size()) == cfg.num_layers &&
                  static_cast<int64_t>(w_o.size()) == cfg.num_layers,
              "profile has ", profile.layers.size(), " layers but the model has ", cfg.num_layers);
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    KvLayerProfile& p = profile.layers[l];
    if (p.fused_output.defined()) continue;
    const at::Tensor& wo = w_o[l];  // [hidden, Hq*d]
    // [Hq, hidden, r]
    p.fused_output = fused_output_f32(wo, p.value_basis, cfg.num_heads).to(dtype);
  }
  return profile;
}

std::unique_ptr<KvCache> make_cache(const CacheConfig& c, const LlamaModel& model,
                                    const KvProfile* profile, int64_t capacity,
                                    int64_t batch) {
  return make_cache(c, model.config(), model.dtype(), model.device(), profile, capacity, batch);
}

std::unique_ptr<KvCache> make_cache(const CacheConfig& c, const LlamaConfig& cfg,
                                    at::ScalarType dtype, at::Device device,
                                    const KvProfile* profile, int64_t capacity,
                                    int64_t batch) {
  switch (c.method) {
    case KvMethod::Full:
      return std::make_unique<FullCache>(cfg, batch, capacity, dtype, device);
    case KvMethod::Svd: {
      KVSVD_CHECK(profile != nullptr, "--method svd needs a profile store (--store STORE.h5)");
      if (c.head_ranks) {
        KVSVD_CHECK(c.key_space == KeySpace::PreRope,
                    "--head-ranks: per-head caches hold pre-RoPE key bases only");
        // The evaluators fuse W_O into the profile once (with_fused_output); per-head caches
        // read it from there (output-aware stores carry their own, not P_V-derived).
        for (size_t l = 0; l < profile->layers.size(); ++l)
          KVSVD_CHECK(profile->layers[l].fused_output.defined(), "--head-ranks: layer ", l,
                      " of the profile has no fused output matrix (call with_fused_output first)");
        return std::make_unique<HeadRankCache>(*profile, profile_head_ranks(*profile), cfg,
                                               QuantSpec{c.kv_bits, c.quant_group}, batch, dtype,
                                               device);
      }
      SvdCacheOptions o;
      o.key_rank = c.key_rank;
      o.value_ranks = c.value_ranks;
      o.policy = c.policy;
      o.key_space = c.key_space;
      o.quant = QuantSpec{c.kv_bits, c.quant_group};
      o.hadamard = c.hadamard;
      return std::make_unique<SvdCache>(*profile, cfg, o, batch, dtype, device);
    }
    case KvMethod::Chunked: {
      ChunkedCacheOptions o = c.chunked;
      o.quant = QuantSpec{c.kv_bits, c.quant_group};
      return std::make_unique<ChunkedCache>(cfg, o, batch, dtype, device);
    }
    case KvMethod::Quant:
      return std::make_unique<QuantCache>(cfg, QuantCacheOptions{c.kv_bits, c.quant_group, c.residual},
                                          batch, dtype, device);
  }
  KVSVD_ASSERT(false, "CacheConfig with an unknown method");
  return nullptr;
}

}  // namespace kvsvd
