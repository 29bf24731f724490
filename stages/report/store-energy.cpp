#include "stages/report/store-energy.h"

#include <algorithm>

#include "core/store/isolated-check.h"
#include "core/store/profile-store.h"
#include "core/util/error.h"

namespace kvsvd {

namespace {

// curve: [n_kv, head_dim] cumulative retained energy at rank 1..head_dim. Mean over heads at `rank`
// (per head when `per_head` is non-empty).
double mean_at_rank(const std::vector<float>& curve, int64_t n_kv, int64_t head_dim, int64_t rank,
                    const std::vector<int32_t>& per_head, const std::string& where) {
  KVSVD_CHECK(static_cast<int64_t>(curve.size()) == n_kv * head_dim, where, ": has ", curve.size(),
              " values, expected n_kv*head_dim = ", n_kv * head_dim);
  double sum = 0;
  for (int64_t h = 0; h < n_kv; ++h) {
    int64_t r = per_head.empty() ? rank : per_head[h];
    r = std::min<int64_t>(std::max<int64_t>(r, 1), head_dim);
    sum += curve[h * head_dim + (r - 1)];
  }
  return sum / static_cast<double>(n_kv);
}

}  // namespace

StoreEnergy read_store_energy(const std::string& path) {
  require_sound_store(path);  // in a separate process: a damaged store is an error here
  const ProfileStoreReader reader = ProfileStoreReader::open(path);
  const StoreHeader& h = reader.header();
  StoreEnergy out;
  out.path = path;
  out.key_rank = h.key_rank;
  const bool named = !h.value_rank_names.empty() &&
                     h.value_rank_names.size() == h.value_rank_values.size();
  if (named) {
    for (size_t i = 0; i < h.value_rank_names.size(); ++i)
      out.value_levels.push_back(cat(h.value_rank_names[i], " (", h.value_rank_values[i], ")"));
  } else {
    out.value_levels.push_back("max");
  }
  for (int64_t l = 0; l < h.num_layers; ++l) {
    const LayerProfile p = reader.read_layer(l);
    const std::string where = cat(path, ": layer ", l);
    KVSVD_CHECK(!p.key_energy.empty() && !p.value_energy.empty(), where,
                ": key_energy / value_energy missing");
    LayerEnergy e;
    e.layer = l;
    e.key = mean_at_rank(p.key_energy, p.n_kv, p.head_dim, p.key_rank, p.key_head_rank,
                         where + " key_energy");
    if (named) {
      for (int64_t r : h.value_rank_values)
        e.value.push_back(mean_at_rank(p.value_energy, p.n_kv, p.head_dim, r, {},
                                       where + " value_energy"));
    } else {
      e.value.push_back(mean_at_rank(p.value_energy, p.n_kv, p.head_dim, p.value_rank,
                                     p.value_head_rank, where + " value_energy"));
    }
    out.layers.push_back(e);
  }
  return out;
}

}  // namespace kvsvd
