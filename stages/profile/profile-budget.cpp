// The rank budget: loss curves per slot measured through HeadRankCache, then a greedy allocation.
#include "stages/profile/profile-budget.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/compress/layer-decompose.h"
#include "core/compress/rank-budget.h"
#include "core/compress/rank-plan.h"
#include "core/eval/cache-factory.h"
#include "core/eval/metrics.h"
#include "core/eval/perplexity.h"
#include "core/kv/full-cache.h"
#include "core/kv/head-rank-cache.h"
#include "core/kv/kv-profile.h"
#include "core/kv/quant-rows.h"
#include "core/util/error.h"
#include "core/util/json-util.h"
#include "core/util/sha256.h"

namespace kvsvd {
namespace {

// Bytes one token's row of r coefficients takes in the cache's own storage at `spec`.
int64_t row_bytes(int64_t r, const QuantSpec& spec, at::ScalarType dtype) {
  QuantRows rows(spec, dtype);
  rows.append(at::zeros({1, 1, 1, r}, at::TensorOptions().dtype(dtype)));
  return rows.bytes();
}

// Mean KL(full ‖ cache) per position over the batch.
double mean_kl(const at::Tensor& full_logits, const at::Tensor& logits) {
  double kl = 0;
  int64_t n = 0;
  for (int64_t b = 0; b < full_logits.size(0); ++b) {
    const LogitAgreement a = compare_logits(full_logits[b], logits[b]);
    kl += a.kl_sum;
    n += a.positions;
  }
  return n > 0 ? kl / static_cast<double>(n) : 0.0;
}

// Keeps the first r columns of each head's [d, R] block: [n, d, R] -> [n, d, r] (row-major).
std::vector<float> trim_columns(const std::vector<float>& v, int64_t n, int64_t d, int64_t R,
                                int64_t r) {
  std::vector<float> out;
  out.reserve(static_cast<size_t>(n * d * r));
  for (int64_t i = 0; i < n * d; ++i)
    out.insert(out.end(), v.begin() + i * R, v.begin() + i * R + r);
  return out;
}

}  // namespace

int64_t budget_bytes_per_token(const ProfileOptions& o, const LlamaConfig& cfg) {
  if (o.kv_budget_bytes > 0) return o.kv_budget_bytes;
  const double fp16 = 2.0 * 2.0 * double(cfg.num_layers * cfg.num_kv_heads * cfg.head_dim);
  return static_cast<int64_t>(std::floor(fp16 / o.target_ratio));
}

void check_budget_fits(const ProfileOptions& o, const LlamaConfig& cfg) {
  const int64_t budget = budget_bytes_per_token(o, cfg);
  // The dtype matters only for unquantized storage, which budgets never count (16/8/4/2 bits).
  const int64_t least = 2 * cfg.num_layers * cfg.num_kv_heads *
                        row_bytes(1, QuantSpec{o.budget_bits, o.budget_group}, at::kFloat);
  KVSVD_CHECK(budget >= least, o.kv_budget_bytes > 0 ? "--kv-budget-bytes" : "--target-ratio",
              ": a budget of ", budget, " KV bytes per token is below the smallest allocation (",
              least, " bytes per token with every head at rank 1, ", o.budget_bits, "-bit)");
}

nlohmann::json apply_rank_budget(std::vector<LayerProfile>& layers, const LlamaModel& model,
                                 const std::vector<TokenIds>& calib_windows,
                                 const ProfileOptions& o, bool progress) {
  const LlamaConfig& cfg = model.config();
  const int64_t L = cfg.num_layers, Hkv = cfg.num_kv_heads, d = cfg.head_dim;
  KVSVD_CHECK(static_cast<int64_t>(layers.size()) == L, "rank budget: ", layers.size(),
              " layers, the model has ", L);
  for (const LayerProfile& p : layers)
    KVSVD_CHECK(p.key_rank == d && p.value_rank == d, "rank budget: layer ", p.layer,
                " was decomposed at ranks ", p.key_rank, "/", p.value_rank, ", not head_dim ", d);
  KVSVD_CHECK(!calib_windows.empty(), "rank budget: no calibration windows");
  // The first windows of the first window's length (packed windows share it; a short last one
  // would not batch).
  std::vector<TokenIds> windows;
  for (const auto& w : calib_windows)
    if (static_cast<int64_t>(windows.size()) < o.budget_windows && w.size() == calib_windows[0].size())
      windows.push_back(w);
  const int64_t B = static_cast<int64_t>(windows.size());
  const int64_t T = static_cast<int64_t>(windows[0].size());
  KVSVD_CHECK(T >= 2, "rank budget: calibration windows of ", T, " tokens (need >= 2)");

  const KvProfile prof =
      with_fused_output(make_kv_profile(layers, cfg, model.dtype(), model.device()), model);
  at::Tensor full_logits;
  {
    FullCache cache(cfg, B, T, model.dtype(), model.device());
    score_windows(model, cache, windows, &full_logits);
  }
  const QuantSpec spec{o.budget_bits, o.budget_group};
  const std::vector<int64_t> grid = candidate_ranks(d);
  std::vector<int64_t> bytes_at;
  for (int64_t r : grid) bytes_at.push_back(row_bytes(r, spec, model.dtype()));

  // What the curves depend on: the bases, the windows, the grid, the dtype (a reused curves file
  // must match all of them).
  std::string key;
  {
    std::vector<float> blob;
    for (const LayerProfile& p : layers) {
      blob.insert(blob.end(), p.key_basis.begin(), p.key_basis.end());
      blob.insert(blob.end(), p.value_basis.begin(), p.value_basis.end());
    }
    for (const auto& w : windows) blob.insert(blob.end(), w.begin(), w.end());
    for (int64_t r : grid) blob.push_back(static_cast<float>(r));
    blob.push_back(static_cast<float>(model.dtype() == at::kFloat ? 32 : 16));
    key = sha256_hex(std::string(reinterpret_cast<const char*>(blob.data()),
                                 blob.size() * sizeof(float)));
  }
  std::vector<SlotCurve> slots, measured;
  const int64_t n_slots = L * Hkv * 2;
  if (!o.budget_curves.empty() && std::filesystem::exists(o.budget_curves)) {
    const nlohmann::json j = load_json_file(o.budget_curves);
    KVSVD_CHECK(j.value("key", "") == key, "--budget-curves ", o.budget_curves,
                ": measured for other bases, windows or dtype (key ", j.value("key", ""),
                ", these inputs have ", key, "); delete it to measure again");
    for (const auto& c : j.at("curves")) {
      SlotCurve s;
      s.name = c.at("slot").get<std::string>();
      s.ranks = c.at("ranks").get<std::vector<int64_t>>();
      s.loss = c.at("kl").get<std::vector<double>>();
      s.bytes = bytes_at;
      KVSVD_CHECK(s.ranks == grid && s.loss.size() == grid.size(), "--budget-curves ",
                  o.budget_curves, ": slot ", s.name, " has another rank grid");
      slots.push_back(std::move(s));
    }
    KVSVD_CHECK(static_cast<int64_t>(slots.size()) == n_slots, "--budget-curves ",
                o.budget_curves, ": ", slots.size(), " slots, expected ", n_slots);
    if (progress) std::fprintf(stderr, "profile: budget losses read from %s\n", o.budget_curves.c_str());
  }
  // Slots in order (layer, head, keys then values); each cut alone, the rest at full rank.
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t l = 0; l < L && slots.empty(); ++l)
    for (int64_t h = 0; h < Hkv; ++h)
      for (int side = 0; side < 2; ++side) {
        SlotCurve c;
        c.name = cat("layer ", l, " head ", h, side == 0 ? " keys" : " values");
        for (size_t i = 0; i < grid.size(); ++i) {
          c.ranks.push_back(grid[i]);
          c.bytes.push_back(bytes_at[i]);
          if (grid[i] == d) {  // the exact cache: nothing lost by construction
            c.loss.push_back(0.0);
            continue;
          }
          HeadRanks ranks;
          ranks.key.assign(L, std::vector<int64_t>(Hkv, d));
          ranks.value.assign(L, std::vector<int64_t>(Hkv, d));
          (side == 0 ? ranks.key : ranks.value)[l][h] = grid[i];
          HeadRankCache cache(prof, ranks, cfg, QuantSpec{}, B, model.dtype(), model.device());
          at::Tensor logits;
          score_windows(model, cache, windows, &logits);
          c.loss.push_back(mean_kl(full_logits, logits));
        }
        measured.push_back(std::move(c));
        if (progress) {
          const double el =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          std::fprintf(stderr, "profile: budget losses %zu/%lld slots measured, %.1f s\n",
                       measured.size(), static_cast<long long>(n_slots), el);
        }
      }
  if (slots.empty()) {
    slots = std::move(measured);
    if (!o.budget_curves.empty()) {
      nlohmann::json j = {{"key", key}, {"curves", nlohmann::json::array()}};
      for (const auto& c : slots) j["curves"].push_back({{"slot", c.name}, {"ranks", c.ranks}, {"kl", c.loss}});
      std::ofstream f(o.budget_curves);
      f << j.dump(1) << "\n";
      KVSVD_CHECK(f.good(), "--budget-curves ", o.budget_curves, ": cannot write");
    }
  }

  const int64_t budget = budget_bytes_per_token(o, cfg);
  const BudgetAllocation a = allocate_budget(
      slots, budget, o.kv_budget_bytes > 0 ? "--kv-budget-bytes" : "--target-ratio");

  int64_t rk_max = 1, rv_max = 1;
  for (size_t s = 0; s < slots.size(); ++s)
    ((s % 2 == 0) ? rk_max : rv_max) = std::max((s % 2 == 0) ? rk_max : rv_max,
                                                slots[s].ranks[a.choice[s]]);
  nlohmann::json curves = nlohmann::json::array();
  for (int64_t l = 0; l < L; ++l) {
    LayerProfile& p = layers[l];
    for (int64_t h = 0; h < Hkv; ++h) {
      const size_t sk = static_cast<size_t>((l * Hkv + h) * 2), sv = sk + 1;
      p.key_head_rank[h] = static_cast<int32_t>(slots[sk].ranks[a.choice[sk]]);
      p.value_head_rank[h] = static_cast<int32_t>(slots[sv].ranks[a.choice[sv]]);
      for (size_t s : {sk, sv})
        curves.push_back({{"slot", slots[s].name},
                          {"ranks", slots[s].ranks},
                          {"kl", slots[s].loss},
                          {"chosen", slots[s].ranks[a.choice[s]]}});
      // Relative reconstruction error at the new ranks, from the energy curves.
      auto err = [&](const std::vector<float>& energy, int64_t r) {
        return static_cast<float>(std::sqrt(std::max(0.0, 1.0 - double(energy[h * d + r - 1]))));
      };
      if (!p.key_error.empty()) p.key_error[h] = err(p.key_energy, p.key_head_rank[h]);
      if (!p.value_error.empty()) p.value_error[h] = err(p.value_energy, p.value_head_rank[h]);
    }
    p.key_basis = trim_columns(p.key_basis, Hkv, d, p.key_rank, rk_max);
    p.value_basis = trim_columns(p.value_basis, Hkv, d, p.value_rank, rv_max);
    if (!p.fused_output.empty())
      p.fused_output =
          trim_columns(p.fused_output, cfg.num_heads, p.hidden, p.value_rank, rv_max);
    p.key_rank = rk_max;
    p.value_rank = rv_max;
  }
  return {{"budget_bytes_per_token", budget},
          {"allocated_bytes_per_token", a.bytes},
          {"estimated_kl_sum", a.loss},
          {"bits", o.budget_bits},
          {"group", o.budget_group},
          {"windows", B},
          {"window_tokens", T},
          {"curves", curves}};
}

}  // namespace kvsvd
