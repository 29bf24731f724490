// One configuration's figures as the report reads them from an evaluate run's summary.json
// (format: results/README.md). Missing or malformed input is an error naming the file and key.
#pragma once
#include <string>
#include <vector>

namespace kvsvd {

struct ReportRow {
  std::string source;  // the summary.json it came from
  std::string run;     // the run folder's name
  std::string group;   // dataset, seq_len and windows: only rows of one group are comparable
  std::string label;
  std::string method;
  std::string key_rank;     // "" when the method has none
  std::string value_ranks;  // "low=16,med=32,high=64"
  std::string policy;
  std::string profile_method;
  std::string chunk_size;
  std::string chunk_ratio;  // the chunked method's target compression ratio parameter
  std::string kv_bits;      // storage bits of what the cache holds (dtype bits when unquantized)
  std::string quant_group;  // "" unless quantized to 8/4/2 bits
  std::string residual;     // quant: newest tokens kept exact
  bool hadamard = false;    // svd coefficients rotated before quantizing
  // Required figures.
  double kv_bytes_per_token = 0;
  double compression_ratio = 0;  // compression_ratio_vs_full
  double perplexity = 0;
  double delta_perplexity = 0;
  double rel_ppl_increase = 0;  // delta / (perplexity - delta): the quality loss vs full
  // Optional figures: NaN when the run did not record them.
  double loss_ci_lo, loss_ci_hi;  // 95% paired-bootstrap interval of rel_ppl_increase
  double kl_mean, top1_agreement, gen_token_agreement, gen_prefix_match, prefill_tokens_per_s,
      decode_tokens_per_s;
  bool pareto = false;
  bool recommended = false;

  std::string id() const { return run + "/" + label; }
  // The method and its storage: "svd 16b", "svd 4b had", "quant 2b", "chunked 8b"; the method
  // alone for full and for caches stored in a dtype wider than 16 bits.
  std::string scheme() const;
};

// The summary.json files named by `inputs`: a summary.json itself, a run folder holding one, or a
// folder of run folders (every sub-folder must hold one). Sorted within a folder; errors name the
// path that holds none.
std::vector<std::string> find_summaries(const std::vector<std::string>& inputs);

// Every result of one summary.json.
std::vector<ReportRow> load_summary(const std::string& path);

}  // namespace kvsvd
