// summary.json of an evaluate run, as structs (results/README.md documents every key), and the
// short table of it printed on stderr.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/eval/paired-bootstrap.h"
#include "core/eval/run-record.h"

namespace kvsvd {

// summary.json key "schema" and version (results/README.md).
inline constexpr const char* kEvalSchema = "kvsvd-eval";
inline constexpr int64_t kEvalSchemaVersion = 1;

struct EvalProvenance {
  std::string kvsvd_version;
  std::string git_rev;
  int64_t world_size = 1;
  std::string device;  // "cpu", "cuda:0"
  std::string dtype;
  std::string date_utc;
  std::string command;
  std::string model_dir;
  std::string model_fingerprint;
  std::string store;
  std::string store_fingerprint;
  std::string dataset;
  std::string dataset_fingerprint;
  nlohmann::json config;  // evaluate_options_to_json: the merged flags and config keys
  nlohmann::json pipeline;  // --pipeline-stages: stages, groups, layer split (null: none)
};

// One configuration's figures.
struct EvalResult {
  std::string label;
  std::string method;
  nlohmann::json params;  // cache_config_params
  ConfigFigures figures;
  Interval rel_ppl_change_ci95;  // paired bootstrap over windows against the full baseline
};

struct EvalSummary {
  EvalProvenance provenance;
  int64_t windows = 0;
  int64_t seq_len = 0;  // 0: windows of different lengths
  int64_t scored_tokens = 0;
  BootstrapSpec bootstrap;  // how rel_ppl_change_ci95 was drawn
  std::vector<EvalResult> results;  // the full baseline first
};

void to_json(nlohmann::json& j, const EvalProvenance& p);
void to_json(nlohmann::json& j, const EvalResult& r);
void to_json(nlohmann::json& j, const EvalSummary& s);

// A short fixed-width table of the summary's results (label, ppl, delta, KL, top-1, bytes/token,
// ratio, tokens/s) for people reading stderr.
std::string summary_table(const nlohmann::json& summary);

}  // namespace kvsvd
