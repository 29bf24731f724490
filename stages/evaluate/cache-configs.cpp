#include "stages/evaluate/cache-configs.h"

#include <algorithm>

#include "core/kv/methods.h"
#include "core/kv/quant-spec.h"
#include "core/store/profile-store.h"
#include "core/util/error.h"

namespace kvsvd {

namespace {

// "low=16,med=32", "low,med,high" (names the store holds) or a mix; "" gives the store's set.
std::vector<NamedRank> resolve_value_ranks(const std::string& spec, const StoreInfo& s,
                                           int64_t head_dim) {
  if (spec.empty()) {
    if (!s.named_ranks.empty()) return s.named_ranks;
    std::vector<NamedRank> d = default_value_ranks(head_dim);
    for (auto& nr : d) nr.rank = std::min(nr.rank, s.profile.value_rank);
    return d;
  }
  std::string explicit_items;  // name=rank items, parsed by the shared parser
  std::vector<NamedRank> out;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t c = spec.find(',', pos);
    if (c == std::string::npos) c = spec.size();
    const std::string item = spec.substr(pos, c - pos);
    pos = c + 1;
    if (item.find('=') != std::string::npos) {
      out.push_back(parse_named_ranks(item, "--value-ranks")[0]);
      continue;
    }
    auto it = std::find_if(s.named_ranks.begin(), s.named_ranks.end(),
                           [&](const NamedRank& nr) { return nr.name == item; });
    KVSVD_CHECK(it != s.named_ranks.end(), "--value-ranks '", spec, "': the store ", s.path,
                " names no value rank '", item, "' (it names: ",
                s.named_ranks.empty() ? std::string("none") : named_ranks_to_string(s.named_ranks),
                ")");
    out.push_back(*it);
  }
  // Re-parse the whole list to reuse the shared checks (duplicate names, ranks >= 1).
  return parse_named_ranks(named_ranks_to_string(out), "--value-ranks");
}

}  // namespace

StoreInfo load_store(const std::string& path, const std::string& fingerprint,
                     const LlamaConfig& cfg, at::ScalarType dtype, const at::Device& device) {
  StoreInfo s;
  s.path = path;
  s.fingerprint = fingerprint;
  const ProfileStoreReader reader = ProfileStoreReader::open(path);
  const StoreHeader& h = reader.header();
  KVSVD_CHECK(h.num_layers == cfg.num_layers, "--store ", path, ": ", h.num_layers,
              " layers, the model has ", cfg.num_layers);
  // Every dim before any dataset is read (a store of another model is refused by name).
  reader.check_model_dims(cfg.num_layers, cfg.num_kv_heads, cfg.head_dim, cfg.num_heads,
                          cfg.hidden_size);
  s.profile_method = profile_config_string(h, "method");
  s.key_space = profile_config_string(h, "key_space");
  KVSVD_CHECK(h.value_rank_names.size() == h.value_rank_values.size(), "--store ", path,
              ": value_rank_names and value_rank_values differ in length");
  for (size_t i = 0; i < h.value_rank_names.size(); ++i)
    s.named_ranks.push_back(NamedRank{h.value_rank_names[i], h.value_rank_values[i]});
  std::vector<LayerProfile> layers;
  for (int64_t l = 0; l < cfg.num_layers; ++l) layers.push_back(reader.read_layer(l));
  s.profile = make_kv_profile(layers, cfg, dtype, device);
  return s;
}

std::vector<CacheConfig> build_configs(const EvaluateOptions& o, const StoreInfo* store,
                                       int64_t head_dim) {
  std::vector<CacheConfig> out;
  for (const auto& name : o.methods) {
    const KvMethod m = parse_kv_method(name, "--method");
    if (m == KvMethod::Full || m == KvMethod::Quant) continue;  // baseline; quant: below
    if (m == KvMethod::Svd) {
      KVSVD_ASSERT(store != nullptr, "svd without a store");
      const KvProfile& p = store->profile;
      KeySpace space = store->key_space.empty() ? KeySpace::PreRope
                                                : parse_key_space(store->key_space, "--key-space");
      if (!o.key_space.empty()) {
        const KeySpace asked = parse_key_space(o.key_space, "--key-space");
        KVSVD_CHECK(store->key_space.empty() || asked == space, "--key-space ", o.key_space,
                    ": the store ", store->path, " holds bases of ", store->key_space, " keys");
        space = asked;
      }
      if (o.head_ranks) {  // one configuration: every head at the store's own ranks
        KVSVD_CHECK(space == KeySpace::PreRope, "--head-ranks: the store ", store->path,
                    " holds post-RoPE key bases; per-head caches take pre-RoPE bases only");
        CacheConfig c;
        c.method = KvMethod::Svd;
        c.head_ranks = true;
        c.key_space = space;
        c.profile_method = store->profile_method;
        out.push_back(c);
        continue;
      }
      for (int64_t kr : o.key_ranks) {
        const int64_t k = kr == 0 ? p.key_rank : kr;
        KVSVD_CHECK(k >= 1 && k <= p.key_rank, "--key-rank ", kr, ": not in the store ",
                    store->path, " (it holds key ranks 1..", p.key_rank, ")");
        for (const auto& vspec : o.value_ranks) {
          const std::vector<NamedRank> vr = resolve_value_ranks(vspec, *store, head_dim);
          for (const auto& nr : vr)
            KVSVD_CHECK(nr.rank <= p.value_rank, "--value-ranks ", nr.name, "=", nr.rank,
                        ": not in the store ", store->path, " (it holds value ranks 1..",
                        p.value_rank, ")");
          for (const auto& pol : o.policies) {
            CacheConfig c;
            c.method = KvMethod::Svd;
            c.key_rank = k;
            c.value_ranks = vr;
            c.policy = RankPolicy::parse(pol, "--policy");
            c.key_space = space;
            c.profile_method = store->profile_method;
            for (RankLevel level : c.policy.levels_used()) {
              const bool named = std::any_of(vr.begin(), vr.end(), [&](const NamedRank& nr) {
                return nr.name == rank_level_name(level);
              });
              KVSVD_CHECK(named, "--policy ", c.policy.spec(), " uses the value rank '",
                          rank_level_name(level), "' but --value-ranks gives only ",
                          named_ranks_to_string(vr));
            }
            out.push_back(c);
          }
        }
      }
    } else {  // chunked
      const std::vector<double> ratios =
          o.energy_threshold > 0 ? std::vector<double>{0.0} : o.compression_ratios;
      for (int64_t cs : o.chunk_sizes)
        for (double ratio : ratios) {
          CacheConfig c;
          c.method = KvMethod::Chunked;
          c.chunked.chunk_size = cs;
          c.chunked.compression_ratio = ratio;
          c.chunked.energy_threshold = o.energy_threshold;
          c.chunked.min_rank_ratio = o.min_rank_ratio;
          check_chunked_options(c.chunked);  // names the flag
          out.push_back(c);
        }
    }
  }
  // Every method's configurations times the storage bit widths (quant: one per width).
  std::vector<CacheConfig> stored;
  for (int64_t bits : o.kv_bits)
    for (CacheConfig c : out) {
      c.kv_bits = bits;
      c.quant_group = o.quant_group;
      c.hadamard = o.hadamard && c.method == KvMethod::Svd && !c.head_ranks &&
                   QuantSpec{bits, 1}.quantized();
      stored.push_back(c);
    }
  for (const auto& name : o.methods) {
    if (parse_kv_method(name, "--method") != KvMethod::Quant) continue;
    for (int64_t bits : o.kv_bits) {
      CacheConfig c;
      c.method = KvMethod::Quant;
      c.kv_bits = bits;
      c.quant_group = o.quant_group;
      c.residual = o.residual;
      check_kv_bits(bits, /*allow_none=*/false);  // names --kv-bits
      stored.push_back(c);
    }
  }
  return stored;
}

}  // namespace kvsvd
