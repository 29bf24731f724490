#include "stages/evaluate/eval-summary.h"

#include <cmath>
#include <cstdio>

namespace kvsvd {

void to_json(nlohmann::json& j, const EvalProvenance& p) {
  j = {{"kvsvd_version", p.kvsvd_version},
       {"git_rev", p.git_rev},
       {"world_size", p.world_size},
       {"device", p.device},
       {"dtype", p.dtype},
       {"date_utc", p.date_utc},
       {"command", p.command},
       {"model_dir", p.model_dir},
       {"model_fingerprint", p.model_fingerprint},
       {"store", p.store},
       {"store_fingerprint", p.store_fingerprint},
       {"dataset", p.dataset},
       {"dataset_fingerprint", p.dataset_fingerprint},
       {"config", p.config}};
  if (!p.pipeline.is_null()) j["pipeline"] = p.pipeline;
}

void to_json(nlohmann::json& j, const EvalResult& r) {
  j = {{"label", r.label}, {"method", r.method}, {"params", r.params}};
  j.update(figures_to_json(r.figures));
  j["rel_ppl_change_ci95"] = {r.rel_ppl_change_ci95.lo, r.rel_ppl_change_ci95.hi};
}

void to_json(nlohmann::json& j, const EvalSummary& s) {
  j = {{"schema", kEvalSchema},
       {"schema_version", kEvalSchemaVersion},
       {"provenance", s.provenance},
       {"windows", s.windows},
       {"seq_len", s.seq_len},
       {"scored_tokens", s.scored_tokens},
       {"bootstrap",
        {{"unit", "window"},
         {"paired_with", "full"},
         {"resamples", s.bootstrap.resamples},
         {"seed", s.bootstrap.seed},
         {"level", s.bootstrap.level},
         {"statistic", "exp((sum nll_cfg - sum nll_full) / sum scored) - 1"}}},
       {"results", s.results}};
}

std::string summary_table(const nlohmann::json& summary) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-40s %9s %9s %9s %7s %11s %7s %11s %10s\n", "config", "ppl",
                "delta", "KL", "top-1", "KV B/token", "ratio", "prefill t/s", "decode t/s");
  out += line;
  for (const auto& r : summary.at("results")) {
    auto num = [&](const char* k) { return r.contains(k) ? r[k].get<double>() : std::nan(""); };
    std::snprintf(line, sizeof line, "%-40s %9.4f %+9.4f %9.5f %7.4f %11.1f %7.2f %11.0f %10.1f\n",
                  r.at("label").get<std::string>().c_str(), num("perplexity"),
                  num("delta_perplexity"), num("kl_mean"), num("top1_agreement"),
                  num("kv_bytes_per_token"), num("compression_ratio_vs_full"),
                  num("prefill_tokens_per_s"), num("decode_tokens_per_s"));
    out += line;
  }
  return out;
}

}  // namespace kvsvd
