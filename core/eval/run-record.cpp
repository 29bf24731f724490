// Window records: JSON round trip, window-order reduction, CSV rows.
#include "core/eval/run-record.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "core/util/error.h"
#include "core/util/json-util.h"

namespace kvsvd {

nlohmann::json window_record_to_json(const WindowRecord& r) {
  // nlohmann writes doubles in their shortest round-trip form, so a record read back from a
  // resume file or an MPI message is bitwise the one that was computed.
  return nlohmann::json{{"window", r.window},
                        {"label", r.label},
                        {"tokens", r.tokens},
                        {"scored", r.scored},
                        {"nll_sum", r.nll_sum},
                        {"kl_positions", r.kl_positions},
                        {"kl_sum", r.kl_sum},
                        {"top1_agree", r.top1_agree},
                        {"kv_bytes", r.kv_bytes},
                        {"kv_tokens", r.kv_tokens},
                        {"gen_new", r.gen_new},
                        {"gen_prefix_match", r.gen_prefix_match},
                        {"gen_token_agreement", r.gen_token_agreement},
                        {"gen_rouge_l", r.gen_rouge_l},
                        {"prefill_tokens", r.prefill_tokens},
                        {"prefill_seconds", r.prefill_seconds},
                        {"decode_tokens", r.decode_tokens},
                        {"decode_seconds", r.decode_seconds},
                        {"peak_memory_bytes", r.peak_memory_bytes}};
}

WindowRecord window_record_from_json(const nlohmann::json& j, const std::string& source) {
  KVSVD_CHECK(j.is_object(), source, ": a window record must be a JSON object");
  WindowRecord r;
  r.window = json_int(j, "window", source);
  r.label = json_string(j, "label", source);
  r.tokens = json_int(j, "tokens", source);
  r.scored = json_int(j, "scored", source);
  r.nll_sum = json_number(j, "nll_sum", source);
  r.kl_positions = json_int(j, "kl_positions", source);
  r.kl_sum = json_number(j, "kl_sum", source);
  r.top1_agree = json_int(j, "top1_agree", source);
  r.kv_bytes = json_int(j, "kv_bytes", source);
  r.kv_tokens = json_int(j, "kv_tokens", source);
  r.gen_new = json_int(j, "gen_new", source);
  r.gen_prefix_match = json_int(j, "gen_prefix_match", source);
  r.gen_token_agreement = json_number(j, "gen_token_agreement", source);
  r.gen_rouge_l = json_number(j, "gen_rouge_l", source);
  r.prefill_tokens = json_int(j, "prefill_tokens", source);
  r.prefill_seconds = json_number(j, "prefill_seconds", source);
  r.decode_tokens = json_int(j, "decode_tokens", source);
  r.decode_seconds = json_number(j, "decode_seconds", source);
  r.peak_memory_bytes = json_int(j, "peak_memory_bytes", source);
  return r;
}

namespace {

// Per label: window index -> record, ordered by window.
using ByWindow = std::map<int64_t, const WindowRecord*>;

std::map<std::string, ByWindow> index_records(const std::vector<WindowRecord>& records,
                                              const std::vector<std::string>& labels) {
  std::map<std::string, ByWindow> out;
  for (const auto& l : labels) out[l];
  for (const auto& r : records) {
    auto it = out.find(r.label);
    KVSVD_CHECK(it != out.end(), "window ", r.window, ": record of unknown configuration '",
                r.label, "'");
    KVSVD_CHECK(it->second.emplace(r.window, &r).second, "configuration '", r.label,
                "': window ", r.window, " recorded twice");
  }
  return out;
}

double safe_ratio(double num, double den) { return den > 0 ? num / den : 0.0; }

}  // namespace

std::vector<ConfigFigures> reduce_window_records(const std::vector<WindowRecord>& records,
                                                 const std::vector<std::string>& labels,
                                                 const std::vector<int64_t>& windows,
                                                 const std::string& baseline) {
  KVSVD_CHECK(!windows.empty(), "no windows to reduce");
  KVSVD_CHECK(std::find(labels.begin(), labels.end(), baseline) != labels.end(),
              "baseline configuration '", baseline, "' is not among the configurations");
  const auto by_label = index_records(records, labels);
  std::vector<int64_t> order = windows;
  std::sort(order.begin(), order.end());

  std::vector<ConfigFigures> out;
  for (const auto& label : labels) {
    const ByWindow& recs = by_label.at(label);
    for (int64_t w : order)
      KVSVD_CHECK(recs.count(w), "configuration '", label, "': no record for window ", w);
    KVSVD_CHECK(recs.size() == order.size(), "configuration '", label, "': ", recs.size(),
                " window records for ", order.size(), " windows");
    ConfigFigures f;
    f.label = label;
    f.windows = static_cast<int64_t>(order.size());
    // Every sum runs over the windows in ascending index order (the std::map's order).
    double nll = 0, kl = 0, gen_prefix = 0, gen_agree = 0, gen_rouge = 0;
    double prefill_s = 0, decode_s = 0;
    int64_t scored = 0, kl_pos = 0, top1 = 0, kv_bytes = 0, kv_tokens = 0, gen_windows = 0;
    int64_t prefill_tok = 0, decode_tok = 0, peak = 0;
    for (const auto& [w, r] : recs) {
      nll += r->nll_sum;
      scored += r->scored;
      kl += r->kl_sum;
      kl_pos += r->kl_positions;
      top1 += r->top1_agree;
      kv_bytes += r->kv_bytes;
      kv_tokens += r->kv_tokens;
      if (r->gen_new > 0) {
        ++gen_windows;
        gen_prefix += static_cast<double>(r->gen_prefix_match);
        gen_agree += r->gen_token_agreement;
        gen_rouge += r->gen_rouge_l;
      }
      prefill_tok += r->prefill_tokens;
      prefill_s += r->prefill_seconds;
      decode_tok += r->decode_tokens;
      decode_s += r->decode_seconds;
      peak = std::max(peak, r->peak_memory_bytes);
    }
    f.scored_tokens = scored;
    f.nll_mean = safe_ratio(nll, static_cast<double>(scored));
    f.perplexity = std::exp(f.nll_mean);
    f.kl_mean = safe_ratio(kl, static_cast<double>(kl_pos));
    f.top1_agreement = safe_ratio(static_cast<double>(top1), static_cast<double>(kl_pos));
    f.has_generation = gen_windows > 0;
    f.gen_prefix_match = safe_ratio(gen_prefix, static_cast<double>(gen_windows));
    f.gen_token_agreement = safe_ratio(gen_agree, static_cast<double>(gen_windows));
    f.gen_rouge_l = safe_ratio(gen_rouge, static_cast<double>(gen_windows));
    f.kv_bytes_per_token = safe_ratio(static_cast<double>(kv_bytes), static_cast<double>(kv_tokens));
    f.prefill_tokens_per_s = safe_ratio(static_cast<double>(prefill_tok), prefill_s);
    f.decode_tokens_per_s = safe_ratio(static_cast<double>(decode_tok), decode_s);
    f.peak_memory_bytes = peak;
    out.push_back(f);
  }
  const ConfigFigures base =
      *std::find_if(out.begin(), out.end(), [&](const ConfigFigures& f) { return f.label == baseline; });
  for (auto& f : out) {
    f.delta_nll = f.nll_mean - base.nll_mean;
    f.delta_perplexity = f.perplexity - base.perplexity;
    f.compression_ratio_vs_full = safe_ratio(base.kv_bytes_per_token, f.kv_bytes_per_token);
  }
  return out;
}

nlohmann::json figures_to_json(const ConfigFigures& f) {
  nlohmann::json j = {{"windows", f.windows},
                      {"scored_tokens", f.scored_tokens},
                      {"nll_mean", f.nll_mean},
                      {"perplexity", f.perplexity},
                      {"delta_perplexity", f.delta_perplexity},
                      {"delta_nll", f.delta_nll},
                      {"kl_mean", f.kl_mean},
                      {"top1_agreement", f.top1_agreement}};
  if (f.has_generation) {  // absent rather than 0 when generation was off: 0 would read as "bad"
    j["gen_prefix_match"] = f.gen_prefix_match;
    j["gen_token_agreement"] = f.gen_token_agreement;
    j["gen_rouge_l"] = f.gen_rouge_l;
  }
  j["kv_bytes_per_token"] = f.kv_bytes_per_token;
  j["compression_ratio_vs_full"] = f.compression_ratio_vs_full;
  j["prefill_tokens_per_s"] = f.prefill_tokens_per_s;
  if (f.has_generation) j["decode_tokens_per_s"] = f.decode_tokens_per_s;
  j["peak_memory_bytes"] = f.peak_memory_bytes;
  return j;
}

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string num(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

}  // namespace

std::string window_records_csv(const std::vector<WindowRecord>& records,
                               const std::vector<std::string>& labels) {
  std::vector<const WindowRecord*> rows;
  for (const auto& r : records) rows.push_back(&r);
  auto rank_of = [&](const std::string& l) {
    return std::find(labels.begin(), labels.end(), l) - labels.begin();
  };
  std::sort(rows.begin(), rows.end(), [&](const WindowRecord* a, const WindowRecord* b) {
    if (a->window != b->window) return a->window < b->window;
    return rank_of(a->label) < rank_of(b->label);
  });
  std::string out =
      "window,label,tokens,scored,nll_sum,nll_mean,perplexity,kl_sum,kl_mean,top1_agreement,"
      "kv_bytes,kv_bytes_per_token,gen_new,gen_prefix_match,gen_token_agreement,gen_rouge_l,"
      "prefill_tokens_per_s,decode_tokens_per_s,peak_memory_bytes\n";
  for (const WindowRecord* r : rows) {
    const double nll_mean = safe_ratio(r->nll_sum, static_cast<double>(r->scored));
    out += cat(r->window, ",", csv_field(r->label), ",", r->tokens, ",", r->scored, ",",
               num(r->nll_sum), ",", num(nll_mean), ",", num(std::exp(nll_mean)), ",",
               num(r->kl_sum), ",", num(safe_ratio(r->kl_sum, double(r->kl_positions))), ",",
               num(safe_ratio(double(r->top1_agree), double(r->kl_positions))), ",", r->kv_bytes,
               ",", num(safe_ratio(double(r->kv_bytes), double(r->kv_tokens))), ",", r->gen_new,
               ",", r->gen_prefix_match, ",", num(r->gen_token_agreement), ",",
               num(r->gen_rouge_l), ",",
               num(safe_ratio(double(r->prefill_tokens), r->prefill_seconds)), ",",
               num(safe_ratio(double(r->decode_tokens), r->decode_seconds)), ",",
               r->peak_memory_bytes, "\n");
  }
  return out;
}

}  // namespace kvsvd
