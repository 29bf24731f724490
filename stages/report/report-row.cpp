#include "stages/report/report-row.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "core/util/error.h"
#include "core/util/json-util.h"
#include "core/util/file-tree.h"

namespace fs = std::filesystem;

namespace kvsvd {

namespace {

constexpr const char* kSchema = "kvsvd-eval";
constexpr int64_t kSchemaVersion = 1;

double optional_number(const nlohmann::json& obj, const char* key, const std::string& where) {
  return json_number_or(obj, key, std::numeric_limits<double>::quiet_NaN(), where);
}

// A parameter as text ("" when absent or null); objects of named ranks become "low=16,...".
std::string param_text(const nlohmann::json& params, const char* key, const std::string& where) {
  if (!json_has(params, key)) return "";
  const auto& v = params[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return cat(v.get<double>());
  if (v.is_object()) {
    // JSON objects come back with sorted keys; named ranks read best in rank order (low, med, high).
    std::vector<std::pair<int64_t, std::string>> levels;
    for (auto it = v.begin(); it != v.end(); ++it) {
      KVSVD_CHECK(it.value().is_number_integer(), where, ": params.", key, ".", it.key(),
                  " must be an integer");
      levels.emplace_back(it.value().get<int64_t>(), it.key());
    }
    std::stable_sort(levels.begin(), levels.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string out;
    for (const auto& l : levels) out += cat(out.empty() ? "" : ",", l.second, "=", l.first);
    return out;
  }
  fail(cat(where, ": params.", key, " has an unexpected type (", v.type_name(), ")"));
}

}  // namespace

std::string ReportRow::scheme() const {
  const bool set = kv_bits == "16" || kv_bits == "8" || kv_bits == "4" || kv_bits == "2";
  if (method != "full" && set) return cat(method, " ", kv_bits, "b", hadamard ? " had" : "");
  return method;
}

std::vector<std::string> find_summaries(const std::vector<std::string>& inputs) {
  std::vector<std::string> out;
  for (const auto& in : inputs) {
    const fs::path p(in);
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) {
      out.push_back(p.string());
      continue;
    }
    KVSVD_CHECK(fs::is_directory(p, ec), in, ": no such file or folder");
    if (fs::exists(p / "summary.json", ec)) {
      out.push_back((p / "summary.json").string());
      continue;
    }
    std::vector<fs::path> subdirs;
    for (const std::string& name : list_directory(p.string()))  // core/util/file-tree.h: why
      if (fs::is_directory(p / name, ec)) subdirs.push_back(p / name);
    std::sort(subdirs.begin(), subdirs.end());
    KVSVD_CHECK(!subdirs.empty(), (p / "summary.json").string(),
                ": missing (not an evaluate run folder, and no run folders inside)");
    for (const auto& d : subdirs) {
      // A run folder without its summary is an unfinished or failed run: say so, do not skip it.
      KVSVD_CHECK(fs::exists(d / "summary.json", ec), (d / "summary.json").string(),
                  ": missing (unfinished or failed run? pass the finished run folders instead)");
      out.push_back((d / "summary.json").string());
    }
  }
  return out;
}

std::vector<ReportRow> load_summary(const std::string& path) {
  const nlohmann::json doc = load_json_file(path);
  KVSVD_CHECK(doc.is_object(), path, ": not a JSON object");
  const std::string schema = json_string(doc, "schema", path);
  KVSVD_CHECK(schema == kSchema, path, ": key 'schema' is '", schema, "', expected '", kSchema, "'");
  const int64_t version = json_int(doc, "schema_version", path);
  KVSVD_CHECK(version == kSchemaVersion, path, ": key 'schema_version' is ", version,
              "; this report reads version ", kSchemaVersion);
  const auto& results = json_require(doc, "results", path);
  KVSVD_CHECK(results.is_array() && !results.empty(), path,
              ": key 'results' must be a non-empty array");

  std::string dataset, seq_len, windows;
  if (json_has(doc, "provenance")) {
    const auto& prov = doc["provenance"];
    KVSVD_CHECK(prov.is_object(), path, ": key 'provenance' must be an object");
    dataset = json_string_or(prov, "dataset", "", path + ": provenance");
  }
  seq_len = std::to_string(json_int_or(doc, "seq_len", 0, path));
  windows = std::to_string(json_int_or(doc, "windows", 0, path));
  const std::string group = cat(dataset.empty() ? "?" : fs::path(dataset).filename().string(),
                                ", seq_len ", seq_len, ", ", windows, " windows");
  std::string run = fs::path(path).parent_path().filename().string();
  if (run.empty()) run = fs::path(path).stem().string();

  std::vector<ReportRow> rows;
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    std::string where = cat(path, ": results[", i, "]");
    KVSVD_CHECK(r.is_object(), where, " must be an object");
    ReportRow row;
    row.source = path;
    row.run = run;
    row.group = group;
    row.label = json_string(r, "label", where);
    where += cat(" ('", row.label, "')");
    row.method = json_string(r, "method", where);
    if (json_has(r, "params")) {
      const auto& params = r["params"];
      KVSVD_CHECK(params.is_object(), where, ": key 'params' must be an object");
      row.key_rank = param_text(params, "key_rank", where);
      row.value_ranks = param_text(params, "value_ranks", where);
      row.policy = param_text(params, "policy", where);
      row.profile_method = param_text(params, "profile_method", where);
      row.chunk_size = param_text(params, "chunk_size", where);
      row.chunk_ratio = param_text(params, "compression_ratio", where);
      row.kv_bits = param_text(params, "kv_bits", where);
      row.quant_group = param_text(params, "quant_group", where);
      row.residual = param_text(params, "residual", where);
      row.hadamard = json_has(params, "hadamard") && params["hadamard"].is_boolean() &&
                     params["hadamard"].get<bool>();
      // Zeros mean "not used by this method" in the summary format.
      for (std::string* s : {&row.key_rank, &row.chunk_size, &row.chunk_ratio, &row.quant_group})
        if (*s == "0") s->clear();
      if (row.method != "quant" && row.residual == "0") row.residual.clear();
    }
    row.kv_bytes_per_token = json_number(r, "kv_bytes_per_token", where);
    row.compression_ratio = json_number(r, "compression_ratio_vs_full", where);
    row.perplexity = json_number(r, "perplexity", where);
    row.delta_perplexity = json_number(r, "delta_perplexity", where);
    KVSVD_CHECK(std::isfinite(row.kv_bytes_per_token) && row.kv_bytes_per_token > 0, where,
                ": key 'kv_bytes_per_token' must be > 0, got ", row.kv_bytes_per_token);
    KVSVD_CHECK(std::isfinite(row.compression_ratio) && row.compression_ratio > 0, where,
                ": key 'compression_ratio_vs_full' must be > 0, got ", row.compression_ratio);
    KVSVD_CHECK(std::isfinite(row.perplexity) && row.perplexity >= 1, where,
                ": key 'perplexity' must be >= 1, got ", row.perplexity);
    const double full_ppl = row.perplexity - row.delta_perplexity;
    KVSVD_CHECK(std::isfinite(row.delta_perplexity) && full_ppl >= 1 - 1e-9, where,
                ": key 'delta_perplexity' (", row.delta_perplexity, ") implies a full-cache ",
                "perplexity of ", full_ppl, " (< 1)");
    row.rel_ppl_increase = row.delta_perplexity / full_ppl;
    row.loss_ci_lo = row.loss_ci_hi = std::numeric_limits<double>::quiet_NaN();
    if (json_has(r, "rel_ppl_change_ci95")) {
      const auto& ci = r["rel_ppl_change_ci95"];
      KVSVD_CHECK(ci.is_array() && ci.size() == 2 && ci[0].is_number() && ci[1].is_number() &&
                      ci[0].get<double>() <= ci[1].get<double>(),
                  where, ": key 'rel_ppl_change_ci95' must be [lo, hi] with lo <= hi");
      row.loss_ci_lo = ci[0].get<double>();
      row.loss_ci_hi = ci[1].get<double>();
    }
    row.kl_mean = optional_number(r, "kl_mean", where);
    row.top1_agreement = optional_number(r, "top1_agreement", where);
    row.gen_token_agreement = optional_number(r, "gen_token_agreement", where);
    row.gen_prefix_match = optional_number(r, "gen_prefix_match", where);
    row.prefill_tokens_per_s = optional_number(r, "prefill_tokens_per_s", where);
    row.decode_tokens_per_s = optional_number(r, "decode_tokens_per_s", where);
    for (const auto& o : rows)
      KVSVD_CHECK(o.label != row.label, where, ": label '", row.label, "' appears twice");
    rows.push_back(row);
  }
  return rows;
}

}  // namespace kvsvd
