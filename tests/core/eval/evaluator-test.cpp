// WindowEvaluator on the bundled model (CPU, fp32): KV bytes against an independent count,
// full-rank compressed caches reproduce full, lower ranks cost NLL monotonically; the
// window-order reduction does not depend on record order.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "core/eval/cache-factory.h"
#include "core/eval/evaluator.h"
#include "core/eval/run-record.h"
#include "core/util/error.h"
#include "support/catch.h"
#include "support/bundled-fixture.h"

using namespace kvsvd;

namespace {

CacheConfig svd_config(int64_t key_rank, std::vector<NamedRank> value_ranks, const std::string& policy) {
  CacheConfig c;
  c.method = KvMethod::Svd;
  c.key_rank = key_rank;
  c.value_ranks = std::move(value_ranks);
  c.policy = RankPolicy::parse(policy, "--policy");
  c.profile_method = "weight_svd";
  return c;
}

CacheConfig chunked_config(int64_t chunk, double ratio) {
  CacheConfig c;
  c.method = KvMethod::Chunked;
  c.chunked.chunk_size = chunk;
  c.chunked.compression_ratio = ratio;
  return c;
}

const WindowRecord& record_of(const std::vector<WindowRecord>& recs, const std::string& label) {
  auto it = std::find_if(recs.begin(), recs.end(),
                         [&](const WindowRecord& r) { return r.label == label; });
  REQUIRE(it != recs.end());
  return *it;
}

// The seed's position rule, restated here rather than taken from RankPolicy: 0 low, 1 med, 2 high.
int seed_level(int64_t p, int64_t prompt_len) {
  const double ratio = static_cast<double>(p) / static_cast<double>(prompt_len);
  if (ratio < 0.2 || ratio > 0.8) return 0;
  if (ratio < 0.4 || ratio > 0.6) return 1;
  return 2;
}

}  // namespace

TEST_CASE("KV bytes held after the prefill equal an independent count", "[evaluate]") {
  const LlamaModel& model = test::bundled_model();
  const LlamaConfig& cfg = model.config();
  const KvProfile profile = test::weight_svd_profile(model, 64, test::three_levels());
  const std::vector<CacheConfig> configs = {
      svd_config(16, {{"high", 32}}, "uniform:high"),
      svd_config(24, test::three_levels(), "position"),
      chunked_config(16, 4.0),
      chunked_config(24, 4.0),
  };
  const WindowEvaluator ev(model, configs, &profile, GenerationSpec{});
  const auto windows = test::bundled_windows(1, 64);
  const int64_t T = static_cast<int64_t>(windows[0].size());
  REQUIRE(T == 64);
  const auto recs = ev.evaluate(0, windows[0]);
  REQUIRE(recs.size() == 5);

  const int64_t L = cfg.num_layers, H = cfg.num_kv_heads, d = cfg.head_dim, f32 = 4, i64 = 8;
  std::vector<std::pair<std::string, int64_t>> want;
  want.emplace_back("full", L * 2 * H * T * d * f32);
  // svd: key coefficients [H, T, r_k] + value coefficients [H, n, r] per rank group + the int64
  // positions of each group's tokens.
  want.emplace_back(cache_config_label(configs[0]), L * (H * T * 16 * f32 + H * T * 32 * f32 + T * i64));
  {
    const int64_t ranks[3] = {16, 32, 64};
    int64_t values = 0;
    for (int64_t p = 0; p < T; ++p) values += H * ranks[seed_level(p, T)] * f32 + i64;
    want.emplace_back(cache_config_label(configs[1]), L * (H * T * 24 * f32 + values));
  }
  // chunked: exact open-chunk buffers [H, C, d] for K and V + per closed chunk U·S [H, C, r] and
  // Vᵀ [H, r, d] for K and V, r = floor(C·d / (ratio·(C + d))).
  for (int64_t C : {16, 24}) {
    const int64_t r = static_cast<int64_t>(std::floor(double(C * d) / (4.0 * double(C + d))));
    const int64_t closed = T / C;
    want.emplace_back(cache_config_label(chunked_config(C, 4.0)),
                      L * (2 * H * C * d * f32 + closed * 2 * H * (C * r + r * d) * f32));
  }
  for (const auto& [label, bytes] : want) {
    INFO(label);
    const WindowRecord& r = record_of(recs, label);
    CHECK(r.kv_bytes == bytes);
    CHECK(r.kv_tokens == T);
  }
  // The per-token figure of the summary is bytes / tokens, and the ratio is relative to full.
  const auto figs = reduce_window_records(recs, ev.labels(), {0}, "full");
  for (size_t i = 0; i < figs.size(); ++i) {
    INFO(figs[i].label);
    CHECK(figs[i].kv_bytes_per_token == double(want[i].second) / double(T));
    CHECK(figs[i].compression_ratio_vs_full == Approx(double(want[0].second) / double(want[i].second)));
  }
}

TEST_CASE("svd and chunked at full rank reproduce the full cache", "[evaluate]") {
  const LlamaModel& model = test::bundled_model();
  const int64_t d = model.config().head_dim;
  const KvProfile profile = test::weight_svd_profile(model, d, test::three_levels());
  // chunk 16 at ratio 0.5 asks for rank 25 > min(C, d) = 16: every chunk is kept at full rank.
  const std::vector<CacheConfig> configs = {svd_config(d, {{"high", d}}, "uniform:high"),
                                            chunked_config(16, 0.5)};
  const WindowEvaluator ev(model, configs, &profile, GenerationSpec{6, 24});
  const auto windows = test::bundled_windows(2, 48);
  for (size_t w = 0; w < windows.size(); ++w) {
    const auto recs = ev.evaluate(static_cast<int64_t>(w), windows[w]);
    const WindowRecord& full = recs[0];
    REQUIRE(full.label == "full");
    for (size_t i = 1; i < recs.size(); ++i) {
      const WindowRecord& r = recs[i];
      INFO("window " << w << ", " << r.label);
      const double full_mean = full.nll_sum / double(full.scored);
      const double mean = r.nll_sum / double(r.scored);
      std::printf("full-rank %-32s window %zu: mean NLL %.8f vs full %.8f (diff %.2e), KL/pos %.2e\n",
                  r.label.c_str(), w, mean, full_mean, std::abs(mean - full_mean),
                  r.kl_sum / double(r.kl_positions));
      CHECK(r.scored == full.scored);
      CHECK(std::abs(mean - full_mean) < 1e-5);
      CHECK(r.kl_sum / double(r.kl_positions) < 1e-6);
      CHECK(r.top1_agree == r.kl_positions);
      CHECK(r.gen_new == 6);
      CHECK(r.gen_prefix_match == 6);
      CHECK(r.gen_token_agreement == 1.0);
    }
  }
}

TEST_CASE("lower svd ranks give a higher NLL, monotonically", "[evaluate]") {
  const LlamaModel& model = test::bundled_model();
  const KvProfile profile = test::weight_svd_profile(model, 64, test::three_levels());
  const std::vector<int64_t> ranks = {16, 32, 48};
  std::vector<CacheConfig> configs;
  for (int64_t r : ranks) configs.push_back(svd_config(r, {{"high", r}}, "uniform:high"));
  const WindowEvaluator ev(model, configs, &profile, GenerationSpec{});
  const auto windows = test::bundled_windows(3, 64);
  std::vector<WindowRecord> all;
  std::vector<int64_t> idx;
  for (size_t w = 0; w < windows.size(); ++w) {
    auto recs = ev.evaluate(static_cast<int64_t>(w), windows[w]);
    all.insert(all.end(), recs.begin(), recs.end());
    idx.push_back(static_cast<int64_t>(w));
  }
  const auto figs = reduce_window_records(all, ev.labels(), idx, "full");
  REQUIRE(figs.size() == 4);
  for (const auto& f : figs)
    std::printf("rank sweep %-28s ppl %.4f  delta %+.4f  KL %.5f  top-1 %.4f  bytes/token %.0f\n",
                f.label.c_str(), f.perplexity, f.delta_perplexity, f.kl_mean, f.top1_agreement,
                f.kv_bytes_per_token);
  // figs: full, r=16, r=32, r=48. Rank 16 is worst; each step up lowers NLL and KL.
  CHECK(figs[1].nll_mean > figs[2].nll_mean);
  CHECK(figs[2].nll_mean > figs[3].nll_mean);
  CHECK(figs[3].nll_mean > figs[0].nll_mean);
  CHECK(figs[1].kl_mean > figs[2].kl_mean);
  CHECK(figs[2].kl_mean > figs[3].kl_mean);
  CHECK(figs[1].kv_bytes_per_token < figs[2].kv_bytes_per_token);
}

TEST_CASE("the window-order reduction does not depend on record order", "[evaluate]") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 3.0);
  std::vector<WindowRecord> recs;
  const std::vector<std::string> labels = {"full", "svd/x"};
  for (int64_t w = 0; w < 9; ++w)
    for (const auto& l : labels) {
      WindowRecord r;
      r.window = w;
      r.label = l;
      r.tokens = 10 + w;
      r.scored = r.tokens - 1;
      r.nll_sum = u(rng) * double(r.scored);
      r.kl_positions = r.tokens;
      r.kl_sum = l == "full" ? 0 : u(rng) * 1e-3;
      r.top1_agree = r.tokens - (l == "full" ? 0 : w % 3);
      r.kv_bytes = (l == "full" ? 1000 : 300) * r.tokens;
      r.kv_tokens = r.tokens;
      r.gen_new = 4;
      r.gen_prefix_match = w % 4;
      r.gen_token_agreement = u(rng) / 3.0;
      r.gen_rouge_l = u(rng) / 3.0;
      recs.push_back(r);
    }
  std::vector<int64_t> idx = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  const auto a = reduce_window_records(recs, labels, idx, "full");
  std::shuffle(recs.begin(), recs.end(), rng);
  std::shuffle(idx.begin(), idx.end(), rng);
  const auto b = reduce_window_records(recs, labels, idx, "full");
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].nll_mean == b[i].nll_mean);
    CHECK(a[i].kl_mean == b[i].kl_mean);
    CHECK(a[i].gen_token_agreement == b[i].gen_token_agreement);
    CHECK(a[i].gen_rouge_l == b[i].gen_rouge_l);
  }
  CHECK(a[1].compression_ratio_vs_full == Approx(1000.0 / 300.0));
  CHECK(a[1].delta_nll == a[1].nll_mean - a[0].nll_mean);
  // JSON round trip is exact.
  for (const auto& r : recs) {
    const WindowRecord back = window_record_from_json(window_record_to_json(r), "test");
    CHECK(back.nll_sum == r.nll_sum);
    CHECK(back.gen_rouge_l == r.gen_rouge_l);
  }
  // A missing window is an error naming the configuration and the window.
  recs.pop_back();
  REQUIRE_THROWS_AS(reduce_window_records(recs, labels, idx, "full"), Error);
}
